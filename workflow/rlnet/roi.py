"""Heart region of interest: locate the heart in a thoracic CT and crop a fixed-size box.

Arrays are numpy (z, y, x) with spacing in mm in the same order; intensities in HU. Crops are
never rescaled (the paper keeps a fixed ROI size so the Agatston score needs no rescaling).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Smoothing (Gaussian sigma, mm) before thresholding.
SMOOTH_MM = 1.5
#: Working grid step (mm): the image is subsampled to about this resolution for the search.
WORK_MM = 2.0
#: Below this (smoothed) HU a voxel is air or lung.
AIR_HU = -400.0
#: Soft tissue window (smoothed HU): blood and myocardium, not fat (-100) nor bone.
SOFT_HU = (-50.0, 200.0)
#: Lung components smaller than this fraction of the largest one are ignored.
MIN_LUNG_FRACTION = 0.1
#: The heart core: soft tissue deeper than this fraction of the deepest soft-tissue voxel.
CORE_FRACTION = 0.6
#: Thoracic slices: the lungs fill at least this share of the body's cross-section.
LUNG_SHARE = 0.10
#: Lungs filling this share of the body at the centre's slice give full confidence (at the
#: heart's level they fill about a third of the chest's cross-section or more).
CONFIDENT_LUNG_SHARE = 1 / 3
#: Below this confidence a heart ROI is reported as doubtful (a warning naming the case).
LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class HeartSearch:
    """Where ``find_heart`` put the heart centre, and how much to trust it.

    Attributes:
        centre: voxel (z, y, x).
        confidence: 0-1, from anatomy at the centre: the lungs' share of the body's cross-section
            in its axial slice (``CONFIDENT_LUNG_SHARE`` or more: 1) and lung on both sides of it.
        note: why the confidence is below 1 ("" when it is not).
    """

    centre: tuple[int, int, int]
    confidence: float
    note: str


def find_heart(image_hu: np.ndarray, spacing: Sequence[float]) -> HeartSearch:
    """The heart centre found from the image alone, with a confidence.

    Heuristic: smooth, find the lungs (air-like regions not connected to the air around the
    body); keep the thoracic slices, where the lungs fill at least ``LUNG_SHARE`` of the body's
    cross-section (the heart lies above the diaphragm: this drops the liver dome, which the lung
    bases only rim); there, keep soft tissue (``SOFT_HU``) inside the per-slice bounding box of
    the lungs, and return the centroid of the thickest part of it: the connected voxels whose
    distance to the mass's boundary is at least ``CORE_FRACTION`` of the largest. Tubes (aorta),
    bone (spine, ribs, sternum) and thin chest-wall muscle are thinner than the heart and drop
    out. Without a thoracic slice (an abdominal scan) every slice is searched and the confidence
    is 0.
    """
    image_hu = np.asarray(image_hu)
    if image_hu.ndim != 3 or len(spacing) != 3:
        raise ValueError(
            f"locating the heart needs a (z, y, x) image and 3 spacings, got {image_hu.shape}"
        )
    step = np.maximum(1, np.round(WORK_MM / np.asarray(spacing, dtype=float))).astype(int)
    sigma = SMOOTH_MM / np.asarray(spacing, dtype=float)
    smooth = ndimage.gaussian_filter(image_hu.astype(np.float32), sigma, truncate=2.0)
    smooth = smooth[:: step[0], :: step[1], :: step[2]]
    work_spacing = np.asarray(spacing, dtype=float) * step
    lungs = _lungs(smooth)
    if not lungs.any():
        raise ValueError("no lungs (air-like regions inside the body) to find the heart between")
    share = _lung_share(smooth, lungs)
    thoracic = share >= LUNG_SHARE
    slices = thoracic if thoracic.any() else np.ones_like(thoracic)
    soft = (smooth >= SOFT_HU[0]) & (smooth <= SOFT_HU[1]) & _between(lungs)
    soft &= slices[:, None, None]
    depth = ndimage.distance_transform_edt(soft, sampling=work_spacing)
    core, _ = ndimage.label(depth >= CORE_FRACTION * depth.max())
    deepest = np.unravel_index(np.argmax(depth), depth.shape)
    centroid = np.asarray(ndimage.center_of_mass(core == core[deepest]))
    work_centre = np.clip(np.rint(centroid).astype(int), 0, np.asarray(smooth.shape) - 1)
    centre = np.clip(np.rint(centroid * step).astype(int), 0, np.asarray(image_hu.shape) - 1)
    confidence, note = _confidence(lungs, share, work_centre, thoracic.any())
    return HeartSearch((int(centre[0]), int(centre[1]), int(centre[2])), confidence, note)


def _lung_share(smooth: np.ndarray, lungs: np.ndarray) -> np.ndarray:
    """Per axial slice, lung voxels / body voxels (the body: not air, holes filled)."""
    body = np.stack([ndimage.binary_fill_holes(plane) for plane in smooth >= AIR_HU]) | lungs
    return lungs.sum(axis=(1, 2)) / np.maximum(body.sum(axis=(1, 2)), 1)


def _confidence(
    lungs: np.ndarray, share: np.ndarray, centre: np.ndarray, any_thoracic: bool
) -> tuple[float, str]:
    """(confidence, note) of a centre (work-grid voxel) from the lungs around it."""
    if not any_thoracic:
        return 0.0, f"no slice where the lungs fill {LUNG_SHARE:.0%} of the body (not a chest CT?)"
    z, _, x = centre
    confidence = min(1.0, float(share[z]) / CONFIDENT_LUNG_SHARE)
    notes = []
    if confidence < 1.0:
        notes.append(f"lungs fill {share[z]:.0%} of the body at the centre's slice")
    sides = int(lungs[z, :, :x].any()) + int(lungs[z, :, x + 1 :].any())
    if sides < 2:
        confidence *= 0.5
        notes.append("lung on one side of the centre only")
    return round(confidence, 3), "; ".join(notes)


def _lungs(smooth: np.ndarray) -> np.ndarray:
    """Air-like components not touching the y/x faces of the volume, minus small ones."""
    labels, n = ndimage.label(smooth < AIR_HU)
    if n == 0:
        return np.zeros(smooth.shape, dtype=bool)
    faces = np.concatenate(
        [
            labels[:, 0].ravel(),
            labels[:, -1].ravel(),
            labels[:, :, 0].ravel(),
            labels[:, :, -1].ravel(),
        ]
    )
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    sizes[np.unique(faces)] = 0
    keep = sizes >= MIN_LUNG_FRACTION * max(int(sizes.max()), 1)
    keep[0] = False
    return keep[labels]


def _between(lungs: np.ndarray) -> np.ndarray:
    """Per axial slice, the bounding box (y, x) of the lungs."""
    ny, nx = lungs.shape[1:]
    rows, cols = lungs.any(axis=2), lungs.any(axis=1)
    y_lo, y_hi = _span(rows, ny)
    x_lo, x_hi = _span(cols, nx)
    y = np.arange(ny)[None, :, None]
    x = np.arange(nx)[None, None, :]
    return (
        (y >= y_lo[:, None, None])
        & (y <= y_hi[:, None, None])
        & (x >= x_lo[:, None, None])
        & (x <= x_hi[:, None, None])
    )


def _span(present: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last True index of each row of a (z, n) array (empty rows: lo > hi)."""
    lo = np.where(present.any(axis=1), present.argmax(axis=1), n)
    hi = np.where(present.any(axis=1), n - 1 - present[:, ::-1].argmax(axis=1), -1)
    return lo, hi


def _overlap(
    origin: Sequence[int], size: Sequence[int], shape: Sequence[int]
) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Slices (in the full array, in the crop) of a crop at ``origin`` that lie inside."""
    lo = [max(int(o), 0) for o in origin]
    hi = [min(int(o) + int(s), int(n)) for o, s, n in zip(origin, size, shape, strict=True)]
    if any(h <= low for low, h in zip(lo, hi, strict=True)):
        return None
    full = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    part = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, origin, strict=True))
    return full, part


def crop(
    array: np.ndarray, center: Sequence[int], size: Sequence[int], fill: float
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Fixed-size crop centred at ``center`` (crop index size // 2 is ``center``), no rescaling.

    Parts outside ``array`` are ``fill`` (e.g. -1000 HU for images, 0 for masks). Returns
    (crop, origin), origin being the (possibly negative) index of crop[0, ..., 0] in ``array``.
    Any number of axes.
    """
    if not len(center) == len(size) == array.ndim:
        raise ValueError(f"center {center} and size {size} must have {array.ndim} values")
    if any(int(s) <= 0 for s in size):
        raise ValueError(f"crop size must be positive, got {tuple(size)}")
    origin = tuple(int(c) - int(s) // 2 for c, s in zip(center, size, strict=True))
    out = np.full(tuple(int(s) for s in size), fill, dtype=array.dtype)
    inside = _overlap(origin, size, array.shape)
    if inside is not None:
        out[inside[1]] = array[inside[0]]
    return out, origin


def paste(
    crop: np.ndarray, origin: Sequence[int], shape: Sequence[int], fill: float = 0
) -> np.ndarray:
    """Inverse of :func:`crop`: a ``shape`` array of ``fill`` with ``crop`` placed at ``origin``;
    parts of the crop outside the array are dropped."""
    if not len(origin) == len(shape) == crop.ndim:
        raise ValueError(f"origin {origin} and shape {shape} must have {crop.ndim} values")
    out = np.full(tuple(int(n) for n in shape), fill, dtype=crop.dtype)
    inside = _overlap(origin, crop.shape, shape)
    if inside is not None:
        out[inside[0]] = crop[inside[1]]
    return out
