"""One look for every figure: backend, fonts, units, model labels, case colours, saving.

``save`` writes the PDF, the PNG and the JSON sidecar (the numbers drawn) atomically, so an
interrupted job leaves no half-written figure behind.
"""

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rlnet import atomic  # noqa: E402
from rlnet.model_registry import MODEL_LABELS  # noqa: E402

# PDF font subsetting logs every glyph at INFO; the CLI logs at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

#: Readable at the size of a two-column paper figure; fonts subset into the PDF (Type 3).
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "pdf.fonttype": 3,  # matplotlib default; 42 (TrueType) costs ~0.4 s per figure
    "svg.hashsalt": "rlnet",
}
PNG_DPI = 110

#: Colours of the six example cases (dot in the correlation plot = frame of the overlay);
#: none of them green, yellow or red, which the overlays use for TP, FP and FN.
CASE_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
N_EXAMPLES = len(CASE_COLOURS)
SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}


def apply() -> None:
    """Set the shared matplotlib style (idempotent)."""
    plt.rcParams.update(RC)


def model_label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def model_order(models: Sequence[str]) -> list[str]:
    """Models in the paper's order (unknown names last, alphabetically)."""
    known = list(MODEL_LABELS)
    return sorted(models, key=lambda m: (known.index(m) if m in known else len(known), m))


def select_examples(reference: Sequence[float], k: int = N_EXAMPLES) -> list[int]:
    """Positions of ``k`` cases equally spaced by reference value.

    The cases are ranked by reference value (ties by position) and the ranks
    ``round(linspace(0, n - 1, k))`` are taken: the smallest, the largest and equally spaced
    ranks between them. Fewer than ``k`` cases: all of them. Returned in increasing reference.
    """
    values = np.asarray(reference, dtype=float)
    n = len(values)
    order = np.argsort(values, kind="stable")
    if n <= k:
        return [int(i) for i in order]
    ranks = np.round(np.linspace(0, n - 1, k)).astype(int)
    return [int(order[r]) for r in ranks]


def finite(value: float) -> float | None:
    """JSON-friendly number: None for NaN/inf."""
    value = float(value)
    return value if math.isfinite(value) else None


def new_figure(width: float, height: float, **kwargs):
    """A figure with the shared style applied."""
    apply()
    return plt.subplots(figsize=(width, height), **kwargs)


def save(fig, path: str | Path, numbers: dict[str, Any]) -> dict[str, Path]:
    """Write ``fig`` as ``path`` (.pdf) and the .png beside it, and ``numbers`` as the .json
    beside it; every file atomically. Returns the three paths."""
    pdf = Path(path).with_suffix(".pdf")
    png, sidecar = pdf.with_suffix(".png"), pdf.with_suffix(".json")
    try:
        with atomic.atomic_path(pdf) as tmp:
            fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None})
        with atomic.atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata={"Software": None})
    finally:
        plt.close(fig)
    atomic.write_json(sidecar, numbers)
    return {"pdf": pdf, "png": png, "json": sidecar}


def example_rows(table) -> list[int]:
    """Row positions of the example cases of a predictions table: ``select_examples`` over the
    cases with a reference mask (all cases when none has one), so the correlation plot and the
    overlays pick the same cases."""
    reference = table["reference"].to_numpy(float)
    candidates = np.arange(len(table))
    if "has_mask" in table and table["has_mask"].astype(int).any():
        candidates = np.flatnonzero(table["has_mask"].astype(int).to_numpy() > 0)
    return [int(candidates[p]) for p in select_examples(reference[candidates])]
