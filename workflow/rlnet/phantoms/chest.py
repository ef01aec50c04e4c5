"""Synthetic 2D axial chest CT slices at the aortic arch: pectoralis muscle and subcutaneous fat.

The phantom stands in for the paper's PMA / SFA data (COPDGene slices at the top of the aortic
arch). Arrays are numpy (y, x): y runs anterior (row 0) to posterior, x runs from the patient's
right (column 0) to the patient's left, the radiological convention. Spacing is in mm, (y, x).

Anatomy is defined in mm in a body frame (``u`` lateral, towards the patient's left; ``v``
anterior-posterior, towards the back) and mapped to the image by a random similarity transform
(rotation, shift, scale). The body is centred in the field of view, about 260-330 mm wide, so a
field of view of ~350 mm suits it (96 x 3.6 mm, 512 x 0.7 mm); smaller fields crop the body.

Most of the wall is built from concentric layers whose thickness depends on the polar angle
``phi`` around the body centre (0 = anterior midline, +90 deg = patient's left): from the centre
out, lung, rib layer (intercostal muscle), serratus, axillary fat, pectoralis minor, a fat plane,
pectoralis major, intermuscular fat, back muscles (trapezius, rhomboids, paraspinals),
subcutaneous fat and skin. Bones, the mediastinum and its vessels are painted on top.

Pixels larger than 1.2 mm are rendered from 3 x 3 label sub-samples, so coarse images have
partial volume. The image is then blurred and noise is added.

The reference masks stand in for the paper's semi-automated segmentations (an analyst with the
Chest Imaging Platform's threshold-assisted interface): the analyst's region, the pixels more
than half made of the tissue, intersected with the tissue's HU range on the final image
(``REFERENCE_HU``, the paper's candidate ranges). Partial-volume pixels at the edge of a thin
band (fat next to skin: -47 HU at 60/40) and noise outliers are therefore not in the reference,
as they would not be in a threshold-assisted segmentation; the reference area is the biomarker.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from rlnet.biomarkers import area_mm2
from rlnet.phantoms import PhantomCase, case_rng
from rlnet.phantoms.geometry import centred_positions, index_span

PHANTOM_CODE = 1
MASKS = ("pectoralis", "subcutaneous_fat")
#: HU range (inclusive) each reference mask is thresholded to, as a threshold-assisted tool does.
REFERENCE_HU = {"pectoralis": (-20.0, 100.0), "subcutaneous_fat": (-140.0, -70.0)}

#: Pixels larger than this (mm) are rendered from 3 x 3 sub-samples (partial volume).
SUBSAMPLE_MM = 1.2
#: Angular resolution of the thickness tables (bins over the full circle).
N_PHI = 2048

# Tissue labels of the sharp anatomy.
AIR, LUNG, MUSCLE, DEEP_FAT, PEC, SUB_FAT, SKIN, BONE, MARROW, BLOOD, BREAST, CSF = range(12)
N_LABELS = 12

#: Tissues whose nominal HU lies in the paper's muscle [-20, 100] / fat [-140, -70] range.
MUSCLE_RANGE_LABELS = (MUSCLE, PEC, SKIN, BLOOD, BREAST, CSF)
FAT_RANGE_LABELS = (DEEP_FAT, SUB_FAT)

#: Tissue of each radial layer, from the centre out (the last one is outside the body).
_LAYER_LABELS = np.array(
    [LUNG, MUSCLE, MUSCLE, DEEP_FAT, PEC, DEEP_FAT, PEC, DEEP_FAT, MUSCLE, SUB_FAT, SKIN, AIR],
    dtype=np.uint8,
)


@dataclass
class _Anatomy:
    """Random parameters of one case; lengths in body-frame mm (before scaling), angles in rad."""

    scale: float
    rotation: float
    shift_frac: tuple[float, float]
    cage_axes: tuple[float, float]
    cage_power: float
    cage_harmonics: np.ndarray
    fat_mm: float
    fat_harmonics: np.ndarray
    breast_mm: tuple[float, float]
    muscle: float
    other_muscle: float
    deep_fat: float
    sides: np.ndarray
    ribs: np.ndarray
    mediastinum: np.ndarray
    vessels: np.ndarray
    lung_dots: np.ndarray
    hu: np.ndarray
    noise_sigma: float


def _draw_anatomy(rng: np.random.Generator, noise_hu: tuple[float, float]) -> _Anatomy:
    """All random draws of a case except the noise field, in a fixed order."""
    scale = rng.uniform(0.66, 1.12)
    rotation = np.deg2rad(rng.uniform(-10.0, 10.0))
    shift_frac = (float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.05, 0.05)))
    cage_axes = (96.0 * rng.uniform(0.93, 1.07), 68.0 * rng.uniform(0.88, 1.12))
    cage_power = rng.uniform(2.0, 2.6)
    k = np.arange(2, 6)[:, None]
    cage_harmonics = rng.normal(0.0, 0.02, (4, 2)) / np.sqrt(k)
    fat_mm = 14.0 * rng.lognormal(0.0, 0.45)
    fat_harmonics = rng.normal(0.0, 0.12, (4, 2)) / np.sqrt(np.arange(1, 5)[:, None])
    has_breasts = rng.uniform() < 0.45
    breast = rng.uniform(0.5, 1.0, 2) * rng.uniform(8.0, 35.0) * has_breasts
    muscle = np.clip(rng.lognormal(0.0, 0.4), 0.45, 2.6)
    other_muscle = np.clip(rng.lognormal(0.0, 0.35), 0.55, 1.8)
    deep_fat = np.clip((fat_mm / 14.0) ** 0.4 * rng.lognormal(0.0, 0.55), 0.8, 3.0)
    # Per side (right, left): pec major centre, half-width, thickness; pec minor the same;
    # axillary fat centre; scapula centre and half-width (degrees and mm).
    sides = np.stack(
        [
            rng.uniform(38, 46, 2),
            rng.uniform(27, 33, 2),
            15.0 * rng.uniform(0.85, 1.15, 2),
            rng.uniform(50, 58, 2),
            rng.uniform(14, 20, 2),
            9.0 * rng.uniform(0.8, 1.2, 2),
            rng.uniform(70, 80, 2),
            rng.uniform(125, 138, 2),
            rng.uniform(13, 18, 2),
        ]
    )
    ribs = np.array([22, 40, 62, 88, 115, 140, 160], float)[:, None] + rng.uniform(-4, 4, (7, 2))
    mediastinum = np.array([rng.uniform(-4, 6), rng.uniform(36, 46), rng.uniform(46, 56)])
    vessels = np.array([rng.uniform(11, 17), rng.uniform(8, 11), rng.uniform(8, 10)])
    lung_dots = np.stack(
        [rng.uniform(40, 150, 12) * rng.choice([-1, 1], 12), rng.uniform(0.35, 0.85, 12)]
    )
    pec_hu = rng.uniform(40, 52)
    fat_hu = rng.uniform(-110, -100)
    hu = np.empty(N_LABELS)
    hu[[AIR, LUNG, MUSCLE, DEEP_FAT, PEC, SUB_FAT, SKIN]] = (
        -1000.0,
        rng.uniform(-870, -820),
        pec_hu + rng.uniform(-5, 5),
        fat_hu + rng.uniform(-3, 5),
        pec_hu,
        fat_hu,
        rng.uniform(20, 60),
    )
    hu[[BONE, MARROW, BLOOD, BREAST, CSF]] = (
        rng.uniform(400, 900),
        rng.uniform(120, 260),
        rng.uniform(35, 50),
        rng.uniform(10, 45),
        rng.uniform(0, 15),
    )
    return _Anatomy(
        scale=float(scale),
        rotation=float(rotation),
        shift_frac=shift_frac,
        cage_axes=cage_axes,
        cage_power=float(cage_power),
        cage_harmonics=cage_harmonics,
        fat_mm=float(fat_mm),
        fat_harmonics=fat_harmonics,
        breast_mm=(float(breast[0]), float(breast[1])),
        muscle=float(muscle),
        other_muscle=float(other_muscle),
        deep_fat=float(deep_fat),
        sides=sides,
        ribs=ribs,
        mediastinum=mediastinum,
        vessels=vessels,
        lung_dots=lung_dots,
        hu=hu,
        noise_sigma=float(rng.uniform(*noise_hu)),
    )


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angle in rad wrapped to [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _bump(phi: np.ndarray, centre_deg: float, half_width_deg: float, power: float) -> np.ndarray:
    """Smooth lens profile in [0, 1]: 1 at ``centre_deg``, 0 beyond ``half_width_deg``."""
    x = _wrap(phi - np.deg2rad(centre_deg)) / np.deg2rad(half_width_deg)
    return np.clip(1.0 - x * x, 0.0, None) ** power


def _sided(phi: np.ndarray, row: np.ndarray, half_width: np.ndarray, power: float) -> np.ndarray:
    """Sum of a right-side bump (centre -row[0]) and a left-side one (centre +row[1])."""
    return _bump(phi, -row[0], half_width[0], power) + _bump(phi, row[1], half_width[1], power)


def _harmonics(phi: np.ndarray, coeffs: np.ndarray, first: int) -> np.ndarray:
    """1 + sum_k a_k cos(k phi) + b_k sin(k phi), k = first, first + 1, ..."""
    k = np.arange(first, first + len(coeffs))[:, None]
    return 1.0 + (coeffs[:, :1] * np.cos(k * phi) + coeffs[:, 1:] * np.sin(k * phi)).sum(0)


def _cage_radius(phi: np.ndarray, a: _Anatomy) -> np.ndarray:
    """Outer radius of the rib cage (mm, body frame): a perturbed superellipse."""
    half_width, half_depth = a.cage_axes
    p = a.cage_power
    base = (np.abs(np.sin(phi) / half_width) ** p + np.abs(np.cos(phi) / half_depth) ** p) ** (
        -1.0 / p
    )
    return base * _harmonics(phi, a.cage_harmonics, 2)


def _layer_table(phi: np.ndarray, a: _Anatomy) -> np.ndarray:
    """Outer radius of every radial layer (rows, see ``_LAYER_LABELS``) and the scapula band.

    Returns (13, len(phi)) mm in the body frame: 11 layer bounds, then scapula inner/outer radius.
    """
    s = a.sides
    cage = _cage_radius(phi, a)
    rib = np.full_like(phi, 10.0)
    serratus = 10.0 * a.other_muscle * (_bump(phi, -92, 38, 1) + _bump(phi, 92, 38, 1))
    axilla = 36.0 * a.deep_fat * _sided(phi, s[6], [20, 20], 1)
    minor = a.muscle * (
        s[5, 0] * _bump(phi, -s[3, 0], s[4, 0], 0.7) + s[5, 1] * _bump(phi, s[3, 1], s[4, 1], 0.7)
    )
    plane = 2.5 * a.deep_fat**0.3 * _sided(phi, s[3], s[4], 0.2)
    major = a.muscle * (
        s[2, 0] * _bump(phi, -s[0, 0], s[1, 0], 0.6) + s[2, 1] * _bump(phi, s[0, 1], s[1, 1], 0.6)
    )
    intermuscular = 22.0 * a.deep_fat * (_bump(phi, -112, 35, 1) + _bump(phi, 112, 35, 1))
    groove = 1.0 - 0.35 * _bump(phi, 180, 10, 1)
    back = (
        a.other_muscle
        * groove
        * (
            20.0 * (_bump(phi, -135, 60, 0.5) + _bump(phi, 135, 60, 0.5))
            + 14.0 * (_bump(phi, -165, 22, 1) + _bump(phi, 165, 22, 1))
        )
    )
    breast = a.breast_mm[0] * _bump(phi, -40, 32, 1.5) + a.breast_mm[1] * _bump(phi, 40, 32, 1.5)
    side_fat = 0.85 + 0.15 * np.abs(np.sin(phi)) + 0.15 * (1 - np.cos(phi)) / 2
    fat = (a.fat_mm * side_fat * _harmonics(phi, a.fat_harmonics, 1) + breast) / a.scale
    skin = np.full_like(phi, 2.0 / a.scale)
    fat = np.maximum(fat, 1.5 * skin)
    widths = [rib, serratus, axilla, minor, plane, major, intermuscular, back, fat - skin, skin]
    bounds = np.cumsum([cage - rib, *widths], axis=0)
    scapula = _sided(phi, s[7], s[8], 1) > 0
    scap_inner = bounds[7] + 0.35 * back
    scap_outer = np.where(scapula, scap_inner + 5.0, scap_inner)
    return np.vstack([bounds, scap_inner, scap_outer])


class _BodyFrame:
    """The image's sub-sample grid and the body-frame coordinates (u, v) of its samples, mm (the
    body drawn centred, unscaled and upright in them)."""

    def __init__(
        self, shape: tuple[int, int], spacing: tuple[float, float], k: int, a: _Anatomy
    ) -> None:
        self.k = k
        self.step = (spacing[0] / k, spacing[1] / k)
        self.size = (shape[0] * k, shape[1] * k)
        self.shift = (
            a.shift_frac[0] * shape[0] * spacing[0],
            a.shift_frac[1] * shape[1] * spacing[1],
        )
        self.scale = a.scale
        self.cos, self.sin = np.cos(a.rotation), np.sin(a.rotation)
        y = centred_positions(self.size[0], self.step[0]) - self.shift[0]
        x = centred_positions(self.size[1], self.step[1]) - self.shift[1]
        self.u = ((self.cos * x[None, :] + self.sin * y[:, None]) / a.scale).astype(np.float32)
        self.v = ((-self.sin * x[None, :] + self.cos * y[:, None]) / a.scale).astype(np.float32)

    def window(self, cu: float, cv: float, radius: float) -> tuple[slice, slice]:
        """Grid slices of the square around body-frame point (cu, cv) with ``radius`` mm."""
        x = self.scale * (self.cos * cu - self.sin * cv) + self.shift[1]
        y = self.scale * (self.sin * cu + self.cos * cv) + self.shift[0]
        spans = []
        for centre, step, n in ((y, self.step[0], self.size[0]), (x, self.step[1], self.size[1])):
            c = centre / step + n / 2 - 0.5  # index of the point (inverse of centred_positions)
            r = self.scale * radius / step + 1
            spans.append(index_span(c - r, c + r, n))
        return spans[0], spans[1]


def _paint_ellipse(
    labels: np.ndarray,
    grid: _BodyFrame,
    centre: tuple[float, float],
    axes: tuple[float, float],
    angle: float,
    label: int,
    only: int | None = None,
) -> None:
    """Set ``label`` inside a body-frame ellipse (centre (u, v), half-axes mm, angle rad).

    ``only`` restricts painting to sub-samples currently holding that label.
    """
    rows, cols = grid.window(centre[0], centre[1], max(axes))
    du = grid.u[rows, cols] - centre[0]
    dv = grid.v[rows, cols] - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    inside = ((c * du + s * dv) / axes[0]) ** 2 + ((-s * du + c * dv) / axes[1]) ** 2 <= 1.0
    view = labels[rows, cols]
    if only is not None:
        inside &= view == only
    view[inside] = label


def _paint_capsule(
    labels: np.ndarray,
    grid: _BodyFrame,
    start: tuple[float, float],
    end: tuple[float, float],
    radius: float,
    label: int,
) -> None:
    """Set ``label`` within ``radius`` mm of the body-frame segment start-end."""
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    half = np.hypot(end[0] - start[0], end[1] - start[1]) / 2
    rows, cols = grid.window(mid[0], mid[1], half + radius)
    pu = grid.u[rows, cols] - start[0]
    pv = grid.v[rows, cols] - start[1]
    du, dv = end[0] - start[0], end[1] - start[1]
    t = np.clip((pu * du + pv * dv) / (du * du + dv * dv), 0.0, 1.0)
    inside = (pu - t * du) ** 2 + (pv - t * dv) ** 2 <= radius * radius
    labels[rows, cols][inside] = label


def _polar_point(phi_deg: float, radius: float) -> tuple[float, float]:
    """Body-frame (u, v) of the point at polar angle ``phi_deg`` and ``radius`` mm."""
    phi = np.deg2rad(phi_deg)
    return float(radius * np.sin(phi)), float(-radius * np.cos(phi))


def _table_phi() -> np.ndarray:
    """Bin centres (rad) of the angular tables, from -pi to pi."""
    return (np.arange(N_PHI) + 0.5) * (2 * np.pi / N_PHI) - np.pi


def _at(table: np.ndarray, row: int, phi_deg: float) -> float:
    """Value of one table row at polar angle ``phi_deg`` (nearest bin)."""
    phi = np.deg2rad(phi_deg)
    return float(table[row, int((phi + np.pi) * (N_PHI / (2 * np.pi))) % N_PHI])


def _layered_labels(grid: _BodyFrame, table: np.ndarray) -> np.ndarray:
    """Labels of the concentric layers and the scapulae on the sub-sample grid."""
    squared = (table**2).astype(np.float32)
    r2 = grid.u * grid.u + grid.v * grid.v
    phi = np.arctan2(grid.u, -grid.v)
    index = ((phi + np.pi) * (N_PHI / (2 * np.pi))).astype(np.intp) % N_PHI
    layer = np.zeros(r2.shape, np.uint8)
    for bound in squared[:11]:
        layer += r2 > np.take(bound, index)
    labels = _LAYER_LABELS[layer]
    scapula = (r2 > np.take(squared[11], index)) & (r2 <= np.take(squared[12], index))
    labels[scapula] = BONE
    return labels


def _paint_breasts(labels: np.ndarray, grid: _BodyFrame, a: _Anatomy, table: np.ndarray) -> None:
    """Glandular tissue inside the subcutaneous fat of each breast bulge."""
    for side, size in zip((-1, 1), a.breast_mm, strict=True):
        if size <= 0:
            continue
        centre = _polar_point(40.0 * side, _at(table, 8, 40.0 * side) + 0.45 * size / a.scale)
        axes = (0.55 * size / a.scale + 4.0, 0.3 * size / a.scale + 2.0)
        _paint_ellipse(labels, grid, centre, axes, np.deg2rad(40.0 * side), BREAST, only=SUB_FAT)


def _paint_bones(labels: np.ndarray, grid: _BodyFrame, a: _Anatomy, table: np.ndarray) -> None:
    """Ribs, sternum and the vertebra (cortex as BONE, inner part as MARROW)."""
    for col, side in ((0, -1), (1, 1)):
        for phi_deg in a.ribs[:, col] * side:
            centre = _polar_point(phi_deg, _at(table, 1, phi_deg) - 5.0)
            angle = np.deg2rad(phi_deg)
            _paint_ellipse(labels, grid, centre, (8.0, 4.2), angle, BONE)
            _paint_ellipse(labels, grid, centre, (6.0, 2.2), angle, MARROW)
    front = _at(table, 1, 0.0)
    _paint_ellipse(labels, grid, (0.0, 6.0 - front), (17.0, 7.0), 0.0, BONE)
    _paint_ellipse(labels, grid, (0.0, 6.0 - front), (14.0, 4.5), 0.0, MARROW)
    back = _at(table, 1, 180.0)
    body_v = back - 36.0
    _paint_capsule(labels, grid, (0.0, body_v + 18.0), (0.0, back + 42.0), 4.5, BONE)
    _paint_ellipse(labels, grid, (0.0, body_v + 26.0), (13.0, 10.0), 0.0, BONE)
    _paint_ellipse(labels, grid, (0.0, body_v + 25.0), (7.5, 6.5), 0.0, CSF)
    _paint_ellipse(labels, grid, (0.0, body_v), (18.0, 16.0), 0.0, BONE)
    _paint_ellipse(labels, grid, (0.0, body_v), (15.5, 13.5), 0.0, MARROW)


def _paint_mediastinum(
    labels: np.ndarray, grid: _BodyFrame, a: _Anatomy, table: np.ndarray
) -> None:
    """Mediastinal fat with the aortic arch, superior vena cava, trachea and oesophagus."""
    shift, half_width, half_depth = a.mediastinum
    half_width *= a.deep_fat**0.5
    back = _at(table, 1, 180.0)
    centre_v = (back - 52.0 - _at(table, 1, 0.0) + 10.0) / 2
    _paint_ellipse(labels, grid, (shift, centre_v), (half_width, half_depth), 0.0, DEEP_FAT, LUNG)
    aorta, svc, trachea = a.vessels
    _paint_capsule(labels, grid, (-14.0, -30.0), (22.0, 14.0), aorta, BLOOD)
    _paint_ellipse(labels, grid, (-33.0, -14.0), (svc, svc), 0.0, BLOOD)
    trachea_centre = (-12.0, back - 68.0)
    _paint_ellipse(labels, grid, trachea_centre, (trachea + 2.0, trachea + 2.0), 0.0, MUSCLE)
    _paint_ellipse(labels, grid, trachea_centre, (trachea, trachea), 0.0, AIR)
    _paint_ellipse(labels, grid, (8.0, back - 57.0), (8.0, 5.0), 0.0, MUSCLE)


def _paint_lung_vessels(
    labels: np.ndarray, grid: _BodyFrame, a: _Anatomy, table: np.ndarray
) -> None:
    """Small soft-tissue dots (vessels seen end-on) inside the lungs."""
    for phi_deg, frac in a.lung_dots.T:
        centre = _polar_point(phi_deg, frac * _at(table, 1, phi_deg))
        size = 1.5 + 2.0 * frac
        _paint_ellipse(labels, grid, centre, (size, size), 0.0, BLOOD, LUNG)


def _label_map(grid: _BodyFrame, a: _Anatomy) -> np.ndarray:
    """uint8 tissue labels of the sharp anatomy on the sub-sample grid."""
    table = _layer_table(_table_phi(), a)
    labels = _layered_labels(grid, table)
    _paint_breasts(labels, grid, a, table)
    _paint_mediastinum(labels, grid, a, table)
    _paint_lung_vessels(labels, grid, a, table)
    _paint_bones(labels, grid, a, table)
    return labels


def _pixel_sum(values: np.ndarray, k: int, dtype: type) -> np.ndarray:
    """Sum over each k x k block of sub-samples: (H k, W k) -> (H, W)."""
    h, w = values.shape[0] // k, values.shape[1] // k
    return values.reshape(h, k, w, k).sum(axis=3, dtype=dtype).sum(axis=1)


def _tissue_area(
    labels: np.ndarray, k: int, members: tuple[int, ...], spacing: tuple[float, float]
) -> float:
    """Area (mm^2) of the pixels mostly made of the ``members`` tissues (sharp anatomy)."""
    count = _pixel_sum(np.isin(labels, members), k, np.int16)
    return float(np.count_nonzero(2 * count > k * k) * spacing[0] * spacing[1])


def _threshold(region: np.ndarray, image: np.ndarray, hu_range: tuple[float, float]) -> np.ndarray:
    """uint8 mask (y, x): the pixels of ``region`` whose HU lies in ``hu_range`` (inclusive)."""
    return (region & (image >= hu_range[0]) & (image <= hu_range[1])).astype(np.uint8)


def _subsamples(spacing: tuple[float, float]) -> int:
    """Sub-samples per pixel axis: 1, or 3 when a pixel is larger than ``SUBSAMPLE_MM``.

    Odd so that "more than half of the pixel" never ties (an unbiased area at any spacing).
    """
    return 3 if max(spacing) > SUBSAMPLE_MM else 1


def generate(
    seed: int,
    index: int,
    shape: tuple[int, int] = (96, 96),
    spacing: tuple[float, float] = (3.6, 3.6),
    noise_hu: tuple[float, float] = (10.0, 30.0),
    blur_px: float = 0.5,
) -> PhantomCase:
    """One synthetic chest slice (y, x) in int16 HU with pectoralis and subcutaneous fat masks.

    Args:
        seed: study seed; with ``index`` it fixes every random draw of the case.
        index: case number.
        shape: image size in pixels (y, x).
        spacing: pixel size in mm (y, x).
        noise_hu: range of the Gaussian noise sigma (HU), drawn uniformly per case.
        blur_px: sigma (pixels) of the Gaussian blur applied before the noise.
    """
    rng = case_rng(seed, PHANTOM_CODE, index)
    a = _draw_anatomy(rng, noise_hu)
    k = _subsamples(spacing)
    grid = _BodyFrame(shape, spacing, k, a)
    labels = _label_map(grid, a)
    image = _pixel_sum(a.hu.astype(np.float32)[labels], k, np.float32) / (k * k)
    if blur_px > 0:
        image = ndimage.gaussian_filter(image, blur_px, mode="nearest")
    image = image + a.noise_sigma * rng.standard_normal(shape, dtype=np.float32)
    image = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    regions = {
        name: 2 * _pixel_sum(labels == label, k, np.int16) > k * k
        for name, label in zip(MASKS, (PEC, SUB_FAT), strict=True)
    }
    masks = {name: _threshold(regions[name], image, REFERENCE_HU[name]) for name in MASKS}
    areas = {
        **{f"{name}_region_mm2": area_mm2(regions[name], spacing) for name in MASKS},
        "muscle_range_tissue_mm2": _tissue_area(labels, k, MUSCLE_RANGE_LABELS, spacing),
        "fat_range_tissue_mm2": _tissue_area(labels, k, FAT_RANGE_LABELS, spacing),
    }
    body = labels != AIR
    touches = bool(body[0].any() or body[-1].any() or body[:, 0].any() or body[:, -1].any())
    return PhantomCase(
        image=image,
        spacing=(float(spacing[0]), float(spacing[1])),
        masks=masks,
        subject_id=f"chest{index:05d}",
        extras={
            "scale": a.scale,
            "rotation_deg": float(np.rad2deg(a.rotation)),
            "shift_y_mm": grid.shift[0],
            "shift_x_mm": grid.shift[1],
            "fat_thickness_mm": a.fat_mm,
            "muscle_factor": a.muscle,
            "noise_sigma_hu": a.noise_sigma,
            "body_cropped": float(touches),
            **areas,
        },
    )
