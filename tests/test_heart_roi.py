"""The cac heart ROI: manifest overrides (roi_center, heart_mask), the recorded search, the QC."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlnet import io, tsv
from rlnet.datasets.manifest import COLUMNS, ManifestError, check_headers
from rlnet.phantoms import heart
from rlnet.prepare import Prepared, PrepareError, prepare
from rlnet.roi_qc import roi_qc, roi_table, window_box

SHAPE, SPACING = (32, 64, 64), (3.0, 2.5, 2.5)
PROBLEM_3D = {
    "spatial_dims": 3,
    "candidates": {"hu": [130, 3000]},
    "input_window": [-1000, 1500],
    "roi": {"size": [16, 32, 32], "margin": [1, 2, 2]},
    "grid": {"spacing": list(SPACING)},
}


def manifest(folder: Path, n: int = 3, **columns) -> pd.DataFrame:
    """``n`` phantom chests written to ``folder``; ``columns``: per-case overrides."""
    rows = []
    for i in range(n):
        case = heart.generate(1, i, shape=SHAPE, spacing=SPACING)
        image = folder / f"c{i}.nii.gz"
        io.write_image(image, case.image, case.spacing)
        row = dict.fromkeys(COLUMNS, "") | {"case_id": f"c{i}", "subject_id": f"c{i}"}
        rows.append(row | {"image": str(image), "value": float(i + 1), "agatston": 0.0})
    table = pd.DataFrame(rows)
    for column, values in columns.items():
        table[column] = values
    return table


def split_of(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"case_id": table["case_id"], "split": "test", "stratum": 0})


def test_a_roi_center_places_the_crop_by_hand(tmp_path):
    """Centre (10, 20, 30), window + margins (18, 36, 36): the crop starts at voxel (1, 2, 12),
    at (3, 5, 30) mm (spacing 3 x 2.5 x 2.5 mm, origin 0)."""
    table = manifest(tmp_path, roi_center=["10 20 30", "", ""])
    prepare(table, split_of(table), PROBLEM_3D, tmp_path / "out")
    prepared = Prepared.load(tmp_path / "out")
    row = prepared.cases.loc[0]
    assert (row["roi_center"], row["roi_source"], row["grid_origin"]) == (
        "10 20 30",
        "roi_center",
        "3 5 30",
    )
    image, _ = io.read_image(table.loc[0, "image"])
    assert np.array_equal(prepared.images[0], image[1:19, 2:38, 12:48])
    assert set(prepared.cases.loc[1:, "roi_source"]) == {"search"}
    assert (prepared.cases.loc[1:, "roi_confidence"] >= 0.5).all()


def test_a_heart_mask_centres_the_crop_on_its_centroid(tmp_path):
    """A box mask z 4-8, y 10-20, x 30-40 (inclusive): centroid (6, 15, 35)."""
    box = np.zeros(SHAPE, np.uint8)
    box[4:9, 10:21, 30:41] = 1
    io.write_image(tmp_path / "heart.nii.gz", box, SPACING)
    table = manifest(tmp_path, heart_mask=[str(tmp_path / "heart.nii.gz"), "", ""])
    prepare(table, split_of(table), PROBLEM_3D, tmp_path / "out")
    row = Prepared.load(tmp_path / "out").cases.loc[0]
    assert (row["roi_center"], row["roi_source"]) == ("6 15 35", "heart_mask")


def test_a_heart_region_is_cropped_as_the_image_and_leaves_the_roi_search(tmp_path):
    """Case 0: a heart_region (used by the heart-rule baseline only) with the ROI still searched;
    case 1: a heart_mask, which centres the ROI and is its region too; case 2: none (zeros,
    has_heart 0). The region is cropped exactly as the image."""
    box = np.zeros(SHAPE, np.uint8)
    box[4:9, 10:21, 30:41] = 1
    io.write_image(tmp_path / "heart.nii.gz", box, SPACING)
    heart_file = str(tmp_path / "heart.nii.gz")
    table = manifest(tmp_path, heart_region=[heart_file, "", ""], heart_mask=["", heart_file, ""])
    searched = manifest(tmp_path)
    prepare(searched, split_of(searched), PROBLEM_3D, tmp_path / "plain")
    assert np.load(tmp_path / "plain" / "heart.npy").shape == (0,)  # written, empty
    assert Prepared.load(tmp_path / "plain").heart is None
    prepare(table, split_of(table), PROBLEM_3D, tmp_path / "out")
    prepared, plain = Prepared.load(tmp_path / "out"), Prepared.load(tmp_path / "plain")
    assert prepared.cases["has_heart"].tolist() == [1, 1, 0]
    assert prepared.cases.loc[0, "roi_center"] == plain.cases.loc[0, "roi_center"]
    assert prepared.cases["roi_source"].tolist() == ["search", "heart_mask", "search"]
    for name in ("images", "candidates", "masks"):  # the region changes nothing else
        assert getattr(prepared, name)[[0, 2]].tobytes() == getattr(plain, name)[[0, 2]].tobytes()
    for k in (0, 1):
        # the grid is the source's spacing: a crop by whole voxels from voxel origin / spacing
        mm = (float(v) for v in prepared.cases.loc[k, "grid_origin"].split())
        z, y, x = (round(v / s) for v, s in zip(mm, SPACING, strict=True))
        d, h, w = prepared.heart.shape[1:]
        expected = np.zeros((d, h, w), np.uint8)  # the box in the crop's coordinates
        lo = [max(a - o, 0) for a, o in zip((4, 10, 30), (z, y, x), strict=True)]
        hi = [min(b - o, n) for b, o, n in zip((9, 21, 41), (z, y, x), (d, h, w), strict=True)]
        expected[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = 1
        np.testing.assert_array_equal(prepared.heart[k], expected)
    assert not prepared.heart[2].any()


def test_a_heart_region_is_resampled_by_nearest_neighbour_on_a_coarser_grid(tmp_path):
    """Grid 6 x 5 x 5 mm on a 3 x 2.5 x 2.5 mm source: every grid voxel lies exactly on a
    source voxel (index = the grid's origin voxel + 2 x its index), so nearest neighbour takes
    every second source voxel of the box (z 4-8, y 10-20, x 30-40) and stays binary."""
    box = np.zeros(SHAPE, np.uint8)
    box[4:9, 10:21, 30:41] = 1
    io.write_image(tmp_path / "heart.nii.gz", box, SPACING)
    table = manifest(tmp_path, n=1, heart_region=[str(tmp_path / "heart.nii.gz")])
    coarse = {**PROBLEM_3D, "roi": {"size": [8, 16, 16], "margin": [1, 1, 1]}}
    coarse["grid"] = {"spacing": [6.0, 5.0, 5.0]}
    prepare(table, split_of(table), coarse, tmp_path / "out")
    prepared = Prepared.load(tmp_path / "out")
    mm = [float(v) for v in prepared.cases.loc[0, "grid_origin"].split()]
    start = [v / s for v, s in zip(mm, SPACING, strict=True)]
    assert all(float(s).is_integer() for s in start)
    expected = np.zeros((10, 18, 18), np.uint8)
    for g in np.ndindex(expected.shape):
        source = [int(s) + 2 * i for s, i in zip(start, g, strict=True)]
        inside = all(0 <= v < n for v, n in zip(source, SHAPE, strict=True))
        expected[g] = box[tuple(source)] if inside else 0
    assert expected.any()
    np.testing.assert_array_equal(prepared.heart[0], expected)


def test_a_heart_region_of_another_shape_names_the_case(tmp_path):
    io.write_image(tmp_path / "small.nii.gz", np.ones((8, 8, 8), np.uint8), SPACING)
    table = manifest(tmp_path, heart_region=["", str(tmp_path / "small.nii.gz"), ""])
    message = r"case c1: heart_region .*small.nii.gz shape \(8, 8, 8\)"
    with pytest.raises(PrepareError, match=message):
        prepare(table, split_of(table), PROBLEM_3D, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_heart_region_on_a_2d_problem_is_refused(tmp_path):
    image = np.zeros((8, 8), np.int16)
    image[2:6, 2:6] = 40
    io.write_image(tmp_path / "slice.nii.gz", image, (1.0, 1.0))
    row = dict.fromkeys(COLUMNS, "") | {"case_id": "s0", "subject_id": "s0", "value": 1.0}
    row |= {"image": str(tmp_path / "slice.nii.gz"), "heart_region": str(tmp_path / "slice.nii.gz")}
    with pytest.raises(ManifestError, match="case s0: heart_region is for 3D problems"):
        check_headers(pd.DataFrame([row]), tmp_path / "m.tsv", 2)


def test_an_empty_heart_mask_names_the_case(tmp_path):
    io.write_image(tmp_path / "empty.nii.gz", np.zeros(SHAPE, np.uint8), SPACING)
    table = manifest(tmp_path, heart_mask=["", str(tmp_path / "empty.nii.gz"), ""])
    with pytest.raises(PrepareError, match="case c1: heart_mask .*empty.nii.gz is empty"):
        prepare(table, split_of(table), PROBLEM_3D, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("10 20", r"roi_center '10 20' must be three voxel indices 'z y x'"),
        ("10 20 x", r"roi_center '10 20 x' must be three voxel indices"),
        ("10 20 64", r"roi_center 10 20 64 lies outside the image \(shape \(32, 64, 64\)\)"),
    ],
)
def test_bad_roi_centers_are_named_at_the_manifest(tmp_path, value, fragment):
    table = manifest(tmp_path, n=2, roi_center=["", value])
    with pytest.raises(ManifestError, match=f"mine.tsv: case c1: {fragment}"):
        check_headers(table, "mine.tsv", 3)


def test_the_qc_lists_every_roi_and_draws_the_montage(tmp_path):
    """roi.tsv holds each case's centre and source; the montage is a PNG."""
    table = manifest(tmp_path, roi_center=["10 20 30", "", ""])
    prepare(table, split_of(table), PROBLEM_3D, tmp_path / "out")
    qc = roi_qc(tmp_path / "out", tmp_path / "qc" / "roi.tsv", tmp_path / "qc" / "roi.png")
    assert qc["case_id"].tolist() == ["c0", "c1", "c2"]
    assert qc["roi_source"].tolist() == ["roi_center", "search", "search"]
    assert (qc["flag"] == "").all()
    assert tsv.read_table(tmp_path / "qc" / "roi.tsv")["roi_center"][0] == "10 20 30"
    assert (tmp_path / "qc" / "roi.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_qc_flags_a_doubtful_roi(tmp_path):
    """An abdominal scan with no thoracic slice: flagged doubtful, confidence 0, with why."""
    cases = pd.DataFrame(
        {
            "case_id": ["a", "b"],
            "split": "test",
            "image": ["x", "y"],
            "roi_center": ["1 2 3", "4 5 6"],
            "roi_source": "search",
            "roi_confidence": [0.0, 0.9],
            "roi_note": ["no slice where the lungs fill 10% of the body (not a chest CT?)", ""],
        }
    )
    table = roi_table(cases)
    assert table["flag"].tolist() == ["doubtful", ""]


def test_the_qc_box_is_the_window_at_the_grids_spacing():
    """A 32 x 32 window of 2 mm voxels on a 0.7 mm scan, centred on pixel (100, 200): 91.43
    pixels a side, its first grid voxel's centre 16 x 2 mm = 45.71 pixels before the centre,
    its edge half a grid voxel (1.43 pixels) further; at the scan's own spacing the box is the
    crop's pixels (centre - 16 - 0.5)."""
    top, left, height, width = window_box((100, 200), (32, 32), (2 / 0.7, 2 / 0.7))
    assert (height, width) == pytest.approx((32 * 2 / 0.7, 32 * 2 / 0.7))
    assert (top, left) == pytest.approx((100 - 16.5 * 2 / 0.7, 200 - 16.5 * 2 / 0.7))
    assert window_box((10, 20), (16, 32), (1.0, 1.0)) == (1.5, 3.5, 16.0, 32.0)
