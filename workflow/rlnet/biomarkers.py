"""Biomarkers computed from masks: area, volume, Agatston score and CAC risk groups.

Arrays are numpy (z, y, x) or (y, x); spacing is in mm in the same axis order. The Agatston score
follows Agatston et al. (1990) as the paper's Sec. II-C uses it: per slice, 2D lesions >= 130 HU
of at least 1 mm^2, area x density factor of the lesion's peak (1-4), scaled by slice thickness.
"""

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: Paper risk-group bin edges for the Agatston score: [0,10) [10,100) [100,400) [400,1000) 1000+.
PAPER_RISK_EDGES: tuple[float, ...] = (10.0, 100.0, 400.0, 1000.0)
#: Clinical bins 0, 1-10, 11-100, 101-400, >400 (upper edges inclusive), as left-closed edges
#: on the real line: 0 -> group 0, (0, 10] -> 1, (10, 100] -> 2, (100, 400] -> 3, >400 -> 4.
CLINICAL_RISK_EDGES: tuple[float, ...] = (0.0, 10.0, 100.0, 400.0)

AGATSTON_THRESHOLD_HU = 130.0


def _check_mask(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != len(spacing):
        raise ValueError(
            f"mask has {mask.ndim} axes but spacing has {len(spacing)} values {tuple(spacing)}"
        )
    if any(s <= 0 for s in spacing):
        raise ValueError(f"spacing must be positive, got {tuple(spacing)}")
    return mask > 0


def area_mm2(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Area of a 2D mask (y, x) in mm^2: pixel count x pixel area."""
    if np.ndim(mask) != 2:
        raise ValueError(f"area_mm2 needs a 2D (y, x) mask, got shape {np.shape(mask)}")
    m = _check_mask(mask, spacing)
    return float(np.count_nonzero(m) * float(np.prod(spacing)))


def volume_mm3(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Volume of a 3D mask (z, y, x) in mm^3: voxel count x voxel volume."""
    if np.ndim(mask) != 3:
        raise ValueError(f"volume_mm3 needs a 3D (z, y, x) mask, got shape {np.shape(mask)}")
    m = _check_mask(mask, spacing)
    return float(np.count_nonzero(m) * float(np.prod(spacing)))


def measure(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Area (2D, mm^2) or volume (3D, mm^3) of a mask, by its dimensionality."""
    return area_mm2(mask, spacing) if np.ndim(mask) == 2 else volume_mm3(mask, spacing)


def agatston_weight(peak_hu: float) -> int:
    """Agatston density weight of a lesion from its peak HU in the slice (0 below 130 HU)."""
    if peak_hu >= 400:
        return 4
    if peak_hu >= 300:
        return 3
    if peak_hu >= 200:
        return 2
    if peak_hu >= AGATSTON_THRESHOLD_HU:
        return 1
    return 0


def _structure(connectivity: int) -> np.ndarray:
    if connectivity == 8:
        return np.ones((3, 3), dtype=bool)
    if connectivity == 4:
        return ndimage.generate_binary_structure(2, 1)
    raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")


def _check_agatston_input(image_hu: np.ndarray, mask: np.ndarray) -> np.ndarray:
    image_hu = np.asarray(image_hu)
    if image_hu.ndim != 3 or np.shape(mask) != image_hu.shape:
        raise ValueError(
            f"agatston needs (z, y, x) image and mask of the same shape, got {image_hu.shape} "
            f"and {np.shape(mask)}"
        )
    return image_hu


def _lesions(
    image_hu: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    connectivity: int,
    min_lesion_mm2: float,
):
    """Per counted lesion: (slice z, its label image, its label, area mm^2, peak HU in the
    slice). A lesion is a 2D connected region (in-plane ``connectivity``) of the voxels >= 130
    HU inside ``mask`` on one axial slice, of area >= ``min_lesion_mm2``."""
    inside = _check_mask(mask, spacing) & (image_hu >= AGATSTON_THRESHOLD_HU)
    pixel_mm2 = float(spacing[1]) * float(spacing[2])
    structure = _structure(connectivity)
    for z in np.flatnonzero(inside.any(axis=(1, 2))):
        labels, n = ndimage.label(inside[z], structure=structure)
        if n == 0:
            continue
        index = np.arange(1, n + 1)
        counts = ndimage.sum_labels(np.ones_like(labels), labels, index)
        peaks = ndimage.maximum(image_hu[z], labels, index)
        for label, count, peak in zip(index, counts, peaks, strict=True):
            area = count * pixel_mm2
            if area >= min_lesion_mm2:
                yield z, labels, int(label), float(area), float(peak)


def agatston(
    image_hu: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    *,
    connectivity: int = 8,
    min_lesion_mm2: float = 1.0,
    reference_thickness_mm: float = 3.0,
) -> float:
    """Agatston score of the voxels >= 130 HU inside ``mask``.

    Per axial slice (axis 0), 2D connected lesions are found with the given in-plane
    connectivity; each lesion of area >= ``min_lesion_mm2`` contributes area (mm^2) x the weight
    of its peak HU *in that slice*. The total is scaled by slice thickness (spacing[0]) /
    ``reference_thickness_mm``.

    Args:
        image_hu: (z, y, x) intensities in HU.
        mask: (z, y, x) region where calcium may be counted (e.g. a localization mask).
        spacing: (z, y, x) voxel size in mm; spacing[0] is the slice thickness.
    """
    image_hu = _check_agatston_input(image_hu, mask)
    total = sum(
        area * agatston_weight(peak)
        for _, _, _, area, peak in _lesions(image_hu, mask, spacing, connectivity, min_lesion_mm2)
    )
    return float(total * float(spacing[0]) / reference_thickness_mm)


def counted_lesions(
    image_hu: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    *,
    connectivity: int = 8,
    min_lesion_mm2: float = 1.0,
) -> np.ndarray:
    """(z, y, x) bool: the voxels of the lesions :func:`agatston` counts inside ``mask`` (>= 130
    HU, in-plane lesions of >= ``min_lesion_mm2``), so that ``agatston(image, counted_lesions(
    image, mask, ...))`` equals ``agatston(image, mask)``."""
    image_hu = _check_agatston_input(image_hu, mask)
    out = np.zeros(image_hu.shape, dtype=bool)
    for z, labels, label, _, _ in _lesions(image_hu, mask, spacing, connectivity, min_lesion_mm2):
        out[z] |= labels == label
    return out


def risk_group(score: float | np.ndarray, scheme: str = "paper") -> int | np.ndarray:
    """CAC risk group 0-4 of Agatston score(s).

    ``scheme="paper"``: [0,10) [10,100) [100,400) [400,1000) >=1000 (a score of 10 is group 1).
    ``scheme="clinical"``: 0, (0,10], (10,100], (100,400], >400.
    """
    values = np.asarray(score, dtype=float)
    if np.any(~np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"Agatston scores must be finite and >= 0, got {score!r}")
    if scheme == "paper":
        groups = np.searchsorted(PAPER_RISK_EDGES, values, side="right")
    elif scheme == "clinical":
        groups = np.searchsorted(CLINICAL_RISK_EDGES, values, side="left")
    else:
        raise ValueError(f"unknown risk-group scheme {scheme!r}; known: 'paper', 'clinical'")
    return int(groups) if groups.ndim == 0 else groups.astype(int)
