"""Time Dice and Hausdorff over 3000 synthetic 512 x 512 mask pairs (the PMA test set size).

Each pair is an ellipse and a perturbed copy (shifted, rescaled, rotated), generated on the fly
and never stored. Two scenarios: "ellipses" (the budget case) and "speckled", a stress case where
the prediction also has a few stray false-positive pixels anywhere in the image, which defeats
the bounding-box crop. Only the metric calls are timed; SimpleITK on the uncropped images is also
timed on a subsample, to show what the crop saves. Wall times depend on the machine's load
(recorded); CPU time summed over threads is reported too. Writes benchmarks/results/metrics.json.

    python benchmarks/bench_metrics.py [--n 3000] [--seed 0]
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from rlnet import metrics

SHAPE = (512, 512)
SPACING = (0.7, 0.7)
BUDGET_S = 60.0
RESULTS = Path(__file__).resolve().parent / "results" / "metrics.json"


def ellipse(cy: float, cx: float, ry: float, rx: float, angle: float) -> np.ndarray:
    y, x = np.ogrid[: SHAPE[0], : SHAPE[1]]
    dy, dx = y - cy, x - cx
    cos, sin = np.cos(angle), np.sin(angle)
    return ((dy * cos + dx * sin) / ry) ** 2 + ((dx * cos - dy * sin) / rx) ** 2 <= 1.0


def mask_pair(rng: np.random.Generator, speckled: bool) -> tuple[np.ndarray, np.ndarray]:
    cy, cx = rng.uniform(150, 362, size=2)
    ry, rx = rng.uniform(15, 110, size=2)
    angle = rng.uniform(0, np.pi)
    a = ellipse(cy, cx, ry, rx, angle)
    b = ellipse(
        cy + rng.normal(0, 4),
        cx + rng.normal(0, 4),
        ry * rng.uniform(0.85, 1.15),
        rx * rng.uniform(0.85, 1.15),
        angle + rng.normal(0, 0.1),
    )
    if speckled:
        b |= rng.random(SHAPE) < 2e-5  # about 5 stray false-positive pixels per slice
    return a, b


def run(n: int, seed: int, n_uncropped: int, speckled: bool) -> dict[str, object]:
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(seed)
    t_dice = t_hd = t_full = cpu_metrics = 0.0
    dices, avg_hd = [], []
    for i in range(n):
        a, b = mask_pair(rng, speckled)
        c0, t0 = time.process_time(), time.perf_counter()
        dices.append(metrics.dice(a, b))
        t1 = time.perf_counter()
        avg_hd.append(metrics.hausdorff(a, b, SPACING)[1])
        t2 = time.perf_counter()
        cpu_metrics += time.process_time() - c0
        t_dice += t1 - t0
        t_hd += t2 - t1
        if i < n_uncropped:
            t3 = time.perf_counter()
            metrics._sitk_hausdorff(a, b, SPACING)
            t_full += time.perf_counter() - t3
    total = t_dice + t_hd
    return {
        "dice_total_s": round(t_dice, 3),
        "hausdorff_total_s": round(t_hd, 3),
        "total_s": round(total, 3),
        "within_budget": total < BUDGET_S,
        "cpu_s_all_threads": round(cpu_metrics, 3),
        "dice_ms_per_slice": round(1e3 * t_dice / n, 4),
        "hausdorff_ms_per_slice": round(1e3 * t_hd / n, 4),
        "uncropped_hausdorff_ms_per_slice": round(1e3 * t_full / max(n_uncropped, 1), 4),
        "mean_dice": round(float(np.mean(dices)), 4),
        "mean_average_hausdorff_mm": round(float(np.nanmean(avg_hd)), 4),
        "load_avg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--uncropped", type=int, default=200, help="subsample timed uncropped")
    args = parser.parse_args()
    n_uncropped = min(args.uncropped, args.n)
    result: dict[str, object] = {
        "n_slices": args.n,
        "shape": list(SHAPE),
        "spacing_mm": list(SPACING),
        "seed": args.seed,
        "budget_s": BUDGET_S,
        "uncropped_subsample": n_uncropped,
        "cpu_count": os.cpu_count(),
        "sitk_threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
        "simpleitk": sitk.Version_VersionString(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    for scenario in ("ellipses", "speckled"):
        result[scenario] = run(args.n, args.seed, n_uncropped, speckled=scenario == "speckled")
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
