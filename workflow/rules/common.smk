# Config validation and every input/target function, in one place. The Snakefile has put the
# package (workflow/) on sys.path.
import json
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.io import is_flagged
from snakemake.settings.types import DeploymentMethod

import rlnet
from rlnet import codebase, model_registry, provenance
from rlnet.biomarker import of_problem
from rlnet.cli import STAGES
from rlnet.config import ConfigError, needs_masks, prepare_settings, training_settings
from rlnet.config import problem_settings
from rlnet.config import drop_nulls, problem_baselines
from rlnet.config import validate as validate_config
from rlnet import phantom_registry
from rlnet.datasets.manifest_files import manifest_files
from rlnet.training import starts

# A key set to null by a --configfile or --config merged over the default is left out
# (`problems: {sfa: null}`: config/README.md). Then the config is validated once: the JSON
# schema (workflow/schemas) and the semantic checks, with messages that name the offending key
# ("config key 'training.lr.rl': ...").
drop_nulls(config)
try:
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None


# Rules run `python -m rlnet <stage>` with the package imported here, in any environment (venv,
# conda env, SLURM job; run directly or as a wrapper's module): every shell command starts by
# putting it on PYTHONPATH (a conda env unsets the caller's), in bash's strict mode, which a
# prefix replaces (pipefail: a failed `python ... | tee` fails its job). `python` is the
# interpreter running Snakemake (its folder first on PATH: `.venv/bin/snakemake` works without
# activating the venv), except when jobs run in conda envs (--sdm conda, --use-conda): then
# each job's env provides it. Braces doubled: Snakemake formats the prefix.
PACKAGE_PARENT = Path(rlnet.__file__).resolve().parents[1]
JOBS_IN_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
INTERPRETER_PATH = (
    "" if JOBS_IN_CONDA else f'export PATH="{Path(sys.executable).parent}:$PATH"; '
)
shell.prefix(
    "set -euo pipefail; "
    f'export PYTHONPATH="{PACKAGE_PARENT}${{{{PYTHONPATH:+:$PYTHONPATH}}}}"; '
    + INTERPRETER_PATH
)
PROBLEMS = list(config["problems"])
#: Models that train (the main study's and the sample-size sweep's).
TRAINED_MODELS = sorted(
    {m for p in config["problems"].values() for m in p["models"]}
    | {config.get("sample_size", {}).get("model", "rl-unet")}
)
#: Baselines without learning (rlnet.baselines): rule `baseline` writes their predictions.
BASELINES = list(config["evaluation"].get("baselines", []))
#: The {model} wildcard: trained models and baselines.
MODELS = TRAINED_MODELS + BASELINES
PHANTOMS = list(config.get("phantoms", {}).keys() - {"shard_size"})
#: What each problem measures (rlnet.biomarker): name, units, score, risk groups.
BIOMARKERS = {p: of_problem(config, p) for p in PROBLEMS}


def run_starts(problem, model):
    """The starts (shifts of the automatic output bias) a run of ``model`` on ``problem``
    trains from (rlnet.training.starts.shifts); one for all but RL models with several.
    """
    return starts.shifts(training_settings(config, problem, model=model), model)


def problems_followed_by(models_of):
    """A regex for the {problem} wildcard of a path .../{problem}/{model}/...: each problem,
    only where the model after it is one of ``models_of(problem)`` (a lookahead), "none" when
    no pair qualifies. It tells which rule writes a run folder when that depends on the pair.
    """
    alternatives = [
        f"{re.escape(p)}(?=/(?:{'|'.join(map(re.escape, models_of(p)))})/)"
        for p in PROBLEMS
        if models_of(p)
    ]
    return "|".join(alternatives) or "none"


#: {problem} of the runs trained in one job (rule train) and of those trained from several
#: starts (rules train_start and select_start).
RUN_OF_ONE_START = problems_followed_by(
    lambda p: [m for m in TRAINED_MODELS if len(run_starts(p, m)) == 1]
)
RUN_OF_STARTS = problems_followed_by(
    lambda p: [m for m in TRAINED_MODELS if len(run_starts(p, m)) > 1]
)
#: The {start} wildcard: the folder names of every configured start (``+0``, ``+2``).
START_NAMES = "|".join(
    sorted(
        {
            re.escape(starts.start_name(d).removeprefix("start"))
            for p in PROBLEMS
            for m in TRAINED_MODELS
            for d in run_starts(p, m)
        }
    )
)


def start_files(wildcards, name):
    """``name`` (run.json, model.pt, log.tsv) of each start of a run, in the order of its
    ``output_bias_starts``."""
    folder = "results/models/{problem}/{model}/n{n}_r{rep}/starts".format(**wildcards)
    return [
        f"{folder}/{starts.start_name(d)}/{name}"
        for d in run_starts(wildcards.problem, wildcards.model)
    ]


#: The prepared folder of a job's problem, for a stage's --prepared or --out-dir.
PREPARED = "results/prepared/{wildcards.problem}"


def stage_command(name, **values):
    """The command line of stage ``name`` from its declaration (rlnet.cli.declare): every
    argument from the rule's input, output, params or wildcards of the same name, or from
    ``values`` (e.g. a folder built from wildcards)."""
    return STAGES[name].command(**values)


def stage_shell(name, **values):
    """stage_command with the stage's log (stderr) to the job's log: a rule's shell."""
    return stage_command(name, **values) + " 2> {log}"


def as_json(value):
    """A config block as a compact JSON string for a CLI argument."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def stage_code(stage, phantom=None):
    """What the rlnet modules a stage runs do, as one hash (rlnet.codebase.stage_behaviour:
    their syntax trees without comments, docstrings and __version__), for a rule's ``code``
    param: Snakemake's params trigger reruns exactly the jobs whose code changed in behaviour,
    and a comment or docstring edit reruns nothing. A synthesis job's ``phantom`` leaves the
    other phantoms' modules out.
    """
    phantom_module = phantom_registry.PHANTOMS[phantom].module if phantom else None
    return codebase.stage_behaviour(stage, phantom_module)


def recorded(**outputs):
    """Named outputs and beside each file its provenance record (``<file>.prov.json``, which
    the stage writes: rlnet.provenance) as ``<name>_record``, so every file a job writes is
    declared. A directory() output holds its files' records itself."""
    records = {
        f"{name}_record": f"{path}{provenance.SUFFIX}"
        for name, path in outputs.items()
        if not is_flagged(path, "directory")
    }
    return {**outputs, **records}


def biomarker_json(problem):
    """The biomarker of ``problem`` as a CLI argument (rlnet.biomarker.Biomarker.to_json)."""
    return BIOMARKERS[problem].to_json()


def risk_problems():
    """The problems whose biomarker has Agatston risk groups."""
    return [p for p in PROBLEMS if BIOMARKERS[p].risk_groups]


def comparison_pair(problem):
    """The RL model and the segmentation model on one backbone that ``problem`` trains (the
    paper's liver comparison: a supplementary table and Fig. 12; rlnet.model_registry), or
    [] where it trains no such pair."""
    pairs = model_registry.comparison(config["problems"][problem]["models"])
    return list(pairs[0]) if pairs else []


def compared_problems():
    """The problems that train a comparison pair (comparison_pair)."""
    return [p for p in PROBLEMS if comparison_pair(p)]


def comparison_files(problem, name):
    """``name`` (predictions.tsv, localization.npy) of each model of ``problem``'s
    comparison_pair."""
    return [
        f"results/predictions/{problem}/{m}/nall_r0/{name}"
        for m in comparison_pair(problem)
    ]


def get_shards(phantom):
    """Shard tables of one phantom."""
    settings = config["phantoms"][phantom]
    n = phantom_registry.n_shards(settings, config["phantoms"]["shard_size"])
    return [f"results/data/synthetic/{phantom}/shard{k}.tsv" for k in range(n)]


#: Sources an importer turns into a manifest (rules import_<source>).
IMPORTERS = ("lits", "slices_table", "cac_table")


def importer(problem):
    """The importer of ``problem``'s source, or None (synthetic data, a manifest)."""
    source = config["problems"][problem]["source"]
    return next((name for name in IMPORTERS if name in source), None)


def get_manifest_shards(wildcards):
    """The shard tables of a synthetic problem (the manifest stage's --shards), else none."""
    source = config["problems"][wildcards.problem]["source"]
    return get_shards(source["synthetic"]) if "synthetic" in source else []


def get_manifest_user_files(wildcards):
    """An importer's table; the user's manifest and every image and mask it lists (an edited
    image reruns the problem's jobs); nothing for a synthetic problem."""
    source = config["problems"][wildcards.problem]["source"]
    if "synthetic" in source:
        return []
    if importer(wildcards.problem):
        return [imported_table(wildcards.problem)]
    return [source["manifest"]] + manifest_files(source["manifest"])


def imported_table(problem):
    """The manifest an importer writes for ``problem``."""
    return f"results/data/{problem}/import/{importer(problem)}.tsv"


def manifest_source(problem):
    """The manifest stage's --source: the config's, with an importer's table as the manifest."""
    if importer(problem):
        return {"manifest": imported_table(problem)}
    return config["problems"][problem]["source"]


def source_name(problem, manifest):
    """The data's origin that split errors name: the user's manifest, folder or table."""
    source = config["problems"][problem]["source"]
    name = importer(problem)
    return source.get("manifest") or (source[name] if name else manifest)


def get_table(wildcards):
    """The user's table of a table importer."""
    return config["problems"][wildcards.problem]["source"][importer(wildcards.problem)]


def get_table_files(wildcards):
    """The files the user's table of a table importer names."""
    return manifest_files(get_table(wildcards))


def lits_files(problem, kind):
    """The ``kind``-N.nii[.gz] files (volume or segmentation) under a LiTS source folder."""
    folder = Path(config["problems"][problem]["source"]["lits"])
    if not folder.is_dir():
        raise WorkflowError(
            f"config key 'problems.{problem}.source.lits': {folder} is not a folder"
        )
    return sorted(str(p) for p in folder.rglob(f"{kind}-*.nii*"))


def get_prepared(problem):
    """The prepared files of one problem."""
    folder = f"results/prepared/{problem}"
    names = (
        "images.npy",
        "candidates.npy",
        "masks.npy",
        "cases.tsv",
        "meta.json",
        "heart.npy",
    )
    return [f"{folder}/{name}" for name in names]


def get_data_outputs():
    """Everything the data stage of the DAG produces."""
    outputs = []
    for problem in PROBLEMS:
        outputs += get_prepared(problem)
        outputs.append(f"results/data/{problem}/split_counts.tsv")
    return outputs


def get_repeats(model):
    """Training runs of ``model`` in the main study: evaluation.repeats.n when it lists the
    model, else 1 (runs nall_r0, nall_r1, ...; the rep is part of the run seed)."""
    block = config["evaluation"].get("repeats", {})
    return block["n"] if model in block.get("models", []) else 1


def get_main_models(problem):
    """The configured models of ``problem``, then the baselines that apply to it (the columns
    of Table II)."""
    if problem not in PROBLEMS:
        return []
    models = list(config["problems"][problem]["models"])
    return models + problem_baselines(config, problem)


def get_main_runs(problem):
    """(model, run) of the main study on ``problem``: every repeat of each configured model,
    then each baseline's single run (nall_r0)."""
    runs = [
        (m, f"nall_r{rep}")
        for m in config["problems"][problem]["models"]
        for rep in range(get_repeats(m))
    ]
    return runs + [(b, "nall_r0") for b in problem_baselines(config, problem)]


def get_run_json(wildcards):
    """The run identity the metrics stage reads: a trained model's run.json, or the one a
    baseline writes beside its predictions (it has no model folder)."""
    folder = "predictions" if wildcards.model in BASELINES else "models"
    return f"results/{folder}/{wildcards.problem}/{wildcards.model}/{wildcards.run}/run.json"


def get_baseline_rule(wildcards):
    """``problems.{problem}.baselines.rule`` for the rule baseline, else "none" (so a changed
    rule reruns only the rule baseline)."""
    if wildcards.baseline != "rule":
        return "none"
    return config["problems"][wildcards.problem]["baselines"]["rule"]


def get_runs():
    """(problem, model, run) of every trained model: the main study (every repeat), then the
    sample-size sweep."""
    runs = [
        (p, m, run)
        for p in PROBLEMS
        for m, run in get_main_runs(p)
        if m not in BASELINES
    ]
    sweep = config.get("sample_size")
    if sweep:
        for problem in sweep["problems"]:
            for size in sweep["sizes"]:
                for rep in range(sweep["repeats"]):
                    runs.append((problem, sweep["model"], f"n{size}_r{rep}"))
    return runs


def get_main_metrics(wildcards=None):
    """Metrics JSONs of the main study (every configured model, every repeat, whole training
    split; and the baselines): Table II."""
    return [
        f"results/metrics/{p}/{m}/{run}.json"
        for p in PROBLEMS
        for m, run in get_main_runs(p)
    ]


def get_main_cases(problem):
    """Per-case metric tables of the main study's models and baselines on one problem, repeat
    0 (Tables III, IV and the liver comparison)."""
    return [
        f"results/metrics/{problem}/{m}/nall_r0_cases.tsv"
        for m in get_main_models(problem)
    ]


def get_sample_size_metrics(wildcards=None):
    """Metrics JSONs of the sample-size sweep."""
    sweep = config.get("sample_size")
    if not sweep:
        return []
    return [
        f"results/metrics/{p}/{sweep['model']}/n{size}_r{rep}.json"
        for p in sweep["problems"]
        for size in sweep["sizes"]
        for rep in range(sweep["repeats"])
    ]


def get_table_outputs():
    """The paper's tables that the configured problems and models allow."""
    models = {p: set(get_main_models(p)) for p in PROBLEMS}
    outputs = ["results/tables/table2.tsv"]
    outputs += [
        f"results/tables/table3_{p}.tsv" for p in PROBLEMS if len(models[p]) > 1
    ]
    outputs += [
        f"results/tables/table4_{p}.tsv" for p in risk_problems() if len(models[p]) > 1
    ]
    outputs += [f"results/tables/supplementary_{p}.tsv" for p in compared_problems()]
    if get_sample_size_metrics():
        outputs.append("results/tables/sample_size.tsv")
    return outputs


def get_infer_outputs():
    """The output folder (predictions.tsv, maps/, ...) of every model the ``infer`` block
    names on new scans."""
    return [
        f"results/infer/{problem}/{model}"
        for problem, block in config.get("infer", {}).items()
        for model in block["models"]
    ]


def get_infer_inputs(wildcards):
    """The scans of ``infer.<problem>``: a TSV and the files it lists, one image file, or every
    file below a folder (DICOM series at any depth)."""
    scans = Path(config["infer"][wildcards.problem]["scans"])
    if scans.is_file():
        return [str(scans)] + manifest_files(scans)
    if not scans.is_dir():
        raise WorkflowError(
            f"config key 'infer.{wildcards.problem}.scans': {scans} is no folder, scans TSV "
            "or image file"
        )
    return sorted(str(p) for p in scans.rglob("*") if p.is_file())


def get_qc_outputs():
    """The heart-ROI QC of every 3D problem."""
    return [
        f"results/qc/{problem}/{name}"
        for problem in PROBLEMS
        if config["problems"][problem]["spatial_dims"] == 3
        for name in ("roi.tsv", "roi.png")
    ]


def get_final_outputs():
    """What `all` builds."""
    return (
        get_data_outputs()
        + get_qc_outputs()
        + get_table_outputs()
        + get_figure_outputs()
        + get_infer_outputs()
    )


# Cluster resources of training jobs: the logic is in workflow/rlnet/resources.py (tested there).
from rlnet import resources as rlnet_resources  # noqa: E402


def get_train_resources(problem):
    """Resources of one training job of ``problem``: mem_mb, runtime (min) and, when the
    config's train_2d/train_3d block asks for GPUs, ``gpu`` (+ ``gpu_model``) or ``gres``
    (per ``resources.gpu_request``). Threads: get_train_threads(problem).

    A job with a ``{problem}`` wildcard cannot unpack this dict (no wildcards at parse time);
    it declares callables instead:

        threads: get_train_threads_callable()
        resources:
            **get_train_resources_callables(),

    which gives every resource name any configured problem needs, each a function of the
    wildcards (0 GPUs / empty gres for a problem that needs none: no GPU is requested).
    One resource alone: ``mem_mb=train_resource("mem_mb")``.
    """
    return rlnet_resources.train_resources(config, problem)


def get_train_threads(problem):
    """CPU threads of one training job of ``problem`` (train_2d/train_3d ``threads``)."""
    return rlnet_resources.train_threads(config, problem)


def train_resource(name, wildcard="problem"):
    """The training resource ``name`` as a function of the job's wildcards and attempt
    (a retry asks for ``attempt`` times the memory and time)."""
    return lambda w, attempt: rlnet_resources.train_resource(
        config, getattr(w, wildcard), name, attempt
    )


def get_default_resources():
    """Resources (``resources.default``: mem_mb, runtime) of every job but training, each a
    function of the attempt, so a retry asks for ``attempt`` times the memory and time:
    ``**`` it into a rule's resources."""
    return {
        name: default_resource(name)
        for name in rlnet_resources.default_resources(config)
    }


def default_resource(name):
    """The non-training resource ``name`` as a function of the job's attempt."""
    return lambda w, attempt: rlnet_resources.default_resources(config, attempt)[name]


def get_train_resources_callables(wildcard="problem"):
    """{name: train_resource(name)} for every training resource: ``**`` it into resources."""
    names = rlnet_resources.train_resource_names(config)
    return {name: train_resource(name, wildcard) for name in names}


#: Snakemake priority of the data stage (synthesize, manifest, split, prepare): above any
#: training job's (rlnet.resources.train_priority), so every problem's data is ready first
#: and the longest runs can start first; data jobs are short.
DATA_PRIORITY = 10**6


def get_train_priority_callable():
    """Training priority (the longest runs first: rlnet.resources.train_priority) as a
    function of the job's wildcards, for ``priority:``."""
    return lambda w: rlnet_resources.train_priority(config, w.problem, w.n, w.model)


def get_train_threads_callable(wildcard="problem"):
    """get_train_threads as a function of the job's wildcards, for ``threads:``."""
    return lambda w: get_train_threads(getattr(w, wildcard))
