"""Candidate masks: the pixels the RL head may count (the paper's Sec. II-B).

HU thresholds (muscle [-20, 100], fat [-140, -70], calcium [-500, 3000] in the paper) with an
optional morphological opening, or an organ mask given with the case (liver).
"""

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def hu_candidates(
    image_hu: np.ndarray, hu_range: Sequence[float], opening_radius: int = 0
) -> np.ndarray:
    """uint8 mask of voxels with ``hu_range[0] <= HU <= hu_range[1]``, any dimensionality.

    ``opening_radius`` > 0 removes specks thinner than the radius (voxels) by binary opening
    with a cross-shaped structuring element iterated ``opening_radius`` times.
    """
    low, high = float(hu_range[0]), float(hu_range[1])
    if low > high:
        raise ValueError(f"candidate HU range {tuple(hu_range)} has low > high")
    mask = (image_hu >= low) & (image_hu <= high)
    if opening_radius > 0:
        structure = ndimage.generate_binary_structure(image_hu.ndim, 1)
        mask = ndimage.binary_opening(mask, structure, iterations=opening_radius)
    return mask.astype(np.uint8)
