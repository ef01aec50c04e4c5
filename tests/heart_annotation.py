"""The hearts of the real chest CTs (tests/data/real-ct/chest/hearts.json), annotated by eye.

``.venv/bin/python tests/heart_annotation.py`` redraws the montage of the annotation
(tests/data/real-ct/chest/hearts.png): every slice the heart spans, with its box and ellipse.
"""

import json
from pathlib import Path

import numpy as np

CHEST = Path(__file__).resolve().parent / "data" / "real-ct" / "chest"
ANNOTATION = CHEST / "hearts.json"
SCANS = ("lung2_image.nrrd", "lung1_image.nrrd")


def annotation(scan: str) -> dict:
    """One scan's entry of hearts.json."""
    return json.loads(ANNOTATION.read_text())[scan]


def slice_boxes(scan: str) -> dict[int, tuple[float, float, float, float]]:
    """Per axial slice the heart spans: its box (y0, y1, x0, x1), voxels, inclusive; between
    key slices each bound linear in z."""
    entry = annotation(scan)
    keys = sorted((int(z), box) for z, box in entry["boxes"].items())
    zs = np.array([z for z, _ in keys], float)
    bounds = np.array([box for _, box in keys], float)
    first, last = entry["slices"]
    return {
        z: tuple(float(np.interp(z, zs, bounds[:, k])) for k in range(4))
        for z in range(first, last + 1)
    }


def heart_mask(scan: str, shape: tuple[int, int, int]) -> np.ndarray:
    """bool (z, y, x): per slice, the ellipse inscribed in the annotated box."""
    mask = np.zeros(shape, bool)
    y, x = np.mgrid[: shape[1], : shape[2]]
    for z, (y0, y1, x0, x1) in slice_boxes(scan).items():
        cy, cx, ry, rx = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) / 2 + 0.5, (x1 - x0) / 2 + 0.5
        mask[z] = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
    return mask


def centre(scan: str, shape: tuple[int, int, int]) -> np.ndarray:
    """Centroid (z, y, x voxels) of the annotated heart."""
    return np.argwhere(heart_mask(scan, shape)).mean(axis=0)


def draw_montage(path: Path = CHEST / "hearts.png") -> None:
    """Every annotated slice of both scans with its box (yellow) and ellipse (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse, Rectangle

    from rlnet import io

    panels = []
    for scan in SCANS:
        image, _ = io.read_image(CHEST / scan)
        panels += [(scan, z, image[z], box) for z, box in slice_boxes(scan).items()]
    columns = 8
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2 * columns, 2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (scan, z, plane, (y0, y1, x0, x1)) in zip(axes.ravel(), panels, strict=False):
        ax.imshow(plane, cmap="gray", vmin=-150, vmax=250)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=0.6))
        ellipse = Ellipse(((x0 + x1) / 2, (y0 + y1) / 2), x1 - x0, y1 - y0, fill=False, ec="red")
        ax.add_patch(ellipse)
        ax.set_title(f"{scan.split('_')[0]} z={z}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


if __name__ == "__main__":
    draw_montage()
