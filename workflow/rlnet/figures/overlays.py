"""Localization overlays (the paper's Figs. 8, 11 and 12).

Each panel is one test case in network-input space (the padded 2D slice, the cac centre ROI):
the CT, the candidate mask in grey, and the binarised localization coloured against the
reference mask: true positives green, false positives yellow, false negatives red. The six
cases are those of ``style.example_rows`` (equally spaced by reference value); each panel's
frame has the colour of the case's dot in the correlation plot.

cac (Fig. 11): the axial slice with the most detected calcium (else the most reference
calcium), grey = every voxel >= 130 HU, so aortic and bone calcium the network left out shows.
liver (Fig. 12): ``comparison`` draws rl-unet and seg-unet side by side, one row per model.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba

from rlnet.biomarker import Biomarker
from rlnet.figures import style
from rlnet.prepare import Prepared

NONE, TP, FP, FN = 0, 1, 2, 3
LABEL_COLOURS = {TP: "#2ca02c", FP: "#ffd700", FN: "#d62728"}  # green, yellow, red
CANDIDATE_RGBA = (0.78, 0.78, 0.78, 0.55)
CALCIUM_HU = 130


def classify(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per voxel: TP (1) predicted and reference, FP (2) predicted only, FN (3) reference only,
    0 neither."""
    pred, ref = np.asarray(predicted) > 0, np.asarray(reference) > 0
    labels = np.zeros(pred.shape, np.uint8)
    labels[pred & ref] = TP
    labels[pred & ~ref] = FP
    labels[~pred & ref] = FN
    return labels


def counts(labels: np.ndarray) -> dict[str, int]:
    return {
        name: int(np.count_nonzero(labels == k)) for name, k in (("tp", TP), ("fp", FP), ("fn", FN))
    }


def rgba(candidates: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RGBA overlay: candidates grey (translucent), TP/FP/FN in their colours (opaque)."""
    out = np.zeros((*labels.shape, 4))
    out[np.asarray(candidates) > 0] = CANDIDATE_RGBA
    for label, colour in LABEL_COLOURS.items():
        out[labels == label] = to_rgba(colour)
    return out


def case_view(prepared: Prepared, index: int, local: np.ndarray) -> dict:
    """The 2D arrays one panel draws for prepared case ``index`` with localization ``local``
    (network-input space): image, grey mask, labels, the axial slice (3D) and pixel size."""
    region = prepared.region()
    image = np.asarray(prepared.images[index][region])
    candidates = np.asarray(prepared.candidates[index][region]) > 0
    reference = np.asarray(prepared.masks[index][region]) > 0
    local = np.asarray(local) > 0 if local is not None else np.zeros_like(reference)
    spacing = prepared.spacing(index)
    z = None
    if image.ndim == 3:
        candidates = candidates & (image >= CALCIUM_HU)
        for volume in (local, reference, candidates):
            per_slice = volume.reshape(volume.shape[0], -1).sum(axis=1)
            if per_slice.any():
                z = int(np.argmax(per_slice))
                break
        z = 0 if z is None else z
        image, candidates, reference, local = (a[z] for a in (image, candidates, reference, local))
        spacing = spacing[1:]
    labels = classify(local, reference)
    return {"image": image, "grey": candidates, "labels": labels, "slice": z, "spacing": spacing}


def _panel(ax, view: dict, window, colour: str, title: str, ylabel: bool) -> None:
    h, w = view["image"].shape
    sy, sx = view["spacing"]
    extent = (0, w * sx, h * sy, 0)
    ax.imshow(view["image"], cmap="gray", vmin=window[0], vmax=window[1], extent=extent)
    ax.imshow(rgba(view["grey"], view["labels"]), extent=extent, interpolation="nearest")
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(colour)
        spine.set_linewidth(2.5)
    ax.set_title(title, color=colour, fontsize=7)
    ax.set_xlabel("x (mm)", fontsize=7)
    ax.tick_params(labelsize=6)
    if ylabel:
        ax.set_ylabel("y (mm)", fontsize=7)


def _legend(fig) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=CANDIDATE_RGBA, label="candidates"),
        Patch(color=LABEL_COLOURS[TP], label="true positive"),
        Patch(color=LABEL_COLOURS[FP], label="false positive"),
        Patch(color=LABEL_COLOURS[FN], label="false negative"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False)


def _fmt(value: float) -> str:
    """A panel-title value: whole units from 100 on (no exponent), 3 significant digits below."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def draw(
    rows: list[tuple[str, pd.DataFrame, np.ndarray]],
    prepared: Prepared,
    biomarker: Biomarker,
    out: str | Path,
    figure: str = "overlays",
    extra: dict | None = None,
) -> dict:
    """One row of panels per (model, predictions, localization), the same example cases in
    each row (chosen on the first row's predictions); return the JSON numbers."""
    first = rows[0][1]
    positions = style.example_rows(first)
    case_ids = [str(first["case_id"].iloc[p]) for p in positions]
    window = prepared.meta.get("input_window", (-250, 250))
    n_cols = max(len(case_ids), 1)
    fig, axes = style.new_figure(
        1.55 * n_cols, 1.9 * len(rows) + 0.5, nrows=len(rows), ncols=n_cols, squeeze=False
    )
    numbers = {
        "figure": figure,
        "problem": biomarker.problem,
        "case_ids": case_ids,
        "reference": [float(first["reference"].iloc[p]) for p in positions],
        "example_colours": list(style.CASE_COLOURS[: len(case_ids)]),
        **(extra or {}),
        "models": {},
    }
    for r, (model, table, localization) in enumerate(rows):
        table = table.reset_index(drop=True)
        where = {c: k for k, c in enumerate(table["case_id"].astype(str))}
        entries = []
        for c, case in enumerate(case_ids):
            k = where[case]
            index = int(table.loc[k, "index"])
            local = localization[k] if localization is not None and len(localization) else None
            view = case_view(prepared, index, local)
            entry = {
                "case_id": case,
                "index": index,
                "slice": view["slice"],
                "prediction": float(table.loc[k, "prediction"]),
                **counts(view["labels"]),
            }
            entries.append(entry)
            title = (
                f"{case}\nref {_fmt(table.loc[k, 'reference'])}, pred {_fmt(entry['prediction'])}"
            )
            if view["slice"] is not None:
                title += f"\naxial slice {view['slice']}"
            _panel(axes[r, c], view, window, style.CASE_COLOURS[c], title, ylabel=c == 0)
        if len(rows) > 1:
            axes[r, 0].annotate(
                style.model_label(model),
                xy=(-0.55, 0.5),
                xycoords="axes fraction",
                rotation=90,
                va="center",
                ha="center",
                fontsize=8,
            )
        numbers["models"][model] = entries
    for c in range(len(case_ids), n_cols):
        for r in range(len(rows)):
            axes[r, c].axis("off")
    models = " vs ".join(style.model_label(m) for m, _, _ in rows)
    fig.suptitle(
        f"{biomarker.short} localization, {models} (values in {biomarker.units})", fontsize=9
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _legend(fig)
    style.save(fig, out, numbers)
    return numbers


def overlays(
    table: pd.DataFrame,
    localization: np.ndarray,
    prepared: Prepared,
    biomarker: Biomarker,
    model: str,
    out: str | Path,
) -> dict:
    """The six example cases of one model (Figs. 8, 11)."""
    return draw([(model, table, localization)], prepared, biomarker, out, extra={"model": model})


def comparison(
    models: dict[str, tuple[pd.DataFrame, np.ndarray]],
    prepared: Prepared,
    biomarker: Biomarker,
    out: str | Path,
) -> dict:
    """Several models' localizations of the same cases, one row per model (Fig. 12)."""
    rows = [(m, table, local) for m, (table, local) in models.items()]
    return draw(rows, prepared, biomarker, out, figure="comparison")
