"""Time phantom generation alone (no file written): chest slices and heart volumes at the
default size and at the paper's scale, against the budgets the phantom tests used to assert.

Per setting: a warm-up case, then ``--n`` cases (paper scale: ``--n-paper``) timed one by one
(wall and process CPU seconds; mean and max per case). Generation with NIfTI writing and
`prepare` are timed by bench_data.py. The machine may be shared: the load average before and
after is recorded; the CPU time is what an idle core would give.

    .venv/bin/python benchmarks/bench_phantoms.py [--n 20] [--n-paper 2]

Prints a table and writes benchmarks/results/phantoms.json.
"""

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rlnet.phantoms import chest, heart

RESULTS = Path(__file__).resolve().parent / "results" / "phantoms.json"
SEED = 11

#: name -> (phantom, generate(index), budget in s per case, when it is the paper's scale)
SETTINGS: dict[str, tuple[str, Callable[[int], object], float, bool]] = {
    "chest 96x96 at 3.6 mm": ("chest", lambda i: chest.generate(SEED, i), 0.1, False),
    "chest 512x512 at 0.7 mm": (
        "chest",
        lambda i: chest.generate(SEED, i, (512, 512), (0.7, 0.7)),
        3.0,
        True,
    ),
    "heart 48x80x80 (default size)": ("heart", lambda i: heart.generate(0, i), 0.3, False),
    "heart 120x256x256 at 2.5 x 0.7 x 0.7 mm": (
        "heart",
        lambda i: heart.generate(0, i, shape=(120, 256, 256), spacing=(2.5, 0.7, 0.7)),
        20.0,
        True,
    ),
}


def time_cases(generate: Callable[[int], object], n: int) -> tuple[list[float], list[float]]:
    """(wall, CPU) seconds of generating cases 1..n, after case 0 as a warm-up."""
    generate(0)
    wall, cpu = [], []
    for index in range(1, n + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        generate(index)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="timed cases per default-size setting")
    parser.add_argument("--n-paper", type=int, default=2, help="timed cases at the paper's scale")
    args = parser.parse_args()
    result: dict[str, object] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "load_avg_before": [round(v, 2) for v in os.getloadavg()],
        "settings": {},
    }
    print(f"{'setting':42} {'n':>3} {'mean s':>8} {'max s':>8} {'cpu s':>8} {'budget':>7}")
    for name, (phantom, generate, budget, paper) in SETTINGS.items():
        n = args.n_paper if paper else args.n
        wall, cpu = time_cases(generate, n)
        entry = {
            "phantom": phantom,
            "cases": n,
            "mean_s": round(float(np.mean(wall)), 4),
            "max_s": round(float(np.max(wall)), 4),
            "mean_cpu_s": round(float(np.mean(cpu)), 4),
            "budget_s_per_case": budget,
            "within_budget": bool(np.mean(wall) < budget),
        }
        result["settings"][name] = entry
        print(
            f"{name:42} {n:3d} {entry['mean_s']:8.3f} {entry['max_s']:8.3f}"
            f" {entry['mean_cpu_s']:8.3f} {budget:7.1f}"
        )
    result["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
