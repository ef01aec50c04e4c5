"""Binarising a localization map into a mask.

A map holds values in [0, 1] over the candidate voxels, and the biomarker is its sum times the
voxel size, so the map's sum is the predicted measure in voxels. Two rules:

- ``area`` (the default): the k most probable voxels, k = round(sum of the map). The mask's
  measure equals the predicted value, whatever the level of the map's floor over non-target
  candidates; ties go to the earlier voxel in C order.
- ``threshold``: voxels above 0.5, the paper's rule.

The default was chosen on validation Dice of the tuning seed (docs/protocol.md). The metrics
stage scores both (``localizations.npz``, one mask array per rule).
"""

from pathlib import Path

import numpy as np

from rlnet import atomic

#: The rules ``binarise`` knows.
RULES = ("area", "threshold")
#: The ``threshold`` rule's cut.
THRESHOLD = 0.5


def area_matched(prob: np.ndarray) -> np.ndarray:
    """Boolean mask of the round(prob.sum()) largest values of one map (any shape)."""
    flat = np.asarray(prob, dtype=np.float64).ravel()
    k = min(int(np.rint(flat.sum())), flat.size)
    mask = np.zeros(flat.size, dtype=bool)
    mask[np.argsort(-flat, kind="stable")[:k]] = True
    return mask.reshape(np.shape(prob))


def binarise(maps: np.ndarray, rule: str) -> np.ndarray:
    """uint8 masks [N, *window] of maps [N, *window] by ``rule`` (one of RULES)."""
    if rule == "threshold":
        return (np.asarray(maps) > THRESHOLD).astype(np.uint8)
    if rule == "area":
        return np.stack([area_matched(m) for m in maps]).astype(np.uint8)
    raise ValueError(f"unknown localization rule {rule!r} (choose from {', '.join(RULES)})")


def save_all(path: str | Path, masks: dict[str, np.ndarray]) -> None:
    """Write ``localizations.npz`` atomically: one uint8 mask array [N, *window] per rule of
    RULES (an empty array for a model without maps)."""
    missing = set(RULES) - set(masks)
    if missing:
        raise ValueError(f"{path}: no masks for rule(s) {sorted(missing)}")
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **{rule: np.asarray(masks[rule], np.uint8) for rule in RULES})
