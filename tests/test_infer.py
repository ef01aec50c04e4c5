"""Inference on new scans as users have them: a folder (series at any depth), a scans TSV or
one image; 3D problems with their heart ROI and its QC; 2D problems on whole volumes; bad
scans named; the output folder replaced whole, with provenance.

The stage runs through ``rlnet.cli`` as the rule runs it, with untrained networks (a seeded
fresh model saved as a checkpoint): the tests check what is predicted where, not learning.
"""

import gzip
import json
import logging
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REAL_CT, ROOT, band
from rlnet import cli, io, provenance, tsv
from rlnet.config import ConfigError, load, problem_settings, validate
from rlnet.models import build_model
from rlnet.phantoms import heart
from rlnet.scans import check_scans, read_scans
from user_data import write_dicom_slice

PLANE = np.arange(64, dtype=np.int16).reshape(8, 8) - 1000
#: The tiny study (config/test.yaml merged over the default, as Snakemake reads it).
CONFIG = load(ROOT / "config" / "test.yaml")
#: The real abdominal CT (30 x 101 x 122 voxels, 3 mm) and TotalSegmentator's liver label.
ABDOMEN = REAL_CT / "example_ct_sm.nii.gz"
LIVER_LABEL = 5


def problem(name: str) -> dict:
    """A problem block of the tiny study with its grid, as rule infer passes it."""
    return problem_settings(CONFIG, name)


def checkpoint(path: Path, name: str, model: str = "rl-unet") -> Path:
    """A seeded, untrained ``model`` saved as ``rlnet.training`` saves a trained one."""
    torch.manual_seed(0)
    block = problem(name)
    net = build_model(model, block["spatial_dims"], 4)
    run = {
        "problem": name,
        "model": model,
        "spatial_dims": block["spatial_dims"],
        "base_width": 4,
        "family": net.family,
        "settings": {"score": block["biomarker"]["score"]},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"run": run, "model": net.state_dict()}, path)
    return path


def infer(
    tmp: Path, name: str, scans: Path, model: Path | None = None, network: str = "rl-unet"
) -> int:
    """``rlnet infer`` of an untrained ``network`` (``model``: its checkpoint) on problem
    ``name``; its exit status."""
    torch.set_num_threads(1)
    model = model or checkpoint(tmp / "model" / f"{name}.pt", name, network)
    out = tmp / "results" / "infer" / name / network
    argv = ["infer", "--model-file", str(model), "--problem", name, "--model", network]
    argv += ["--settings", json.dumps(problem(name)), "--scans", str(scans), "--out-dir", str(out)]
    return cli.main([*argv, "--device", "cpu", "--batch-size", "4"])


def phantom_ct(path: Path, seed: int = 0) -> None:
    """A phantom chest CT of the tiny study's size, written to ``path``."""
    case = heart.generate(5, seed, shape=(32, 64, 64), spacing=(3.0, 2.5, 2.5))
    io.write_image(path, case.image, case.spacing)


def files_below(folder: Path) -> dict[str, str]:
    """{relative path: SHA-256} of every file below ``folder``."""
    return {
        str(p.relative_to(folder)): provenance.sha256(p) for p in folder.rglob("*") if p.is_file()
    }


# --- reading scans --------------------------------------------------------------------------


def dicom_series(folder: Path, n: int, names=("IM{k}",)) -> None:
    """A DICOM series of ``n`` slices (files without suffix, as PACS exports name them)."""
    geometry = io.Geometry.from_spacing((2.0, 1.0, 1.0))
    for k in range(n):
        path = folder / f"{names[0].format(k=k)}.dcm"
        write_dicom_slice(path, PLANE, geometry.shifted((k, 0, 0)))
        path.rename(path.with_suffix(""))


def test_a_folder_lists_scans_at_every_depth_named_by_their_path(tmp_path):
    """Files and DICOM series at any depth (the PACS layout patient/series/files) are one scan
    each, named by the path below the folder; hidden files, DICOMDIR and a MetaImage header's
    data file are passed over. Before: the nested series were skipped (1 of 3 read)."""
    io.write_image(tmp_path / "b.nii.gz", PLANE, (1.0, 1.0))
    io.write_image(tmp_path / "a.nrrd", PLANE, (1.0, 1.0))
    io.write_image(tmp_path / "x.mhd", PLANE, (1.0, 1.0))
    dicom_series(tmp_path / "patient1" / "series1", 3)
    dicom_series(tmp_path / "patient1" / "series2", 2)
    dicom_series(tmp_path / "c", 1)
    (tmp_path / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / "patient1" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")
    table, lines = read_scans(tmp_path)
    assert not lines
    ids = ["a", "b", "c", "patient1/series1", "patient1/series2", "x"]
    assert table["case_id"].tolist() == ids
    images = ["a.nrrd", "b.nii.gz", "c", "patient1/series1", "patient1/series2", "x.mhd"]
    assert table["image"].tolist() == [str(tmp_path / n) for n in images]
    checked = check_scans(table, tmp_path, problem("pma"))
    assert checked["ndim"].tolist() == [2, 2, 2, 3, 3, 2]  # one DICOM slice is a 2D image
    assert checked["spacing"].tolist()[3] == "2 1 1"


def test_one_image_file_is_one_scan(tmp_path):
    """``scans:`` naming an image file takes it as one scan (before: read as a TSV, "'utf-8'
    codec can't decode byte")."""
    io.write_image(tmp_path / "ct.nii.gz", PLANE, (1.0, 1.0))
    table, lines = read_scans(tmp_path / "ct.nii.gz")
    assert table[["case_id", "image"]].values.tolist() == [["ct", str(tmp_path / "ct.nii.gz")]]
    assert not lines


def test_a_tsv_resolves_relative_paths_from_its_folder(tmp_path):
    (tmp_path / "scans.tsv").write_text("case_id\timage\tcandidate_mask\nx\tin/x.nii.gz\tm.nii\n")
    table, lines = read_scans(tmp_path / "scans.tsv")
    assert lines and table.index.tolist() == [2]  # line 2 of the TSV
    assert table.loc[2, "image"] == str(tmp_path / "in" / "x.nii.gz")
    assert table.loc[2, "candidate_mask"] == str(tmp_path / "m.nii")


def write_tsv(folder: Path, rows: list[dict]) -> Path:
    """A scans TSV of ``rows`` (missing cells blank)."""
    path = folder / "scans.tsv"
    pd.DataFrame(rows).fillna("").to_csv(path, sep="\t", index=False)
    return path


def nifti_with_pixdim(path: Path, value: float) -> Path:
    """A NIfTI-1 volume whose header stores ``value`` as the x pixdim (patched in the bytes:
    nibabel and ITK turn 0 into 1 mm when writing)."""
    io.write_image(path, np.stack([PLANE] * 3), (2.0, 1.0, 1.0))
    header = bytearray(gzip.decompress(path.read_bytes()))
    header[80:84] = struct.pack("<f", value)
    path.write_bytes(gzip.compress(bytes(header)))
    return path


def bad_case(tmp: Path, kind: str) -> tuple[Path, str, str]:
    """(scans, problem, the message's fragment) of one kind of bad scans."""
    volume = np.stack([PLANE] * 3)
    io.write_image(tmp / "v.nii.gz", volume, (2.0, 1.0, 1.0))
    io.write_image(tmp / "s.nii.gz", PLANE, (1.0, 1.0))
    line = f"{tmp / 'scans.tsv'}: line 2 (case v)"
    if kind == "non-image file":
        (tmp / "scans").mkdir()
        shutil.copy(tmp / "v.nii.gz", tmp / "scans" / "v.nii.gz")
        (tmp / "scans" / "notes.txt").write_text("not a scan\n")
        return tmp / "scans", "pma", f"{tmp / 'scans' / 'notes.txt'}: not a scan"
    if kind == "empty folder":
        (tmp / "scans").mkdir()
        return tmp / "scans", "pma", f"{tmp / 'scans'}: no scan"
    if kind == "missing image":
        scans = write_tsv(tmp, [{"case_id": "v", "image": "gone.nii.gz"}])
        return scans, "pma", f"{line}: image file {tmp / 'gone.nii.gz'} not found"
    if kind == "4D image":
        import nibabel

        nibabel.save(nibabel.Nifti1Image(volume[None].repeat(2, 0).T, np.eye(4)), tmp / "4d.nii.gz")
        scans = write_tsv(tmp, [{"case_id": "v", "image": "4d.nii.gz"}])
        return scans, "pma", f"{line}: image {tmp / '4d.nii.gz'} has 4 dimensions (2, 3, 8, 8)"
    if kind == "spacing 0 in the header":
        nifti_with_pixdim(tmp / "zero.nii.gz", 0.0)
        scans = write_tsv(tmp, [{"case_id": "v", "image": "zero.nii.gz"}])
        return scans, "cac", "header spacing (2.0, 1.0, 0.0) must be finite and > 0"
    if kind == "candidate mask of another size":
        io.write_image(tmp / "m.nii.gz", np.ones((8, 6), np.uint8), (1.0, 1.0))
        scans = write_tsv(
            tmp, [{"case_id": "v", "image": "s.nii.gz", "candidate_mask": "m.nii.gz"}]
        )
        return scans, "liver", f"{line}: candidate_mask {tmp / 'm.nii.gz'} has shape (8, 6)"
    if kind == "no candidate mask":
        return tmp / "s.nii.gz", "liver", f"{tmp / 's.nii.gz'}: case s: no candidate_mask"
    if kind == "a 2D slice on a 3D problem":
        scans = write_tsv(tmp, [{"case_id": "v", "image": "s.nii.gz"}])
        return scans, "cac", f"{line}: image {tmp / 's.nii.gz'} has 2 dimensions (8, 8)"
    if kind == "slices outside the volume":
        scans = write_tsv(tmp, [{"case_id": "v", "image": "v.nii.gz", "slices": "1-3"}])
        return scans, "pma", f"{line}: slices 1-3 are not in image"
    if kind == "slices reversed":
        scans = write_tsv(tmp, [{"case_id": "v", "image": "v.nii.gz", "slices": "2-1"}])
        return scans, "pma", f"{line}: slices '2-1' must be 'first-last'"
    if kind == "roi_center on a 2D problem":
        scans = write_tsv(tmp, [{"case_id": "v", "image": "v.nii.gz", "roi_center": "1 2 3"}])
        return scans, "pma", f"{line}: roi_center is for 3D problems"
    if kind == "roi_center outside":
        scans = write_tsv(tmp, [{"case_id": "v", "image": "v.nii.gz", "roi_center": "1 2 9"}])
        return scans, "cac", f"{line}: roi_center 1 2 9 lies outside the image (shape (3, 8, 8))"
    if kind == "unknown column":
        scans = write_tsv(tmp, [{"case_id": "v", "image": "v.nii.gz", "value": "3"}])
        return scans, "pma", r"unknown column(s) ['value']"
    if kind == "case id naming a path":
        scans = write_tsv(tmp, [{"case_id": "../v", "image": "v.nii.gz"}])
        return scans, "pma", "case_id '../v' cannot name a file"
    if kind == "a scan named like a slice":
        rows = [
            {"case_id": "v", "image": "v.nii.gz"},
            {"case_id": "v, slice 1", "image": "s.nii.gz"},
        ]
        return write_tsv(tmp, rows), "pma", "a scan is named like another's slice: ['v, slice 1']"
    if kind == "mask in the scans folder":
        (tmp / "scans").mkdir()
        shutil.copy(ABDOMEN, tmp / "scans" / "ct.nii.gz")
        shutil.copy(REAL_CT / "example_seg.nii.gz", tmp / "scans" / "seg.nii.gz")
        seg = tmp / "scans" / "seg.nii.gz"
        return tmp / "scans", "pma", f"{tmp / 'scans'}: case seg: image {seg} looks like a mask"
    raise ValueError(kind)


BAD = [
    "non-image file",
    "empty folder",
    "missing image",
    "4D image",
    "spacing 0 in the header",
    "candidate mask of another size",
    "no candidate mask",
    "a 2D slice on a 3D problem",
    "slices outside the volume",
    "slices reversed",
    "roi_center on a 2D problem",
    "roi_center outside",
    "unknown column",
    "case id naming a path",
    "a scan named like a slice",
    "mask in the scans folder",
]


@pytest.mark.parametrize("kind", BAD)
def test_bad_scans_fail_in_one_line_naming_them_and_write_nothing(tmp_path, kind, caplog):
    """Each kind of bad scans: rlnet infer exits 1 with one line naming the file, row or case,
    and nothing is written under results/infer (no output folder, no temporary one). Before:
    spacing 0 was read as 1 mm, a smaller candidate mask padded in and a mask predicted as a
    CT, each with exit status 0."""
    scans, name, fragment = bad_case(tmp_path, kind)
    with caplog.at_level(logging.ERROR, logger="rlnet"):
        assert infer(tmp_path, name, scans) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert fragment in errors[0]
    assert not [p for p in (tmp_path / "results").rglob("*") if p.is_file()]


# --- 3D problems: the heart ROI -------------------------------------------------------------


def test_3d_infer_writes_roi_qc_and_flags_a_doubtful_roi_by_name(tmp_path, caplog):
    """cac from a folder: a phantom chest CT (its heart found with confidence) and the real
    abdominal CT (no heart: a doubtful ROI, warned about by name and flagged). Before: KeyError
    'roi_center' for any 3D infer. Each map has its scan's geometry and lies inside the ROI."""
    scans = tmp_path / "scans"
    phantom_ct(scans / "chest" / "ct.nii.gz")
    shutil.copy(ABDOMEN, scans / "abdomen.nii.gz")
    with caplog.at_level(logging.WARNING):
        assert infer(tmp_path, "cac", scans) == 0
    out = tmp_path / "results" / "infer" / "cac" / "rl-unet"
    table = tsv.read_table(out / "predictions.tsv")
    assert table["case_id"].tolist() == ["abdomen", "chest/ct"]
    flags = dict(zip(table["case_id"], table["roi_flag"].fillna(""), strict=True))
    assert flags == {"abdomen": "doubtful", "chest/ct": ""}
    assert (table["roi_source"] == "search").all()
    warned = [r.getMessage() for r in caplog.records if "heart ROI doubtful" in r.getMessage()]
    qc = tsv.read_table(out / "roi.tsv")
    note = qc.loc[0, "roi_note"]  # the search's reason, in the QC table and the warning
    assert isinstance(note, str) and note
    assert any(m.startswith("scan abdomen:") and note in m for m in warned)
    assert any(m.startswith("case abdomen:") for m in warned)  # prepare's, by the user's name
    assert not any("chest/ct" in m for m in warned)
    assert qc["case_id"].tolist() == table["case_id"].tolist()
    assert qc["roi_center"].tolist() == table["roi_center"].tolist()
    assert (out / "roi.png").stat().st_size > 1000
    size = np.array(problem("cac")["roi"]["size"])
    for row in table.itertuples():
        shape, geometry = io.read_geometry(row.image)
        map_shape, map_geometry = io.read_geometry(row.map)
        assert map_shape == shape and map_geometry == pytest.approx(geometry)
        centre = np.array([int(v) for v in row.roi_center.split()])
        inside = np.argwhere(io.read_image(row.map, kind="mask")[0])
        low = centre - size // 2  # roi.crop's box: centre - size // 2 .. + size
        assert ((inside >= low) & (inside < low + size)).all()


def test_3d_infer_on_real_chest_ct_centres_the_roi_in_the_annotated_heart(tmp_path):
    """cac on the two real chest CTs (NRRD, tests/data/real-ct/chest): neither ROI doubtful,
    each centre inside the heart annotated by eye (tests/heart_annotation.py), a finite
    Agatston score and risk group per scan, the map on the scan's grid."""
    import heart_annotation

    scans = tmp_path / "scans"
    scans.mkdir()
    for name in heart_annotation.SCANS:
        shutil.copy(heart_annotation.CHEST / name, scans / name)
    assert infer(tmp_path, "cac", scans) == 0
    out = tmp_path / "results" / "infer" / "cac" / "rl-unet"
    table = tsv.read_table(out / "predictions.tsv")
    assert sorted(table["case_id"]) == ["lung1_image", "lung2_image"]
    assert (table["roi_flag"].fillna("") == "").all()
    assert (table["roi_confidence"] >= 0.5).all()
    for row in table.itertuples():
        shape, geometry = io.read_geometry(row.image)
        heart = heart_annotation.heart_mask(f"{row.case_id}.nrrd", shape)
        centre = tuple(int(v) for v in row.roi_center.split())
        assert heart[centre], (row.case_id, centre)
        assert np.isfinite(row.prediction) and row.prediction >= 0
        map_shape, map_geometry = io.read_geometry(row.map)
        assert map_shape == shape
        for field in ("spacing", "origin", "direction"):
            assert getattr(map_geometry, field) == pytest.approx(getattr(geometry, field))


def test_3d_scans_tsv_sets_the_roi_by_roi_center_or_heart_mask(tmp_path):
    """A scans TSV's roi_center is the ROI centre as given; a heart_mask's centroid (a box of
    z 4-9, y 20-29, x 30-41: centre 6.5, 24.5, 35.5, rounded half to even) is the centre."""
    phantom_ct(tmp_path / "ct.nii.gz")
    mask = np.zeros((32, 64, 64), np.uint8)
    mask[4:10, 20:30, 30:42] = 1
    io.write_image(tmp_path / "heart.nii.gz", mask, (3.0, 2.5, 2.5))
    rows = [
        {"case_id": "given", "image": "ct.nii.gz", "roi_center": "14 30 33"},
        {"case_id": "masked", "image": "ct.nii.gz", "heart_mask": "heart.nii.gz"},
    ]
    assert infer(tmp_path, "cac", write_tsv(tmp_path, rows)) == 0
    table = tsv.read_table(tmp_path / "results" / "infer" / "cac" / "rl-unet" / "predictions.tsv")
    assert table["roi_center"].tolist() == ["14 30 33", "6 24 36"]
    assert table["roi_source"].tolist() == ["roi_center", "heart_mask"]


# --- 2D problems on volumes -----------------------------------------------------------------


@pytest.fixture(scope="module")
def liver_volume(tmp_path_factory) -> Path:
    """The real abdominal CT, its liver (TotalSegmentator) as candidates, three ways: the whole
    volume, slices 10-12 of it, and its slice 11 alone as a 2D image (a scans TSV)."""
    folder = tmp_path_factory.mktemp("liver")
    ct, geometry = io.read_image(ABDOMEN)
    seg, _ = io.read_image(REAL_CT / "example_seg.nii.gz", kind="mask")
    liver = (seg == LIVER_LABEL).astype(np.uint8)
    io.write_image(folder / "liver.nii.gz", liver, geometry)
    io.write_image(folder / "z11.nii.gz", ct[11], geometry.plane(11))
    io.write_image(folder / "z11_liver.nii.gz", liver[11], geometry.plane(11))
    rows = [
        {"case_id": "whole", "image": str(ABDOMEN), "candidate_mask": "liver.nii.gz"},
        {
            "case_id": "part",
            "image": str(ABDOMEN),
            "candidate_mask": "liver.nii.gz",
            "slices": "10-12",
        },
        {"case_id": "slice11", "image": "z11.nii.gz", "candidate_mask": "z11_liver.nii.gz"},
    ]
    scans = write_tsv(folder, rows)
    assert infer(folder, "liver", scans) == 0
    return folder


def test_2d_infer_predicts_every_slice_of_a_volume(liver_volume):
    """Every axial slice of the volume is a row (slices 0-29; the TSV's range 10-12 for the
    other), each slice's value the same as that slice given alone as a 2D image."""
    table = tsv.read_table(liver_volume / "results/infer/liver/rl-unet/predictions.tsv")
    whole = table.loc[table["case_id"] == "whole"]
    assert whole["slice"].astype(int).tolist() == list(range(30))
    part = table.loc[table["case_id"] == "part"]
    assert part["slice"].astype(int).tolist() == [10, 11, 12]
    alone = table.loc[table["case_id"] == "slice11"]
    assert alone["slice"].isna().all()
    value = float(alone["prediction"].iloc[0])
    assert value > 0
    for rows in (whole, part):
        assert float(rows.loc[rows["slice"] == 11, "prediction"].iloc[0]) == pytest.approx(value)
    np.testing.assert_allclose(
        part["prediction"].to_numpy(), whole.loc[whole["slice"].between(10, 12), "prediction"]
    )


def test_2d_maps_of_a_volume_are_stacked_in_its_geometry(liver_volume):
    """One map per volume, in the volume's geometry: every marked pixel lies in the liver or
    within the nearest-neighbour band of its edge (d_s + d_g: the scan's and the grid's half
    pixel diagonals, tests/test_grid.py), a slice in the range is marked iff its prediction
    covers half a grid pixel or more (the area rule marks round(prediction / grid pixel)),
    slices outside the range are empty."""
    table = tsv.read_table(liver_volume / "results/infer/liver/rl-unet/predictions.tsv")
    shape, geometry = io.read_geometry(ABDOMEN)
    liver, _ = io.read_image(liver_volume / "liver.nii.gz", kind="mask")
    grid = problem("liver")["grid"]["spacing"]
    width = (np.linalg.norm(geometry.spacing[1:]) + np.linalg.norm(grid)) / 2
    allowed = liver.astype(bool) | np.stack(
        [band(plane, geometry.spacing[1:], width) for plane in liver]
    )
    grid_pixel = float(np.prod(grid))
    for case in ("whole", "part"):
        rows = table.loc[table["case_id"] == case]
        assert rows["map"].nunique() == 1
        map_shape, map_geometry = io.read_geometry(rows["map"].iloc[0])
        assert map_shape == shape and map_geometry == pytest.approx(geometry)
        stacked, _ = io.read_image(rows["map"].iloc[0], kind="mask")
        assert not (stacked.astype(bool) & ~allowed).any()
        predicted = dict(zip(rows["slice"].astype(int), rows["prediction"], strict=True))
        for z in range(shape[0]):
            marked = z in predicted and round(predicted[z] / grid_pixel) > 0
            assert stacked[z].any() == marked, z


def test_2d_volume_totals_sum_the_slice_areas_times_the_spacing(liver_volume):
    """volumes.tsv: per volume the summed slice areas (mm^2) x the 3 mm slice spacing."""
    table = tsv.read_table(liver_volume / "results/infer/liver/rl-unet/predictions.tsv")
    volumes = tsv.read_table(liver_volume / "results/infer/liver/rl-unet/volumes.tsv")
    assert volumes["case_id"].tolist() == ["whole", "part"]
    for row in volumes.itertuples():
        areas = table.loc[table["case_id"] == row.case_id, "prediction"]
        assert row.n_slices == len(areas) and row.slice_spacing_mm == 3.0
        assert row.predicted_volume_mm3 == pytest.approx(areas.sum() * 3.0)
        assert "x slice spacing 3 mm" in row.how
    assert volumes["slices"].tolist() == ["0-29", "10-12"]


def test_2d_infer_on_a_real_dicom_series(tmp_path):
    """pma on the real DICOM series (20 slices of 512 x 512, files without suffix) found in a
    nested folder: 20 rows, one map in the series' geometry."""
    scans = tmp_path / "scans"
    shutil.copytree(REAL_CT / "dicom-abdomen", scans / "patient" / "series")
    assert infer(tmp_path, "pma", scans) == 0
    table = tsv.read_table(tmp_path / "results/infer/pma/rl-unet/predictions.tsv")
    assert (table["case_id"] == "patient/series").all()
    assert table["slice"].tolist() == list(range(20))
    shape, geometry = io.read_geometry(scans / "patient" / "series")
    map_shape, map_geometry = io.read_geometry(table["map"].iloc[0])
    assert map_shape == shape == (20, 512, 512)
    assert map_geometry == pytest.approx(geometry)


def test_the_baseline_cnn_applies_to_a_volume_without_maps(tmp_path):
    """The trained ``baseline`` CNN (a direct regressor: no map) on pma's slices of the real
    CT: a value per slice, no map column filled, and volumes.tsv still sums them."""
    scans = tmp_path / "scans"
    scans.mkdir()
    shutil.copy(ABDOMEN, scans / "ct.nii.gz")
    assert infer(tmp_path, "pma", scans, network="baseline") == 0
    out = tmp_path / "results" / "infer" / "pma" / "baseline"
    table = tsv.read_table(out / "predictions.tsv")
    assert len(table) == 30 and table["map"].isna().all()
    assert not (out / "maps").exists()
    volumes = tsv.read_table(out / "volumes.tsv")
    assert volumes.loc[0, "predicted_volume_mm3"] == pytest.approx(table["prediction"].sum() * 3)


# --- the output folder ----------------------------------------------------------------------


def test_a_rerun_replaces_the_folder_and_a_failed_run_leaves_it_as_it_was(tmp_path):
    """A second run replaces the whole folder (a stale map of an earlier run goes); a run that
    fails after preparing (a checkpoint of another problem) leaves the previous folder byte for
    byte, its records included, and no temporary folder beside it."""
    scans = tmp_path / "scans"
    phantom_ct(scans / "a.nii.gz")
    out = tmp_path / "results" / "infer" / "cac" / "rl-unet"
    assert infer(tmp_path, "cac", scans) == 0
    io.write_image(out / "maps" / "stale.nii.gz", PLANE, (1.0, 1.0))
    phantom_ct(scans / "b.nii.gz", seed=1)
    assert infer(tmp_path, "cac", scans) == 0
    assert sorted(p.name for p in (out / "maps").iterdir() if not p.name.endswith(".json")) == [
        "a.nii.gz",
        "b.nii.gz",
    ]
    before = files_below(out)
    assert any(name.endswith(provenance.SUFFIX) for name in before)
    phantom_ct(scans / "c.nii.gz", seed=2)
    wrong = checkpoint(tmp_path / "model" / "pma.pt", "pma")
    assert infer(tmp_path, "cac", scans, model=wrong) == 1
    assert files_below(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["rl-unet"]


def test_maps_and_tables_have_provenance_records(tmp_path):
    """Every file of the output folder, each map included, has a record that the audit walks
    down to the scans and the model (before: "no provenance record" for a map)."""
    scans = tmp_path / "scans"
    phantom_ct(scans / "p" / "ct.nii.gz")
    assert infer(tmp_path, "cac", scans) == 0
    out = tmp_path / "results" / "infer" / "cac" / "rl-unet"
    for name in ("maps/p/ct.nii.gz", "predictions.tsv", "roi.tsv", "roi.png"):
        report = provenance.audit(out / name, tmp_path / "results", allow_dirty=True)
        assert not report.problems, report.problems
        assert str(scans / "p" / "ct.nii.gz") in report.leaves
        assert str(tmp_path / "model" / "cac.pt") in report.leaves


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block, message",
    [
        ({"pma": {"scans": "x", "models": ["baseline"]}}, None),
        (
            {"pma": {"scans": "x", "models": ["candidates"]}},
            "candidates is a baseline without "
            "learning (evaluation.baselines): nothing trained to apply to new scans",
        ),
        ({"pma": {"scans": "x", "models": ["rl-senet"]}}, "rl-senet is not trained on pma"),
        ({"lung": {"scans": "x", "models": ["rl-unet"]}}, "'infer.lung': no such problem"),
    ],
)
def test_infer_block_names_trained_models_of_a_problem(block, message):
    """The trained ``baseline`` CNN applies to new scans (before: refused as if it were a
    learning-free baseline); a learning-free baseline, an untrained model or an unknown
    problem is refused naming the key."""
    from rlnet.config import DEFAULT_CONFIG_PATH, read_yaml

    config = read_yaml(DEFAULT_CONFIG_PATH) | {"infer": block}
    assert "baseline" in config["problems"]["pma"]["models"]
    if message is None:
        validate(config)
        return
    with pytest.raises(ConfigError, match="config key 'infer") as err:
        validate(config)
    assert message in str(err.value)


def test_the_schema_names_the_registry_models_and_the_learning_free_baselines():
    """The schema as validation loads it names the registry's trained models as models and
    its learning-free baselines as baselines: a baseline in a problem's models is refused."""
    from rlnet.config import load_schema
    from rlnet.model_registry import BASELINES, TRAINED

    definitions = load_schema()["definitions"]
    assert tuple(definitions["model_name"]["enum"]) == TRAINED
    assert tuple(definitions["baseline_name"]["enum"]) == BASELINES
    config = load(ROOT / "config" / "test.yaml")
    config["problems"]["pma"]["models"].append("rule")
    with pytest.raises(ConfigError, match="problems.pma.models"):
        validate(config)
