# Config validation and every input/target function, in one place. The Snakefile has put the
# package (workflow/) on sys.path.
import json
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

import rlnet
from rlnet import codebase
from rlnet.config import ConfigError, needs_masks, prepare_settings, training_settings
from rlnet.config import drop_nulls
from rlnet.config import validate as validate_config
from rlnet import phantom_registry
from rlnet.datasets.manifest_files import manifest_files

# A key set to null by a --configfile or --config merged over the default is left out
# (`problems: {sfa: null}`: config/README.md). Then our validator: its messages name the
# offending key ("config key 'training.lr.rl': ...").
drop_nulls(config)
try:
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
validate(config, schema="../schemas/config.schema.yaml")


# Rules run `python -m rlnet <stage>` with the package imported here, in any environment (venv,
# conda env, SLURM job; run directly or as a wrapper's module): every shell command starts by
# putting it on PYTHONPATH (a conda env unsets the caller's), in bash's strict mode, which a
# prefix replaces (pipefail: a failed `python ... | tee` fails its job). Braces doubled:
# Snakemake formats the prefix.
PACKAGE_PARENT = Path(rlnet.__file__).resolve().parents[1]
shell.prefix(
    "set -euo pipefail; "
    f'export PYTHONPATH="{PACKAGE_PARENT}${{{{PYTHONPATH:+:$PYTHONPATH}}}}"; '
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


def as_json(value):
    """A config block as a compact JSON string for a CLI argument."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def stage_code(stage, phantom=None):
    """Source files of the rlnet modules a stage runs (rlnet.codebase: the same modules whose
    hashes its provenance records hold), as inputs: an edited module reruns exactly the jobs
    that run it. A synthesis job's ``phantom`` leaves the other phantoms' modules out.
    """
    phantom_module = phantom_registry.PHANTOMS[phantom].module if phantom else None
    return [str(path) for path in codebase.stage_files(stage, phantom_module)]


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


def get_manifest_inputs(wildcards):
    """Shard tables for a synthetic problem; an importer's table; the user's manifest and every
    image and mask it lists otherwise (an edited image reruns the problem's jobs)."""
    source = config["problems"][wildcards.problem]["source"]
    if "synthetic" in source:
        return get_shards(source["synthetic"])
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


def get_table_source(wildcards):
    """The user's table of a table importer and the files it names."""
    table = config["problems"][wildcards.problem]["source"][importer(wildcards.problem)]
    return [table] + manifest_files(table)


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
    names = ("images.npy", "candidates.npy", "masks.npy", "cases.tsv", "meta.json")
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
    """The configured models of ``problem``, then the baselines (the columns of Table II)."""
    if problem not in PROBLEMS:
        return []
    return list(config["problems"][problem]["models"]) + BASELINES


def get_main_runs(problem):
    """(model, run) of the main study on ``problem``: every repeat of each configured model,
    then each baseline's single run (nall_r0)."""
    runs = [
        (m, f"nall_r{rep}")
        for m in config["problems"][problem]["models"]
        for rep in range(get_repeats(m))
    ]
    return runs + [(b, "nall_r0") for b in BASELINES]


def get_run_json(wildcards):
    """The run identity the metrics stage reads: a trained model's run.json, or the one a
    baseline writes beside its predictions (it has no model folder)."""
    folder = "predictions" if wildcards.model in BASELINES else "models"
    return f"results/{folder}/{wildcards.problem}/{wildcards.model}/{wildcards.run}/run.json"


def get_baseline_rule(wildcards):
    """`--rule <problems.{problem}.baselines.rule>` for the rule baseline, else nothing (so a
    changed rule reruns only the rule baseline)."""
    if wildcards.baseline != "rule":
        return ""
    return f"--rule {config['problems'][wildcards.problem]['baselines']['rule']}"


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
    if len(models.get("cac", ())) > 1:
        outputs.append("results/tables/table4.tsv")
    if {"rl-unet", "seg-unet"} <= models.get("liver", set()):
        outputs.append("results/tables/supplementary_liver.tsv")
    if get_sample_size_metrics():
        outputs.append("results/tables/sample_size.tsv")
    return outputs


def get_infer_outputs():
    """Predictions on new scans of every model the ``infer`` block names."""
    return [
        f"results/infer/{problem}/{model}/predictions.tsv"
        for problem, block in config.get("infer", {}).items()
        for model in block["models"]
    ]


def get_infer_inputs(wildcards):
    """The scans of ``infer.<problem>``: a TSV and the files it lists, or a folder's files
    (one level of subfolders: DICOM series)."""
    scans = Path(config["infer"][wildcards.problem]["scans"])
    if scans.is_file():
        return [str(scans)] + manifest_files(scans)
    if not scans.is_dir():
        raise WorkflowError(
            f"config key 'infer.{wildcards.problem}.scans': {scans} is no folder or TSV"
        )
    return sorted(
        str(p)
        for p in scans.glob("**/*")
        if p.is_file() and len(p.relative_to(scans).parts) <= 2
    )


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


# --- figures (workflow/rules/figures.smk) ---------------------------------------------------
def figure_outputs(path, caption, subcategory, category="{problem}", model="{model}"):
    """The outputs of one figure job: results/figures/{path}.pdf, .json, and .png shown in the
    HTML report (caption workflow/report/{caption}.rst, under ``category`` / ``subcategory``,
    labelled with the problem and ``model``): ``**`` it into a figure rule's output."""
    stem = f"results/figures/{path}"
    png = report(
        f"{stem}.png",
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory=subcategory,
        labels={"problem": category, "model": model},
    )
    return {"pdf": f"{stem}.pdf", "png": png, "json": f"{stem}.json"}


def figure_log(path):
    """The log of the figure job writing results/figures/{path}.*"""
    return f"results/logs/figures/{path}.log"


# One target per figure: {name}.pdf, .png and .json. Which figures exist follows the config.

FIGURE_SUFFIXES = ("pdf", "png", "json")
#: Fig. 12 compares these liver models side by side.
LIVER_COMPARISON = ["rl-unet", "seg-unet"]


def localizes(model):
    """Whether a model outputs a localization map (RL-Nets, the segmentation U-Net, every
    baseline)."""
    return model in BASELINES or model.split("-")[0] in ("rl", "seg")


def get_main_predictions(problem):
    """predictions.tsv of every configured model (repeat 0) and baseline of ``problem``."""
    return [
        f"results/predictions/{problem}/{m}/nall_r0/predictions.tsv"
        for m in get_main_models(problem)
    ]


def get_figure_names():
    """Every figure the config allows, as paths without suffix (results/figures/...)."""
    names = []
    for problem in PROBLEMS:
        models = get_main_models(problem)
        names.append(f"results/figures/distribution/{problem}")
        for model in models:
            names.append(f"results/figures/bland_altman/{problem}_{model}")
            names.append(f"results/figures/correlation/{problem}_{model}")
            if localizes(model):
                names.append(f"results/figures/overlays/{problem}_{model}")
            if problem == "cac":
                names.append(f"results/figures/confusion/cac_{model}")
        names.append(f"results/figures/abs_error/{problem}")
    if "cac" in PROBLEMS:
        names.append("results/figures/risk_groups")
    if "liver" in PROBLEMS and set(LIVER_COMPARISON) <= set(
        config["problems"]["liver"]["models"]
    ):
        names.append("results/figures/liver_comparison")
    if get_sample_size_metrics():
        for problem in config["sample_size"]["problems"]:
            names.append(f"results/figures/sample_size/{problem}")
    return names


def get_figure_outputs():
    """What the `figures` target builds: every figure's PDF, PNG and JSON."""
    return [
        f"{name}.{suffix}" for name in get_figure_names() for suffix in FIGURE_SUFFIXES
    ]

# --- end figures ------------------------------------------------------------------------------
