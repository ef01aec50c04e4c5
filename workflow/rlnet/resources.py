"""Cluster resources of the workflow's jobs, from the config's ``resources`` block.

Pure functions of the config dict (no Snakemake import), so they are unit-tested directly
(tests/test_resources.py); workflow/rules/resources.smk wraps them for the rules.

The block (config/config.yaml)::

    resources:
      default:  {mem_mb: 2000, runtime: 30}                      # every CPU rule
      train_2d: {mem_mb: 4000, runtime: 60, threads: 1, gpu: 0}  # training, 2D problems
      train_3d: {mem_mb: 8000, runtime: 120, threads: 1, gpu: 1} # training, 3D problems
      gpu_request: gpu   # gpu: `gpu` (+ `gpu_model`) resources -> sbatch --gpus=[MODEL:]N
                         # gres: a `gres` string             -> sbatch --gres=gpu[:MODEL]:N
      gpu_model: null    # e.g. a100; null: any GPU

``runtime`` is in minutes and ``mem_mb`` in MB, as Snakemake and the SLURM executor plugin
read them; a retried job asks for ``attempt`` times both (:func:`for_attempt`). Only training
jobs ask for GPUs; CPU rules never do.

A resource that one problem needs and another does not (a GPU for 3D but not for 2D) still
appears in :func:`train_resource_names`, so one rule with a ``{problem}`` wildcard can declare
it; for the problem that needs none its value is :data:`ABSENT` (0 GPUs, an empty ``gres`` or
``gpu_model``), which the SLURM plugin turns into no GPU request.
"""

import math
from collections.abc import Mapping
from typing import Any

#: Value of a training resource that this problem does not need (see the module docstring).
ABSENT: dict[str, Any] = {"gpu": 0, "gpu_model": "", "gres": ""}
#: What a retried job asks more of: attempt k (1, 2, ...) asks for k times the configured
#: memory and time, so a retry can outlive the out-of-memory or time-limit kill that failed it.
SCALED_WITH_ATTEMPT = ("mem_mb", "runtime")


class ResourceError(ValueError):
    """The resources block cannot describe a job (e.g. an unknown problem)."""


def _block(config: Mapping, problem: str) -> Mapping:
    try:
        dims = int(config["problems"][problem]["spatial_dims"])
    except KeyError as err:
        raise ResourceError(f"problem {problem!r} is not in config problems") from err
    key = f"train_{dims}d"
    try:
        return config["resources"][key]
    except KeyError as err:
        raise ResourceError(f"config resources.{key} is missing (problem {problem})") from err


def for_attempt(resources: dict[str, Any], attempt: int) -> dict[str, Any]:
    """``resources`` for the job's ``attempt`` (1 = first): SCALED_WITH_ATTEMPT times attempt."""
    if attempt < 1:
        raise ResourceError(f"attempt {attempt} < 1")
    return {k: v * attempt if k in SCALED_WITH_ATTEMPT else v for k, v in resources.items()}


def default_resources(config: Mapping, attempt: int = 1) -> dict[str, int]:
    """mem_mb and runtime of a CPU rule (``resources.default``) at ``attempt``; never a GPU."""
    block = config["resources"]["default"]
    return for_attempt({k: int(block[k]) for k in ("mem_mb", "runtime") if k in block}, attempt)


def gpu_request(n_gpus: int, mode: str = "gpu", model: str | None = None) -> dict[str, Any]:
    """The resources asking SLURM for ``n_gpus`` GPUs; empty for 0.

    mode ``gpu``: ``{"gpu": n}`` (+ ``"gpu_model": model``), which the plugin submits as
    ``--gpus=[model:]n``. mode ``gres``: ``{"gres": "gpu:n"}`` or ``"gpu:model:n"``, submitted as
    ``--gres=...``, for clusters that schedule GPUs only through generic resources.
    """
    if n_gpus < 0:
        raise ResourceError(f"negative GPU count {n_gpus}")
    if n_gpus == 0:
        return {}
    if mode == "gpu":
        return {"gpu": n_gpus, **({"gpu_model": model} if model else {})}
    if mode == "gres":
        return {"gres": f"gpu:{model}:{n_gpus}" if model else f"gpu:{n_gpus}"}
    raise ResourceError(f"resources.gpu_request must be 'gpu' or 'gres', not {mode!r}")


def train_resources(config: Mapping, problem: str) -> dict[str, Any]:
    """Resources of one training job of ``problem`` (train_2d or train_3d by spatial_dims).

    Returns mem_mb and runtime, plus the GPU request of :func:`gpu_request` when the block's
    ``gpu`` is above 0. Threads are separate (:func:`train_threads`): Snakemake takes them from
    the rule's ``threads:``, and the slurm profile turns them into ``--cpus-per-task``.
    """
    block = _block(config, problem)
    res = config["resources"]
    out: dict[str, Any] = {"mem_mb": int(block["mem_mb"]), "runtime": int(block["runtime"])}
    out.update(
        gpu_request(int(block.get("gpu", 0)), res.get("gpu_request", "gpu"), res.get("gpu_model"))
    )
    return out


def train_threads(config: Mapping, problem: str) -> int:
    """CPU threads of one training job of ``problem`` (the block's ``threads``, default 1)."""
    return int(_block(config, problem).get("threads", 1))


def train_priority(config: Mapping, problem: str, n: str = "all", model: str | None = None) -> int:
    """Snakemake priority of a training job: its expected size, so the longest runs start
    first (one started last runs alone at the end while the other cores idle).

    The size is what the run trains on, from the config alone, in millions of voxels:
    training cases x voxels per case x the epoch budget (``max_epochs`` of the run).
    Cases: ``n`` for a sample-size run, else the expected training split
    (:func:`expected_cases` x ``split.train``); voxels per case: the 3D ROI with its margins,
    else the 2D training grid's slice shape. A cost per voxel that differs between
    architectures is not modelled.
    """
    from rlnet.config import training_settings

    block = config["problems"][problem]
    cases = int(n) if n != "all" else expected_cases(config, problem) * block["split"]["train"]
    epochs = training_settings(config, problem, n, model).max_epochs
    return round(cases * _voxels_per_case(config, problem) * epochs / 1e6)


def expected_cases(config: Mapping, problem: str) -> float:
    """Cases the problem's data will hold, known before any job runs: a phantom's
    ``n_cases`` (abdomen: ``n_subjects`` x the mean of ``slices``), or the rows of a user's
    manifest (0 when it cannot be read: the manifest job reports that; 0 for an importer's)."""
    import csv

    source = config["problems"][problem]["source"]
    if "synthetic" in source:
        settings = config["phantoms"][source["synthetic"]]
        if "n_subjects" in settings:
            return settings["n_subjects"] * sum(settings.get("slices", [1, 1])) / 2
        return float(settings["n_cases"])
    if "manifest" not in source:  # an importer's: its size is known once it has run
        return 0.0
    try:
        with open(source["manifest"], newline="") as handle:
            return float(sum(1 for _ in csv.DictReader(handle, delimiter="\t")))
    except (OSError, UnicodeDecodeError, csv.Error):
        return 0.0


def _voxels_per_case(config: Mapping, problem: str) -> int:
    """Voxels one case feeds the network: the ROI with margins (3D), else the grid's slice."""
    from rlnet.config import problem_grid

    block = config["problems"][problem]
    if "roi" in block:
        sides = [
            s + 2 * m for s, m in zip(block["roi"]["size"], block["roi"]["margin"], strict=True)
        ]
    else:
        sides = problem_grid(config, problem)["shape"]
    return math.prod(sides)


def train_resource_names(config: Mapping) -> list[str]:
    """Every resource name that a training job of any configured problem uses, sorted."""
    names: set[str] = set()
    for problem in config["problems"]:
        names.update(train_resources(config, problem))
    return sorted(names)


def train_resource(config: Mapping, problem: str, name: str, attempt: int = 1) -> Any:
    """One training resource of ``problem`` at ``attempt``; :data:`ABSENT`'s value when it
    needs none."""
    value = for_attempt(train_resources(config, problem), attempt).get(name)
    if value is None:
        if name not in ABSENT:
            raise ResourceError(f"training jobs of {problem} have no resource {name!r}")
        return ABSENT[name]
    return value
