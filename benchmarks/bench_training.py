"""Time training steps, data loading and inference of every model, on whatever device there is.

The device is `rlnet.training.device.resolve_device(config["device"])` ("auto": CUDA when
present), so the same command measures a laptop CPU or a GPU node. Three parts:

1. Training samples/s and peak memory per model (every name in `rlnet.models.MODEL_NAMES`) x
   dimensionality at the config's sizes: 2D (pma/sfa/liver) slices of the chest phantom's shape
   padded like `prepare` does, 3D (cac) the ROI; batch size, base width, learning rate and AMP
   from `training_settings`. A few warm-up steps, then N timed full steps exactly as the trainer
   does them (forward, `rlnet.training.loop._loss`, backward through the GradScaler, Adam step,
   `loss.item()`). The batch is random tensors of the right shapes (compute does not depend on
   the values). Each model runs in a fresh subprocess, so its peak memory is its own: the
   process's ru_maxrss on CPU (MB; includes ~the Python + torch baseline, reported too),
   `torch.cuda.max_memory_allocated` on CUDA.
2. Data loading samples/s on its own: `CaseDataset` with the config's augmentation over a real
   prepared folder (chest and heart phantoms generated and prepared in a temporary folder, as in
   bench_data.py), iterated through a DataLoader like the trainer's (batch size from config, a
   new loader per epoch, epochs as long as the default study's training split), with the
   config's `num_workers` and with 2 workers. The ratio loading rate / rl-unet training rate is
   the margin by which the model never waits on data (target >= 5x).
3. Inference time per case of rl-unet (eval, no_grad, batch 1) at the config's sizes and at the
   paper's (config/paper.yaml: 2D 512x512 and the 3D ROI 224x192x192, width 32), each in its
   own subprocess; skipped with a reason when memory is short. Compared with the < 2 s per scan
   (GPU) reported by the direct CAC regression of de Vos et al. (IEEE TMI 2019).

On CPU every measurement uses `--threads` torch threads (default 1): on a machine whose cores
are busy with other jobs, 2 OpenMP threads on 2 cores wait on each other and run ~10x slower
than 1 (rl-unet is timed again with the config's `resources.train_*d.threads` to show it). The
machine's load average is recorded: on a shared machine the figures are lower bounds.

    .venv/bin/python benchmarks/bench_training.py [--config config/config.yaml] [--steps 5]

Prints tables and writes benchmarks/results/training.json.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader

from rlnet import config as rlconfig
from rlnet.models import MODEL_NAMES, build_model
from rlnet.prepare import Prepared, padded_shape
from rlnet.settings import identity
from rlnet.training.data import CaseDataset
from rlnet.training.device import autocast, resolve_device, seed_worker
from rlnet.training.loop import _loss

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "training.json"
LOADER_TARGET = 5.0  # loading rate / training rate
PEER_SECONDS_PER_SCAN = 2.0  # direct CAC regression, GPU, heart localisation included


# ----------------------------------------------------------------------------- child side


def _rss_mb() -> float:
    """Current resident set size (MB) of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak(device: torch.device) -> dict:
    peak = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.type == "cuda":
        peak["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _batch(spec: dict, device: torch.device) -> dict:
    """Random batch shaped like the trainer's: image in [-1, 1], binary candidates and mask."""
    g = torch.Generator().manual_seed(0)
    shape = (spec["batch"], 1, *spec["shape"])
    candidates = (torch.rand(shape, generator=g) < 0.3).float()
    mask = candidates * (torch.rand(shape, generator=g) < 0.3).float()
    voxel = torch.full((spec["batch"],), float(spec["voxel_size"]))
    batch = {
        "image": torch.rand(shape, generator=g) * 2 - 1,
        "candidates": candidates,
        "mask": mask,
        "voxel_size": voxel,
        "target": mask.flatten(1).sum(1) * voxel,
    }
    return {k: v.to(device) for k, v in batch.items()}


def child_train(spec: dict) -> dict:
    device = torch.device(spec["device"])
    torch.manual_seed(0)
    rss_start = _rss_mb()
    model = build_model(
        spec["model"], spec["dims"], spec["width"], output_bias=spec["output_bias"]
    ).to(device)
    batch = _batch(spec, device)
    scale = float(batch["target"].mean().clamp_min(1e-6))
    if hasattr(model, "target_scale"):
        model.target_scale.fill_(scale)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"][model.family])
    scaler = torch.amp.GradScaler(enabled=device.type == "cuda" and spec["amp"] == "fp16")
    model.train()

    def step() -> float:
        with autocast(device, spec["amp"]):
            out = model(batch["image"], batch["candidates"], batch["voxel_size"])
            loss = _loss(model, batch, out, scale)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.item()

    rss_model = _rss_mb()
    for _ in range(spec["warmup"]):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(spec["steps"]):
        t0 = time.perf_counter()
        loss = step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "step_s_median": round(median, 4),
        "step_s_all": [round(t, 4) for t in times],
        "samples_per_s": round(spec["batch"] / median, 2),
        "rss_after_import_mb": round(rss_start, 1),
        "rss_after_model_and_batch_mb": round(rss_model, 1),
        "final_loss_finite": bool(np.isfinite(loss)),
        **_peak(device),
    }


@torch.no_grad()
def child_infer(spec: dict) -> dict:
    device = torch.device(spec["device"])
    torch.manual_seed(0)
    model = build_model("rl-unet", spec["dims"], spec["width"]).to(device).eval()
    one = {**spec, "batch": 1}
    batch = _batch(one, device)
    # Warm-up on a small input (library initialisation), then on the real one if asked.
    small = _batch({**one, "shape": [32] * spec["dims"]}, device)
    model(small["image"], small["candidates"], small["voxel_size"])
    for _ in range(spec["warmup"]):
        model(batch["image"], batch["candidates"], batch["voxel_size"])
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(spec["repeats"]):
        t0 = time.perf_counter()
        out = model(batch["image"], batch["candidates"], batch["voxel_size"])
        (out.localization > 0.5).sum().item()  # the binarised map, as predict.py makes it
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {
        "seconds_per_case_median": round(float(np.median(times)), 4),
        "seconds_all": [round(t, 4) for t in times],
        **_peak(device),
    }


def child_main(spec: dict) -> None:
    torch.set_num_threads(spec["threads"])
    result = child_train(spec) if spec["kind"] == "train" else child_infer(spec)
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------- parent side


def run_child(spec: dict, timeout: float) -> dict:
    """Run one measurement in a fresh interpreter; its result, or an error/timeout record."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"did not finish within {timeout:.0f} s"}
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-600:]}"}
    return {
        **json.loads(lines[-1][len("RESULT ") :]),
        "process_s": round(time.perf_counter() - t0, 2),
    }


def mem_available_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.mem_get_info()[0] / 2**20
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def sizes(config: dict) -> dict:
    """The 2D slice and 3D ROI the networks see, with batch, width, lr, amp and voxel size."""
    out = {}
    for problem, settings in config["problems"].items():
        dims = settings["spatial_dims"]
        if dims in out or "synthetic" not in settings["source"]:
            continue
        phantom = config["phantoms"][settings["source"]["synthetic"]]
        train = identity(rlconfig.training_settings(config, problem))
        shape = settings["roi"]["size"] if dims == 3 else padded_shape(tuple(phantom["shape"]))
        out[dims] = {
            "problem": problem,
            "shape": list(shape),
            "batch": train["batch_size"],
            "width": train["base_width"],
            "lr": train["lr"],
            "amp": train["amp"],
            # speed does not depend on the head's starting bias; "auto" needs a training split
            "output_bias": -2.0 if train["output_bias"] == "auto" else train["output_bias"],
            "voxel_size": float(np.prod(phantom["spacing"])),
            "augment": train["augment"],
            "num_workers": train["num_workers"],
            "threads": config.get("resources", {}).get(f"train_{dims}d", {}).get("threads"),
        }
    return out


def bench_models(sz: dict, device: torch.device, args, models, threads) -> dict:
    rows: dict = {}
    print(
        f"\n{'model':>10} {'dims':>4} {'params':>9} {'step s':>7} {'samples/s':>9} {'peak MB':>8}"
    )
    for dims in (2, 3):
        s = sz[dims]
        for model in models:
            spec = {
                "kind": "train",
                "model": model,
                "dims": dims,
                "device": str(device),
                "steps": args.steps,
                "warmup": args.warmup,
                "threads": threads[dims],
                **{k: s[k] for k in ("shape", "batch", "width", "lr", "amp", "output_bias")},
                "voxel_size": s["voxel_size"],
            }
            r = run_child(spec, args.timeout)
            rows[f"{model}/{dims}d"] = {"model": model, "dims": dims, **r}
            peak = r.get("cuda_max_allocated_mb", r.get("peak_rss_mb", float("nan")))
            if "samples_per_s" in r:
                print(
                    f"{model:>10} {dims:>4} {r['params']:>9} {r['step_s_median']:>7.3f} "
                    f"{r['samples_per_s']:>9.1f} {peak:>8.0f}"
                )
            else:
                print(f"{model:>10} {dims:>4}  {r}")
    return rows


def build_prepared(config: dict, tmp: Path, n2d: int, n3d: int) -> dict[int, Path]:
    """Prepared folders of the first 2D problem and of the 3D problem from fresh phantoms."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_data import generate, prepare_problem

    folders = {}
    for dims, n in ((2, n2d), (3, n3d)):
        problem = next(
            p
            for p, s in config["problems"].items()
            if s["spatial_dims"] == dims and "synthetic" in s["source"]
        )
        settings = config["problems"][problem]
        phantom = settings["source"]["synthetic"]
        table, _ = generate(phantom, config["phantoms"][phantom], config, n, tmp / phantom)
        prepare_problem(problem, settings, table, config, tmp / problem)
        folders[dims] = tmp / problem
    return folders


def epoch_length(config: dict, problem: str) -> int:
    """Training-split size of a problem in the default study (the trainer's epoch)."""
    settings = config["problems"][problem]
    phantom = config["phantoms"][settings["source"]["synthetic"]]
    n = phantom.get("n_cases") or phantom.get("n_subjects", 1) * np.mean(phantom["slices"])
    return int(round(n * settings["split"]["train"]))


def bench_loading(config: dict, sz: dict, device, folders, args) -> dict:
    rows: dict = {}
    print(
        f"\n{'dims':>4} {'workers':>7} {'samples':>7} {'epochs':>6} {'seconds':>7} {'samples/s':>9}"
    )
    for dims, folder in folders.items():
        s = sz[dims]
        prepared = Prepared.load(folder)
        length = epoch_length(config, s["problem"])
        indices = np.resize(prepared.cases["index"].to_numpy(), length)
        targets = prepared.cases["value"].astype(float).to_numpy()[indices]
        dataset = CaseDataset(prepared, indices, targets, s["augment"], seed=config["seed"])
        for workers in sorted({s["num_workers"], 2}):
            t0 = time.perf_counter()
            count = 0
            for epoch in range(args.loader_epochs):
                dataset.set_epoch(epoch)
                loader = DataLoader(
                    dataset,
                    batch_size=s["batch"],
                    shuffle=True,
                    generator=torch.Generator().manual_seed(epoch),
                    num_workers=workers,
                    worker_init_fn=seed_worker,
                    pin_memory=device.type == "cuda",
                    persistent_workers=False,
                )
                for batch in loader:
                    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                    count += len(batch["target"])
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            rows[f"{dims}d/workers{workers}"] = {
                "dims": dims,
                "problem": s["problem"],
                "workers": workers,
                "config_workers": workers == s["num_workers"],
                "prepared_cases": len(prepared.cases),
                "epoch_samples": length,
                "epochs": args.loader_epochs,
                "seconds": round(seconds, 3),
                "samples_per_s": round(count / seconds, 1),
            }
            print(
                f"{dims:>4} {workers:>7} {count:>7} {args.loader_epochs:>6} {seconds:>7.2f} "
                f"{count / seconds:>9.1f}"
            )
    return rows


def bench_inference(sz: dict, paper: dict | None, device, args, threads) -> dict:
    rows: dict = {}
    cases = []
    for dims in (2, 3):
        cases.append(("default", dims, sz[dims]["shape"], sz[dims]["width"], 2, 5))
    for dims in (2, 3) if paper else ():
        repeats = 3 if dims == 2 else args.paper_3d_repeats
        cases.append(("paper", dims, paper[dims]["shape"], paper[dims]["width"], 1, repeats))
    print(f"\n{'sizes':>8} {'dims':>4} {'shape':>14} {'w':>3} {'s/case':>8} {'peak MB':>8}")
    for label, dims, shape, width, warmup, repeats in cases:
        # float32 feature maps at full resolution: input, width x (2 convs, skip, upsampled,
        # concat 2w) -> about 8 maps of width channels alive at once, plus the workspace.
        need_mb = 8 * width * int(np.prod(shape)) * 4 / 2**20 + 1500
        key = f"{label}/{dims}d"
        free = mem_available_mb(device)
        if free < need_mb:
            rows[key] = {"skipped": f"needs ~{need_mb:.0f} MB, {free:.0f} MB available"}
            print(f"{label:>8} {dims:>4} {'x'.join(map(str, shape)):>14} {width:>3}  {rows[key]}")
            continue
        if label == "paper" and dims == 3:
            warmup = 0  # one case at this size takes tens of seconds on a CPU
        spec = {
            "kind": "infer",
            "dims": dims,
            "device": str(device),
            "shape": list(shape),
            "width": width,
            "voxel_size": 1.0,
            "warmup": warmup,
            "repeats": repeats,
            "threads": threads[dims],
        }
        r = run_child(spec, args.timeout_paper if label == "paper" else args.timeout)
        rows[key] = {"sizes": label, "dims": dims, "shape": list(shape), "width": width, **r}
        peak = r.get("cuda_max_allocated_mb", r.get("peak_rss_mb", float("nan")))
        if "seconds_per_case_median" in r:
            print(
                f"{label:>8} {dims:>4} {'x'.join(map(str, shape)):>14} {width:>3} "
                f"{r['seconds_per_case_median']:>8.3f} {peak:>8.0f}"
            )
        else:
            print(f"{label:>8} {dims:>4} {'x'.join(map(str, shape)):>14} {width:>3}  {r}")
    return rows


def paper_sizes(path: Path) -> dict:
    config = yaml.safe_load(path.read_text())
    sz = sizes(config)
    return {d: {"shape": sz[d]["shape"], "width": sz[d]["width"]} for d in (2, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--paper-config", type=Path, default=ROOT / "config" / "paper.yaml")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES))
    parser.add_argument("--loader-epochs", type=int, default=2)
    parser.add_argument("--n2d", type=int, default=64, help="2D cases prepared for loading")
    parser.add_argument("--n3d", type=int, default=16, help="3D cases prepared for loading")
    parser.add_argument("--paper-3d-repeats", type=int, default=1)
    parser.add_argument("--skip-paper", action="store_true", help="no paper-size inference")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per subprocess")
    parser.add_argument("--timeout-paper", type=float, default=420)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads of every measurement (0: the config's resources.train_*d.threads)",
    )
    parser.add_argument(
        "--contrast-threads",
        type=int,
        default=0,
        help="also time rl-unet training with this many threads (0: the config's)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0

    t_start = time.perf_counter()
    config = rlconfig.load(args.config)
    device = resolve_device(config.get("device", "auto"))
    sz = sizes(config)
    config_threads = {d: sz[d]["threads"] or os.cpu_count() for d in (2, 3)}
    threads = {d: args.threads or config_threads[d] for d in (2, 3)}
    load_before = os.getloadavg()
    result: dict = {
        "benchmark": "training steps, data loading and rl-unet inference per model",
        "config": str(args.config),
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "node": platform.node(),
            "device": str(device),
            "device_name": torch.cuda.get_device_name(0)
            if device.type == "cuda"
            else platform.processor() or platform.machine(),
            "torch_threads": threads,
        },
        "settings": {
            "sizes": {f"{d}d": {k: v for k, v in s.items() if k != "lr"} for d, s in sz.items()},
            "lr": sz[2]["lr"],
            "steps": args.steps,
            "warmup": args.warmup,
            "batch_data": "random tensors of the trainer's shapes (training, inference)",
            "memory": "CUDA: torch.cuda.max_memory_allocated; CPU: ru_maxrss of a fresh process",
        },
        "load_avg_before": [round(v, 2) for v in load_before],
    }
    print(
        f"device {device} ({result['machine']['device_name']}), torch {torch.__version__}, "
        f"{os.cpu_count()} cores, threads {threads}, load {result['load_avg_before']}"
    )
    result["training"] = bench_models(sz, device, args, args.models, threads)
    contrast = {d: args.contrast_threads or config_threads[d] for d in (2, 3)}
    if device.type == "cpu" and contrast != threads and "rl-unet" in args.models:
        print(f"\nrl-unet with {contrast} threads (the config's train resources):", end="")
        result["training_threads_contrast"] = {
            "threads": contrast,
            "rows": bench_models(
                sz,
                device,
                argparse.Namespace(**{**vars(args), "steps": 3, "warmup": 1}),
                ["rl-unet"],
                contrast,
            ),
        }
    with tempfile.TemporaryDirectory(prefix="bench_training_") as tmp:
        folders = build_prepared(config, Path(tmp), args.n2d, args.n3d)
        result["loading"] = bench_loading(config, sz, device, folders, args)
    ratios = {}
    for dims in (2, 3):
        train = result["training"].get(f"rl-unet/{dims}d", {}).get("samples_per_s")
        load = result["loading"][f"{dims}d/workers{sz[dims]['num_workers']}"]["samples_per_s"]
        if train:
            ratios[f"{dims}d"] = {
                "loading_samples_per_s": load,
                "rl_unet_training_samples_per_s": train,
                "ratio": round(load / train, 1),
                "meets_target": load / train >= LOADER_TARGET,
            }
    result["loading_vs_training"] = {"target_ratio": LOADER_TARGET, **ratios}
    print()
    for key, r in ratios.items():
        print(
            f"{key}: loading {r['loading_samples_per_s']:.0f} / rl-unet training "
            f"{r['rl_unet_training_samples_per_s']:.1f} samples/s = {r['ratio']:.1f}x "
            f"(target >= {LOADER_TARGET:.0f}x: {'met' if r['meets_target'] else 'NOT met'})"
        )
    paper = None if args.skip_paper else paper_sizes(args.paper_config)
    inference = bench_inference(sz, paper, device, args, threads)
    result["inference"] = inference
    cac = inference.get("paper/3d", {})
    if "seconds_per_case_median" in cac:
        result["peer_comparison"] = {
            "peer": "direct CAC regression (de Vos et al., IEEE TMI 2019)",
            "peer_seconds_per_scan_gpu": PEER_SECONDS_PER_SCAN,
            "rl_unet_3d_paper_roi_seconds": cac["seconds_per_case_median"],
            "device": str(device),
            "note": "ROI inference only (heart localisation and Agatston not included)",
        }
        print(
            f"\nrl-unet 3D at the paper ROI: {cac['seconds_per_case_median']:.1f} s per case on "
            f"{device} vs < {PEER_SECONDS_PER_SCAN:.0f} s per scan (peer method, GPU)"
        )
    result["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    result["total_seconds"] = round(time.perf_counter() - t_start, 1)
    print(f"load average before {result['load_avg_before']}, after {result['load_avg_after']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out} ({result['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
