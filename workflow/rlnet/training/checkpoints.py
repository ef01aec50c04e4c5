"""Training checkpoints: written atomically and byte-reproducibly, read back whole or set aside.

A checkpoint that cannot be loaded (truncated, empty, not a checkpoint) is renamed
``<name>.corrupt-<n>`` beside it, kept for inspection, and training starts afresh.
"""

import logging
from pathlib import Path

import torch

from rlnet import atomic

log = logging.getLogger(__name__)

#: What a checkpoint written by ``Trainer._checkpoint_state`` holds; one without them is corrupt.
CHECKPOINT_KEYS = frozenset(
    {
        "fingerprint",
        "epoch",
        "model",
        "optimizer",
        "scaler",
        "torch_rng",
        "history",
        "best_val",
        "best_epoch",
        "best_model",
        "bad_epochs",
    }
)


def save_torch(obj: object, path: Path) -> None:
    """``torch.save`` atomically and byte-reproducibly.

    Saved by path, torch names the zip members after the file's stem, here the random
    temporary name; saved through an open file they are ``archive/...``, so the same object
    always gives the same bytes (torch writes no timestamps and a content-derived id).
    """
    with atomic.atomic_path(path) as tmp, tmp.open("wb") as stream:
        torch.save(obj, stream)


def set_aside(path: Path) -> Path:
    """Rename ``path`` to the first free ``<name>.corrupt-<n>`` beside it (n = 1, 2, ...)."""
    n = 1
    while (aside := path.with_name(f"{path.name}.corrupt-{n}")).exists():
        n += 1
    path.rename(aside)
    return aside


def set_aside_corrupt(checkpoint: Path, reason: str) -> None:
    """Move a corrupt checkpoint aside with a warning naming it and ``reason`` (its first line)."""
    aside = set_aside(checkpoint)
    log.warning(
        "%s: corrupt checkpoint (%s): moved aside to %s, training starts afresh",
        checkpoint,
        reason.splitlines()[0],
        aside.name,
    )


def load(checkpoint: Path, device: torch.device | str) -> dict | None:
    """The state a checkpoint holds (tensors on ``device``); None after setting a corrupt one
    aside: unreadable, or not a dict with every key of ``CHECKPOINT_KEYS``."""
    try:
        state = torch.load(checkpoint, map_location=device, weights_only=False)
    except Exception as err:  # any unreadable file is set aside
        set_aside_corrupt(checkpoint, f"unreadable: {err}")
        return None
    if not isinstance(state, dict) or not CHECKPOINT_KEYS <= state.keys():
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        set_aside_corrupt(checkpoint, f"not a training checkpoint ({found})")
        return None
    return state
