"""The training grid: every case reaches the networks at the problem's spacing and size, in any
case order, and maps go back onto their scan (rlnet.grid, rlnet.prepare, rlnet.predict).

Bounds used below, derived once. Nearest-neighbour resampling from pixels of size s onto a
grid of size g (n axes): a grid point q takes the label of the source pixel whose centre is
nearest, within d_s = |s| / 2 of q (|s|: the pixel's diagonal), and a grid cell reaches
d_g = |g| / 2 from its point.
- A continuous shape (a disc of radius r) drawn by pixel centres: a point more than
  w = d_s + d_g from its edge lies in a grid cell of the right label, so the grid's area
  differs from pi r^2 by at most the annulus 4 pi r w (w = d_g when nothing is resampled).
- A pixel mask: a point of the source region (a cell with centre p) and of a grid cell with
  the other label have source pixels of both labels within 2 d_s + d_g of each other, so the
  areas differ by at most the pixels within 2 d_s + d_g of the other label (``band``).
- Back on the source (a map placed back by nearest neighbour): pixel p reads grid point q
  within d_g, which read the source pixel within d_s of q; p keeps its own label unless a
  pixel of the other label lies within d_s + d_g.
"""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage

from conftest import REAL_CT, band
from rlnet import io
from rlnet.datasets.manifest import COLUMNS
from rlnet.predict import _write_map
from rlnet.prepare import Prepared, PrepareError, prepare

GRID_2D = {"spacing": [3.6, 3.6], "shape": [96, 96]}
PROBLEM = {
    "spatial_dims": 2,
    "candidates": {"hu": [-20, 100]},
    "input_window": [-250, 250],
    "grid": GRID_2D,
}


def disc_slice(shape: int, spacing: float, radius_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(CT, mask) of a 50 HU disc of ``radius_mm`` in air, centred on pixel shape // 2: pixels
    whose centre lies inside."""
    y, x = (np.mgrid[:shape, :shape] - shape // 2) * spacing
    mask = (y**2 + x**2 <= radius_mm**2).astype(np.uint8)
    return np.where(mask > 0, 50, -1000).astype(np.int16), mask


def manifest_of(folder: Path, cases: dict[str, tuple[np.ndarray, np.ndarray, float]]):
    """Write each case's CT and mask (2D, isotropic spacing) and return their manifest rows."""
    rows = []
    for case, (image, mask, spacing) in cases.items():
        io.write_image(folder / f"{case}.nii.gz", image, (spacing, spacing))
        io.write_image(folder / f"{case}_mask.nii.gz", mask, (spacing, spacing))
        row = dict.fromkeys(COLUMNS, "") | {"case_id": case, "subject_id": case}
        value = float(mask.sum()) * spacing**2
        rows.append(
            row
            | {
                "image": str(folder / f"{case}.nii.gz"),
                "mask": str(folder / f"{case}_mask.nii.gz"),
                "value": value,
            }
        )
    return pd.DataFrame(rows)


def all_test(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"case_id": table["case_id"], "split": "test", "stratum": 0})


RADIUS = 60.0  # mm


@pytest.fixture
def two_discs(tmp_path):
    """The same disc on a 512 x 512 slice at 0.98 mm and on a 96 x 96 slice at 3.6 mm."""
    fine, coarse = disc_slice(512, 0.98, RADIUS), disc_slice(96, 3.6, RADIUS)
    return manifest_of(tmp_path, {"fine": (*fine, 0.98), "coarse": (*coarse, 3.6)})


def test_a_disc_measures_alike_at_0_98_and_3_6_mm(two_discs, tmp_path):
    """Both slices reach the 96 x 96 grid at 3.6 mm (the 512^2 one first, which used to pad
    every case to 512^2); their masks measure pi r^2 within the band bound 4 pi r w, and sit
    centred on the grid's pixel (48, 48) (the disc is symmetric about it)."""
    prepare(two_discs, all_test(two_discs), PROBLEM, tmp_path / "out")
    prepared = Prepared.load(tmp_path / "out")
    assert prepared.masks.shape == (2, 96, 96)
    assert prepared.meta["grid"] == {"spacing": [3.6, 3.6], "shape": [96, 96]}
    truth = np.pi * RADIUS**2
    for k, source in enumerate((0.98, 3.6)):
        row = prepared.cases.loc[k]
        assert row["spacing"] == "3.6 3.6" and row["voxel_size"] == pytest.approx(3.6**2)
        assert row["source_spacing"] == f"{source:g} {source:g}"
        area = prepared.masks[k].sum() * row["voxel_size"]
        w = np.sqrt(2) / 2 * (3.6 + (source if source != 3.6 else 0.0))
        assert abs(area - truth) <= 4 * np.pi * RADIUS * w, (row["case_id"], area, truth)
        assert ndimage.center_of_mass(prepared.masks[k]) == pytest.approx((48, 48), abs=0.5)
        # the reference value stays the manifest's (the disc measured on its own pixels)
        assert row["value"] == pytest.approx(two_discs.loc[k, "value"])


def test_cases_are_prepared_alike_in_any_order(two_discs, tmp_path):
    """[fine, coarse] and [coarse, fine]: each case's arrays are the same (the old padding to
    the first case's size refused the second order and padded the first)."""
    reverse = two_discs.iloc[::-1].reset_index(drop=True)
    prepare(two_discs, all_test(two_discs), PROBLEM, tmp_path / "a")
    prepare(reverse, all_test(reverse), PROBLEM, tmp_path / "b")
    a, b = Prepared.load(tmp_path / "a"), Prepared.load(tmp_path / "b")
    for case in ("fine", "coarse"):
        i = int(a.cases.index[a.cases["case_id"] == case][0])
        j = int(b.cases.index[b.cases["case_id"] == case][0])
        for name in ("images", "candidates", "masks"):
            assert np.array_equal(getattr(a, name)[i], getattr(b, name)[j]), (case, name)


def test_a_slice_at_the_grid_spacing_is_padded_by_hand(tmp_path):
    """A 30 x 30 slice at the grid's 3.6 mm on a 32 x 32 grid: its pixel 15 lands on the grid's
    16, so it fills rows and columns 1-30, with air (-1000 HU, mask 0) around; no value moves."""
    rng = np.random.default_rng(0)
    image = rng.integers(-200, 200, (30, 30)).astype(np.int16)
    mask = (image > 0).astype(np.uint8)
    table = manifest_of(tmp_path, {"a": (image, mask, 3.6)})
    problem = PROBLEM | {"grid": {"spacing": [3.6, 3.6], "shape": [32, 32]}}
    prepare(table, all_test(table), problem, tmp_path / "out")
    prepared = Prepared.load(tmp_path / "out")
    expected = np.full((32, 32), -1000, np.int16)
    expected[1:31, 1:31] = image
    assert np.array_equal(prepared.images[0], expected)
    assert np.array_equal(prepared.masks[0][1:31, 1:31], mask)
    assert prepared.masks[0].sum() == mask.sum()
    origin = [float(v) for v in prepared.cases.loc[0, "grid_origin"].split()]
    assert origin == pytest.approx([-3.6, -3.6])  # one pixel before the slice's (mm)


def test_a_candidate_mask_of_another_shape_is_named(tmp_path):
    """Infer skips the manifest's checks: prepare itself refuses a candidate mask that does not
    fit the image (it used to be padded in)."""
    image, mask = disc_slice(40, 3.6, 30.0)
    table = manifest_of(tmp_path, {"a": (image, mask, 3.6)})
    io.write_image(tmp_path / "liver.nii.gz", np.ones((30, 30), np.uint8), (3.6, 3.6))
    table["candidate_mask"] = str(tmp_path / "liver.nii.gz")
    problem = PROBLEM | {"candidates": {"mask": "candidate_mask"}}
    with pytest.raises(PrepareError, match=r"case a: candidate mask .*liver.nii.gz shape"):
        prepare(table, all_test(table), problem, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def one_slice_dicom(tmp_path: Path, k: int = 7) -> Path:
    """Slice ``k`` (file order) of the real DICOM series as a one-slice series folder."""
    files = sorted((REAL_CT / "dicom-abdomen").iterdir())
    folder = tmp_path / "slice"
    folder.mkdir()
    shutil.copy(files[k], folder / files[k].name)
    return folder


def test_a_real_dicom_slice_round_trips_and_its_map_lies_at_the_slice(tmp_path):
    """A real 512 x 512 DICOM slice (0.977 mm) with its body (HU > -500) as reference: on the
    3.6 mm grid the body measures its own area within the band bound; its map, placed back,
    differs from the body only within w of the body's edge, and lies at the slice's
    ImagePositionPatient (read from the DICOM file, not by the code under test)."""
    folder = one_slice_dicom(tmp_path)
    ct, geometry = io.read_image(folder)
    body = (ct > -500).astype(np.uint8)
    io.write_image(tmp_path / "body.nii.gz", body, geometry)
    row = dict.fromkeys(COLUMNS, "") | {"case_id": "s", "subject_id": "s", "value": 1.0}
    table = pd.DataFrame([row | {"image": str(folder), "mask": str(tmp_path / "body.nii.gz")}])
    problem = PROBLEM | {"grid": {"spacing": [3.6, 3.6], "shape": [144, 144]}}  # 518 mm
    prepare(table, all_test(table), problem, tmp_path / "out")
    prepared = Prepared.load(tmp_path / "out")
    s = geometry.spacing[0]
    d_s, d_g = np.sqrt(2) / 2 * s, np.sqrt(2) / 2 * 3.6
    area = prepared.masks[0].sum() * 3.6**2
    bound = band(body, geometry.spacing, 2 * d_s + d_g).sum() * s * s
    assert abs(area - body.sum() * s * s) <= bound
    near_edge = band(body, geometry.spacing, d_s + d_g)
    _write_map(prepared, 0, prepared.masks[0], tmp_path / "map.nii.gz")
    back = sitk.ReadImage(str(tmp_path / "map.nii.gz"))
    assert back.GetSize() == (512, 512, 1)  # a one-slice volume, as the scan is
    dicom = sitk.ReadImage(str(next(folder.iterdir())))
    position = [float(v) for v in dicom.GetMetaData("0020|0032").split("\\")]
    assert back.GetOrigin() == pytest.approx(position, abs=1e-4)
    assert back.GetDirection() == pytest.approx(dicom.GetDirection())
    wrong = sitk.GetArrayFromImage(back)[0] != body
    assert wrong.sum() > 0 and not (wrong & ~near_edge).any()


def real_volume_case(tmp_path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The real abdominal NIfTI (3 mm, stored RAS) with its liver (label 5) as the reference
    and the ROI centred at its middle voxel (15, 50, 61)."""
    ct, geometry = io.read_image(REAL_CT / "example_ct_sm.nii.gz")
    labels, _ = io.read_image(REAL_CT / "example_seg.nii.gz", kind="mask")
    liver = (labels == 5).astype(np.uint8)
    io.write_image(tmp_path / "liver.nii.gz", liver, geometry)
    row = dict.fromkeys(COLUMNS, "") | {"case_id": "v", "subject_id": "v", "value": 1.0}
    row |= {
        "image": str(REAL_CT / "example_ct_sm.nii.gz"),
        "mask": str(tmp_path / "liver.nii.gz"),
        "roi_center": "15 50 61",
    }
    return pd.DataFrame([row]), ct, liver


PROBLEM_3D = {
    "spatial_dims": 3,
    "candidates": {"hu": [130, 3000]},
    "input_window": [-1000, 1500],
    "roi": {"size": [48, 128, 160], "margin": [0, 0, 0]},  # 96 x 320 x 400 mm: the liver
    "grid": {"spacing": [2.0, 2.5, 2.5]},
}


def test_a_real_volume_roi_is_cut_at_the_grid_spacing_around_its_centre(tmp_path):
    """The ROI's centre voxel (24, 64, 80) lies on the source's roi_center voxel, and the
    grid's axes run along the source's (stored RAS): 6 grid voxels (15 mm) along y are 5
    source voxels, 6 along z (12 mm) 4 source voxels; at those points the grid's linear
    interpolation reads the source's own value (no blur: the grid is finer). The liver
    measures its own volume within the band bound; placed back, it differs from the source's
    only within w of its surface."""
    table, ct, liver = real_volume_case(tmp_path)
    prepare(table, all_test(table), PROBLEM_3D, tmp_path / "out")
    prepared = Prepared.load(tmp_path / "out")
    grid_ct = prepared.images[0]
    assert grid_ct.shape == (48, 128, 160)
    assert grid_ct[24, 64, 80] == ct[15, 50, 61]
    assert grid_ct[24, 70, 80] == ct[15, 55, 61]
    assert grid_ct[24, 64, 86] == ct[15, 50, 66]
    assert grid_ct[30, 64, 80] == ct[19, 50, 61]
    d_s, d_g = np.sqrt(3) / 2 * 3.0, np.linalg.norm([2.0, 2.5, 2.5]) / 2
    volume = prepared.masks[0].sum() * 2.0 * 2.5 * 2.5
    bound = band(liver, (3.0, 3.0, 3.0), 2 * d_s + d_g).sum() * 27.0
    assert abs(volume - liver.sum() * 27.0) <= bound
    near_surface = band(liver, (3.0, 3.0, 3.0), d_s + d_g)
    _write_map(prepared, 0, prepared.masks[0], tmp_path / "map.nii.gz")
    back, geometry = io.read_image(tmp_path / "map.nii.gz", kind="mask")
    source_geometry = io.read_geometry(REAL_CT / "example_ct_sm.nii.gz")[1]
    assert geometry.origin == pytest.approx(source_geometry.origin, abs=1e-4)
    wrong = back != liver
    assert not (wrong & ~near_surface).any()


def test_grid_voxels_beyond_the_scan_are_never_candidates(tmp_path):
    """An ROI reaching past the scan's first slices, candidates [-1024, 3000] HU (air
    included): the padding is air in the image but no candidate."""
    table, ct, _ = real_volume_case(tmp_path)
    table["roi_center"] = "2 50 61"
    problem = PROBLEM_3D | {"candidates": {"hu": [-1024, 3000]}}
    prepare(table, all_test(table), problem, tmp_path / "out")
    prepared = Prepared.load(tmp_path / "out")
    # grid slice k lies at source slice (2 * 3 + 2 * (k - 24)) / 3 mm: below slice 0 for k < 21
    beyond = prepared.images[0][:20]
    assert (beyond == -1000).all()
    assert not prepared.candidates[0][:20].any()
    assert prepared.candidates[0][21:].any()


def test_an_opening_near_the_grids_edge_sees_the_whole_image(tmp_path):
    """A 64 x 64 slice at the grid's spacing on a 32 x 32 grid, HU candidates with an opening
    of radius 2: the candidates are those of the whole slice, opened there, then cropped (the
    grid's rows 0-31 are the slice's 16-47), not an opening of the crop, which would erode
    the specks cut by the grid's edge."""
    from rlnet.candidates import hu_candidates

    image = np.full((64, 64), -100, np.int16)
    image[12:20, 24:32] = 50  # an 8 x 8 square across the grid's first row (slice row 16)
    image[30:38, 44:52] = 50  # and one across its last column (slice column 47)
    table = manifest_of(tmp_path, {"a": (image, np.zeros_like(image, np.uint8), 3.6)})
    problem = PROBLEM | {
        "candidates": {"hu": [-20, 100], "opening_radius": 2},
        "grid": {"spacing": [3.6, 3.6], "shape": [32, 32]},
    }
    prepare(table, all_test(table), problem, tmp_path / "out")
    expected = hu_candidates(image, [-20, 100], 2)[16:48, 16:48]
    cropped_first = hu_candidates(image[16:48, 16:48], [-20, 100], 2)
    assert not np.array_equal(expected, cropped_first)  # the edge matters for this image
    assert np.array_equal(Prepared.load(tmp_path / "out").candidates[0], expected)


def test_a_zero_pixdim_is_refused_where_infer_reads_scans(tmp_path):
    """Infer prepares scans without the manifest's header checks: a NIfTI whose header stores
    pixdim 0 (ITK reads 1 mm: the issue's 3822.8 mm^2 for 11468.4) is refused naming it."""
    import struct

    image, mask = disc_slice(40, 3.6, 30.0)
    table = manifest_of(tmp_path, {"a": (image, mask, 3.6)})
    path = tmp_path / "a.nii"
    io.write_image(path, image, (3.6, 3.6))
    data = bytearray(path.read_bytes())
    data[80:84] = struct.pack("<f", 0.0)  # pixdim[1] (x)
    path.write_bytes(bytes(data))
    table["image"], table["mask"] = str(path), ""
    with pytest.raises(PrepareError, match=r"case a: image: .*a.nii: header spacing \(3.6, 0.0\)"):
        prepare(table, all_test(table), PROBLEM, tmp_path / "out")
