"""Image I/O: axis order, spacing, geometry round trips and atomic writes."""

import os
import stat

import numpy as np
import pytest
import SimpleITK as sitk

from rlnet import io


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
        with io.atomic_path(target) as tmp:
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
        with io.atomic_path(tmp_path / "table.tsv") as tmp:
            tmp.write_text("a\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "table.tsv").stat().st_mode) == 0o644
