"""Where the heart is in a thoracic CT, from the image alone, and how much to trust it.

Arrays are numpy (z, y, x) with spacing in mm in the same order; intensities in HU. The
search works in the patient's axes (z superior, y posterior, x to the patient's left) on a
coarse grid; centres are returned as voxels of the image as given.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, Delaunay, QhullError

#: Working grid step (mm): voxels are averaged in blocks of about this size for the search.
WORK_MM = 3.0
#: Smoothing (Gaussian sigma, mm) on the working grid.
SMOOTH_MM = 2.0
#: Below this (smoothed) HU a voxel is air or lung.
AIR_HU = -400.0
#: Air outside the body: an air region touching the volume's sides whose median HU is below
#: this (lung touching a cut field of view is denser: about -850 HU).
EXTERIOR_HU = -950.0
#: Lungs: air inside the body in components of at least this volume (ml).
MIN_LUNG_ML = 30.0
#: Heart tissue (smoothed HU): blood, myocardium, contrast-enhanced blood; not fat nor lung.
HEART_HU = (-30.0, 700.0)
#: Bone of the spine (smoothed HU).
BONE_HU = 180.0
#: Thoracic slices: the lungs fill at least this share of the body's cross-section.
LUNG_SHARE = 0.10
#: Evidence at the centre that gives full confidence.
CONFIDENT_LUNG_SHARE = 0.2  # lungs' share of the body in the centre's slice
#: Depth of heart tissue around the centre (mm): no evidence at the first value (the radius of
#: a large vessel: the aorta's lumen is about 12 mm), full evidence at the second (the
#: ventricles hold a ball of 20 mm radius or more).
HEART_DEPTH_MM = (10.0, 20.0)
#: Left of the midline (mm, negative = to the right): full evidence down to the first value,
#: none at the second (the heart's centre lies left of the spine or a little to its right).
MIDLINE_MM = (-15.0, -45.0)
#: The heart's centre: the centroid of heart tissue at least this fraction as deep as the
#: deepest point, within this distance (mm) of it.
CORE_FRACTION = 0.6
CORE_RADIUS_MM = 60.0
#: Storage axes at most ~35 degrees from a patient axis are searched along it (gantry tilt).
AXIS_ALIGNED = 0.8
#: Below this confidence a heart ROI is reported as doubtful (a warning naming the case).
LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class HeartSearch:
    """Where ``find_heart`` put the heart centre, and how much to trust it.

    Attributes:
        centre: voxel (z, y, x) of the image as given.
        confidence: 0-1, the product of the evidence at the centre (``evidence``).
        note: the evidence that fell short, or why there is none ("" at full confidence).
        evidence: 0-1 per criterion: ``depth`` (how deep heart tissue lies around it,
            ``HEART_DEPTH_MM``), ``lungs`` (lung on both sides in its slice), ``spine``
            (anterior to the spine), ``side`` (not right of the midline, ``MIDLINE_MM``),
            ``thorax`` (lungs' share of the body in its slice, full at
            ``CONFIDENT_LUNG_SHARE``).
    """

    centre: tuple[int, int, int]
    confidence: float
    note: str
    evidence: dict[str, float] | None = None


@dataclass(frozen=True)
class _Anatomy:
    """The search's view of a volume on the working grid, patient axes (z superior, y
    posterior, x to the patient's left)."""

    smooth: np.ndarray  # HU
    spacing: np.ndarray  # mm (z, y, x)
    lungs: np.ndarray  # bool
    body: np.ndarray  # bool, lungs included
    share: np.ndarray  # per slice: lung voxels / body voxels
    midline: float  # x (working voxels) of the body's midline
    spine_front: np.ndarray  # per slice: y of the spine's anterior edge (nan: not found)


def find_heart(
    image_hu: np.ndarray, spacing: Sequence[float], direction: Sequence[float] | None = None
) -> HeartSearch:
    """The heart centre found from the image alone, with a confidence.

    ``direction``: the image's direction cosines (SimpleITK's 9, as ``rlnet.io.Geometry``;
    default identity, LPS storage); axis-aligned storage in any order and sense is searched in
    the patient's axes. Voxels are averaged in blocks of about ``WORK_MM`` and smoothed. The
    lungs are the air inside the body (air touching the volume's sides with the density of
    air outside the body is outside); thoracic slices are those where the lungs fill at least
    ``LUNG_SHARE`` of the body. There, heart tissue (``HEART_HU``: blood with or without
    contrast, myocardium; fat, lung and the chest wall left out) inside each slice's convex
    hull of the lungs and anterior to the spine is the mediastinum; its depth (distance to
    anything else, mm) is weighted by the side of the midline, and the deepest point wins:
    tubes (aorta, oesophagus) and thin structures are shallow, the liver dome lies right of
    the midline and below the lungs' hull. The centre is the centroid of the tissue at least
    ``CORE_FRACTION`` as deep within ``CORE_RADIUS_MM`` of that point. Without a thoracic
    slice (an abdominal scan) the confidence is 0.
    """
    frame, anatomy = _prepare_search(image_hu, spacing, direction)
    work, evidence, note = _search(anatomy)
    return _result(frame.to_image(work), evidence, note)


def heart_evidence(
    image_hu: np.ndarray,
    spacing: Sequence[float],
    centres: Sequence[Sequence[int]],
    direction: Sequence[float] | None = None,
) -> list[HeartSearch]:
    """The confidence ``find_heart`` would give a heart centre at each of ``centres`` (voxels
    z, y, x of the image as given): what the image says about a box placed there."""
    frame, anatomy = _prepare_search(image_hu, spacing, direction)
    if not anatomy.lungs.any():
        return [_result(tuple(centre), *_no_lungs()) for centre in centres]
    depth, side, thoracic = _mediastinum(anatomy)
    results = []
    for centre in centres:
        work = frame.to_work(centre, anatomy.smooth.shape)
        found = _evidence(
            anatomy, work, float(depth[tuple(work)]), float(side[work[2]]), thoracic.any()
        )
        results.append(_result(tuple(centre), *found))
    return results


def _result(centre, evidence: dict[str, float], note: str) -> HeartSearch:
    confidence = round(float(np.prod(list(evidence.values()))), 3)
    return HeartSearch(tuple(int(c) for c in centre), confidence, note, evidence)


@dataclass(frozen=True)
class _Frame:
    """How the image's voxels map to the search's working grid in patient axes."""

    shape: tuple[int, ...]  # the image's
    axes: tuple[int, ...]  # array axis of each patient axis (S, P, L)
    flips: list[bool]  # whether that axis runs the other way
    factor: np.ndarray  # voxels per working voxel, patient axes

    def oriented(self, image: np.ndarray) -> np.ndarray:
        """The image in patient axes."""
        out = np.transpose(image, self.axes)
        return np.flip(out, [a for a in range(3) if self.flips[a]]) if any(self.flips) else out

    def to_image(self, work: np.ndarray) -> tuple[int, ...]:
        """Image voxel (z, y, x) of a working voxel (its block's centre)."""
        size = np.asarray([self.shape[a] for a in self.axes])
        full = np.clip(np.rint(work * self.factor + (self.factor - 1) / 2).astype(int), 0, size - 1)
        full = np.where(self.flips, size - 1 - full, full)
        centre = np.empty(3, dtype=int)
        centre[list(self.axes)] = full
        return tuple(int(c) for c in centre)

    def to_work(self, centre: Sequence[int], work_shape: tuple[int, ...]) -> np.ndarray:
        """Working voxel holding image voxel ``centre``."""
        size = np.asarray([self.shape[a] for a in self.axes])
        full = np.asarray([int(centre[a]) for a in self.axes])
        full = np.where(self.flips, size - 1 - full, full)
        return np.clip(full // self.factor, 0, np.asarray(work_shape) - 1)


def _prepare_search(
    image_hu: np.ndarray, spacing: Sequence[float], direction: Sequence[float] | None
) -> tuple[_Frame, _Anatomy]:
    """The working frame and anatomy of an image (checked to be a 3D volume)."""
    image_hu = np.asarray(image_hu)
    if image_hu.ndim != 3 or len(spacing) != 3:
        raise ValueError(
            f"locating the heart needs a (z, y, x) image and 3 spacings, got {image_hu.shape}"
        )
    axes, flips = _patient_axes(direction)
    patient_spacing = np.asarray(spacing, dtype=float)[list(axes)]
    factor = np.maximum(1, np.floor(WORK_MM / patient_spacing + 1e-6)).astype(int)
    frame = _Frame(image_hu.shape, axes, flips, factor)
    return frame, _anatomy(frame.oriented(image_hu), patient_spacing, factor)


def _patient_axes(direction: Sequence[float] | None) -> tuple[tuple[int, ...], list[bool]]:
    """(array axis of each patient axis S, P, L; whether it runs the other way) of a direction
    (SimpleITK row-major cosines; array axis a is SimpleITK's index axis 2 - a)."""
    if direction is None:
        return (0, 1, 2), [False, False, False]
    cosines = np.asarray(direction, dtype=float).reshape(3, 3)
    physical = [int(np.argmax(np.abs(cosines[:, 2 - a]))) for a in range(3)]
    tilted = np.abs(cosines).max(axis=0).min() < AXIS_ALIGNED
    if tilted or sorted(physical) != [0, 1, 2]:
        raise ValueError(f"direction {tuple(direction)} has no axis-aligned storage order")
    axes = tuple(physical.index(2 - k) for k in range(3))  # S is LPS axis 2, P 1, L 0
    flips = [bool(cosines[2 - k, 2 - axes[k]] < 0) for k in range(3)]
    return axes, flips


def _blocks(image: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """float32 means of ``factor``-sized blocks (a partial block at the end is dropped)."""
    shape = np.asarray(image.shape) // factor
    if np.any(shape < 1):
        raise ValueError(f"image of shape {image.shape} is too small to search for a heart")
    cut = image[tuple(slice(0, n * f) for n, f in zip(shape, factor, strict=True))]
    split = cut.reshape(shape[0], factor[0], shape[1], factor[1], shape[2], factor[2])
    return split.mean(axis=(1, 3, 5), dtype=np.float32)


def _anatomy(image: np.ndarray, spacing: np.ndarray, factor: np.ndarray) -> _Anatomy:
    """Lungs, body, lung share, midline and spine of a volume in patient axes."""
    work_spacing = spacing * factor
    smooth = ndimage.gaussian_filter(_blocks(image, factor), SMOOTH_MM / work_spacing, truncate=2.0)
    air = smooth < AIR_HU
    labels, n = ndimage.label(air)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sides = np.unique(np.concatenate([labels[:, [0, -1]].ravel(), labels[:, :, [0, -1]].ravel()]))
    medians = ndimage.median(smooth, labels, sides) if len(sides) else []
    exterior = np.zeros(n + 1, dtype=bool)
    for label, median in zip(sides, np.atleast_1d(medians), strict=True):
        exterior[label] = label > 0 and median < EXTERIOR_HU
    voxel_ml = float(np.prod(work_spacing)) / 1000.0
    lung_labels = ~exterior & (sizes * voxel_ml >= MIN_LUNG_ML)
    lung_labels[0] = False
    lungs = lung_labels[labels]
    body = ~exterior[labels] | ~air
    body &= ~(labels == 0) | ~air  # voxels of no air component are tissue
    share = lungs.sum(axis=(1, 2)) / np.maximum(body.sum(axis=(1, 2)), 1)
    midline = _midline(lungs, share)
    return _Anatomy(
        smooth,
        work_spacing,
        lungs,
        body,
        share,
        midline,
        _spine_front(smooth, lungs, midline, work_spacing),
    )


def _midline(lungs: np.ndarray, share: np.ndarray) -> float:
    """x of the midline: the median over thoracic slices of the centre of the lungs' extent."""
    thoracic = np.flatnonzero(share >= LUNG_SHARE)
    if len(thoracic) == 0:
        thoracic = np.flatnonzero(lungs.any(axis=(1, 2)))
    if len(thoracic) == 0:
        return (lungs.shape[2] - 1) / 2
    centres = []
    for z in thoracic:
        columns = np.flatnonzero(lungs[z].any(axis=0))
        centres.append((columns[0] + columns[-1]) / 2)
    return float(np.median(centres))


def _spine_front(
    smooth: np.ndarray, lungs: np.ndarray, midline: float, spacing: np.ndarray
) -> np.ndarray:
    """Per slice, y of the anterior edge of the spine: the largest bone region within 30 mm of
    the midline in the posterior half of the lungs' extent (nan where there is none)."""
    front = np.full(smooth.shape[0], np.nan)
    half = max(1, int(round(30.0 / spacing[2])))
    x = slice(max(int(midline) - half, 0), int(midline) + half + 1)
    for z in range(smooth.shape[0]):
        rows = np.flatnonzero(lungs[z].any(axis=1))
        if len(rows) == 0:
            continue
        y0 = int((rows[0] + rows[-1]) / 2)
        bone, n = ndimage.label(smooth[z, y0:, x] >= BONE_HU)
        if n == 0:
            continue
        largest = 1 + int(np.argmax(np.bincount(bone.ravel())[1:]))
        if np.count_nonzero(bone == largest) * spacing[1] * spacing[2] < 150.0:  # mm^2
            continue
        front[z] = y0 + np.flatnonzero((bone == largest).any(axis=1))[0]
    return front


def _hull(plane: np.ndarray) -> np.ndarray:
    """The convex hull of a slice's True voxels, filled (empty when they are fewer than 3 or
    collinear)."""
    points = np.argwhere(plane)
    if len(points) < 3:
        return np.zeros_like(plane)
    try:
        triangles = Delaunay(points[ConvexHull(points).vertices])
    except QhullError:
        return np.zeros_like(plane)
    lo, hi = points.min(axis=0), points.max(axis=0) + 1
    grid = np.stack(np.mgrid[lo[0] : hi[0], lo[1] : hi[1]], axis=-1).reshape(-1, 2)
    inside = np.zeros_like(plane)
    inside[lo[0] : hi[0], lo[1] : hi[1]] = (triangles.find_simplex(grid) >= 0).reshape(
        hi[0] - lo[0], hi[1] - lo[1]
    )
    return inside


def _no_lungs() -> tuple[dict[str, float], str]:
    return {"lungs": 0.0}, "no lungs (air inside the body): not a chest CT?"


def _mediastinum(a: _Anatomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(depth of heart tissue in the mediastinum, mm; evidence of each x column being on the
    heart's side of the midline; thoracic slices)."""
    thoracic = a.share >= LUNG_SHARE
    slices = thoracic if thoracic.any() else np.ones_like(thoracic)
    tissue = (a.smooth >= HEART_HU[0]) & (a.smooth <= HEART_HU[1]) & ~a.lungs
    region = np.zeros_like(tissue)
    y = np.arange(tissue.shape[1])[:, None]
    for z in np.flatnonzero(slices):
        region[z] = _hull(a.lungs[z]) & tissue[z]
        if np.isfinite(a.spine_front[z]):
            region[z] &= y < a.spine_front[z]
    if not region.any():
        region = tissue & slices[:, None, None]
    depth = ndimage.distance_transform_edt(region, sampling=a.spacing)
    x_mm = (np.arange(tissue.shape[2]) - a.midline) * a.spacing[2]
    side = np.clip((x_mm - MIDLINE_MM[1]) / (MIDLINE_MM[0] - MIDLINE_MM[1]), 0.0, 1.0)
    return depth, side, thoracic


def _search(a: _Anatomy) -> tuple[np.ndarray, dict[str, float], str]:
    """(centre in working voxels, evidence, note)."""
    if not a.lungs.any():
        return np.rint(ndimage.center_of_mass(a.body)).astype(int), *_no_lungs()
    depth, side, thoracic = _mediastinum(a)
    score = depth * np.maximum(side, 0.05)[None, None, :]
    peak = np.unravel_index(np.argmax(score), score.shape)
    core = depth >= CORE_FRACTION * depth[peak]
    core &= _ball(core.shape, peak, a.spacing, CORE_RADIUS_MM)
    labels, _ = ndimage.label(core)
    centre = np.asarray(ndimage.center_of_mass(labels == labels[peak]))
    work = np.clip(np.rint(centre).astype(int), 0, np.asarray(depth.shape) - 1)
    return work, *_evidence(
        a, work, float(depth[tuple(work)]), float(side[work[2]]), thoracic.any()
    )


def _ball(shape, centre, spacing: np.ndarray, radius_mm: float) -> np.ndarray:
    """bool: voxels within ``radius_mm`` of ``centre``."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    distance = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True))
    return distance <= radius_mm**2


def _evidence(
    a: _Anatomy, centre: np.ndarray, depth_mm: float, side: float, any_thoracic: bool
) -> tuple[dict[str, float], str]:
    """(evidence per criterion, note) at a centre (working voxels)."""
    z, y, x = (int(v) for v in centre)
    if not any_thoracic:
        note = f"no slice where the lungs fill {LUNG_SHARE:.0%} of the body (not a chest CT?)"
        return {"thorax": 0.0}, note
    band = slice(max(y - int(30.0 / a.spacing[1]), 0), y + int(30.0 / a.spacing[1]) + 1)
    lungs = a.lungs[z, band]
    sides = int(lungs[:, :x].any()) + int(lungs[:, x + 1 :].any())
    front = a.spine_front[z]
    evidence = {
        "depth": float(np.clip((depth_mm - HEART_DEPTH_MM[0]) / np.ptp(HEART_DEPTH_MM), 0, 1)),
        "lungs": {2: 1.0, 1: 0.4, 0: 0.1}[sides],
        "spine": 1.0 if np.isnan(front) or y < front else 0.3,
        "side": side,
        "thorax": min(1.0, float(a.share[z]) / CONFIDENT_LUNG_SHARE),
    }
    reasons = {
        "depth": f"heart tissue only {depth_mm:.0f} mm deep around it",
        "lungs": "lung on one side of it only" if sides == 1 else "no lung beside it",
        "spine": "not anterior to the spine",
        "side": "right of the midline",
        "thorax": f"lungs fill {a.share[z]:.0%} of the body in its slice",
    }
    note = "; ".join(reasons[k] for k, v in evidence.items() if v < 1.0)
    return {k: round(v, 3) for k, v in evidence.items()}, note
