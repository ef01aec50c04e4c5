"""Fixed-size crops around a centre and their inverse (the cac heart ROI).

Arrays are numpy, any number of axes. Crops are never rescaled (the paper keeps a fixed ROI
size so the Agatston score needs no rescaling); the centre comes from the manifest or from
``rlnet.heart_search``.
"""

from collections.abc import Sequence

import numpy as np


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
