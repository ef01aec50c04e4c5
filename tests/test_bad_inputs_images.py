"""Bad-input catalogue, images: damaged files and impossible pixel values are refused.

Each case damages one image (or mask) of a small user study and runs the data stages through
``rlnet.cli`` the way the workflow does (manifest -> split -> prepare into ``results/``). The
stage that catches it must fail with one line naming the file and leave nothing half-written.
Real scans still pass: scanner padding below -1024 HU is read as air, metal is kept.
"""

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import (
    PROBLEM_2D,
    REAL_CT,
    assert_nothing_half_written,
    biomarker,
    files_under,
    user_study,
)
from rlnet import cli, io, itk

SPLIT = json.dumps({"train": 0.5, "val": 0.25, "test": 0.25, "strata": 1})
PMA = biomarker("pma").to_json()
#: The toy slice: air, a body of fat and a muscle block (HU), as conftest.toy_case draws it.
SLICE = np.full((30, 30), -1000, np.int16)
SLICE[3:-3, 3:-3] = -100
SLICE[8:14, 8:14] = 45


@pytest.fixture
def study(tmp_path, monkeypatch):
    """A user's 16-case study in raw/ (manifest.tsv with absolute paths); cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    return user_study(tmp_path)


def set_cell(study: Path, case: int, column: str, path: Path) -> None:
    """Point ``column`` of case ``case`` of the study's manifest at ``path``."""
    manifest = study / "raw" / "manifest.tsv"
    lines = manifest.read_text().splitlines()
    header = lines[0].split("\t")
    cells = lines[case + 1].split("\t")
    cells[header.index(column)] = str(path)
    lines[case + 1] = "\t".join(cells)
    manifest.write_text("\n".join(lines) + "\n")


def run_stages(study: Path) -> tuple[str, int]:
    """Run manifest, split and prepare until one fails: (failing stage or "", its status)."""
    manifest, split = "results/data/pma/manifest.tsv", "results/data/pma/split.tsv"
    source = json.dumps({"manifest": str(study / "raw" / "manifest.tsv")})
    stages = {
        "manifest": ["manifest", "--source", source, "--spatial-dims", "2", "--out", manifest],
        "split": ["split", "--manifest", manifest, "--biomarker", PMA, "--split", SPLIT]
        + ["--seed", "1", "--out", split, "--report", "results/data/pma/split_counts.tsv"],
        "prepare": ["prepare", "--manifest", manifest, "--split", split]
        + ["--problem-settings", json.dumps(PROBLEM_2D), "--out-dir", "results/prepared/pma"],
    }
    for name, argv in stages.items():
        before = files_under(study / "results")
        status = cli.main(argv)
        if status:
            assert_nothing_half_written(study / "results", before)
            return name, status
    return "", 0


def cut(path: Path, fraction: float = 0.5) -> None:
    """Keep the first ``fraction`` of a file's bytes (a cut-off copy)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def cut_tail(path: Path) -> None:
    """Drop the last tenth of a file (its header survives, so only reading the pixels fails)."""
    cut(path, 0.9)


def image_file(folder: Path, name: str, array: np.ndarray, spacing=(2.0, 2.0)) -> Path:
    """Write ``array`` as ``folder/name`` with SimpleITK (the format from the extension)."""
    path = folder / name
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing[::-1])
    sitk.WriteImage(image, str(path), useCompression=name.endswith((".gz", ".nrrd")))
    return path


def with_values(values: dict[tuple[int, int], float], base: np.ndarray = SLICE) -> np.ndarray:
    """A float copy of ``base`` with some voxels set."""
    array = base.astype(np.float32)
    for index, value in values.items():
        array[index] = value
    return array


def nan_row() -> np.ndarray:
    array = SLICE.astype(np.float32)
    array[5] = np.nan
    return array


# (case name, column, file name, array or None = damage the case's own file, damage, stage,
#  message fragment)
CASES = [
    ("cut .nii.gz", "image", None, None, cut, "manifest", "incomplete file: "),
    ("cut .nii", "image", "c.nii", SLICE, cut, "manifest", "incomplete file: "),
    ("cut .nrrd", "image", "c.nrrd", SLICE, cut_tail, "prepare", "_nrrdEncodingGzip_read"),
    ("cut .mha", "image", "c.mha", SLICE, cut_tail, "prepare", "File cannot be read"),
    ("NaN pixels", "image", "c.nii.gz", nan_row(), None, "prepare", "30 of 900 voxels are NaN"),
    ("NaN in NRRD", "image", "c.nrrd", nan_row(), None, "prepare", "30 of 900 voxels are NaN"),
    ("infinite", "image", "c.nii.gz", with_values({(4, 4): np.inf}), None, "prepare", "1 of 900"),
    ("all NaN", "image", "c.nii.gz", np.full((30, 30), np.nan, np.float32), None, "prepare",
     "900 of 900 voxels are NaN or infinite"),
    ("40000 HU", "image", "c.nii.gz", with_values({(4, 4): 40000}), None, "prepare",
     "values -1000 to 40000 HU do not fit int16"),
    ("-40000 HU", "image", "c.nii.gz", with_values({(4, 4): -40000}), None, "prepare",
     "values -40000 to 45 HU do not fit int16"),
    ("all zero", "image", "c.nii.gz", np.zeros((30, 30), np.int16), None, "prepare",
     "constant image, every voxel 0 HU"),
    ("padding only", "image", "c.nii.gz", np.full((30, 30), -3024, np.int16), None, "prepare",
     "constant image, every voxel air or padding"),
    ("cut mask", "mask", None, None, cut_tail, "manifest", "incomplete file: "),
    ("NaN mask", "mask", "m.nii.gz", np.where(SLICE > 0, np.nan, 0).astype(np.float32), None,
     "prepare", "36 of 900 voxels are NaN or infinite"),
    ("negative mask", "mask", "m.nii.gz", np.where(SLICE > 0, -1, 0).astype(np.int16), None,
     "prepare", "mask has negative values (down to -1)"),
    ("fractional mask", "mask", "m.nii.gz", np.where(SLICE > 0, 0.4, 0).astype(np.float32),
     None, "prepare", "mask has fractional values (a probability map?)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("column", "name", "array", "damage", "stage", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_damaged_image_is_refused_naming_the_file(
    study, caplog, column, name, array, damage, stage, fragment
):
    case = 5
    if array is None:  # damage the case's own file
        path = study / "raw" / f"{'img' if column == 'image' else 'msk'}{case:02d}.nii.gz"
    else:
        path = image_file(study / "raw", name, array)
        set_cell(study, case, column, path)
    if damage:
        damage(path)
    with caplog.at_level(logging.ERROR):
        assert run_stages(study) == (stage, 1)
    assert fragment in caplog.text
    assert str(path) in caplog.text
    if stage == "prepare":
        assert f"case c{case:02d}" in caplog.text


def test_the_study_passes_undamaged(study):
    assert run_stages(study) == ("", 0)
    assert (study / "results/prepared/pma/images.npy").exists()


@pytest.mark.parametrize("padding", [-2048, -3024])
def test_scanner_padding_becomes_air_and_is_counted(tmp_path, caplog, padding):
    array = SLICE.copy()
    array[:, :2] = padding  # outside the field of view
    path = image_file(tmp_path, "scan.nii.gz", array)
    with caplog.at_level(logging.INFO):
        back, _ = io.read_image(path)
    expected = SLICE.copy()
    expected[:, :2] = -1024
    np.testing.assert_array_equal(back, expected)
    assert "60 voxel(s) below -1024 HU" in caplog.text


def test_metal_that_fits_int16_is_kept(tmp_path):
    array = SLICE.copy()
    array[10, 10] = 20000  # extended-HU metal
    back, _ = io.read_image(image_file(tmp_path, "metal.nii.gz", array))
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("name", ["good.nii.gz", "good.nii", "good.nrrd", "good.mha"])
def test_a_good_image_passes_unchanged(tmp_path, name):
    back, geometry = io.read_image(image_file(tmp_path, name, SLICE, spacing=(0.7, 0.8)))
    np.testing.assert_array_equal(back, SLICE)
    assert geometry.spacing == pytest.approx((0.7, 0.8))


def test_an_empty_mask_is_a_mask_not_a_constant_ct(tmp_path):
    path = image_file(tmp_path, "empty.nii.gz", np.zeros((30, 30), np.uint8))
    assert not io.read_image(path, kind="mask")[0].any()
    with pytest.raises(io.ImageReadError, match="constant image"):
        io.read_image(path)


def test_a_label_map_is_a_mask(tmp_path):
    """Nonzero labels count as inside (a LiTS-style 0/1/2 map as candidates)."""
    labels = np.zeros((30, 30), np.uint8)
    labels[5:10, 5:10], labels[6:8, 6:8] = 1, 2
    np.testing.assert_array_equal(
        io.read_image(image_file(tmp_path, "labels.nii.gz", labels), kind="mask")[0], labels
    )


def test_a_multi_member_gzip_is_measured_whole(tmp_path):
    """A .nii.gz of two gzip members (cat a.gz b.gz): its trailer holds only the second
    member's size, so the file is decompressed and counted, and passes."""
    path = image_file(tmp_path, "whole.nii.gz", SLICE)
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    np.testing.assert_array_equal(io.read_image(path)[0], SLICE)


@pytest.mark.parametrize("name", ["h.nii.gz", "h.nii"])
@pytest.mark.parametrize("shape", [(30, 20), (7, 30, 20)])
def test_the_fast_nifti_header_agrees_with_itk(tmp_path, name, shape):
    """read_header (nibabel) gives the shape and spacing SimpleITK reads."""
    spacing = (0.7, 0.8, 2.5)[-len(shape) :]
    path = image_file(tmp_path, name, np.zeros(shape, np.int16), spacing)
    image = sitk.ReadImage(str(path))
    itk_shape, itk_spacing = image.GetSize()[::-1], image.GetSpacing()[::-1]
    assert io.read_header(path) == (itk_shape, pytest.approx(itk_spacing))
    assert itk_shape == shape and itk_spacing == pytest.approx(spacing)


def test_a_cut_or_nifti2_header_is_refused(tmp_path):
    import nibabel

    path = image_file(tmp_path, "c.nii.gz", SLICE)
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:200]))
    with pytest.raises(io.ImageReadError, match="c.nii.gz: cannot read image header"):
        io.read_header(path)
    nibabel.save(nibabel.Nifti2Image(SLICE.T, np.eye(4)), tmp_path / "n2.nii.gz")
    with pytest.raises(RuntimeError, match="Unable to determine ImageIO reader"):
        sitk.ReadImage(str(tmp_path / "n2.nii.gz"))  # why NIfTI-2 is refused at the header
    with pytest.raises(io.ImageReadError, match="n2.nii.gz: cannot read image header .NIfTI-2"):
        io.read_header(tmp_path / "n2.nii.gz")


def test_dicom_input_and_output_keep_the_text_encoding(tmp_path):
    """ITK's DICOM writer (GDCM) sets the C locale, after which Python would read text as ASCII;
    the io functions restore the locale."""
    import locale

    before = locale.getpreferredencoding(False)
    folder = tmp_path / "series"
    io.write_image(folder / "0.dcm", SLICE[np.newaxis], (2.5, 0.7, 0.8))  # a series of its own
    assert locale.getpreferredencoding(False) == before
    io.read_geometry(folder)
    io.read_image(folder)
    assert locale.getpreferredencoding(False) == before


def write_series(folder, positions_mm, series_uid="1.2.3.4"):
    """A DICOM series of SLICE planes (+10 HU each) at the given slice positions (z, mm)."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    write = itk.keeps_locale(writer.Execute)
    for k, z in enumerate(positions_mm):
        image = sitk.GetImageFromArray(SLICE + 10 * k)
        image.SetSpacing((0.8, 0.7))
        for tag, value in {
            "0020|0032": f"0\\0\\{z}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|0013": str(k),
            "0020|000e": series_uid,
            "0008|0060": "CT",
        }.items():
            image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{series_uid}_{k}.dcm"))
        write(image)
    return folder


def test_a_folder_with_two_dicom_series_is_refused_listing_them(tmp_path):
    folder = write_series(tmp_path / "two", [0.0, 2.5, 5.0], "1.2.3.4")
    write_series(folder, [0.0, 1.0], "1.2.3.5")
    for read in (io.read_geometry, io.read_image, io.read_header):
        with pytest.raises(
            io.ImageReadError,
            match=r"two: holds 2 DICOM series \(1\.2\.3\.4 \(3 files\), 1\.2\.3\.5 \(2 files\)\)",
        ):
            read(folder)


@pytest.mark.parametrize(
    "positions, fragment",
    [
        # a missing slice, then mixed thickness
        ([0.0, 2.5, 5.0, 10.0], r"slices are not evenly spaced \(gaps 2.5 to 5 mm"),
        ([0.0, 1.0, 2.0, 4.5, 7.0], r"slices are not evenly spaced \(gaps 1 to 2.5 mm"),
        ([0.0, 2.5, 2.5, 5.0], "two slices of the series share a position"),
    ],
)
def test_unevenly_spaced_dicom_slices_are_refused(tmp_path, positions, fragment):
    folder = write_series(tmp_path / "uneven", positions)
    for read in (io.read_geometry, io.read_image):
        with pytest.raises(io.ImageReadError, match=f"uneven: {fragment}"):
            read(folder)


@pytest.mark.parametrize(
    "make, shape, spacing",
    [
        # slices 2.5 mm apart, 0.7 x 0.8 mm pixels
        (
            lambda tmp: write_series(tmp / "series", [0.0, 2.5, 5.0, 7.5]),
            (4, 30, 30),
            (2.5, 0.7, 0.8),
        ),
        # the real abdominal CT series (tests/data/real-ct)
        (lambda tmp: REAL_CT / "dicom-abdomen", (20, 512, 512), (2.0, 0.9765625, 0.9765625)),
    ],
)
def test_a_dicom_series_header_gives_shape_and_slice_spacing(tmp_path, make, shape, spacing):
    """Header reads of a DICOM folder (every file's header) agree with reading the series."""
    folder = make(tmp_path)
    assert io.read_geometry(folder)[0] == shape
    assert io.read_geometry(folder)[1].spacing == pytest.approx(spacing)
    array, read = io.read_image(folder)
    assert array.shape == shape and read.spacing == pytest.approx(spacing)


def test_a_one_slice_dicom_series_is_a_2d_image(tmp_path):
    """A series of one slice reads as (y, x) with the slice's in-plane spacing and position,
    by header and by pixels alike."""
    folder = write_series(tmp_path / "one", [7.5])
    shape, geometry = io.read_geometry(folder)
    assert shape == (30, 30) and geometry.spacing == pytest.approx((0.7, 0.8))
    assert io.read_header(folder) == ((30, 30), pytest.approx((0.7, 0.8)))
    array, read = io.read_image(folder)
    assert (array == SLICE).all()
    assert read.spacing == pytest.approx(geometry.spacing)
    assert read.origin == pytest.approx(geometry.origin)


def test_itk_diagnostics_never_reach_the_screen(tmp_path, capfd):
    """GDCM and the ImageIO factories print warnings to stderr (below Python's logging); the io
    functions keep the screen to their one-line errors."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "x.h5").write_text("not HDF5\n")
    for path in (tmp_path / "empty", tmp_path / "x.h5"):
        for read in (io.read_image, io.read_geometry, io.read_header):
            with pytest.raises(io.ImageReadError, match=path.name):
                read(path)
    assert capfd.readouterr().err == ""
