"""Image I/O: axis order, spacing, geometry round trips and atomic writes."""

import os
import re
import shutil
import stat
import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from rlnet import atomic, io


def test_nifti_round_trip_keeps_zyx_order_and_spacing(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    path = tmp_path / "a.nii.gz"
    io.write_image(path, array, (2.5, 0.7, 0.8))
    back, geometry = io.read_image(path)
    np.testing.assert_array_equal(back, array)
    assert back.dtype == np.int16
    assert geometry.spacing == pytest.approx((2.5, 0.7, 0.8))
    # SimpleITK reports (x, y, z): the conversion happens once, in io.
    assert sitk.ReadImage(str(path)).GetSpacing() == pytest.approx((0.8, 0.7, 2.5))


def test_2d_and_other_formats(tmp_path):
    array = np.eye(5, dtype=np.uint8)
    for name in ("s.nii.gz", "s.nrrd", "s.mha"):
        io.write_image(tmp_path / name, array, (0.5, 0.6))
        back, geometry = io.read_image(tmp_path / name)
        np.testing.assert_array_equal(back, array)
        assert geometry.spacing == pytest.approx((0.5, 0.6))


def test_geometry_shift_moves_origin_by_voxels_times_spacing(tmp_path):
    geometry = io.Geometry.from_spacing((2.0, 1.0, 0.5))
    shifted = geometry.shifted((1, 2, 4))
    assert shifted.origin == pytest.approx((2.0, 2.0, 2.0))
    io.write_image(tmp_path / "c.nii.gz", np.zeros((2, 2, 2), np.uint8), shifted)
    back = io.read_image(tmp_path / "c.nii.gz", kind="mask")[1]  # all zero: a mask, not CT
    assert back.origin == pytest.approx((2.0, 2.0, 2.0))


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not an image")
    with pytest.raises(io.ImageReadError, match="broken.nii.gz"):
        io.read_image(bad)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_dimension_mismatch_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="axes"):
        io.write_image(tmp_path / "x.nii.gz", np.zeros((2, 2)), (1.0, 1.0, 1.0))
    assert not (tmp_path / "x.nii.gz").exists()


def test_atomic_write_gives_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic.atomic_path(tmp_path / "table.tsv") as tmp:
            tmp.write_text("a\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "table.tsv").stat().st_mode) == 0o644


# --- DICOM series read honestly; spacing 0 refused wherever an image is read ---

REAL_DICOM = Path(__file__).resolve().parent / "data" / "real-ct" / "dicom-abdomen"


def slice_order(folder: Path) -> list[Path]:
    """The folder's files by slice position along z (ImagePositionPatient, read here with
    SimpleITK file by file, not by the code under test)."""

    def z(path: Path) -> float:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        return float(reader.GetMetaData("0020|0032").split("\\")[2])

    return sorted(folder.iterdir(), key=z)


def test_the_real_series_reads_every_file_of_its_folder():
    """The intact copy: as many slices as the folder holds files."""
    n_files = len(list(REAL_DICOM.iterdir()))
    assert n_files == 20
    assert io.read_image(REAL_DICOM)[0].shape[0] == n_files
    assert io.read_geometry(REAL_DICOM)[0][0] == n_files


@pytest.mark.parametrize(
    "which, keep",
    # cut in the header, in the pixel data, just before the end (GDCM takes ~1-3 s on these)
    [("first", 0.02), ("middle", 0.5), ("last", 0.99)],
)
def test_a_truncated_file_of_a_series_is_named(tmp_path, which, keep):
    """A copy of the real series with its first, a middle or its last slice's file cut to
    ``keep`` of its bytes: reading it (pixels or headers, as prepare and the manifest job do)
    names that file, where GDCM alone drops it (19 slices) or reports a gap."""
    folder = tmp_path / "series"
    shutil.copytree(REAL_DICOM, folder)
    files = slice_order(folder)
    cut = files[{"first": 0, "middle": len(files) // 2, "last": -1}[which]]
    data = cut.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep)])
    message = (
        f"{re.escape(str(cut))}: a DICOM file that cannot be read whole \\(truncated or corrupt\\)"
        f", in the folder of a DICOM series of {len(files) - 1} other file"
    )
    for read in (io.read_image, io.read_geometry):
        with pytest.raises(io.ImageReadError, match=message):
            read(folder)


def test_a_garbage_file_in_a_series_folder_is_named(tmp_path):
    """One non-DICOM file among the series' files; hidden files (.DS_Store) are not slices."""
    folder = tmp_path / "series"
    shutil.copytree(REAL_DICOM, folder)
    (folder / ".DS_Store").write_bytes(b"\0\1Bud1")
    assert io.read_geometry(folder)[0] == (20, 512, 512)
    (folder / "notes.bin").write_bytes(bytes(range(256)) * 40)
    for read in (io.read_image, io.read_geometry):
        with pytest.raises(io.ImageReadError, match=r"series/notes.bin: not a DICOM file"):
            read(folder)


def test_two_bad_files_are_named_in_one_line(tmp_path):
    folder = tmp_path / "series"
    shutil.copytree(REAL_DICOM, folder)
    files = slice_order(folder)
    files[0].write_bytes(files[0].read_bytes()[:1000])
    (folder / "junk").write_text("x")
    with pytest.raises(io.ImageReadError) as raised:
        io.read_image(folder)
    message = str(raised.value)
    assert "\n" not in message and "2 files are not slices of its DICOM series" in message
    assert f"{files[0].name} (a DICOM file that cannot be read whole" in message
    assert "junk (not a DICOM file)" in message


def patched_dicom(tmp_path: Path, old: bytes, new: bytes, one_slice: bool) -> Path:
    """A copy of the real series (or of its first file alone) with ``old`` replaced by ``new``
    (same length) in the first file."""
    folder = tmp_path / "patched"
    folder.mkdir()
    files = slice_order(REAL_DICOM)
    for path in files[:1] if one_slice else files:
        shutil.copy(path, folder / path.name)
    first = folder / files[0].name
    data = first.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    first.write_bytes(data.replace(old, new))
    return folder


SPACING_VALUE = b"0.9765625\\0.9765625"


@pytest.mark.parametrize("one_slice", [True, False])
def test_a_dicom_pixel_spacing_of_zero_is_named(tmp_path, one_slice):
    """PixelSpacing "0\\0.977" in one file: GDCM reads 1 mm (one slice) or takes the first
    file's neighbours; here the file is named."""
    folder = patched_dicom(tmp_path, SPACING_VALUE, b"0.0000000\\0.9765625", one_slice)
    for read in (io.read_image, io.read_geometry, io.read_header):
        with pytest.raises(
            io.ImageReadError, match=r"patched/CT\.[0-9.]+: header spacing \(0.0, 0.9765625\)"
        ):
            read(folder)


def test_a_dicom_without_pixel_spacing_is_named(tmp_path):
    """The PixelSpacing tag (0028,0030) renamed to an unknown one: no pixel size, not 1 mm."""
    tag = b"\x28\x00\x30\x00DS\x14\x00"  # (0028,0030), explicit VR little endian, 20 bytes
    folder = patched_dicom(
        tmp_path,
        tag + SPACING_VALUE,
        b"\x28\x00\x31\x00DS\x14\x00" + (SPACING_VALUE),
        one_slice=True,
    )
    with pytest.raises(io.ImageReadError, match=r"no pixel size in the DICOM header"):
        io.read_image(folder)


def zero_spacing_file(tmp_path: Path, name: str) -> Path:
    """A 2D image of 2 x 2 mm pixels whose header stores 0 as the x spacing."""
    array = (np.arange(64 * 64).reshape(64, 64) % 300 - 100).astype(np.int16)
    path = tmp_path / name
    io.write_image(path, array, (2.0, 2.0))
    data = bytearray(path.read_bytes())
    if name.endswith(".nii"):
        data[80:84] = struct.pack("<f", 0.0)  # pixdim[1] (x): header bytes 76 + 4
    elif name.endswith(".nrrd"):
        data = bytearray(
            bytes(data).replace(b"space directions: (2,0) (0,2)", b"space directions: (0,0) (0,2)")
        )
    else:
        data = bytearray(bytes(data).replace(b"ElementSpacing = 2 2", b"ElementSpacing = 0 2"))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("name", ["z.nii", "z.nrrd", "z.mha"])
def test_a_header_spacing_of_zero_is_refused_wherever_the_image_is_read(tmp_path, name):
    """ITK reads a NIfTI pixdim of 0 as 1 mm: pixels and headers alike now refuse it, naming
    the file (the manifest's own check stays: read_header gives the stored 0)."""
    path = zero_spacing_file(tmp_path, name)
    for read in (io.read_image, io.read_geometry):
        with pytest.raises(
            io.ImageReadError, match=rf"{name}: header spacing \(2.0, 0.0\) must be finite and > 0"
        ):
            read(path)
