# Input functions: the files a job reads, from the config and the job's wildcards.
from pathlib import Path

from snakemake.exceptions import WorkflowError

from rlnet import phantom_registry
from rlnet.datasets.manifest_files import manifest_files
from rlnet.training import starts


def start_files(wildcards, name):
    """``name`` (run.json, model.pt, log.tsv) of each start of a run, in the order of its
    ``output_bias_starts``."""
    folder = "results/models/{problem}/{model}/n{n}_r{rep}/starts".format(**wildcards)
    return [
        f"{folder}/{starts.start_name(d)}/{name}"
        for d in run_starts(wildcards.problem, wildcards.model)
    ]


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


def get_main_cases(problem):
    """Per-case metric tables of the main study's models and baselines on one problem, repeat
    0 (Tables III, IV and the liver comparison)."""
    return [
        f"results/metrics/{problem}/{m}/nall_r0_cases.tsv"
        for m in get_main_models(problem)
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
