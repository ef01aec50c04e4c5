"""What the input checks and the provenance records cost, and how fast the audit is.

Builds two studies from empty in work folders: the tiny study (`all` on config/test.yaml; its
data stage first, as its own invocation) and the data stage of the default config (synthesis,
manifest, split and prepare of every problem). On their files it then measures, in this
process:

- image checks: every image and mask `prepare` reads, read verified (`rlnet.io.read_image`)
  against read bare (SimpleITK read + array); the difference is what the checks add;
- header checks: `manifest.check_headers` over each problem's manifest (every row's headers);
- provenance: `provenance.write_records` again for every group of records one stage run wrote
  (same stage and arguments): hashing inputs and outputs, the code's module hashes, the JSON;
- audit: the tiny study's `table2.tsv` (everything down to the raw images) and the default data
  chain (`results/prepared/<problem>/cases.tsv` of every problem, down to the raw images),
  cold (`--full`: every file hashed) and warm (the size + mtime cache).

The sum of the three check costs is compared with each study's wall time (targets: <= 5% of the
tiny study, <= 10% of the default data stage). The load average is recorded; ratios are measured
in one run. The default study's `table2.tsv` needs the trained default models (hours); its chain
holds the data chain measured here plus one record per model, prediction and metric file.

    .venv/bin/python benchmarks/bench_checks.py [--workdir benchmarks/checks] [--cores 2]

Prints the figures and writes benchmarks/results/checks.json.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import SimpleITK as sitk
from snakemake_jobs import build, machine, save_result

from rlnet import io, provenance, tsv
from rlnet.config import read_yaml
from rlnet.datasets import manifest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "checks.json"
TARGETS = {"tiny_study_share": 0.05, "data_stage_share": 0.10, "audit_warm_s": 10.0}


def data_targets(config: dict) -> list[str]:
    """Every prepared file and split table of the config's problems."""
    names = ("images.npy", "candidates.npy", "masks.npy", "cases.tsv", "meta.json")
    targets = [f"results/prepared/{p}/{n}" for p in config["problems"] for n in names]
    return targets + [f"results/data/{p}/split_counts.tsv" for p in config["problems"]]


def fresh(workdir: Path) -> Path:
    """``workdir`` emptied."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    return workdir


def image_check_seconds(workdir: Path, config: dict) -> dict:
    """Seconds to read every image and mask of every manifest verified and bare."""
    verified = bare = 0.0
    files = 0
    for problem in config["problems"]:
        table = pd.read_csv(workdir / f"results/data/{problem}/manifest.tsv", sep="\t")
        for column, kind in (("image", "ct"), ("mask", "mask"), ("candidate_mask", "mask")):
            for path in table[column].dropna():
                path = str(path if Path(path).is_absolute() else workdir / path)
                tic = time.perf_counter()
                sitk.GetArrayFromImage(sitk.ReadImage(path))
                bare += time.perf_counter() - tic
                tic = time.perf_counter()
                io.read_image(path, kind=kind)
                verified += time.perf_counter() - tic
                files += 1
    return {
        "files": files,
        "verified_s": round(verified, 3),
        "bare_s": round(bare, 3),
        "extra_s": round(max(verified - bare, 0.0), 3),
    }


def header_check_seconds(workdir: Path, config: dict) -> dict:
    """Seconds of check_headers over every problem's manifest."""
    seconds, rows = 0.0, 0
    cwd = Path.cwd()
    os.chdir(workdir)  # the manifests hold paths relative to the study folder
    try:
        for problem, block in config["problems"].items():
            table = manifest.validate(
                tsv.read_table(f"results/data/{problem}/manifest.tsv"), problem, check_files=False
            )
            tic = time.perf_counter()
            manifest.check_headers(table, problem, block["spatial_dims"])
            seconds += time.perf_counter() - tic
            rows += len(table)
    finally:
        os.chdir(cwd)
    return {"rows": rows, "seconds": round(seconds, 3)}


def provenance_seconds(workdir: Path) -> dict:
    """Seconds to write again every record of the study, one write_records per stage run
    (sidecars, and the shared records of the files a shard table lists)."""
    groups: dict[tuple, dict] = defaultdict(lambda: {"inputs": [], "outputs": [], "listed": {}})
    for record_path in (workdir / "results").rglob(f"*{provenance.SUFFIX}"):
        record = json.loads(record_path.read_text())
        group = groups[(record["stage"], tuple(record["arguments"]))]
        group["inputs"] = [Path(e["path"]) for e in record["inputs"]]
        if provenance.FILES_KEY in record:
            folder = record_path.relative_to(workdir).parent
            listed = group["listed"].setdefault(Path(record["table"]), [])
            listed += [folder / name for name in record[provenance.FILES_KEY]]
        else:
            group["outputs"].append(Path(record["file"]))
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        tic = time.perf_counter()
        for (stage, argv), group in groups.items():
            provenance.write_records(
                stage, list(argv), group["inputs"], group["outputs"], listed=group["listed"]
            )
        seconds = time.perf_counter() - tic
    finally:
        os.chdir(cwd)
    files = sum(len(g["outputs"]) + sum(map(len, g["listed"].values())) for g in groups.values())
    record_files = sum(
        len(g["outputs"]) + sum(len({p.parent for p in f}) for f in g["listed"].values())
        for g in groups.values()
    )
    return {
        "stage_runs": len(groups),
        "files_recorded": files,
        "record_files": record_files,
        "seconds": round(seconds, 3),
    }


def audit_seconds(workdir: Path, files: list[str]) -> dict:
    """Cold (--full) and warm wall seconds of `rlnet audit` on each file, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    out = {"files": files}
    for mode, extra in (("cold_full", ["--full"]), ("warm", [])):
        tic = time.perf_counter()
        checked = 0
        for path in files:
            result = subprocess.run(
                [sys.executable, "-m", "rlnet", "audit", path, "--allow-dirty", *extra],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
            )
            if result.returncode:
                sys.exit(f"audit of {path} failed:\n{result.stdout[-2000:]}{result.stderr}")
            checked += int(result.stdout.rsplit("ok: ", 1)[1].split()[0])
        out[f"{mode}_s"] = round(time.perf_counter() - tic, 2)
        out["records_checked"] = checked
    return out


def check_costs(workdir: Path, config: dict) -> dict:
    """The three check costs of a study on disk, and their sum."""
    costs = {
        "images": image_check_seconds(workdir, config),
        "headers": header_check_seconds(workdir, config),
        "provenance": provenance_seconds(workdir),
    }
    costs["total_s"] = round(
        costs["images"]["extra_s"] + costs["headers"]["seconds"] + costs["provenance"]["seconds"],
        3,
    )
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/checks")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    result = {"machine": machine(), "targets": TARGETS}

    tiny_config_path = ROOT / "config/test.yaml"
    tiny_config = read_yaml(tiny_config_path)
    tiny = fresh(args.workdir / "tiny")
    data_wall = build(tiny_config_path, tiny, args.cores, data_targets(tiny_config))
    rest_wall = build(tiny_config_path, tiny, args.cores, ["all"])
    costs = check_costs(tiny, tiny_config)
    result["tiny"] = {
        "data_stage_wall_s": round(data_wall, 1),
        "study_wall_s": round(data_wall + rest_wall, 1),
        "checks": costs,
        "share_of_study": round(costs["total_s"] / (data_wall + rest_wall), 4),
        "audit_table2": audit_seconds(tiny, ["results/tables/table2.tsv"]),
    }

    default_config_path = ROOT / "config/config.yaml"
    default_config = read_yaml(default_config_path)
    default = fresh(args.workdir / "default")
    data_wall = build(default_config_path, default, args.cores, data_targets(default_config))
    costs = check_costs(default, default_config)
    chain = [f"results/prepared/{p}/cases.tsv" for p in default_config["problems"]]
    result["default_data_stage"] = {
        "wall_s": round(data_wall, 1),
        "checks": costs,
        "share_of_data_stage": round(costs["total_s"] / data_wall, 4),
        "audit_data_chain": audit_seconds(default, chain),
    }
    save_result(result, RESULTS)


if __name__ == "__main__":
    main()
