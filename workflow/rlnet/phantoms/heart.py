"""Synthetic non-contrast thoracic CT with coronary artery calcium (the paper's CAC problem).

Volumes are (z, y, x): z grows towards the head, y towards the back, x towards the patient's
left. Spacing is in mm in the same order; intensities are HU stored as int16. The anatomy is laid
out in fractions of the in-plane field of view (so any shape and spacing work), while vessels,
plaques and calcifications have absolute sizes in mm.

Reference: ``masks["cac"]`` holds the coronary plaque voxels that reach 130 HU in the final
image, so ``biomarkers.agatston(image, masks["cac"], spacing)`` is the reference score and
``biomarkers.volume_mm3(masks["cac"], spacing)`` the calcium volume. The risk group of a case is
drawn first and plaques are added until its score falls inside that group. Aortic wall
calcifications, vertebrae, ribs and sternum are >= 130 HU distractors present in every case.
``masks["heart"]`` is the pericardial sac (heart and epicardial fat) plus the plaque voxels.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from rlnet.biomarkers import AGATSTON_THRESHOLD_HU, PAPER_RISK_EDGES, agatston, agatston_weight
from rlnet.phantoms import PhantomCase, case_rng
from rlnet.phantoms.geometry import VoxelGrid

PHANTOM_CODE = 3
MASKS = ("cac", "heart")

#: Structure codes of the label map returned by :func:`generate_labelled`.
LABELS: dict[str, int] = {
    "air": 0,
    "soft_tissue": 1,
    "fat": 2,
    "lung": 3,
    "myocardium": 4,
    "blood": 5,
    "epicardial_fat": 6,
    "coronary": 7,
    "aorta": 8,
    "aortic_calcium": 9,
    "cortical_bone": 10,
    "cancellous_bone": 11,
    "disc": 12,
    "plaque": 13,
}
#: Labels that no coronary plaque may touch (the distractors and the aorta).
DISTRACTOR_LABELS = ("aorta", "aortic_calcium", "cortical_bone", "cancellous_bone", "disc")

#: A voxel belongs to a plaque where the blurred plaque adds at least this many HU.
PLAQUE_MIN_HU = 20.0
#: Blur of the whole image, in voxels along each axis (Gaussian sigma).
BLUR_VOXELS = 0.5
#: Largest sub-voxel step (mm) used to integrate partial volume of plaques and calcifications.
SUBSAMPLE_MM = 0.6
#: Upper score drawn for group 4 targets (the group itself is open-ended).
GROUP4_MAX_TARGET = 4000.0
HU_MIN, HU_MAX = -1024, 3071
#: Defaults of :func:`generate`: volume size in voxels (z, y, x), voxel size in mm (z, y, x),
#: range of the noise sigma (HU), probabilities of the paper's five Agatston risk groups.
SHAPE = (48, 80, 80)
SPACING_MM = (3.0, 2.0, 2.0)
NOISE_HU = (20.0, 40.0)
RISK_GROUP_PROBS = (0.41, 0.23, 0.21, 0.105, 0.045)


@dataclass(frozen=True)
class _Heart:
    """Ellipsoidal heart: rows of ``frame`` are unit axes (long base->apex, anterior, left)."""

    center: np.ndarray
    frame: np.ndarray
    semi: np.ndarray
    wall: float
    fat: float

    def local(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
        """Coordinates (mm) along the heart axes of broadcastable world coordinates."""
        d = (z - self.center[0], y - self.center[1], x - self.center[2])
        return [sum(float(row[j]) * d[j] for j in range(3)) for row in self.frame]

    def half_extent(self, semi: np.ndarray) -> np.ndarray:
        """World-axis half extent (mm) of a co-axial ellipsoid with semi-axes ``semi``."""
        return np.sqrt(((semi[:, None] * self.frame) ** 2).sum(axis=0))

    def surface(self, u: np.ndarray, phi: np.ndarray, offset: float) -> np.ndarray:
        """(n, 3) world points on the myocardium grown by ``offset`` mm; u in [-1, 1] from base
        to apex, phi the angle from the anterior axis towards the left axis."""
        semi = self.semi + offset
        ring = np.sqrt(np.clip(1.0 - u**2, 0.0, None))
        local = np.stack(
            [u * semi[0], ring * np.cos(phi) * semi[1], ring * np.sin(phi) * semi[2]], axis=1
        )
        return self.center + local @ self.frame


@dataclass(frozen=True)
class _Layout:
    """Positions (mm) of the fixed thoracic structures of one case."""

    center_yx: np.ndarray
    body_semi: np.ndarray
    cavity_semi: np.ndarray
    spine_yx: np.ndarray
    spine_radius: float
    aorta_yx: np.ndarray
    aorta_radius: float
    scale: float


def _ellipse(y: np.ndarray, x: np.ndarray, center: np.ndarray, semi: np.ndarray) -> np.ndarray:
    return ((y - center[0]) / semi[0]) ** 2 + ((x - center[1]) / semi[1]) ** 2 <= 1.0


def _inside(q: list[np.ndarray], semi: np.ndarray) -> np.ndarray:
    return sum((qk / sk) ** 2 for qk, sk in zip(q, semi, strict=True)) <= 1.0


def _layout(grid: VoxelGrid, rng: np.random.Generator) -> _Layout:
    ext = np.asarray(grid.shape) * grid.spacing
    s = float(min(ext[1], ext[2]))
    center = ext[1:] / 2 + rng.uniform(-0.02, 0.02, 2) * s
    body = np.array([0.43, 0.47]) * s * rng.uniform(0.96, 1.04, 2)
    spine_r = 0.07 * s
    spine = center + np.array([body[0] - 0.2 * s, 0.0])
    aorta_r = 0.06 * s * rng.uniform(0.9, 1.1)
    aorta = spine + np.array([-0.3 * spine_r, spine_r + aorta_r + 3.0])
    return _Layout(center, body, body - 0.09 * s, spine, spine_r, aorta, aorta_r, s)


def _heart(grid: VoxelGrid, lay: _Layout, rng: np.random.Generator) -> _Heart:
    s = lay.scale
    ext = np.asarray(grid.shape) * grid.spacing
    long_axis = np.array([-0.55, -0.5, 0.65]) + rng.uniform(-0.1, 0.1, 3)
    long_axis /= np.linalg.norm(long_axis)
    anterior = np.array([0.0, -1.0, 0.0]) - long_axis * -long_axis[1]
    anterior /= np.linalg.norm(anterior)
    left = np.cross(long_axis, anterior)
    left *= np.sign(left[2])
    frame = np.stack([long_axis, anterior, left])
    semi = np.array([0.21, 0.15, 0.17]) * s * rng.uniform(0.9, 1.1, 3)
    fat = float(rng.uniform(5.0, 8.0))
    nominal = np.array([ext[0] / 2, lay.center_yx[0] - 0.05 * s, lay.center_yx[1] + 0.03 * s])
    center = nominal + rng.uniform(-1.0, 1.0, 3) * np.array([10.0, 6.0, 10.0])
    half = np.sqrt(((semi[:, None] + fat + 3.0) ** 2 * frame**2).sum(axis=0))
    low, high = half, ext - half
    center = np.where(low < high, np.clip(center, low, high), ext / 2)
    return _Heart(center, frame, semi, wall=0.06 * s, fat=fat)


def _thorax_labels(grid: VoxelGrid, lay: _Layout) -> np.ndarray:
    """(z, y, x) labels of body, fat, lungs and mediastinal fat (no organs yet)."""
    _, y, x = grid.axes(tuple(slice(0, n) for n in grid.shape))
    s = lay.scale
    labels2d = np.zeros(grid.shape[1:], dtype=np.uint8)
    labels2d[_ellipse(y[0], x[0], lay.center_yx, lay.body_semi)] = LABELS["fat"]
    muscle = _ellipse(y[0], x[0], lay.center_yx, lay.body_semi - 0.035 * s)
    labels2d[muscle] = LABELS["soft_tissue"]
    labels2d[_ellipse(y[0], x[0], lay.center_yx, lay.cavity_semi)] = LABELS["lung"]
    band = (np.abs(x[0] - lay.center_yx[1]) < 0.08 * s) & (y[0] < lay.spine_yx[0])
    aorta = _ellipse(y[0], x[0], lay.aorta_yx, np.full(2, lay.aorta_radius + 3.0))
    labels2d[(band | aorta) & (labels2d == LABELS["lung"])] = LABELS["fat"]
    prevertebral = _ellipse(y[0], x[0], lay.spine_yx, np.full(2, lay.spine_radius + 4.0))
    paraspinal = _ellipse(y[0], x[0], lay.spine_yx + [0.1 * s, 0.0], np.array([0.12, 0.15]) * s)
    labels2d[prevertebral | (muscle & paraspinal)] = LABELS["soft_tissue"]
    return np.broadcast_to(labels2d, grid.shape).copy()


def _paint_heart(labels: np.ndarray, grid: VoxelGrid, heart: _Heart) -> tuple[slice, ...]:
    """Paint mediastinal fat, epicardial fat, myocardium, blood; return the pericardium box."""
    outer = heart.semi + heart.fat + 2.0
    half = heart.half_extent(outer)
    box = grid.box(heart.center - half, heart.center + half)
    q = heart.local(*grid.axes(box))
    view = labels[box]
    view[_inside(q, outer) & (view == LABELS["lung"])] = LABELS["fat"]
    view[_inside(q, heart.semi + heart.fat)] = LABELS["epicardial_fat"]
    view[_inside(q, heart.semi)] = LABELS["myocardium"]
    cavity = _inside(q, heart.semi - heart.wall)
    septum = np.abs(q[2] + 0.15 * heart.semi[2]) < 0.4 * heart.wall
    view[cavity & ~septum] = LABELS["blood"]
    return box


def _resample(points: np.ndarray, step: float) -> np.ndarray:
    """Resample a polyline of (n, 3) mm points at a constant arc-length step."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    t = np.arange(0.0, arc[-1], step)
    return np.stack([np.interp(t, arc, points[:, k]) for k in range(3)], axis=1)


@dataclass(frozen=True)
class _Vessels:
    """Coronary centreline samples (mm), their lumen radius, vessel id and order."""

    points: np.ndarray
    radius: np.ndarray
    vessel: np.ndarray
    step: float


def _coronaries(heart: _Heart, rng: np.random.Generator, step: float = 0.3) -> _Vessels:
    """LAD (anterior groove), LCX (left AV groove) and RCA (right AV groove + posterior)."""
    n = 200
    t = np.linspace(0.0, 1.0, n)
    u_av = rng.uniform(-0.5, -0.35)
    phi_lad = rng.uniform(0.25, 0.6)
    lad = (u_av + (0.9 - u_av) * t, phi_lad + 0.08 * np.sin(3 * np.pi * t))
    lcx = (np.full(n, u_av), phi_lad + 0.35 + rng.uniform(1.6, 2.2) * t)
    rca_ring = (np.full(n, u_av), -0.35 - rng.uniform(2.3, 2.7) * t)
    rca_down = (u_av + (0.45 - u_av) * t, np.full(n, rca_ring[1][-1]))
    rca = (np.concatenate([rca_ring[0], rca_down[0]]), np.concatenate([rca_ring[1], rca_down[1]]))
    points, radius, vessel = [], [], []
    for k, (u, phi) in enumerate((lad, lcx, rca)):
        r0 = rng.uniform(1.5, 2.0)
        line = _resample(heart.surface(u, phi, offset=r0 + 0.3), step)
        points.append(line)
        radius.append(r0 * (1.0 - 0.25 * np.linspace(0.0, 1.0, len(line))))
        vessel.append(np.full(len(line), k))
    return _Vessels(np.concatenate(points), np.concatenate(radius), np.concatenate(vessel), step)


def _voxel_points(
    box: tuple[slice, ...], idx: tuple[np.ndarray, ...], grid: VoxelGrid
) -> np.ndarray:
    """(n, 3) mm centres of the voxels ``idx`` (indices inside ``box``)."""
    return np.stack([(idx[k] + box[k].start) * grid.spacing[k] for k in range(3)], axis=1)


def _paint_coronaries(
    labels: np.ndarray, grid: VoxelGrid, heart: _Heart, box: tuple[slice, ...], vessels: _Vessels
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Label the voxels a coronary lumen overlaps; return their indices (in ``box``) and their
    approximate lumen fraction (linear ramp over one voxel width around the lumen wall)."""
    q = heart.local(*grid.axes(box))
    shell = _inside(q, heart.semi + heart.fat + 1.0) & ~_inside(q, heart.semi - 1.0)
    idx = np.nonzero(shell)
    width = float(np.prod(grid.spacing) ** (1 / 3))
    tree = cKDTree(vessels.points)
    dist, near = tree.query(_voxel_points(box, idx, grid), distance_upper_bound=2.0 + width)
    hit = np.isfinite(dist)
    hit[hit] = dist[hit] <= vessels.radius[near[hit]] + width / 2
    fraction = np.clip((vessels.radius[near[hit]] - dist[hit]) / width + 0.5, 0.0, 1.0)
    idx = tuple(i[hit] for i in idx)
    labels[box][idx] = LABELS["coronary"]
    return idx, fraction.astype(np.float32)


def _paint_columns(labels: np.ndarray, rows: np.ndarray, mask2d: np.ndarray, value: int) -> None:
    """Set ``labels[z, y, x] = value`` for z in ``rows`` and (y, x) in the 2D mask."""
    iy, ix = np.nonzero(mask2d)
    labels[rows[:, None], iy[None, :], ix[None, :]] = value


def _z_mm(grid: VoxelGrid) -> np.ndarray:
    return np.arange(grid.shape[0]) * grid.spacing[0]


def _paint_aorta(
    labels: np.ndarray, grid: VoxelGrid, lay: _Layout, heart: _Heart
) -> list[tuple[np.ndarray, float]]:
    """Ascending aorta from the heart base, arch, descending aorta beside the spine.

    Returns the vertical segments as ((n, 3) mm axis points, radius) for wall calcifications:
    the descending aorta, and the ascending aorta above the pericardium.
    """
    ext = np.asarray(grid.shape) * grid.spacing
    base = heart.center - 0.7 * heart.semi[0] * heart.frame[0]
    asc_yx = base[1:] - 0.3 * lay.aorta_radius
    r_asc = lay.aorta_radius * 1.15
    z_arch = min(heart.center[0] + 0.45 * lay.scale, ext[0] - 0.5 * lay.aorta_radius)
    _, y, x = grid.axes(tuple(slice(0, n) for n in grid.shape))
    zs = _z_mm(grid)
    asc_rows = np.flatnonzero((zs >= base[0]) & (zs <= z_arch))
    desc_rows = np.flatnonzero(zs <= z_arch)
    _paint_columns(
        labels, asc_rows, _ellipse(y[0], x[0], asc_yx, np.full(2, r_asc)), LABELS["aorta"]
    )
    desc = _ellipse(y[0], x[0], lay.aorta_yx, np.full(2, lay.aorta_radius))
    _paint_columns(labels, desc_rows, desc, LABELS["aorta"])
    _paint_arch(labels, grid, asc_yx, lay.aorta_yx, z_arch, lay.aorta_radius)
    top = heart.center[0] + heart.half_extent(heart.semi + heart.fat)[0] + 5.0
    segments = []
    for yx, radius, z0 in ((lay.aorta_yx, lay.aorta_radius, 0.0), (asc_yx, r_asc, top)):
        zc = np.arange(max(z0, radius), min(z_arch, ext[0] - radius), 1.0)
        if len(zc):
            segments.append((np.column_stack([zc, np.tile(yx, (len(zc), 1))]), radius))
    return segments


def _paint_arch(
    labels: np.ndarray,
    grid: VoxelGrid,
    start_yx: np.ndarray,
    end_yx: np.ndarray,
    z_arch: float,
    radius: float,
) -> None:
    """Half torus above ``z_arch`` joining the ascending and descending aorta."""
    mid = (start_yx + end_yx) / 2
    rho = float(np.linalg.norm(end_yx - start_yx) / 2)
    along = (end_yx - start_yx) / max(2 * rho, 1e-6)
    reach = rho + radius
    box = grid.box(np.array([z_arch, *(mid - reach)]), np.array([z_arch + reach, *(mid + reach)]))
    z, y, x = grid.axes(box)
    h = (y - mid[0]) * along[0] + (x - mid[1]) * along[1]
    n = (x - mid[1]) * along[0] - (y - mid[0]) * along[1]
    ring = np.sqrt((np.sqrt(h**2 + (z - z_arch) ** 2) - rho) ** 2 + n**2)
    labels[box][(ring <= radius) & (z >= z_arch)] = LABELS["aorta"]


def _paint_bones(
    labels: np.ndarray, grid: VoxelGrid, lay: _Layout, rng: np.random.Generator
) -> None:
    """Vertebral bodies with discs, posterior elements, sternum and ribs."""
    s = lay.scale
    _, y, x = grid.axes(tuple(slice(0, n) for n in grid.shape))
    y2, x2, zs = y[0], x[0], _z_mm(grid)
    all_rows = np.arange(grid.shape[0])
    r = lay.spine_radius
    body = _ellipse(y2, x2, lay.spine_yx, np.full(2, r))
    rim = body & ~_ellipse(y2, x2, lay.spine_yx, np.full(2, r - 1.5))
    process = _ellipse(y2, x2, lay.spine_yx + [r + 0.05 * s, 0.0], np.array([0.04, 0.025]) * s)
    sternum_yx = np.array([lay.center_yx[0] - lay.body_semi[0] + 0.09 * s, lay.center_yx[1]])
    sternum = _ellipse(y2, x2, sternum_yx, np.array([0.02, 0.055]) * s)
    sternum_core = _ellipse(y2, x2, sternum_yx, np.array([0.02, 0.055]) * s - 1.2)
    _paint_columns(labels, all_rows, body | sternum, LABELS["cancellous_bone"])
    _paint_columns(
        labels, all_rows, rim | process | (sternum & ~sternum_core), LABELS["cortical_bone"]
    )
    period, phase = 0.15 * s, rng.uniform(0.0, 0.15 * s)
    disc_rows = np.flatnonzero((zs + phase) % period < 0.035 * s)
    _paint_columns(labels, disc_rows, body & ~rim, LABELS["disc"])
    _paint_ribs(labels, grid, lay, rng)


def _paint_ribs(
    labels: np.ndarray, grid: VoxelGrid, lay: _Layout, rng: np.random.Generator
) -> None:
    """Ribs: tubes along the chest wall from beside the spine to beside the sternum, dropping
    towards the front; drawn as their cross-section with every axial slice."""
    s = lay.scale
    _, y, x = grid.axes(tuple(slice(0, n) for n in grid.shape))
    semi = lay.body_semi - 0.075 * s
    radius, pitch, drop = 0.015 * s, 0.16 * s, 0.35 * s
    dy, dx = (y[0] - lay.center_yx[0]) / semi[0], (x[0] - lay.center_yx[1]) / semi[1]
    radial = (np.sqrt(dy**2 + dx**2) - 1.0) * semi.mean()
    theta = np.abs(np.arctan2(dx, dy))
    shell = (np.abs(radial) <= radius) & (theta >= 0.35) & (theta <= 2.4)
    iy, ix = np.nonzero(shell)
    lift = drop * (theta[iy, ix] - 0.35) / 2.05
    dz = (_z_mm(grid)[:, None] + lift[None, :] + rng.uniform(0.0, pitch)) % pitch
    dz = np.minimum(dz, pitch - dz)
    hit = dz**2 + radial[iy, ix][None, :] ** 2 <= radius**2
    rows, cols = np.nonzero(hit)
    labels[rows, iy[cols], ix[cols]] = LABELS["cortical_bone"]


def _capsule(
    grid: VoxelGrid, p0: np.ndarray, p1: np.ndarray, radius: float, pad: int
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Partial-volume occupancy (0-1, float32) of a capsule (segment p0-p1 in mm, radius mm)
    in its bounding box grown by ``pad`` voxels; returns (box, occupancy)."""
    box = grid.box(np.minimum(p0, p1) - radius, np.maximum(p0, p1) + radius, pad)
    n_sub = np.maximum(1, np.ceil(grid.spacing / SUBSAMPLE_MM)).astype(int)
    coords = []
    for k in range(3):
        offsets = ((np.arange(n_sub[k]) + 0.5) / n_sub[k] - 0.5) * grid.spacing[k]
        centres = np.arange(box[k].start, box[k].stop) * grid.spacing[k]
        shape = [1, 1, 1]
        shape[k] = -1
        coords.append((centres[:, None] + offsets).ravel().reshape(shape) - p0[k])
    seg = p1 - p0
    length2 = float(seg @ seg)
    t = 0.0
    if length2 > 0:
        t = np.clip(sum(coords[k] * seg[k] for k in range(3)) / length2, 0.0, 1.0)
    dist2 = sum((coords[k] - t * seg[k]) ** 2 for k in range(3))
    size = [b.stop - b.start for b in box]
    fine = (dist2 <= radius**2).reshape(size[0], n_sub[0], size[1], n_sub[1], size[2], n_sub[2])
    return box, fine.mean(axis=(1, 3, 5), dtype=np.float32)


def _blurred_blob(
    grid: VoxelGrid, p0: np.ndarray, p1: np.ndarray, radius: float, contrast: float
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Blurred HU added by a calcified capsule of ``contrast`` HU over its surroundings."""
    pad = int(np.ceil(3 * BLUR_VOXELS)) + 1
    box, occupancy = _capsule(grid, p0, p1, radius, pad)
    added = ndimage.gaussian_filter(
        occupancy * np.float32(contrast), BLUR_VOXELS, mode="constant", truncate=3.0
    )
    return box, added


def _aortic_calcium(
    grid: VoxelGrid, segments: list[tuple[np.ndarray, float]], rng: np.random.Generator
) -> list[tuple[tuple[slice, ...], np.ndarray]]:
    """3-8 wall calcifications (1.5-3.5 mm radius, +400..+1200 HU), before blur."""
    axis_points = np.concatenate([pts for pts, _ in segments])
    radii = np.concatenate([np.full(len(pts), r) for pts, r in segments])
    blobs = []
    for _ in range(int(rng.integers(3, 9))):
        i = int(rng.integers(len(axis_points)))
        angle = rng.uniform(0.0, 2 * np.pi)
        centre = axis_points[i] + (radii[i] - 0.5) * np.array([0.0, np.cos(angle), np.sin(angle)])
        radius = rng.uniform(1.5, 3.5)
        box, occupancy = _capsule(grid, centre, centre, radius, 0)
        blobs.append((box, occupancy * np.float32(rng.uniform(400.0, 1200.0))))
    return blobs


def _hu_table(rng: np.random.Generator) -> np.ndarray:
    """HU of every label for one case (plaque and aortic calcium get their contrast added)."""
    blood = rng.uniform(34.0, 42.0)
    fat = rng.uniform(-110.0, -90.0)
    values = {
        "air": -1000.0,
        "soft_tissue": rng.uniform(40.0, 50.0),
        "fat": fat,
        "lung": rng.uniform(-875.0, -825.0),
        "myocardium": blood + rng.uniform(8.0, 15.0),
        "blood": blood,
        "epicardial_fat": fat,
        "coronary": blood,
        "aorta": blood,
        "aortic_calcium": blood,
        "cortical_bone": rng.uniform(700.0, 1000.0),
        "cancellous_bone": rng.uniform(200.0, 280.0),
        "disc": rng.uniform(70.0, 100.0),
        "plaque": blood,
    }
    table = np.zeros(max(LABELS.values()) + 1, dtype=np.float32)
    for name, code in LABELS.items():
        table[code] = values[name]
    return table


def _partial_lumen(
    base: np.ndarray,
    labels: np.ndarray,
    idx: tuple[np.ndarray, ...],
    fraction: np.ndarray,
    hu: np.ndarray,
) -> None:
    """Mix lumen (blood) and epicardial fat HU in coronary voxels by their lumen fraction."""
    still = labels[idx] == LABELS["coronary"]
    fat, blood = hu[LABELS["epicardial_fat"]], hu[LABELS["blood"]]
    base[tuple(i[still] for i in idx)] = fat + fraction[still] * (blood - fat)


def _compose(base: np.ndarray, plaques: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Final int16 HU from the blurred anatomy, the blurred plaques and the noise (float32)."""
    return np.clip(np.rint(base + plaques + noise), HU_MIN, HU_MAX).astype(np.int16)


@dataclass
class _Calcium:
    """Coronary plaques accumulated inside the work box around the heart."""

    grid: VoxelGrid
    work: tuple[slice, ...]
    base: np.ndarray
    noise: np.ndarray
    blood_hu: float
    field: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def reset(self) -> None:
        self.field[...] = 0.0
        self.lo = np.array(self.field.shape)
        self.hi = np.zeros(3, dtype=int)

    def score(self, field: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
        """Agatston score of the plaque voxels of ``field`` in the final image."""
        if np.any(hi <= lo):
            return 0.0
        sub = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        image = _compose(self.base[sub], field[sub], self.noise[sub])
        return agatston(image, field[sub] >= PLAQUE_MIN_HU, tuple(self.grid.spacing))

    def try_add(self, p0: np.ndarray, p1: np.ndarray, radius: float, peak_hu: float) -> tuple:
        """(field, lo, hi, score) with one more plaque, without committing it."""
        box, added = _blurred_blob(self.grid, p0, p1, radius, peak_hu - self.blood_hu)
        start = np.array([b.start - w.start for b, w in zip(box, self.work, strict=True)])
        lo = np.clip(start, 0, self.field.shape)
        hi = np.clip(start + added.shape, 0, self.field.shape)
        field = self.field.copy()
        src = tuple(slice(a - s, b - s) for a, b, s in zip(lo, hi, start, strict=True))
        field[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] += added[src]
        lo, hi = np.minimum(self.lo, lo), np.maximum(self.hi, hi)
        return field, lo, hi, self.score(field, lo, hi)

    def commit(self, field: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        self.field, self.lo, self.hi = field, lo, hi


@dataclass(frozen=True)
class _Sites:
    """Coronary centreline samples where a plaque may sit, with their clearance (mm) from the
    aorta and bones."""

    vessels: _Vessels
    clearance: np.ndarray
    margin: float

    def pick(self, rng: np.random.Generator, diameter: float, length: float):
        """Segment end points (mm) of a plaque of this size on a random allowed site."""
        ok = self.clearance >= diameter / 2 + self.margin
        choices = np.flatnonzero(ok)
        i = int(choices[rng.integers(len(choices))])
        j = i + int(round((length - diameter) / self.vessels.step))
        same = np.flatnonzero((self.vessels.vessel == self.vessels.vessel[i]) & ok)
        j = int(same[(same >= i) & (same <= j)].max())
        return self.vessels.points[i], self.vessels.points[j]


def _sites(
    labels: np.ndarray, grid: VoxelGrid, work: tuple[slice, ...], vessels: _Vessels
) -> _Sites:
    codes = [LABELS[name] for name in DISTRACTOR_LABELS]
    free = ~np.isin(labels[work], codes)
    idx = grid.index(vessels.points) - [w.start for w in work]
    if free.all():
        clearance = np.full(len(idx), np.inf)
    else:
        distance = ndimage.distance_transform_edt(free, sampling=grid.spacing)
        inside = np.all((idx >= 0) & (idx < free.shape), axis=1)
        clearance = np.zeros(len(idx))
        clearance[inside] = distance[tuple(idx[inside].T)]
    on_vessel = labels[tuple(grid.index(vessels.points).T)] == LABELS["coronary"]
    margin = 2.0 * float(grid.spacing.max()) + 1.0
    return _Sites(vessels, np.where(on_vessel, clearance, 0.0), margin)


def _draw_plaque(rng: np.random.Generator, budget: float, tiny: bool) -> tuple[float, ...]:
    """(diameter mm, length mm, peak HU) of a plaque expected to add at most ``budget``."""
    if tiny:
        diameter = rng.uniform(1.0, 2.0)
        return diameter, diameter, rng.uniform(130.0, 400.0)
    diameter = rng.uniform(1.0, 6.0)
    length = min(15.0, diameter * rng.uniform(1.0, 2.5))
    peak = float(np.exp(rng.uniform(np.log(130.0), np.log(1500.0))))
    volume = np.pi * diameter**2 / 4 * (length - diameter) + np.pi * diameter**3 / 6
    estimate = agatston_weight(peak) * volume / 3.0
    if estimate > budget:
        f = (max(budget, 1e-3) / estimate) ** (1 / 3)
        diameter = max(1.0, diameter * f)
        length = max(diameter, length * f)
    return diameter, length, peak


def _place_plaques(
    rng: np.random.Generator, group: int, sites: _Sites, calcium: _Calcium, attempts: int = 30
) -> float:
    """Add coronary plaques until the Agatston score is in risk group ``group``; return it."""
    edges = (0.0, *PAPER_RISK_EDGES, np.inf)
    lo, hi = edges[group], edges[group + 1]
    for _ in range(attempts):
        calcium.reset()
        if group == 0:
            return _place_tiny(rng, sites, calcium, hi)
        target = lo * (min(hi, GROUP4_MAX_TARGET) / lo) ** rng.random()
        score, rejections, count = 0.0, 0, 0
        while score < target and rejections < 12 and count < 40:
            budget = 0.7 * (min(hi, 1.5 * target) - score) * 0.6**rejections
            diameter, length, peak = _draw_plaque(rng, budget, tiny=False)
            p0, p1 = sites.pick(rng, diameter, length)
            field, box_lo, box_hi, trial = calcium.try_add(p0, p1, diameter / 2, peak)
            if trial >= hi:
                rejections += 1
                continue
            calcium.commit(field, box_lo, box_hi)
            score, count = trial, count + 1
        if lo <= score < hi:
            return score
    raise RuntimeError(f"could not place plaques for risk group {group} in {attempts} attempts")


def _place_tiny(rng: np.random.Generator, sites: _Sites, calcium: _Calcium, hi: float) -> float:
    """Group 0: mostly no plaque, else one or two tiny ones kept only while the score < hi."""
    score = 0.0
    if rng.random() < 0.7:
        return score
    for _ in range(int(rng.integers(1, 3))):
        diameter, length, peak = _draw_plaque(rng, hi, tiny=True)
        p0, p1 = sites.pick(rng, diameter, length)
        field, box_lo, box_hi, trial = calcium.try_add(p0, p1, diameter / 2, peak)
        if trial < hi:
            calcium.commit(field, box_lo, box_hi)
            score = trial
    return score


def generate_labelled(
    seed: int,
    index: int,
    shape: tuple[int, int, int] = SHAPE,
    spacing: tuple[float, float, float] = SPACING_MM,
    noise_hu: tuple[float, float] = NOISE_HU,
    risk_group_probs: tuple[float, ...] = RISK_GROUP_PROBS,
) -> tuple[PhantomCase, np.ndarray]:
    """:func:`generate` plus the (z, y, x) uint8 structure label map (codes in ``LABELS``)."""
    probs = np.asarray(risk_group_probs, dtype=float)
    if len(probs) != 5 or np.any(probs < 0) or not np.isclose(probs.sum(), 1.0):
        raise ValueError(f"risk_group_probs must be 5 probabilities summing to 1, got {probs}")
    rng = case_rng(seed, PHANTOM_CODE, index)
    grid = VoxelGrid(tuple(int(n) for n in shape), np.asarray(spacing, dtype=float))
    group = int(rng.choice(5, p=probs))
    lay = _layout(grid, rng)
    heart = _heart(grid, lay, rng)
    labels = _thorax_labels(grid, lay)
    heart_box = _paint_heart(labels, grid, heart)
    vessels = _coronaries(heart, rng)
    lumen_idx, lumen_fraction = _paint_coronaries(labels, grid, heart, heart_box, vessels)
    segments = _paint_aorta(labels, grid, lay, heart)
    calcs = _aortic_calcium(grid, segments, rng)
    _paint_bones(labels, grid, lay, rng)
    hu = _hu_table(rng)
    base = hu[labels]
    _partial_lumen(base[heart_box], labels[heart_box], lumen_idx, lumen_fraction, hu)
    for box, added in calcs:
        base[box] += added
        labels[box][added >= 0.25 * added.max()] = LABELS["aortic_calcium"]
    base = ndimage.gaussian_filter(base, BLUR_VOXELS, mode="nearest", truncate=3.0)
    sigma = rng.uniform(*noise_hu)
    noise = rng.normal(0.0, sigma, grid.shape).astype(np.float32)
    half = heart.half_extent(heart.semi + heart.fat) + 6.0
    work = grid.box(heart.center - half, heart.center + half, pad=3)
    calcium = _Calcium(
        grid,
        work,
        base[work],
        noise[work],
        float(hu[LABELS["blood"]]),
        np.zeros([w.stop - w.start for w in work], np.float32),
        np.zeros(3, int),
        np.zeros(3, int),
    )
    _place_plaques(rng, group, _sites(labels, grid, work, vessels), calcium)
    plaques = np.zeros(grid.shape, dtype=np.float32)
    plaques[work] = calcium.field
    image = _compose(base, plaques, noise)
    region = plaques >= PLAQUE_MIN_HU
    labels[region] = LABELS["plaque"]
    q = heart.local(*grid.axes(heart_box))
    pericardium = np.zeros(grid.shape, dtype=bool)
    pericardium[heart_box] = _inside(q, heart.semi + heart.fat)
    masks = {
        "cac": (region & (image >= AGATSTON_THRESHOLD_HU)).astype(np.uint8),
        "heart": (pericardium | region).astype(np.uint8),
    }
    centre = heart.center / grid.spacing
    extras = {
        "heart_center_z": float(centre[0]),
        "heart_center_y": float(centre[1]),
        "heart_center_x": float(centre[2]),
        "target_group": float(group),
    }
    case = PhantomCase(image, tuple(float(s) for s in spacing), masks, f"heart{index:05d}", extras)
    return case, labels


def generate(
    seed: int,
    index: int,
    shape: tuple[int, int, int] = SHAPE,
    spacing: tuple[float, float, float] = SPACING_MM,
    noise_hu: tuple[float, float] = NOISE_HU,
    risk_group_probs: tuple[float, ...] = RISK_GROUP_PROBS,
) -> PhantomCase:
    """One synthetic non-contrast chest CT (z, y, x) with coronary calcium of a drawn risk group.

    Args:
        seed, index: the case's random generator is ``case_rng(seed, PHANTOM_CODE, index)``.
        shape: voxels (z, y, x); spacing: mm (z, y, x).
        noise_hu: range of the Gaussian noise sigma (HU), drawn per case.
        risk_group_probs: probabilities of the paper's five Agatston risk groups.

    Returns:
        int16 HU image, uint8 masks ``cac`` and ``heart``, subject ``heart{index:05d}``, extras
        ``heart_center_{z,y,x}`` (true heart centre, voxels) and ``target_group``.
    """
    return generate_labelled(seed, index, shape, spacing, noise_hu, risk_group_probs)[0]
