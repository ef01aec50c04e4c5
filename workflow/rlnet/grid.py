"""A problem's training grid: every case reaches the networks at one voxel size and one size.

A grid is a spacing (mm, array order) and a shape (voxels): for 2D problems the configured
slice size, for 3D the ROI (``roi.size`` + 2 x ``roi.margin``). A case's array is placed on it
by ``placement``: the grid's voxel ``shape // 2`` lies at the physical position of one source
voxel (2D: the slice's voxel ``shape // 2``; 3D: the heart centre), the grid's axes along the
source's. ``sample`` then fills the grid from the source: parts beyond the source are air
(images) or 0 (masks), so 2D slices are centre-cropped or padded, and the 3D ROI is cropped
around the heart at the grid's spacing.

Interpolation: CT linearly, after a Gaussian anti-aliasing blur along every axis the grid is
coarser on (sigma = (grid - source spacing) / 2 mm, scikit-image's ``rescale`` rule), so a
0.7 mm scan seen at 3.6 mm averages the tissue a 3.6 mm pixel covers instead of sampling every
fifth pixel's noise; masks (reference, candidate, heart) by nearest neighbour, so they stay
binary. Where the spacing already matches (``SPACING_RTOL``) nothing is interpolated: the grid
is a crop by whole voxels (``rlnet.roi.crop``), the source's values unchanged. ``to_source``
is the inverse (nearest neighbour), for maps that overlay their scan.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from rlnet import io, roi

#: Spacings within this relative difference are one spacing (float32 headers round 3.6 to
#: 3.5999999): the case is cropped by whole voxels, not resampled.
SPACING_RTOL = 1e-5
#: Gaussian blurs are cut at this many sigmas (scipy's default truncate).
BLUR_TRUNCATE = 4.0


@dataclass(frozen=True)
class Grid:
    """Spacing (mm) and shape (voxels) every case of a problem is sampled to, array order."""

    spacing: tuple[float, ...]
    shape: tuple[int, ...]

    @classmethod
    def of_settings(cls, settings: dict) -> "Grid":
        """The grid of a problem's prepare settings (``rlnet.config.prepare_settings``): its
        ``grid.spacing`` and, 2D, ``grid.shape``; 3D, the ROI with its margins."""
        if "grid" not in settings:
            raise KeyError("the problem settings have no 'grid' (rlnet.config.prepare_settings)")
        spacing = tuple(float(s) for s in settings["grid"]["spacing"])
        if settings["spatial_dims"] == 3:
            size, margin = settings["roi"]["size"], settings["roi"]["margin"]
            shape = tuple(int(s) + 2 * int(m) for s, m in zip(size, margin, strict=True))
        else:
            shape = tuple(int(s) for s in settings["grid"]["shape"])
        return cls(spacing, shape)

    def matches(self, spacing: Sequence[float]) -> bool:
        """Whether ``spacing`` (mm) is the grid's, within SPACING_RTOL."""
        return np.allclose(spacing, self.spacing, rtol=SPACING_RTOL, atol=0)


def _matrix(geometry: io.Geometry) -> np.ndarray:
    """Direction cosines as a matrix in array order: column k is the direction of array axis k
    in physical (array-ordered) coordinates."""
    n = len(geometry.spacing)
    xyz = np.asarray(geometry.direction, float).reshape(n, n)
    return xyz[::-1, ::-1]


def physical(geometry: io.Geometry, index: Sequence[float]) -> np.ndarray:
    """Physical position (mm, array order) of a (continuous) voxel index."""
    step = np.asarray(index, float) * np.asarray(geometry.spacing)
    return np.asarray(geometry.origin) + _matrix(geometry) @ step


def continuous_index(geometry: io.Geometry, point: Sequence[float]) -> np.ndarray:
    """Continuous voxel index of a physical position (mm, array order)."""
    offset = np.linalg.solve(_matrix(geometry), np.asarray(point, float) - geometry.origin)
    return offset / np.asarray(geometry.spacing)


def placement(source: io.Geometry, grid: Grid, centre: Sequence[int]) -> io.Geometry:
    """Geometry of the grid array whose voxel ``grid.shape // 2`` lies at source voxel
    ``centre``, its axes along the source's. Same spacing: the source shifted by whole voxels."""
    if grid.matches(source.spacing):
        return source.shifted([int(c) - s // 2 for c, s in zip(centre, grid.shape, strict=True)])
    at = physical(source, centre)
    half = np.asarray([s // 2 for s in grid.shape], float) * np.asarray(grid.spacing)
    origin = at - _matrix(source) @ half
    return io.Geometry(grid.spacing, tuple(map(float, origin)), source.direction)


def crop_offset(source: io.Geometry, target: io.Geometry) -> tuple[int, ...] | None:
    """The whole-voxel index of ``target``'s voxel 0 in ``source`` when ``target`` is ``source``
    shifted by whole voxels (same spacing and axes); else None."""
    if not (
        np.allclose(source.spacing, target.spacing, rtol=SPACING_RTOL, atol=0)
        and np.allclose(source.direction, target.direction, atol=1e-9)
    ):
        return None
    index = continuous_index(source, target.origin)
    whole = np.rint(index)
    if not np.allclose(index, whole, atol=1e-3):
        return None
    return tuple(int(v) for v in whole)


def sample(
    array: np.ndarray,
    source: io.Geometry,
    target: io.Geometry,
    shape: Sequence[int],
    *,
    mask: bool,
    fill: float,
) -> np.ndarray:
    """``array`` (in ``source``) sampled on the grid ``target`` of ``shape``: CT (``mask``
    False) anti-aliased and linear, rounded to int16; masks nearest neighbour, uint8. Outside
    the source: ``fill``. A whole-voxel shift of the source is a crop, values unchanged."""
    shape = tuple(int(s) for s in shape)
    offset = crop_offset(source, target)
    if offset is not None:
        centre = [o + s // 2 for o, s in zip(offset, shape, strict=True)]
        out, _ = roi.crop(array, centre, shape, fill=fill)
        return out
    block, block_geometry = _covering_block(array, source, target, shape)
    if block is None:
        return np.full(shape, fill, np.uint8 if mask else np.int16)
    if mask:
        values = (block > 0).astype(np.uint8)
    else:
        values = ndimage.gaussian_filter(
            block.astype(np.float32),
            _blur_sigma(source, target),
            mode="nearest",
            truncate=BLUR_TRUNCATE,
        )
    out = _resample(values, block_geometry, target, shape, mask, fill)
    return out.astype(np.uint8) if mask else np.rint(out).astype(np.int16)


def _blur_sigma(source: io.Geometry, target: io.Geometry) -> list[float]:
    """Anti-aliasing sigma per axis in source voxels: (target - source spacing) / 2 mm where
    the target is coarser, else 0."""
    return [max(0.0, (g - s) / 2) / s for g, s in zip(target.spacing, source.spacing, strict=True)]


def _covering_block(
    array: np.ndarray, source: io.Geometry, target: io.Geometry, shape: tuple[int, ...]
) -> tuple[np.ndarray | None, io.Geometry]:
    """The part of ``array`` the target grid reads (its corners' source indices, widened by
    the anti-aliasing blur's reach and one voxel) and that part's geometry; (None, source)
    when the grid lies wholly outside the source."""
    corners = np.array(np.meshgrid(*[[0, s - 1] for s in shape], indexing="ij"))
    corners = corners.reshape(len(shape), -1).T
    indices = np.array([continuous_index(source, physical(target, c)) for c in corners])
    reach = [int(np.ceil(BLUR_TRUNCATE * sigma)) + 1 for sigma in _blur_sigma(source, target)]
    low = np.maximum(np.floor(indices.min(axis=0)).astype(int) - reach, 0)
    high = np.minimum(np.ceil(indices.max(axis=0)).astype(int) + reach + 1, array.shape)
    if np.any(high <= low):
        return None, source
    block = array[tuple(slice(a, b) for a, b in zip(low, high, strict=True))]
    return block, source.shifted(tuple(int(v) for v in low))


def _resample(
    values: np.ndarray,
    source: io.Geometry,
    target: io.Geometry,
    shape: tuple[int, ...],
    nearest: bool,
    fill: float,
) -> np.ndarray:
    """SimpleITK's resampling of ``values`` (in ``source``) onto ``target`` of ``shape``."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(values)
    image.SetSpacing(source.spacing[::-1])
    image.SetOrigin(source.origin[::-1])
    image.SetDirection(source.direction)
    resampled = sitk.Resample(
        image,
        [int(s) for s in shape[::-1]],
        sitk.Transform(),
        sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear,
        [float(o) for o in target.origin[::-1]],
        [float(s) for s in target.spacing[::-1]],
        [float(d) for d in target.direction],
        float(fill),
    )
    return sitk.GetArrayFromImage(resampled)


def to_source(
    array: np.ndarray, grid: io.Geometry, source: io.Geometry, source_shape: Sequence[int]
) -> np.ndarray:
    """A mask on the grid ``grid`` placed back on its source's voxels (nearest neighbour; 0
    where the grid does not reach): the inverse of ``sample`` for maps that overlay the scan."""
    source_shape = tuple(int(s) for s in source_shape)
    offset = crop_offset(source, grid)
    if offset is not None:
        return roi.paste(np.asarray(array), offset, source_shape, fill=0)
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.asarray(array, np.uint8))
    image.SetSpacing(grid.spacing[::-1])
    image.SetOrigin(grid.origin[::-1])
    image.SetDirection(grid.direction)
    back = sitk.Resample(
        image,
        [int(s) for s in source_shape[::-1]],
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        [float(o) for o in source.origin[::-1]],
        [float(s) for s in source.spacing[::-1]],
        [float(d) for d in source.direction],
        0.0,
    )
    return sitk.GetArrayFromImage(back).astype(np.uint8)
