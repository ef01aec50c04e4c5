"""Synthetic abdominal CT slices through a liver with hypodense tumours (the paper's LiTS task).

One call makes one synthetic patient: a few consecutive axial slices (y, x) cut at successive z
through the same 3D anatomy, so the slices of a subject are correlated. Anatomy is built in
normalised coordinates: u (image x, towards the patient's left), v (image y, towards posterior)
and z (cranial), in units of half the smaller field-of-view side, so any image shape and spacing
show the same body. Image left is the patient's right (radiological view): the liver is on the
left of the image. Every slice contains tumour; the ``liver`` mask includes the tumours and the
vessels inside the liver (as in LiTS) and ``tumour`` is a subset of it.
"""

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from scipy import ndimage

from rlnet.phantoms import PhantomCase, case_rng
from rlnet.phantoms.geometry import centred_positions

PHANTOM_CODE = 4
MASKS = ("liver", "tumour")

#: Lattice step of the smooth random fields (bowel loops, organ mottle), normalised units.
_FIELD_STEP = 0.04


class _L(IntEnum):
    """Tissue labels; painting order in ``_anatomy_labels`` decides overlaps."""

    AIR = 0
    SKIN = 1
    FAT = 2
    MUSCLE = 3
    VISCERAL_FAT = 4
    BOWEL = 5
    GAS = 6
    STOMACH_WALL = 7
    STOMACH_FLUID = 8
    SPLEEN = 9
    KIDNEY = 10
    RENAL_SINUS = 11
    LIVER = 12
    LIVER_VESSEL = 13
    GALLBLADDER = 14
    IVC = 15
    AORTA = 16
    BONE = 17
    MARROW = 18
    CANAL = 19


@dataclass(frozen=True)
class _Blob:
    """Perturbed ellipsoid in normalised (u, v, z) coordinates.

    ``axes`` are semi-axes (u, v, z) before rotation by ``angle`` (radians, in-plane); an
    infinite z semi-axis makes a prism. ``harmonics`` rows are (k, amplitude, phase,
    amplitude change per z semi-axis) of the radial perturbation 1 + sum a cos(k t + phase).
    ``drift`` is the in-plane shift of the centre per unit z.
    """

    centre: tuple[float, float, float]
    axes: tuple[float, float, float]
    angle: float = 0.0
    harmonics: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    drift: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class _Tumour:
    """A hypodense lesion: its shape, contrast below liver (HU) and rim brightening (HU, less
    than the contrast so the rim stays darker than the liver)."""

    blob: _Blob
    contrast_hu: float
    rim_hu: float


@dataclass(frozen=True)
class _UnitGrid:
    """Pixel-centre coordinates in normalised units: 1D x (u) and y (v), their 2D (y, x)
    meshes, and the pixel size (dv, du)."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pixel: tuple[float, float]


@dataclass(frozen=True)
class _Anatomy:
    """Everything about one synthetic patient that does not depend on the slice."""

    body: _Blob
    cavity: _Blob
    layers: tuple[float, float]  # skin and skin+fat depth, as fractions of the body v semi-axis
    organs: dict[str, _Blob]
    ribs: tuple[_Blob, ...]
    vessels: np.ndarray  # (m, 7): segment start (u, v, z), end (u, v, z), radius
    stomach_level: float  # air-fluid level in v: gas anterior (smaller v) of it
    bowel_threshold: float
    fields: np.ndarray  # (3, z, v, u) lattices: bowel, gas, mottle; unit variance
    field_origin: tuple[float, float, float]  # (z, v, u) of lattice index 0


def _grid(shape: tuple[int, int], spacing: tuple[float, float]) -> _UnitGrid:
    """Normalised coordinates: 1 unit is half the smaller field-of-view side (mm)."""
    half_fov = min(n * s for n, s in zip(shape, spacing, strict=True)) / 2.0
    y = centred_positions(shape[0], spacing[0]) / half_fov
    x = centred_positions(shape[1], spacing[1]) / half_fov
    v, u = np.meshgrid(y, x, indexing="ij")
    return _UnitGrid(x=x, y=y, u=u, v=v, pixel=(spacing[0] / half_fov, spacing[1] / half_fov))


def _blob_q(grid: _UnitGrid, z: float, blob: _Blob) -> np.ndarray:
    """Implicit value of a blob on the slice at height z: < 1 inside, 0 at the centre.

    Only the blob's bounding window is evaluated; pixels outside it are ``inf``.
    """
    dz = (z - blob.centre[2]) / blob.axes[2]
    q = np.full(grid.u.shape, np.inf)
    if dz * dz >= 1.0:
        return q
    k, amp, phase, slope = blob.harmonics.T
    amp = amp + slope * dz
    reach = max(blob.axes[:2]) * (1.0 + np.abs(amp).sum())
    cu = blob.centre[0] + blob.drift[0] * (z - blob.centre[2])
    cv = blob.centre[1] + blob.drift[1] * (z - blob.centre[2])
    rows = slice(*np.searchsorted(grid.y, [cv - reach, cv + reach]))
    cols = slice(*np.searchsorted(grid.x, [cu - reach, cu + reach]))
    du = grid.x[None, cols] - cu
    dv = grid.y[rows, None] - cv
    c, s = np.cos(blob.angle), np.sin(blob.angle)
    x = (c * du + s * dv) / blob.axes[0]
    y = (-s * du + c * dv) / blob.axes[1]
    radial = np.hypot(x, y)
    if len(k):
        w = (x + 1j * y) / np.maximum(radial, 1e-12)  # e^{i theta}
        h = np.ones_like(radial)
        for order, coef in zip(k.astype(int), amp * np.exp(1j * phase), strict=True):
            h += np.real(coef * w**order)
        radial = radial / h
    q[rows, cols] = np.sqrt(radial**2 + dz**2)
    return q


def _harmonics(rng: np.random.Generator, ks: range, amp: float, slope: float) -> np.ndarray:
    """Random radial perturbation rows (k, amplitude, phase, slope) for a ``_Blob``."""
    n = len(ks)
    return np.column_stack(
        [
            np.asarray(ks, float),
            rng.uniform(0.0, amp, n),
            rng.uniform(0.0, 2 * np.pi, n),
            rng.uniform(-slope, slope, n),
        ]
    )


def _draw_body(
    rng: np.random.Generator, pixel: float
) -> tuple[_Blob, _Blob, tuple[float, float], float]:
    """Body outline, abdominal cavity, layer depths and the organ size scale (normalised)."""
    a_u = rng.uniform(0.78, 0.93)
    a_v = a_u * rng.uniform(0.64, 0.78)
    centre = (0.0, rng.uniform(0.0, 0.08), 0.0)
    harm = _harmonics(rng, range(2, 6), 0.025, 0.0)
    drift = tuple(rng.uniform(-0.05, 0.05, 2))
    body = _Blob(centre, (a_u, a_v, np.inf), harmonics=harm, drift=drift)
    skin = max(0.012, pixel)
    fat = rng.uniform(0.03, 0.16)
    muscle = rng.uniform(0.025, 0.045)
    wall = skin + fat + muscle
    scale = float(np.sqrt((a_u - wall) * (a_v - wall)))
    back = 0.4 * scale  # extra posterior muscle depth for spine and paraspinal muscles
    cavity = _Blob(
        (centre[0], centre[1] - back / 2, 0.0),
        (a_u - wall, a_v - wall - back / 2, np.inf),
        harmonics=harm,
        drift=drift,
    )
    return body, cavity, (skin / a_v, (skin + fat) / a_v), scale


def _draw_organs(
    rng: np.random.Generator, cavity: _Blob, s: float, depth: float
) -> dict[str, _Blob]:
    """Solid organs, spine parts and great vessels; ``depth`` is the liver's z semi-axis."""
    cu, cv, _ = cavity.centre
    au, av, _ = cavity.axes

    def at(pu: float, pv: float, z: float = 0.0) -> tuple[float, float, float]:
        return (cu + pu * au, cv + pv * av, z)

    r_vb = 0.16 * s
    vb = (cu, cv + av - 0.3 * r_vb, 0.0)
    canal = (vb[0], vb[1] + 0.85 * r_vb + 0.07 * s, 0.0)
    inf = np.inf
    liver_scale = rng.uniform(0.88, 1.08)
    organs = {
        "liver": _Blob(
            at(-0.45, rng.uniform(-0.08, 0.05), rng.uniform(0.0, 0.2) * depth),
            (0.65 * au * liver_scale, 1.0 * av * liver_scale, 1.1 * depth),
            rng.uniform(-0.2, 0.2),
            _harmonics(rng, range(2, 6), 0.06, 0.05),
            tuple(rng.uniform(-0.1, 0.1, 2)),
        ),
        "left_lobe": _Blob(
            at(0.05, -0.6, 0.3 * depth),
            tuple(rng.uniform(0.5, 1.1) * np.array([0.4 * au, 0.28 * av])) + (0.8 * depth,),
            rng.uniform(-0.3, 0.1),
            _harmonics(rng, range(2, 4), 0.06, 0.05),
        ),
        "spleen": _Blob(
            at(0.62, 0.3, rng.uniform(0.0, 0.4) * depth),
            (0.2 * s, 0.38 * s, 0.7 * depth),
            -0.6 + rng.uniform(-0.2, 0.2),
            _harmonics(rng, range(2, 4), 0.05, 0.0),
        ),
        "stomach": _Blob(
            at(0.3, -0.35, 0.3 * depth),
            (0.35 * s, 0.25 * s, 0.6 * depth),
            rng.uniform(-0.3, 0.3),
            _harmonics(rng, range(2, 4), 0.08, 0.05),
        ),
        "kidney_r": _Blob(
            (vb[0] - 0.55 * s, vb[1], -rng.uniform(0.6, 0.9) * depth),
            (0.2 * s, 0.13 * s, 0.5 * depth),
            0.5,
        ),
        "kidney_l": _Blob(
            (vb[0] + 0.55 * s, vb[1] - 0.05 * s, -rng.uniform(0.4, 0.7) * depth),
            (0.2 * s, 0.13 * s, 0.5 * depth),
            -0.5,
        ),
        "gallbladder": _Blob(
            at(-0.28, -0.3, -rng.uniform(0.3, 0.6) * depth),
            (0.09 * s, 0.13 * s, 0.3 * depth) if rng.random() < 0.7 else (1e-6,) * 3,  # removed
            rng.uniform(-0.5, 0.5),
        ),
        "ivc": _Blob((vb[0] - 0.32 * s, vb[1] - r_vb - 0.08 * s, 0.0), (0.12 * s, 0.08 * s, inf)),
        "aorta": _Blob((vb[0] + 0.1 * s, vb[1] - r_vb - 0.1 * s, 0.0), (0.1 * s, 0.1 * s, inf)),
        "vertebra": _Blob(vb, (r_vb, 0.85 * r_vb, inf)),
        "canal": _Blob(canal, (0.07 * s, 0.06 * s, inf)),
        "arch": _Blob(canal, (0.13 * s, 0.11 * s, inf)),
        "spinous": _Blob((canal[0], canal[1] + 0.16 * s, 0.0), (0.04 * s, 0.1 * s, inf)),
        "transverse": _Blob((canal[0], canal[1] - 0.03 * s, 0.0), (0.26 * s, 0.03 * s, inf)),
    }
    return organs


def _draw_ribs(rng: np.random.Generator, cavity: _Blob, s: float, z0: float) -> tuple[_Blob, ...]:
    """Rib cross-sections on the lateral walls, sliding along the wall with z (oblique ribs)."""
    ribs = []
    for side in (-1.0, 1.0):
        for theta in np.linspace(-0.9, 1.0, 4) + rng.uniform(-0.15, 0.15, 4):
            t = np.pi - theta if side < 0 else theta
            u = cavity.centre[0] + 1.04 * cavity.axes[0] * np.cos(t)
            v = cavity.centre[1] + 1.04 * cavity.axes[1] * np.sin(t)
            drift = (-1.2 * np.sin(t) * side, 1.2 * np.cos(t) * side)
            ribs.append(_Blob((u, v, z0), (0.05 * s, 0.02 * s, np.inf), t + np.pi / 2, drift=drift))
    return tuple(ribs)


def _draw_vessels(
    rng: np.random.Generator, organs: dict[str, _Blob], s: float, z_mid: float
) -> np.ndarray:
    """Portal tree from the hilum and hepatic veins towards the IVC: (m, 7) segments."""
    liver, ivc = organs["liver"], organs["ivc"]
    hilum = np.array([liver.centre[0] + 0.45 * liver.axes[0], liver.centre[1], z_mid])
    hilum[2] += rng.normal(0.0, 0.02)
    segments = []

    def grow(start: np.ndarray, angle: float, length: float, radius: float, depth: int) -> None:
        direction = np.array([np.cos(angle), np.sin(angle), rng.uniform(-0.6, 0.6)])
        end = start + length * direction / np.linalg.norm(direction)
        segments.append(np.concatenate([start, end, [radius]]))
        if depth > 0:
            for turn in (-1.0, 1.0):
                child = angle + turn * rng.uniform(0.3, 0.9)
                grow(end, child, length * rng.uniform(0.5, 0.8), radius * 0.65, depth - 1)

    angles = np.pi + rng.uniform(-1.2, 1.2, rng.integers(2, 4))
    for a in np.append(angles, -np.pi / 2 + rng.uniform(-0.4, 0.4)):
        grow(hilum, a, rng.uniform(0.25, 0.45) * s, rng.uniform(0.035, 0.045) * s, 1)
    root = np.array([ivc.centre[0], ivc.centre[1], z_mid + rng.normal(0.0, 0.03)])
    for a in -np.pi / 2 - rng.uniform(0.2, 1.4, 3):
        grow(root, a, rng.uniform(0.4, 0.6) * s, 0.03 * s, 0)
    return np.array(segments)


def _vessel_mask(grid: _UnitGrid, z: float, segments: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pixels of ``where`` within a segment's radius of its 3D axis, on the slice at height z."""
    zlo = np.minimum(segments[:, 2], segments[:, 5]) - segments[:, 6]
    zhi = np.maximum(segments[:, 2], segments[:, 5]) + segments[:, 6]
    seg = segments[(zlo <= z) & (z <= zhi)]
    out = np.zeros(where.shape, bool)
    if not len(seg) or not where.any():
        return out
    p0, e, r = seg[:, :3, None], (seg[:, 3:6] - seg[:, :3])[:, :, None], seg[:, 6, None]
    d = np.stack([grid.u[where], grid.v[where], np.full(np.count_nonzero(where), z)])[None] - p0
    t = np.clip(np.sum(d * e, axis=1) / np.sum(e**2, axis=1), 0.0, 1.0)
    dist2 = np.sum((d - t[:, None] * e) ** 2, axis=1)
    out[where] = np.any(dist2 < r**2, axis=0)
    return out


def _draw_fields(
    rng: np.random.Generator, z: np.ndarray
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Smooth unit-variance random lattices (3, z, v, u) covering the slab and the body."""
    nz = int(np.ceil((z[-1] - z[0] + 0.4) / _FIELD_STEP)) + 1
    n = int(round(2.4 / _FIELD_STEP)) + 1
    noise = rng.standard_normal((3, nz, n, n))
    smooth = ndimage.gaussian_filter(noise, (0, 1.5, 1.5, 1.5), mode="wrap")
    smooth /= smooth.std(axis=(1, 2, 3), keepdims=True)
    return smooth.astype(np.float32), (float(z[0]) - 0.2, -1.2, -1.2)


def _lerp_index(coords: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower lattice index and fraction for linear interpolation at index coordinates (clamped)."""
    coords = np.clip(coords, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(coords).astype(int), n - 2)
    return i0, coords - i0


def _sample_fields(grid: _UnitGrid, z: float, anatomy: _Anatomy) -> np.ndarray:
    """The three smooth fields at the pixels of the slice at height z: (3, y, x), trilinear."""
    oz, ov, ou = anatomy.field_origin
    f = anatomy.fields
    iz, fz = _lerp_index(np.array((z - oz) / _FIELD_STEP), f.shape[1])
    plane = f[:, iz] * (1 - fz) + f[:, iz + 1] * fz
    iy, fy = _lerp_index((grid.y - ov) / _FIELD_STEP, f.shape[2])
    rows = plane[:, iy] * (1 - fy[:, None]) + plane[:, iy + 1] * fy[:, None]
    ix, fx = _lerp_index((grid.x - ou) / _FIELD_STEP, f.shape[3])
    return rows[:, :, ix] * (1 - fx) + rows[:, :, ix + 1] * fx


def _draw_slab(rng: np.random.Generator, slices: tuple[int, int], depth: float) -> np.ndarray:
    """Heights (normalised) of consecutive slices, all within the central part of the liver."""
    n = int(rng.integers(slices[0], slices[1] + 1))
    step = min(rng.uniform(0.012, 0.03), 1.1 * depth / n)
    span = (n - 1) * step
    start = rng.uniform(-0.6 * depth, 0.6 * depth - span)
    return start + step * np.arange(n)


def _anatomy_labels(grid: _UnitGrid, z: float, a: _Anatomy, fields: np.ndarray) -> np.ndarray:
    """Tissue label map (y, x) of the slice at height z, without tumours."""
    q = {name: _blob_q(grid, z, blob) for name, blob in a.organs.items()}
    q_body = _blob_q(grid, z, a.body)
    cavity = _blob_q(grid, z, a.cavity) < 1
    lab = np.full(grid.u.shape, _L.AIR, np.int8)
    lab[q_body < 1] = _L.SKIN
    lab[q_body < 1 - a.layers[0]] = _L.FAT
    lab[q_body < 1 - a.layers[1]] = _L.MUSCLE
    lab[cavity] = _L.VISCERAL_FAT
    bowel = cavity & (fields[0] > a.bowel_threshold)
    lab[bowel] = _L.BOWEL
    lab[bowel & (fields[1] > 1.6)] = _L.GAS
    for rib in a.ribs:
        lab[(_blob_q(grid, z, rib) < 1) & (q_body < 1 - a.layers[1])] = _L.BONE
    lab[cavity & (q["spleen"] < 1)] = _L.SPLEEN
    stomach = cavity & (q["stomach"] < 1)
    lab[stomach] = _L.STOMACH_WALL
    inner = stomach & (q["stomach"] < 0.85)
    lab[inner] = _L.STOMACH_FLUID
    lab[inner & (grid.v < a.stomach_level)] = _L.GAS
    liver = cavity & (np.minimum(q["liver"], q["left_lobe"]) < 1)
    lab[liver] = _L.LIVER
    lab[_vessel_mask(grid, z, a.vessels, liver)] = _L.LIVER_VESSEL
    for side in ("kidney_r", "kidney_l"):
        lab[cavity & (q[side] < 1)] = _L.KIDNEY
        lab[cavity & (q[side] < 0.45)] = _L.RENAL_SINUS
    lab[cavity & (q["gallbladder"] < 1)] = _L.GALLBLADDER
    lab[q["ivc"] < 1] = _L.IVC
    lab[q["aorta"] < 1] = _L.AORTA
    lab[(q["arch"] < 1) | (q["spinous"] < 1) | (q["transverse"] < 1)] = _L.BONE
    lab[q["canal"] < 1] = _L.CANAL
    lab[q["vertebra"] < 1] = _L.BONE
    lab[q["vertebra"] < 0.85] = _L.MARROW
    return lab


def _draw_tumour(
    rng: np.random.Generator, grid: _UnitGrid, z: float, liver: np.ndarray, s: float
) -> _Tumour:
    """A lesion centred on a liver pixel of ``liver`` (the slice nearest z), sized log-normally."""
    depth = ndimage.distance_transform_edt(liver, sampling=grid.pixel)
    radius = min(s * rng.lognormal(np.log(0.1), 0.6), 0.6 * depth.max())
    candidates = np.flatnonzero(depth >= min(radius, 0.7 * depth.max()))
    pick = candidates[rng.integers(candidates.size)]
    centre = (float(grid.u.flat[pick]), float(grid.v.flat[pick]), float(z))
    axes = (radius, radius * rng.uniform(0.7, 1.0), radius * rng.uniform(0.7, 1.3))
    blob = _Blob(centre, axes, rng.uniform(0, np.pi), _harmonics(rng, range(2, 4), 0.1, 0.0))
    # 30-70 HU below the parenchyma (hypodense metastases). At 15-45 HU, against ~25 HU of
    # parenchyma mottle and noise, even the mask-trained U-Net reached only Dice 0.29
    # (rho 0.72) at 96 px; at 30-70, Dice 0.50, rho 0.93 (the paper's U-Net: 0.58, 0.88).
    contrast = rng.uniform(30.0, 70.0)
    rim = contrast * rng.uniform(0.2, 0.4) if rng.random() < 0.3 else 0.0
    return _Tumour(blob, contrast, rim)


def _tumour_map(
    grid: _UnitGrid, z: float, tumours: list[_Tumour], liver: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Index+1 of the lesion owning each liver pixel (0: none) and the pixel's radial position
    within that lesion's cross-section (0 centre, 1 edge)."""
    q = np.stack([_blob_q(grid, z, t.blob) for t in tumours])
    dz2 = np.array([((z - t.blob.centre[2]) / t.blob.axes[2]) ** 2 for t in tumours])
    owner = np.argmin(q, axis=0)
    q_min = np.take_along_axis(q, owner[None], axis=0)[0]
    section = np.sqrt(np.maximum(1.0 - dz2[owner], 1e-9))
    radial = np.sqrt(np.maximum(q_min**2 - dz2[owner], 0.0)) / section
    return np.where(liver & (q_min < 1), owner + 1, 0), radial


def _place_tumours(
    rng: np.random.Generator, grid: _UnitGrid, z: np.ndarray, liver: np.ndarray, s: float
) -> list[_Tumour]:
    """Primary lesions through the slab, plus lesions centred on any slice still without one."""
    tumours = []
    for i in range(1 + rng.poisson(0.8)):
        spread = 0.25 if i == 0 else 0.5
        zc = (z[0] + z[-1]) / 2 + rng.uniform(-spread, spread) * (z[-1] - z[0] + 1e-9)
        nearest = int(np.argmin(np.abs(z - zc)))
        tumours.append(_draw_tumour(rng, grid, zc, liver[nearest], s))
    for k in range(len(z)):
        if not np.any(_tumour_map(grid, z[k], tumours, liver[k])[0]):
            tumours.append(_draw_tumour(rng, grid, z[k], liver[k], s))
    return tumours


def _hu_table(rng: np.random.Generator, liver_hu: float) -> np.ndarray:
    """Mean HU of every label for one patient (portal-venous phase contrast)."""
    hu = {
        _L.AIR: -1000.0,
        _L.SKIN: rng.uniform(20, 50),
        _L.FAT: rng.uniform(-115, -85),
        _L.MUSCLE: rng.uniform(40, 60),
        _L.VISCERAL_FAT: rng.uniform(-110, -80),
        _L.BOWEL: rng.uniform(20, 60),
        _L.GAS: rng.uniform(-1000, -900),
        _L.STOMACH_WALL: rng.uniform(50, 90),
        _L.STOMACH_FLUID: rng.uniform(0, 35),
        _L.SPLEEN: liver_hu + rng.uniform(0, 25),
        _L.KIDNEY: rng.uniform(150, 210),
        _L.RENAL_SINUS: rng.uniform(-60, -20),
        _L.LIVER: liver_hu,
        _L.LIVER_VESSEL: liver_hu + rng.uniform(70, 110),
        _L.GALLBLADDER: rng.uniform(0, 20),
        _L.IVC: rng.uniform(100, 150),
        _L.AORTA: rng.uniform(130, 190),
        _L.BONE: rng.uniform(500, 800),
        _L.MARROW: rng.uniform(160, 260),
        _L.CANAL: rng.uniform(10, 30),
    }
    return np.array([hu[label] for label in _L], np.float32)


#: HU amplitude of the smooth mottle (organ texture) per label; bone varies most.
_MOTTLE = np.array(
    [
        {_L.BOWEL: 15.0, _L.VISCERAL_FAT: 10.0, _L.RENAL_SINUS: 10.0, _L.BONE: 60.0}.get(
            label, {_L.MARROW: 30.0, _L.AIR: 0.0, _L.GAS: 0.0}.get(label, 5.0)
        )
        for label in _L
    ],
    np.float32,
)


def _render(
    labels: np.ndarray,
    tumour_id: np.ndarray,
    rim: np.ndarray,
    mottle: np.ndarray,
    table: np.ndarray,
    tumours: list[_Tumour],
) -> np.ndarray:
    """Noise-free HU of one slice (y, x): label means, mottle and lesion contrast."""
    image = table[labels] + _MOTTLE[labels] * mottle
    inside = tumour_id > 0
    contrast = np.array([0.0] + [t.contrast_hu for t in tumours], np.float32)
    rim_hu = np.array([0.0] + [t.rim_hu for t in tumours], np.float32)
    lesion = table[_L.LIVER] - contrast[tumour_id] + rim * rim_hu[tumour_id] + 4.0 * mottle
    return np.where(inside, lesion, image)


def generate_subject(
    seed: int,
    subject_index: int,
    slices: tuple[int, int] = (3, 8),
    shape: tuple[int, int] = (96, 96),
    spacing: tuple[float, float] = (3.6, 3.6),
    noise_hu: tuple[float, float] = (10.0, 25.0),
    blur_px: float = 0.5,
) -> list[PhantomCase]:
    """Consecutive tumour-bearing axial slices (y, x) of one synthetic patient.

    Args:
        seed: study seed; with ``subject_index`` it fixes everything (``case_rng``).
        subject_index: the patient; its cases share ``subject_id`` ``liver{index:04d}``.
        slices: inclusive range of the number of slices drawn uniformly.
        shape: image size (y, x) in pixels.
        spacing: pixel size (y, x) in mm.
        noise_hu: range of the white-noise standard deviation (HU), drawn once per patient.
        blur_px: standard deviation (pixels) of the Gaussian blur applied before the noise.

    Returns:
        One ``PhantomCase`` per slice, caudal to cranial: int16 HU image, masks
        ``liver`` (with tumours and vessels) and ``tumour`` (a subset), extras ``slice_index``,
        ``z_mm``, ``noise_hu``, ``liver_hu`` and ``n_tumours`` (lesions cut by the slice).
    """
    rng = case_rng(seed, PHANTOM_CODE, subject_index)
    grid = _grid(shape, spacing)
    body, cavity, layers, s = _draw_body(rng, max(grid.pixel))
    depth = rng.uniform(0.4, 0.5)
    organs = _draw_organs(rng, cavity, s, depth)
    z = _draw_slab(rng, slices, depth)
    fields, origin = _draw_fields(rng, z)
    anatomy = _Anatomy(
        body=body,
        cavity=cavity,
        layers=layers,
        organs=organs,
        ribs=_draw_ribs(rng, cavity, s, float(z.mean())),
        vessels=_draw_vessels(rng, organs, s, float(z.mean())),
        stomach_level=organs["stomach"].centre[1]
        + rng.uniform(-0.6, 0.3) * organs["stomach"].axes[1],
        bowel_threshold=rng.uniform(-0.4, 0.6),
        fields=fields,
        field_origin=origin,
    )
    liver_hu = rng.uniform(50.0, 72.0)
    table = _hu_table(rng, liver_hu)
    sigma = rng.uniform(*noise_hu)
    sampled = [_sample_fields(grid, zk, anatomy) for zk in z]
    labels = np.stack(
        [_anatomy_labels(grid, zk, anatomy, f) for zk, f in zip(z, sampled, strict=True)]
    )
    liver = np.isin(labels, (_L.LIVER, _L.LIVER_VESSEL))
    tumours = _place_tumours(rng, grid, z, liver, s)
    half_fov = min(n * sp for n, sp in zip(shape, spacing, strict=True)) / 2.0
    cases = []
    for k, zk in enumerate(z):
        tumour_id, radial = _tumour_map(grid, zk, tumours, liver[k])
        rim = radial > 0.8
        clean = _render(labels[k], tumour_id, rim, sampled[k][2], table, tumours)
        if blur_px > 0:
            clean = ndimage.gaussian_filter(clean, blur_px)
        noisy = clean + rng.normal(0.0, sigma, clean.shape)
        image = np.clip(np.rint(noisy), -1024, 3071).astype(np.int16)
        cases.append(
            PhantomCase(
                image=image,
                spacing=tuple(float(x) for x in spacing),
                masks={
                    "liver": liver[k].astype(np.uint8),
                    "tumour": (tumour_id > 0).astype(np.uint8),
                },
                subject_id=f"liver{subject_index:04d}",
                extras={
                    "slice_index": float(k),
                    "z_mm": float(zk * half_fov),
                    "noise_hu": float(sigma),
                    "liver_hu": float(liver_hu),
                    "n_tumours": float(np.unique(tumour_id[tumour_id > 0]).size),
                },
            )
        )
    return cases
