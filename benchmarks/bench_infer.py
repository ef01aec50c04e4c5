"""cac inference on a real-size chest CT: `rlnet infer` end to end (read, heart search, grid,
network, Agatston, map written, provenance), target <= 30 s on 2 cores.

The scan is the real chest CT lung2 (tests/data/real-ct/chest) resliced to 133 slices, as the
512 x 512 x 133 scan of issue 26; the model is rl-unet at the default's width and ROI
(config/config.yaml), seeded and untrained: the same computation as a trained one. Median of
``--repeats`` runs, each into a fresh folder, torch with ``--threads``.

    .venv/bin/python benchmarks/bench_infer.py [--repeats 3] [--threads 2]
        [--out benchmarks/results/infer.json]
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from snakemake_jobs import machine, save_result

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import chest_variants as cv  # noqa: E402
import heart_annotation as ha  # noqa: E402

from rlnet import cli, io  # noqa: E402
from rlnet.config import load, problem_settings  # noqa: E402
from rlnet.models import build_model  # noqa: E402

SLICES = 133


def chest_ct(folder: Path) -> tuple[int, ...]:
    """lung2 resliced to ``SLICES`` slices, written to ``folder``; its shape."""
    image, geometry = io.read_image(ha.CHEST / "lung2_image.nrrd")
    scan = cv.Scan(image, geometry.spacing, geometry.direction, np.zeros(image.shape, bool))
    thick = geometry.spacing[0] * (image.shape[0] - 1) / (SLICES - 1)
    thin = cv.reslice(scan, thick)
    out = io.Geometry(thin.spacing, geometry.origin, geometry.direction)
    io.write_image(folder / "chest.nii.gz", thin.image, out)
    return thin.image.shape


def model_file(path: Path, config: dict) -> Path:
    """A seeded, untrained rl-unet of the default's width, saved as training saves one."""
    torch.manual_seed(0)
    width = config["training"]["base_width"]
    net = build_model("rl-unet", 3, width)
    run = {
        "problem": "cac",
        "model": "rl-unet",
        "spatial_dims": 3,
        "base_width": width,
        "family": net.family,
        "settings": {"score": "agatston"},
    }
    torch.save({"run": run, "model": net.state_dict()}, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/infer.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load(ROOT / "config" / "config.yaml")
    work = Path(tempfile.mkdtemp(prefix="bench_infer."))
    try:
        scans = work / "scans"
        shape = chest_ct(scans)
        model = model_file(work / "model.pt", config)
        argv = ["infer", "--model-file", str(model), "--problem", "cac", "--model", "rl-unet"]
        argv += ["--settings", json.dumps(problem_settings(config, "cac")), "--scans", str(scans)]
        argv += ["--device", "cpu", "--batch-size", "4"]
        seconds = []
        for k in range(args.repeats):
            tic = time.perf_counter()
            status = cli.main([*argv, "--out-dir", str(work / f"out{k}")])
            seconds.append(time.perf_counter() - tic)
            if status:
                raise SystemExit(f"rlnet infer failed with status {status}")
        result = {
            "benchmark": "rlnet infer, cac rl-unet (untrained), one real-size chest CT",
            "machine": machine(),
            "scan_shape": list(shape),
            "threads": args.threads,
            "seconds": [round(s, 2) for s in seconds],
            "median_s": round(float(np.median(seconds)), 2),
            "target_s": 30.0,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save_result(result, args.out)


if __name__ == "__main__":
    main()
