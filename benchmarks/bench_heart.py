"""The heart search (rlnet.heart_search): speed, and how well its box holds the heart.

- Speed: ``find_heart`` on a 512 x 512 x 300 chest CT (the real lung2 scan resliced to 300
  slices), median of ``--repeats`` runs, one process (numpy and scipy on one core); target
  <= 2 s.
- Real chest CT: each annotated scan (tests/data/real-ct/chest/hearts.json) and its scanner
  variants (tests/chest_variants.py, as tests/test_heart_search.py tests them): the share of
  the annotated heart inside the 140 mm box at the found centre (target >= 95%) and the
  confidence.
- Abdominal CT (tests/data/real-ct): the confidence (target < 0.5).
- Phantoms: the default config's heart phantoms (its seed and settings, all of them): the
  share of the true heart mask in the 140 mm box (target >= 99%) and the confidence.

    .venv/bin/python benchmarks/bench_heart.py [--repeats 3] [--out benchmarks/results/heart.json]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from snakemake_jobs import machine, save_result

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import chest_variants as cv  # noqa: E402
import heart_annotation as ha  # noqa: E402

from rlnet import io  # noqa: E402
from rlnet.config import load  # noqa: E402
from rlnet.heart_search import find_heart  # noqa: E402
from rlnet.phantoms import heart  # noqa: E402

REAL_CT = ROOT / "tests" / "data" / "real-ct"


def load_scan(name: str) -> cv.Scan:
    image, geometry = io.read_image(ha.CHEST / name)
    return cv.Scan(image, geometry.spacing, geometry.direction, ha.heart_mask(name, image.shape))


def speed(repeats: int) -> dict:
    scan = load_scan("lung2_image.nrrd")
    thick = scan.spacing[0] * (scan.image.shape[0] - 1) / 299
    volume = cv.reslice(scan, thick)
    seconds = []
    for _ in range(repeats):
        tic = time.perf_counter()
        find_heart(volume.image, volume.spacing, volume.direction)
        seconds.append(time.perf_counter() - tic)
    return {
        "shape": list(volume.image.shape),
        "spacing": [round(s, 3) for s in volume.spacing],
        "seconds": [round(s, 3) for s in seconds],
        "median_s": round(float(np.median(seconds)), 3),
        "target_s": 2.0,
    }


def real_chest() -> dict:
    rows = {}
    for name in ha.SCANS:
        for label, variant in cv.scanner_variants(
            load_scan(name), *ha.annotation(name)["slices"]
        ).items():
            found = find_heart(variant.image, variant.spacing, variant.direction)
            coverage = cv.roi_coverage(variant.heart, found.centre, variant.spacing)
            rows[f"{name.split('_')[0]} / {label}"] = {
                "coverage": round(coverage, 4),
                "confidence": found.confidence,
                "note": found.note,
            }
            print(f"{name} {label}: coverage {coverage:.3f}, confidence {found.confidence}")
    return rows


def abdominal() -> dict:
    rows = {}
    for name in ("example_ct_sm.nii.gz", "dicom-abdomen"):
        image, geometry = io.read_image(REAL_CT / name)
        found = find_heart(image, geometry.spacing, geometry.direction)
        rows[name] = {"confidence": found.confidence, "note": found.note}
    return rows


def phantoms() -> dict:
    config = load(ROOT / "config" / "config.yaml")
    settings = config["phantoms"]["heart"]
    keys = ("shape", "spacing", "noise_hu", "risk_group_probs")
    coverage, confidence = [], []
    for index in range(settings["n_cases"]):
        case = heart.generate(config["seed"], index, **{k: settings[k] for k in keys})
        found = find_heart(case.image, case.spacing)
        coverage.append(cv.roi_coverage(case.masks["heart"] > 0, found.centre, case.spacing))
        confidence.append(found.confidence)
    return {
        "seed": config["seed"],
        "cases": len(coverage),
        "coverage_min": round(min(coverage), 4),
        "coverage_mean": round(float(np.mean(coverage)), 4),
        "cases_below_0.99": int(np.sum(np.asarray(coverage) < 0.99)),
        "confidence_min": min(confidence),
        "confidence_median": float(np.median(confidence)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/heart.json")
    args = parser.parse_args()
    result = {
        "benchmark": "heart search: speed and 140 mm box coverage",
        "machine": machine(),
        "speed": speed(args.repeats),
        "real_chest": real_chest(),
        "abdominal": abdominal(),
        "phantoms": phantoms(),
    }
    save_result(result, args.out)


if __name__ == "__main__":
    main()
