"""Training data: prepared arrays -> normalised tensors, with seeded on-the-fly augmentation.

Every random choice of a sample is drawn from ``default_rng([seed, epoch, index])``, so the
augmentation of a case in an epoch is the same whatever the number of DataLoader workers, the
batch order, or a resume from a checkpoint. An epoch longer than the case list (the sample-size
sweep's ``equal_steps``) cycles the cases; pass p of epoch e draws as epoch ``e * passes + p``,
so every pass is augmented afresh and a one-pass epoch draws exactly as before.
"""

import math

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from rlnet.prepare import Prepared
from rlnet.settings import Augment


def normalise(image_hu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Clip HU to ``window`` and map it linearly to [-1, 1] (float32)."""
    low, high = float(window[0]), float(window[1])
    clipped = np.clip(image_hu.astype(np.float32), low, high)
    return (2.0 * (clipped - low) / (high - low) - 1.0).astype(np.float32)


def subset_indices(prepared: Prepared, n: int | None, seed: int, rep: int) -> np.ndarray:
    """Training indices; with ``n``, a reproducible subset stratified like the training split.

    Each stratum contributes in proportion to its size (largest remainder); ``n`` at or above
    the training-set size returns the whole training split.
    """
    train = prepared.cases.loc[prepared.cases["split"] == "train"]
    if n is None or n >= len(train):
        return train["index"].to_numpy()
    rng = np.random.default_rng([seed, 11, rep, n])
    groups = {s: g["index"].to_numpy() for s, g in train.groupby("stratum")}
    exact = {s: len(g) * n / len(train) for s, g in groups.items()}
    counts = {s: math.floor(v) for s, v in exact.items()}
    for s in sorted(exact, key=lambda s: counts[s] - exact[s])[: n - sum(counts.values())]:
        counts[s] += 1
    chosen = [rng.choice(groups[s], size=counts[s], replace=False) for s in sorted(groups)]
    return np.sort(np.concatenate(chosen))


def _rotation_translation(
    rng: np.random.Generator, shape: tuple[int, ...], spacing: tuple[float, ...], aug: Augment
) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, offset) for scipy.ndimage.affine_transform: rotation about the centre, shift."""
    angle = math.radians(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
    shift_px = np.array([rng.uniform(-aug.translation_mm, aug.translation_mm) / s for s in spacing])
    cos, sin = math.cos(angle), math.sin(angle)
    matrix = np.array([[cos, -sin], [sin, cos]])
    center = (np.asarray(shape) - 1) / 2.0
    offset = center - matrix @ center - shift_px
    return matrix, offset


def _sphere_displacement(
    rng: np.random.Generator, spacing: tuple[float, ...], radius_mm: float, margin: tuple[int, ...]
) -> tuple[int, ...]:
    """Voxel displacement of the ROI centre drawn uniformly inside a sphere of ``radius_mm``."""
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction) or 1.0
    radius = radius_mm * rng.uniform() ** (1.0 / 3.0)
    shift = np.rint(direction * radius / np.asarray(spacing)).astype(int)
    return tuple(int(np.clip(d, -m, m)) for d, m in zip(shift, margin, strict=True))


class CaseDataset(Dataset):
    """Samples of one problem: image, candidates, mask, voxel size, target, array index.

    ``augment`` is the config's augment block or None (validation, prediction).
    ``epoch_size`` (default: one pass over ``indices``) is the number of samples of an epoch;
    a larger one cycles ``indices``.
    """

    def __init__(
        self,
        prepared: Prepared,
        indices: np.ndarray,
        targets: np.ndarray,
        augment: Augment | None,
        seed: int,
        epoch_size: int | None = None,
    ) -> None:
        self.prepared = prepared
        self.indices = np.asarray(indices)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.epoch_size = len(self.indices) if epoch_size is None else int(epoch_size)
        self.passes = math.ceil(self.epoch_size / max(len(self.indices), 1))
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.window = prepared.window()
        self.offset = prepared.center_offset()
        self.hu_window = tuple(prepared.meta["input_window"])

    def __len__(self) -> int:
        return self.epoch_size

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch``."""
        self.epoch = epoch

    def _arrays(self, index: int, rng: np.random.Generator | None):
        p = self.prepared
        spacing = p.spacing(index)
        offset = self.offset
        if p.spatial_dims == 3 and rng is not None:
            shift = _sphere_displacement(rng, spacing, self.augment.displacement_mm, offset)
            offset = tuple(o + s for o, s in zip(offset, shift, strict=True))
        region = tuple(slice(o, o + w) for o, w in zip(offset, self.window, strict=True))
        image = np.asarray(p.images[index][region])
        candidates = np.asarray(p.candidates[index][region])
        mask = np.asarray(p.masks[index][region])
        if p.spatial_dims == 2 and rng is not None:
            matrix, shift = _rotation_translation(rng, image.shape, spacing, self.augment)
            image = ndimage.affine_transform(image, matrix, shift, order=1, cval=-1000.0)
            candidates = ndimage.affine_transform(candidates, matrix, shift, order=0)
            mask = ndimage.affine_transform(mask, matrix, shift, order=0)
        return image, candidates, mask, spacing

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        step, k = divmod(k, len(self.indices))
        index = int(self.indices[k])
        draw = self.epoch * self.passes + step
        rng = np.random.default_rng([self.seed, draw, index]) if self.augment else None
        image, candidates, mask, spacing = self._arrays(index, rng)
        return {
            "image": torch.from_numpy(normalise(image, self.hu_window))[None],
            "candidates": torch.from_numpy(candidates.astype(np.float32))[None],
            "mask": torch.from_numpy(mask.astype(np.float32))[None],
            "voxel_size": torch.tensor(float(np.prod(spacing)), dtype=torch.float32),
            "target": torch.tensor(self.targets[k], dtype=torch.float32),
            "index": torch.tensor(index),
        }
