"""The LiTS importer: a folder in LiTS's on-disk layout -> one case per tumour slice.

tests/user_data.py writes volumes the way LiTS ships them (``volume-N.nii`` /
``segmentation-N.nii``, labels 0/1/2, some stored flipped); one more is made here from a real
abdominal CT whose liver label comes from TotalSegmentator and whose tumour is a sphere painted
inside it (no real tumour label exists in tests/data/real-ct). The end-to-end tests read the
session's study on a user's data (conftest ``user_data_study``), whose liver is a LiTS folder.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import REAL_CT, ROOT, files_under
from rlnet import cli, io, tsv
from rlnet.datasets import lits
from user_data import SPACING_XYZ, toy_volume, write_lits_folder, write_stored


def files(folder: Path, kind: str) -> list[Path]:
    return sorted(folder.rglob(f"{kind}-*.nii*"))


def run_import(folder: Path, out: Path) -> int:
    argv = ["import-lits", "--volumes", *map(str, files(folder, "volume"))]
    argv += ["--segmentations", *map(str, files(folder, "segmentation"))]
    return cli.main([*argv, "--out-dir", str(out), "--table", str(out / "lits.tsv")])


def test_one_case_per_tumour_slice_with_its_area(tmp_path):
    """Cases, values and masks against the toy volume's own labels (counted here)."""
    write_lits_folder(tmp_path / "lits", 1)
    assert run_import(tmp_path / "lits", tmp_path / "out") == 0
    table = tsv.read_table(tmp_path / "out" / "lits.tsv")
    _, labels = toy_volume(0)
    tumour_slices = [k for k in range(labels.shape[0]) if (labels[k] == 2).any()]
    assert table["slice_index"].tolist() == tumour_slices
    assert table["subject_id"].unique().tolist() == ["volume0"]
    pixel_mm2 = SPACING_XYZ[0] * SPACING_XYZ[1]
    expected = [(labels[k] == 2).sum() * pixel_mm2 for k in tumour_slices]
    assert table["value"].to_numpy() == pytest.approx(expected)
    for row, k in zip(table.itertuples(), tumour_slices, strict=True):
        tumour, geometry = io.read_image(row.mask, kind="mask")
        liver, _ = io.read_image(row.candidate_mask, kind="mask")
        assert (tumour == (labels[k] == 2)).all() and (liver == (labels[k] > 0)).all()
        assert geometry.spacing == pytest.approx((SPACING_XYZ[1], SPACING_XYZ[0]))
    assert set(table["source_orientation"]) == {"LPS"}


def test_a_flipped_volume_imports_as_the_same_slices(tmp_path):
    """Volume 1 is volume 0's data stored in RAS: after import, identical pixels and values."""
    folder = tmp_path / "lits"
    folder.mkdir()
    ct, labels = toy_volume(0)
    for k, flipped in ((0, False), (1, True)):
        write_stored(folder / f"volume-{k}.nii.gz", ct, flipped)
        write_stored(folder / f"segmentation-{k}.nii.gz", labels, flipped)
    assert run_import(folder, tmp_path / "out") == 0
    table = tsv.read_table(tmp_path / "out" / "lits.tsv")
    plain, flipped = (table[table.subject_id == s].reset_index() for s in ("volume0", "volume1"))
    assert plain["source_orientation"].unique().tolist() == ["LPS"]
    assert flipped["source_orientation"].unique().tolist() == ["RAS"]
    assert plain["value"].tolist() == flipped["value"].tolist()
    for a, b in zip(plain["image"], flipped["image"], strict=True):
        (pixels_a, geo_a), (pixels_b, geo_b) = io.read_image(a), io.read_image(b)
        assert (pixels_a == pixels_b).all()
        assert geo_a.origin == pytest.approx(geo_b.origin, abs=1e-4)  # NIfTI stores float32


def test_a_real_ct_stored_ras_comes_out_with_the_liver_on_the_patients_right(tmp_path):
    """The real CT (RAS-stored) with TotalSegmentator's liver (label 5) and a painted tumour
    sphere: in the imported LPS slices x runs to the patient's left, so the liver (on the
    right) lies in the lower half of x."""
    image = sitk.ReadImage(str(REAL_CT / "example_ct_sm.nii.gz"))
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(REAL_CT / "example_seg.nii.gz")))
    liver = seg == 5
    centre = np.argwhere(liver).mean(axis=0).round().astype(int)
    z, y, x = np.ogrid[: liver.shape[0], : liver.shape[1], : liver.shape[2]]
    sphere = ((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) <= 16
    labels = liver.astype(np.uint8) + (liver & sphere).astype(np.uint8)
    label_image = sitk.GetImageFromArray(labels)
    label_image.CopyInformation(image)
    folder = tmp_path / "lits"
    folder.mkdir()
    sitk.WriteImage(image, str(folder / "volume-7.nii.gz"))
    sitk.WriteImage(label_image, str(folder / "segmentation-7.nii.gz"))
    assert run_import(folder, tmp_path / "out") == 0
    table = tsv.read_table(tmp_path / "out" / "lits.tsv")
    assert set(table["source_orientation"]) == {"RAS"}
    assert len(table) == len({c[0] for c in np.argwhere(liver & sphere)})  # 9 slices
    for path in table["candidate_mask"]:
        mask, _ = io.read_image(path, kind="mask")
        assert np.argwhere(mask)[:, 1].mean() < mask.shape[1] / 2


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda f: (f / "segmentation-1.nii").unlink(), r"volume-1.nii: no segmentation-1"),
        (
            lambda f: write_stored(
                f / "segmentation-1.nii", np.zeros((8, 40, 40), np.uint8), False
            ),
            r"segmentation-1.nii: not on the grid of .*volume-1.nii \(shape \(8, 40, 40\)",
        ),
        (
            lambda f: write_stored(f / "segmentation-1.nii", toy_volume(1)[1] * 3, False),
            r"segmentation-1.nii: labels \[3, 6\] \(LiTS has 0, 1 liver, 2 tumour\)",
        ),
    ],
)
def test_bad_lits_folders_name_the_file(tmp_path, caplog, damage, fragment):
    folder = tmp_path / "lits"
    folder.mkdir()
    for k in range(2):
        ct, labels = toy_volume(k)
        write_stored(folder / f"volume-{k}.nii", ct, False)
        write_stored(folder / f"segmentation-{k}.nii", labels, False)
    damage(folder)
    assert run_import(folder, tmp_path / "out") == 1
    assert any(re.search(fragment, r.getMessage()) for r in caplog.records), caplog.text
    assert files_under(tmp_path / "out") == set()  # nothing half-written


def test_pairing_refuses_names_that_are_not_lits():
    with pytest.raises(lits.LitsError, match="scan.nii: not a LiTS file name"):
        lits.pair_files([Path("a/scan.nii")], [])


def test_the_tiny_study_runs_on_a_lits_folder(user_data_study):
    """The workflow imports the LiTS folder and goes through split, prepare, training,
    prediction and metrics to Table II; the audit walks back to LiTS's own files."""
    imported = tsv.read_table(user_data_study / "results/data/liver/import/lits.tsv")
    manifest = tsv.read_table(user_data_study / "results/data/liver/manifest.tsv")
    assert manifest["case_id"].tolist() == imported["case_id"].tolist()
    assert imported["subject_id"].nunique() == 12
    table2 = tsv.read_table(user_data_study / "results/tables/table2.tsv")
    assert "rl-unet" in set(table2.loc[table2["problem"] == "liver", "model"])
    audit = subprocess.run(
        [sys.executable, "-m", "rlnet", "audit", "results/tables/table2.tsv", "--allow-dirty"]
        + ["--list"],
        cwd=user_data_study,
        env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")},
        capture_output=True,
        text=True,
    )
    assert audit.returncode == 0, audit.stdout[-2000:]
    assert "raw   lits/Training Batch 2/volume-1.nii" in audit.stdout  # down to LiTS's files


def test_infer_applies_the_model_to_new_scans_and_maps_overlay_them(user_data_study):
    """rule infer applies the model trained on the toy LiTS folder to three slices of a real CT
    (one a DICOM folder): one row each, no reference column; each map has its scan's geometry
    (a one-slice volume at the DICOM slice's position), lies inside the liver, and holds at
    most the grid pixels the area rule marks: each map pixel takes the grid pixel at its
    centre, and the 0.7 x 0.8 mm grid pixels are smaller than the 3 mm scan's, so distinct map
    pixels take distinct grid pixels."""
    scans = user_data_study / "new-scans" / "scans.tsv"
    table = tsv.read_table(user_data_study / "results/infer/liver/rl-unet/predictions.tsv")
    assert table["case_id"].tolist() == ["scan0", "scan1", "scan2"]
    assert "reference" not in table and (table["prediction"] >= 0).all()
    listed = tsv.read_table(scans)
    grid_pixel = 0.7 * 0.8  # the study's liver grid (conftest user_data_study)
    for row, scan in zip(table.itertuples(), listed.itertuples(), strict=True):
        source = scans.parent / scan.image
        shape, geometry = io.read_geometry(source, one_slice_as_2d=False)
        map_shape, map_geometry = io.read_geometry(user_data_study / row.map)
        assert map_shape == shape  # the same affine: spacing, origin and direction
        assert map_geometry.spacing == pytest.approx(geometry.spacing)
        assert map_geometry.origin == pytest.approx(geometry.origin, abs=1e-4)
        assert map_geometry.direction == pytest.approx(geometry.direction)
        in_plane = np.asarray(geometry.direction).reshape(len(shape), -1)[:2, :2]  # x, y
        assert in_plane.ravel() == pytest.approx((-1.0, 0.0, 0.0, -1.0))  # stored RAS
        mask, _ = io.read_image(user_data_study / row.map, kind="mask")
        liver, _ = io.read_image(scans.parent / scan.candidate_mask, kind="mask")
        mask = mask.reshape(liver.shape)
        assert not (mask.astype(bool) & ~liver.astype(bool)).any()
        assert mask.sum() <= round(row.prediction / grid_pixel)
