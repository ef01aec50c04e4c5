"""Quality control of the 3D heart ROIs: a table of every case's ROI and a montage to eyeball.

``roi.tsv``: case_id, split, image, roi_center ("z y x" voxels), roi_source (roi_center,
heart_mask or search), roi_confidence (``rlnet.heart_search.HeartSearch``), flag ("doubtful" below
``heart_search.LOW_CONFIDENCE``), roi_note.

``roi.png``: per case an axial and a coronal slice of the source CT through the ROI centre, with
the network's window (``roi.size`` voxels of the training grid, no margin) drawn as a box;
doubtful cases first, at most ``MAX_MONTAGE_CASES``. A box off the heart is visible at a glance.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import atomic, heart_search, io, tsv
from rlnet.prepare import Prepared

#: Cases drawn in the montage (doubtful ones first).
MAX_MONTAGE_CASES = 24
#: Display window of the slices (HU).
DISPLAY_HU = (-400, 600)


def roi_table(cases: pd.DataFrame) -> pd.DataFrame:
    """The QC table of a 3D problem's prepared cases (cases.tsv)."""
    table = cases[["case_id", "split", "image", "roi_center", "roi_source", "roi_confidence"]]
    table = table.copy()
    doubtful = table["roi_confidence"].astype(float) < heart_search.LOW_CONFIDENCE
    table["flag"] = np.where(doubtful, "doubtful", "")
    table["roi_note"] = cases["roi_note"].astype("string").fillna("")
    return table


def window_box(
    centre: tuple[int, int], size: tuple[int, int], scale: tuple[float, float]
) -> tuple[float, float, float, float]:
    """(top, left, height, width) in source pixels of the network window (``size`` grid voxels,
    rows and columns) centred as ``rlnet.grid`` centres it: the grid's voxel ``size // 2`` on
    the source's pixel ``centre``; ``scale``: a grid voxel's size in source pixels. Pixel
    edges, so a window of whole source pixels spans ``centre - size // 2 - 0.5`` on."""
    (rows, columns), (ry, rx) = size, scale
    top = centre[0] - (rows // 2 + 0.5) * ry
    left = centre[1] - (columns // 2 + 0.5) * rx
    return top, left, rows * ry, columns * rx


def _box(ax, centre: tuple[int, int], size: tuple[int, int], scale: tuple[float, float]) -> None:
    """Draw the window rectangle (``window_box``) on a slice."""
    from matplotlib.patches import Rectangle

    top, left, height, width = window_box(centre, size, scale)
    ax.add_patch(Rectangle((left, top), width, height, fill=False, ec="yellow"))


def draw_montage(
    table: pd.DataFrame,
    size: tuple[int, int, int],
    grid_spacing: tuple[float, float, float],
    path: str | Path,
) -> None:
    """Axial and coronal slices through each ROI centre with the ROI box (``size`` voxels at
    ``grid_spacing`` mm, drawn on the source's voxels), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = table.sort_values("roi_confidence", kind="stable").head(MAX_MONTAGE_CASES)
    columns = 4
    rows = -(-len(order) // columns)
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(4 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, case in enumerate(order.itertuples()):
        image, geometry = io.read_image(case.image)
        z, y, x = (int(v) for v in str(case.roi_center).split())
        aspect = geometry.spacing[0] / geometry.spacing[1]
        sz, sy, sx = (g / s for g, s in zip(grid_spacing, geometry.spacing, strict=True))
        axial, coronal = (
            axes[k // columns, 2 * (k % columns)],
            axes[k // columns, 2 * (k % columns) + 1],
        )
        axial.imshow(image[z], cmap="gray", vmin=DISPLAY_HU[0], vmax=DISPLAY_HU[1])
        _box(axial, (y, x), (size[1], size[2]), (sy, sx))
        coronal.imshow(
            image[:, y], cmap="gray", vmin=DISPLAY_HU[0], vmax=DISPLAY_HU[1], aspect=aspect
        )
        _box(coronal, (z, x), (size[0], size[2]), (sz, sx))
        flag = " DOUBTFUL" if case.flag else ""
        axial.set_title(f"{case.case_id} {case.roi_confidence:.2f}{flag}", fontsize=7, loc="left")
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)


def roi_qc(
    prepared_dir: str | Path, table_path: str | Path, montage_path: str | Path
) -> pd.DataFrame:
    """Write roi.tsv and roi.png for a prepared 3D problem; the table."""
    prepared = Prepared.load(prepared_dir)
    if prepared.spatial_dims != 3:
        raise ValueError(f"{prepared_dir}: a 2D problem has no heart ROI")
    table = roi_table(prepared.cases)
    grid_spacing = tuple(prepared.meta["grid"]["spacing"])
    draw_montage(table, tuple(prepared.meta["roi"]["size"]), grid_spacing, montage_path)
    tsv.write_table(table_path, table)
    return table
