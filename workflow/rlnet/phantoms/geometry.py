"""Sample geometry the phantoms share: centred sample positions, the index span covering an
interval, and a voxel grid in mm. Arrays are (z, y, x) or (y, x); spacing in mm, same order."""

import math
from dataclasses import dataclass

import numpy as np


def centred_positions(n: int, step: float) -> np.ndarray:
    """Positions of ``n`` sample centres ``step`` apart, symmetric about 0 (the middle of the
    row): (i + 0.5 - n / 2) * step for i = 0 .. n - 1, in the unit of ``step``."""
    return (np.arange(n) + 0.5 - n / 2) * step


def index_span(lo: float, hi: float, n: int, pad: int = 0) -> slice:
    """The slice of indices 0 .. n - 1 covering [lo, hi] (in index units: floor(lo) to
    ceil(hi), inclusive) widened by ``pad`` on both sides, clipped to the row."""
    start = min(max(math.floor(lo) - pad, 0), n)
    stop = min(max(math.ceil(hi) + 1 + pad, 0), n)
    return slice(start, stop)


@dataclass(frozen=True)
class VoxelGrid:
    """Voxel grid whose voxel (i, j, k) has its centre at (i, j, k) * spacing mm."""

    shape: tuple[int, int, int]
    spacing: np.ndarray

    def box(self, lo_mm: np.ndarray, hi_mm: np.ndarray, pad: int = 0) -> tuple[slice, ...]:
        """Voxel slices covering the mm box [lo_mm, hi_mm] plus ``pad`` voxels, clipped."""
        lo = np.asarray(lo_mm) / self.spacing
        hi = np.asarray(hi_mm) / self.spacing
        return tuple(index_span(a, b, n, pad) for a, b, n in zip(lo, hi, self.shape, strict=True))

    def axes(self, box: tuple[slice, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable (z, y, x) mm coordinates of the voxel centres of ``box``."""
        out = []
        for axis, (sl, step) in enumerate(zip(box, self.spacing, strict=True)):
            shape = [1, 1, 1]
            shape[axis] = -1
            out.append((np.arange(sl.start, sl.stop, dtype=np.float32) * step).reshape(shape))
        return out[0], out[1], out[2]

    def index(self, points_mm: np.ndarray) -> np.ndarray:
        """Nearest voxel index (clipped) of (n, 3) mm points."""
        idx = np.rint(np.asarray(points_mm) / self.spacing).astype(int)
        return np.clip(idx, 0, np.asarray(self.shape) - 1)
