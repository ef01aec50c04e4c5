"""Variants a scanner or a protocol produces of one chest CT, with its heart mask carried along.

Each function takes and returns a ``Scan``: the (z, y, x) HU array, its spacing (mm, array
order), its direction (SimpleITK's row-major cosines) and the bool heart mask on the same grid.
The anatomy is not changed except by ``enhance`` (contrast in the blood pool).
"""

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

AIR_HU = -1000


@dataclass(frozen=True)
class Scan:
    image: np.ndarray  # int16 HU (z, y, x)
    spacing: tuple[float, float, float]  # mm (z, y, x)
    direction: tuple[float, ...]  # 9 cosines, SimpleITK order
    heart: np.ndarray  # bool (z, y, x)


def crop_slices(scan: Scan, first: int, last: int) -> Scan:
    """Only slices first..last (inclusive): a scan cropped along z."""
    keep = slice(max(first, 0), last + 1)
    return replace(scan, image=scan.image[keep], heart=scan.heart[keep])


def flip(scan: Scan, axis: int) -> Scan:
    """The same anatomy stored in reverse order along array ``axis`` (0 z, 1 y, 2 x): the
    direction cosine column of that axis changes sign."""
    cosines = np.asarray(scan.direction, float).reshape(3, 3).copy()
    cosines[:, 2 - axis] *= -1  # array axis a is SimpleITK index axis 2 - a
    return replace(
        scan,
        image=np.flip(scan.image, axis).copy(),
        heart=np.flip(scan.heart, axis).copy(),
        direction=tuple(float(v) for v in cosines.ravel()),
    )


def reslice(scan: Scan, thickness_mm: float) -> Scan:
    """Slices every ``thickness_mm`` along z (linear in HU, nearest for the mask), the same
    physical extent."""
    factor = scan.spacing[0] / thickness_mm
    n = int(round((scan.image.shape[0] - 1) * factor)) + 1
    z = np.arange(n) / factor
    lo = np.clip(np.floor(z).astype(int), 0, scan.image.shape[0] - 1)
    hi = np.clip(lo + 1, 0, scan.image.shape[0] - 1)
    w = (z - lo)[:, None, None]
    image = (1 - w) * scan.image[lo] + w * scan.image[hi]
    heart = scan.heart[np.clip(np.rint(z).astype(int), 0, scan.image.shape[0] - 1)]
    spacing = (float(thickness_mm), scan.spacing[1], scan.spacing[2])
    return replace(scan, image=np.rint(image).astype(np.int16), heart=heart, spacing=spacing)


def enhance(scan: Scan, added_hu: float = 250.0, reach_mm: float = 20.0) -> Scan:
    """Contrast in the blood pool: voxels of blood density (15..80 HU) within ``reach_mm`` of
    the heart (its chambers, the aortic root, the great vessels beside it) gain ``added_hu``."""
    near = ndimage.distance_transform_edt(~scan.heart, sampling=scan.spacing) <= reach_mm
    blood = near & (scan.image >= 15) & (scan.image <= 80)
    image = scan.image.astype(np.int32)
    image[blood] += int(added_hu)
    return replace(scan, image=image.astype(np.int16))


def shift(scan: Scan, dy_mm: float, dx_mm: float) -> Scan:
    """The patient lying off-centre: the anatomy moved by (dy, dx) mm in the same field of
    view, air entering at the far side, anatomy leaving at the near side."""
    dy, dx = (int(round(d / s)) for d, s in zip((dy_mm, dx_mm), scan.spacing[1:], strict=True))
    image = np.full_like(scan.image, AIR_HU)
    heart = np.zeros_like(scan.heart)
    ny, nx = scan.image.shape[1:]
    src = (slice(max(-dy, 0), ny - max(dy, 0)), slice(max(-dx, 0), nx - max(dx, 0)))
    dst = (slice(max(dy, 0), ny - max(-dy, 0)), slice(max(dx, 0), nx - max(-dx, 0)))
    image[:, dst[0], dst[1]] = scan.image[:, src[0], src[1]]
    heart[:, dst[0], dst[1]] = scan.heart[:, src[0], src[1]]
    return replace(scan, image=image, heart=heart)


def field_of_view(scan: Scan, width_mm: float) -> Scan:
    """A smaller reconstruction field of view: the central ``width_mm`` x ``width_mm`` (it may
    cut the body and the lungs at its edges)."""
    ny, nx = scan.image.shape[1:]
    hy, hx = (int(round(width_mm / 2 / s)) for s in scan.spacing[1:])
    ys = slice(max(ny // 2 - hy, 0), min(ny // 2 + hy, ny))
    xs = slice(max(nx // 2 - hx, 0), min(nx // 2 + hx, nx))
    return replace(scan, image=scan.image[:, ys, xs], heart=scan.heart[:, ys, xs])


def roi_coverage(heart: np.ndarray, centre, spacing, side_mm: float = 140.0) -> float:
    """Share of the heart's voxels inside a cube of ``side_mm`` centred at ``centre`` (voxels)."""
    half = side_mm / 2 / np.asarray(spacing, float)
    voxels = np.argwhere(heart)
    return float(np.all(np.abs(voxels - np.asarray(centre)) <= half, axis=1).mean())


def scanner_variants(scan: Scan, first: int, last: int) -> dict[str, Scan]:
    """The variants the heart search is tested on, by name; ``first``, ``last``: the slices
    the heart spans."""
    contrast = enhance(scan)
    thin = reslice(contrast, 1.25)
    return {
        "as stored": scan,
        "cropped to the heart": crop_slices(scan, first - 2, last + 2),
        "reversed z": flip(scan, 0),
        "reversed y": flip(scan, 1),
        "reversed x": flip(scan, 2),
        "2.5 mm slices": reslice(scan, 2.5),
        "1.25 mm slices": reslice(scan, 1.25),
        "contrast": contrast,
        "contrast, 1.25 mm, heart level": crop_slices(thin, 4 * (first - 2), 4 * (last + 2)),
        "60 mm to the left": shift(scan, 0, 60),
        "60 mm right, 30 mm back": shift(scan, 30, -60),
        "260 mm field of view": field_of_view(scan, 260),
        "contrast, reversed x, 260 mm": field_of_view(flip(contrast, 2), 260),
    }
