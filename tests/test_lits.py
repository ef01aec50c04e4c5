"""The LiTS importer: a folder in LiTS's on-disk layout -> one case per tumour slice.

The fixtures write volumes the way LiTS ships them (``volume-N.nii`` / ``segmentation-N.nii``,
labels 0/1/2, some stored flipped), plus one made from a real abdominal CT whose liver label
comes from TotalSegmentator and whose tumour is a sphere painted inside it (no real tumour
label exists in tests/data/real-ct).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from conftest import REAL_CT, ROOT, files_under
from rlnet import cli, io
from rlnet.datasets import lits

SPACING_XYZ = (0.8, 0.7, 2.5)  # mm


def toy_volume(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(CT in HU, labels) of shape (z, y, x) = (8, 40, 48): body, liver ellipsoid, tumours."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:8, :40, :48]
    body = ((y - 20) / 18) ** 2 + ((x - 24) / 22) ** 2 < 1
    liver = body & (((z - 4) / 4) ** 2 + ((y - 18) / 10) ** 2 + ((x - 16) / 12) ** 2 < 1)
    cy, cx = rng.integers(14, 22), rng.integers(12, 20)
    tumour = liver & (((z - 3) / 1.6) ** 2 + ((y - cy) / 3.5) ** 2 + ((x - cx) / 3.5) ** 2 < 1)
    ct = np.where(body, 40, -1000) + np.where(liver, 20, 0) - np.where(tumour, 30, 0)
    ct = (ct + rng.normal(0, 5, ct.shape)).astype(np.int16)
    labels = liver.astype(np.uint8) + tumour.astype(np.uint8)  # 0, 1 liver, 2 tumour
    return ct, labels


def write_stored(path: Path, array: np.ndarray, flipped: bool) -> None:
    """Write ``array`` (z, y, x; x to the patient's left, y posterior) as LPS, or flipped in x
    and y with direction diag(-1, -1, 1) (RAS, as some LiTS volumes are) at the same place."""
    if flipped:
        array = array[:, ::-1, ::-1]
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(SPACING_XYZ)
    size = image.GetSize()
    if flipped:
        image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
        image.SetOrigin(((size[0] - 1) * SPACING_XYZ[0], (size[1] - 1) * SPACING_XYZ[1], 0.0))
    sitk.WriteImage(image, str(path))


def write_lits_folder(folder: Path, n: int, flipped=(), suffix: str = ".nii") -> Path:
    """``n`` toy volumes in LiTS's layout (two batch folders, as LiTS ships them)."""
    for k in range(n):
        batch = folder / f"Training Batch {1 + k % 2}"
        batch.mkdir(parents=True, exist_ok=True)
        ct, labels = toy_volume(k)
        write_stored(batch / f"volume-{k}{suffix}", ct, k in flipped)
        write_stored(batch / f"segmentation-{k}{suffix}", labels, k in flipped)
    return folder


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
    table = io.read_table(tmp_path / "out" / "lits.tsv")
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
    table = io.read_table(tmp_path / "out" / "lits.tsv")
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
    table = io.read_table(tmp_path / "out" / "lits.tsv")
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


def write_dicom_slice(path: Path, plane: np.ndarray, geometry: io.Geometry) -> None:
    """One axial CT slice as a DICOM file whose tags hold ``geometry``'s position and in-plane
    direction (io.write_image's DICOM output keeps neither)."""
    image = sitk.GetImageFromArray(plane)
    image.SetSpacing(geometry.spacing[:0:-1])
    direction = np.asarray(geometry.direction).reshape(3, 3)
    tags = {
        "0020|0032": "\\".join(f"{v:.4f}" for v in geometry.origin[::-1]),
        "0020|0037": "\\".join(f"{v:g}" for v in [*direction[:, 0], *direction[:, 1]]),
        "0020|000e": "1.2.826.0.1.3680043.2.1125.7",
        "0008|0060": "CT",
    }
    for tag, value in tags.items():
        image.SetMetaData(tag, value)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    io.keeps_locale(writer.Execute)(image)


def write_scans(study: Path) -> Path:
    """New scans for ``infer``: three axial slices of the real abdominal CT (stored RAS: its
    in-plane direction is diag(-1, -1)), the first as a one-slice DICOM series folder, listed
    with TotalSegmentator's liver (label 5) as candidate masks in a TSV of relative paths."""
    ct, geometry = io.read_image(REAL_CT / "example_ct_sm.nii.gz")
    seg, _ = io.read_image(REAL_CT / "example_seg.nii.gz", kind="mask")
    folder = study / "new-scans"
    rows = []
    for k, z in enumerate((8, 12, 16)):
        plane = geometry.plane(z)
        image = f"scan{k}.nii.gz" if k else "scan0"
        if k:
            io.write_image(folder / image, ct[z], plane)
        else:  # a DICOM slice with its position and orientation (RAS-stored: -x, -y)
            write_dicom_slice(folder / image / "1.dcm", ct[z], geometry.shifted((z, 0, 0)))
        scan_geometry = io.read_geometry(folder / image)[1]
        io.write_image(
            folder / f"scan{k}_liver.nii.gz", (seg[z] == 5).astype(np.uint8), scan_geometry
        )
        rows.append(
            {"case_id": f"scan{k}", "image": image, "candidate_mask": f"scan{k}_liver.nii.gz"}
        )
    io.write_table(folder / "scans.tsv", pd.DataFrame(rows))
    return folder / "scans.tsv"


@pytest.fixture(scope="module")
def lits_study(tmp_path_factory) -> Path:
    """The tiny study on a LiTS folder of 12 volumes (two stored flipped), built to Table II."""
    study = tmp_path_factory.mktemp("lits-study")
    write_lits_folder(study / "lits", 12, flipped=(1, 4))
    config = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    liver = config["problems"]["liver"] | {"source": {"lits": "lits"}, "models": ["rl-unet"]}
    config["problems"] = {"liver": liver}
    config["sample_size"]["problems"] = []
    config["evaluation"].pop("repeats")
    config.pop("phantoms")
    (study / "study.yaml").write_text(yaml.safe_dump(config))
    snakemake(study, "results/tables/table2.tsv")
    return study


def snakemake(study: Path, *targets: str, config: str = "study.yaml") -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(bin_dir / "snakemake"), "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    # targets first: --configfile takes a list; a whole study, not merged over the default
    command += [*targets, "--replace-workflow-config", "--configfile", config]
    result = subprocess.run(command, cwd=study, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_tiny_study_runs_on_a_lits_folder(lits_study):
    """The workflow imports the LiTS folder and goes through split, prepare, training,
    prediction and metrics to Table II; the audit walks back to LiTS's own files."""
    imported = io.read_table(lits_study / "results/data/liver/import/lits.tsv")
    manifest = io.read_table(lits_study / "results/data/liver/manifest.tsv")
    assert manifest["case_id"].tolist() == imported["case_id"].tolist()
    assert imported["subject_id"].nunique() == 12
    table2 = io.read_table(lits_study / "results/tables/table2.tsv")
    assert "rl-unet" in set(table2["model"])
    audit = subprocess.run(
        [sys.executable, "-m", "rlnet", "audit", "results/tables/table2.tsv", "--allow-dirty"]
        + ["--list"],
        cwd=lits_study,
        env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")},
        capture_output=True,
        text=True,
    )
    assert audit.returncode == 0, audit.stdout[-2000:]
    assert "raw   lits/Training Batch 2/volume-1.nii" in audit.stdout  # down to LiTS's files


def test_infer_applies_the_model_to_new_scans_and_maps_overlay_them(lits_study):
    """rule infer applies the model trained on the toy LiTS folder to three slices of a real CT
    (one a DICOM folder): one row each, no reference column; each map has its scan's geometry,
    lies inside the liver, and (area rule) holds round(prediction / pixel area) pixels."""
    scans = write_scans(lits_study)
    config = yaml.safe_load((lits_study / "study.yaml").read_text())
    config["infer"] = {
        "liver": {"scans": str(scans.relative_to(lits_study)), "models": ["rl-unet"]}
    }
    (lits_study / "infer.yaml").write_text(yaml.safe_dump(config))
    snakemake(lits_study, "results/infer/liver/rl-unet/predictions.tsv", config="infer.yaml")
    table = io.read_table(lits_study / "results/infer/liver/rl-unet/predictions.tsv")
    assert table["case_id"].tolist() == ["scan0", "scan1", "scan2"]
    assert "reference" not in table and (table["prediction"] >= 0).all()
    listed = io.read_table(scans)
    for row, scan in zip(table.itertuples(), listed.itertuples(), strict=True):
        source = scans.parent / scan.image
        shape, geometry = io.read_geometry(source)
        map_shape, map_geometry = io.read_geometry(lits_study / row.map)
        assert map_shape == shape  # the same affine: spacing, origin and direction
        assert map_geometry.spacing == pytest.approx(geometry.spacing)
        assert map_geometry.origin == pytest.approx(geometry.origin, abs=1e-4)
        assert map_geometry.direction == pytest.approx(geometry.direction)
        assert geometry.direction == pytest.approx((-1.0, 0.0, 0.0, -1.0))  # stored RAS
        mask, _ = io.read_image(lits_study / row.map, kind="mask")
        liver, _ = io.read_image(scans.parent / scan.candidate_mask, kind="mask")
        assert not (mask.astype(bool) & ~liver.astype(bool)).any()
        pixel = float(np.prod(geometry.spacing[-2:]))
        assert mask.sum() == round(row.prediction / pixel)
