"""Command-line front for every pipeline stage: ``python -m rlnet <stage> ...``.

Each Snakemake rule calls exactly one stage. Settings arrive as JSON strings of the relevant
config block (the rule's ``params``), so a changed setting reruns the affected jobs.
"""

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from rlnet import __version__
from rlnet.phantom_registry import PHANTOMS

log = logging.getLogger("rlnet")

STAGES: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {}
#: Stage -> (argument names holding its input paths, argument names holding its outputs);
#: every output file gets a provenance sidecar naming the inputs' hashes (rlnet.provenance).
STAGE_IO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

#: Outputs of figure stages: the PDF named by --out and the PNG and JSON written beside it.
FIGURE_OUT = ("out", "out.png", "out.json")


def stage(name: str, help_text: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()):
    """Register ``add_arguments`` for a stage and the arguments that name its files.

    ``add_arguments`` sets ``execute`` (the function running the stage) as a parser default.
    An output name ``arg.ext`` means the file of argument ``arg`` with its suffix replaced.
    """

    def register(add_arguments):
        STAGES[name] = (help_text, add_arguments)
        STAGE_IO[name] = (inputs, outputs)
        return add_arguments

    return register


def _referenced(table_path: Path) -> list[Path]:
    """The image and mask files a manifest or shard table points to (columns ``image``,
    ``mask``, ``candidate_mask`` and a shard's ``mask_*``)."""
    import pandas as pd

    table = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False)
    from rlnet.datasets.manifest_files import PATH_COLUMNS

    columns = [c for c in table if c in PATH_COLUMNS or c.startswith("mask_")]
    return [Path(v) for c in columns for v in table[c] if v]


def _paths(args: argparse.Namespace, names: tuple[str, ...]) -> list[Path]:
    """The paths that the named arguments hold (lists flattened). Name forms: ``arg``;
    ``arg.ext``, the file of ``arg`` with its suffix replaced; ``arg@files``, the files the
    table in ``arg`` points to; ``arg:key``, the path under ``key`` of the JSON argument
    ``arg`` (absent key: nothing); ``arg:key@files``, the files the user manifest there lists
    (relative paths from its folder)."""
    paths: list[Path] = []
    for name in names:
        if ":" in name and name.endswith("@files"):  # a user manifest named in a JSON argument
            from rlnet.datasets.manifest_files import manifest_files

            for user_manifest in _paths(args, (name.removesuffix("@files"),)):
                paths += [Path(p) for p in manifest_files(user_manifest)]
            continue
        if name.endswith("@files"):
            paths += _referenced(getattr(args, name.removesuffix("@files")))
            continue
        if ":" in name:
            dest, _, key = name.partition(":")
            value = getattr(args, dest).get(key)
            paths += [Path(value)] if value else []
            continue
        dest, _, ext = name.partition(".")
        value = getattr(args, dest, None)
        values = value if isinstance(value, list) else [value] if value is not None else []
        paths += [Path(v).with_suffix(f".{ext}") if ext else Path(v) for v in values]
    return paths


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err


BIOMARKER_HELP = "the problem's biomarker (rlnet.biomarker.Biomarker as JSON)"


def _biomarker(text: str):
    from rlnet.biomarker import Biomarker

    try:
        return Biomarker.from_json(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


@stage(
    "synthesize",
    "generate one shard of synthetic CT cases (NIfTI + shard table)",
    inputs=(),
    outputs=("table", "table@files"),
)
def _synthesize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--phantom", required=True, choices=list(PHANTOMS))
    p.add_argument("--settings", type=_json, required=True, help="phantoms.<name> block (JSON)")
    p.add_argument("--agatston", type=_json, default={}, help="evaluation.agatston (JSON)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--shard-size", type=int, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io
        from rlnet.datasets import synthesis, synthetic

        indices = synthetic.shard_range(a.settings, a.shard_size, a.shard)
        table = synthesis.write_shard(a.phantom, a.settings, a.seed, indices, a.out_dir, a.agatston)
        io.write_table(a.table, table)
        log.info("%s shard %d: %d cases -> %s", a.phantom, a.shard, len(table), a.table)

    p.set_defaults(execute=run)


@stage(
    "import-lits",
    "a LiTS folder's tumour-bearing axial slices as a manifest (2D NIfTI slices and masks)",
    inputs=("volumes", "segmentations"),
    outputs=("table", "table@files"),
)
def _import_lits_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--volumes", type=Path, nargs="+", required=True, help="volume-N.nii[.gz]")
    p.add_argument("--segmentations", type=Path, nargs="*", default=[])
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io
        from rlnet.datasets import lits

        table = lits.import_lits(a.volumes, a.segmentations, a.out_dir)
        io.write_table(a.table, table)
        log.info(
            "LiTS: %d tumour slices of %d volumes -> %s",
            len(table),
            table.subject_id.nunique(),
            a.table,
        )

    p.set_defaults(execute=run)


@stage(
    "import-slices-table",
    "a table of 2D slices (or 3D scans + slice index) and areas as a manifest (slices as NIfTI)",
    inputs=("source", "files"),
    outputs=("table", "table@files"),
)
def _import_slices_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", type=Path, required=True, help="the user's table (CSV or TSV)")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True)
    p.set_defaults(files=[])  # filled by run: the files the source table names

    def run(a: argparse.Namespace) -> None:
        from rlnet.datasets.tables import import_slices_table

        _import_table(a, lambda: import_slices_table(a.source, a.out_dir))

    p.set_defaults(execute=run)


@stage(
    "import-cac-table",
    "a table of CT scans with Agatston scores and calcium volumes or masks as a manifest",
    inputs=("source", "files"),
    outputs=("table",),
)
def _import_cac_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", type=Path, required=True, help="the user's table (CSV or TSV)")
    p.add_argument("--table", type=Path, required=True)
    p.set_defaults(files=[])  # filled by run: the files the source table names

    def run(a: argparse.Namespace) -> None:
        from rlnet.datasets.tables import import_cac_table

        _import_table(a, lambda: import_cac_table(a.source))

    p.set_defaults(execute=run)


def _import_table(a: argparse.Namespace, run_importer) -> None:
    """Run a table importer: record the files the user's table names (provenance inputs),
    write the manifest it returns to --table."""
    from rlnet import io
    from rlnet.datasets.manifest_files import manifest_files

    a.files = [Path(f) for f in manifest_files(a.source)]
    table = run_importer()
    io.write_table(a.table, table)
    log.info("%s: %d cases -> %s", a.stage, len(table), a.table)


@stage(
    "manifest",
    "build a problem's manifest from synthetic shards or a user manifest",
    inputs=("shards", "source:manifest", "source:manifest@files"),
    outputs=("out",),
)
def _manifest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", type=_json, required=True, help="problems.<name>.source (JSON)")
    p.add_argument("--shards", type=Path, nargs="*", default=[])
    p.add_argument("--spatial-dims", type=int, required=True, choices=[2, 3])
    p.add_argument(
        "--needs-masks",
        action="store_true",
        help="the problem trains a mask-trained model (seg-*): every case needs a mask",
    )
    p.add_argument("--out", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io
        from rlnet.datasets import manifest, synthetic

        if "manifest" in a.source:
            table = manifest.import_user_manifest(
                a.source["manifest"], a.spatial_dims, a.needs_masks
            )
        else:
            origin = ", ".join(map(str, a.shards))
            shards = [synthetic.read_shard(s, a.source) for s in a.shards]
            table = synthetic.manifest_from_shards(shards, a.source, origin)
            if a.needs_masks:
                manifest.require_masks(table, origin)
            table = manifest.check_headers(table, origin, a.spatial_dims)
        io.write_table(a.out, table)
        log.info(
            "manifest: %d cases, %d subjects -> %s", len(table), table.subject_id.nunique(), a.out
        )

    p.set_defaults(execute=run)


@stage(
    "split",
    "stratified, subject-grouped train/val/test split",
    inputs=("manifest",),
    outputs=("out", "report"),
)
def _split_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument("--split", type=_json, required=True, help="problems.<name>.split (JSON)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--risk-scheme", default="paper", choices=["paper", "clinical"])
    p.add_argument(
        "--source-name",
        default=None,
        help="the data's origin named in errors (the user's manifest file; default --manifest)",
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--report", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io, split
        from rlnet.datasets.manifest import validate

        source = a.source_name or a.manifest
        table = validate(io.read_table(a.manifest), source, check_files=False)
        fractions = (a.split["train"], a.split["val"], a.split["test"])
        try:
            result = split.make_split(
                table,
                fractions,
                a.seed,
                n_strata=a.split.get("strata", split.default_strata(a.biomarker.risk_groups)),
                by_risk=a.biomarker.risk_groups,
                scheme=a.risk_scheme,
            )
        except split.SplitError as err:
            raise split.SplitError(f"{source} (problem {a.biomarker.problem}): {err}") from err
        io.write_table(a.out, result)
        io.write_table(a.report, split.report(result))
        log.info("split: %s", result.split.value_counts().to_dict())

    p.set_defaults(execute=run)


@stage(
    "prepare",
    "crop ROIs, build candidate masks, store memory-mappable arrays",
    inputs=("manifest", "split", "manifest@files"),
    outputs=("out_dir",),
)
def _prepare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--split", type=Path, required=True)
    p.add_argument(
        "--problem-settings",
        type=_json,
        required=True,
        help="the problem keys prepare reads (JSON; rlnet.config.prepare_settings)",
    )
    p.add_argument("--out-dir", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io, prepare
        from rlnet.datasets.manifest import validate

        table = validate(io.read_table(a.manifest), a.manifest)
        cases = prepare.prepare(table, io.read_table(a.split), a.problem_settings, a.out_dir)
        log.info("prepared %d cases -> %s", len(cases), a.out_dir)

    p.set_defaults(execute=run)


def _size(text: str) -> int | None:
    return None if text == "all" else int(text)


@stage(
    "train",
    "train one model on one problem (resumes from its last checkpoint)",
    inputs=("prepared",),
    outputs=("out_dir",),
)
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prepared", type=Path, required=True)
    p.add_argument("--problem", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=_size, default=None, help="training-set size or 'all'")
    p.add_argument("--rep", type=int, default=0)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--settings", type=_json, required=True, help="merged training block (JSON)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--checkpoint-dir", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        import torch

        from rlnet.training.loop import RunSpec, Trainer

        if a.threads:
            torch.set_num_threads(a.threads)
        spec = RunSpec(a.problem, a.model, a.n, a.rep, a.seed, a.settings)
        result = Trainer(spec, a.prepared, a.device).fit(a.out_dir, a.checkpoint_dir)
        log.info(
            "trained %s on %s: %d epochs, best %d, %.1f s",
            a.model,
            a.problem,
            result["epochs"],
            result["best_epoch"],
            result["train_seconds"],
        )

    p.set_defaults(execute=run)


def _model_use_args(p: argparse.ArgumentParser) -> None:
    """The arguments of applying a trained model: which, where, and how its output is read."""
    p.add_argument("--model-file", type=Path, required=True)
    p.add_argument("--problem", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--agatston", type=_json, default={}, help="evaluation.agatston (JSON)")
    p.add_argument("--risk-scheme", default="paper", choices=["paper", "clinical"])
    p.add_argument(
        "--localization",
        default="area",
        help="evaluation.localization: how maps become masks (area | threshold)",
    )
    p.add_argument("--out-dir", type=Path, required=True)


@stage(
    "predict",
    "predict the test split: values, localization masks (NIfTI)",
    inputs=("model_file", "prepared"),
    outputs=("out_dir",),
)
def _predict_args(p: argparse.ArgumentParser) -> None:
    _model_use_args(p)
    p.add_argument("--prepared", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet.predict import predict

        table = predict(
            a.model_file,
            a.prepared,
            a.problem,
            a.model,
            a.out_dir,
            device=a.device,
            batch_size=a.batch_size,
            agatston_kw=a.agatston,
            risk_scheme=a.risk_scheme,
            localization=a.localization,
        )
        log.info("predicted %d test cases -> %s", len(table), a.out_dir)

    p.set_defaults(execute=run)


@stage(
    "roi-qc",
    "the heart ROIs of a prepared 3D problem: roi.tsv and a montage of the boxes (PNG)",
    inputs=("prepared",),
    outputs=("table", "montage"),
)
def _roi_qc_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prepared", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True)
    p.add_argument("--montage", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet.roi_qc import roi_qc

        table = roi_qc(a.prepared, a.table, a.montage)
        doubtful = table.loc[table["flag"] != "", "case_id"].tolist()
        log.info(
            "heart ROIs: %d cases, %d doubtful %s -> %s",
            len(table),
            len(doubtful),
            doubtful,
            a.table,
        )

    p.set_defaults(execute=run)


@stage(
    "infer",
    "apply a trained model to new scans without reference values: values, maps (NIfTI)",
    inputs=("model_file", "scans", "images"),
    outputs=("out_dir",),
)
def _infer_args(p: argparse.ArgumentParser) -> None:
    _model_use_args(p)
    p.add_argument("--settings", type=_json, required=True, help="problems.<name> block (JSON)")
    p.add_argument("--scans", type=Path, required=True, help="a folder of scans or a scans TSV")
    p.set_defaults(images=[])  # filled by run: the scans read (provenance inputs)

    def run(a: argparse.Namespace) -> None:
        from rlnet.infer import infer_scans, scan_table

        scans = scan_table(a.scans)
        a.images = [Path(v) for c in ("image", "candidate_mask") for v in scans[c] if v]
        infer_scans(
            a.model_file,
            a.problem,
            a.model,
            a.settings,
            scans,
            a.out_dir,
            device=a.device,
            batch_size=a.batch_size,
            agatston_kw=a.agatston,
            risk_scheme=a.risk_scheme,
            localization=a.localization,
        )

    p.set_defaults(execute=run)


@stage(
    "baseline",
    "a baseline without learning on the test split, written like a model's predictions",
    inputs=("prepared",),
    outputs=("out_dir",),
)
def _baseline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prepared", type=Path, required=True)
    p.add_argument("--problem", required=True)
    p.add_argument("--baseline", required=True, help="candidates | rule")
    p.add_argument(
        "--rule", default=None, help="problems.<name>.baselines.rule: region | agatston | threshold"
    )
    p.add_argument("--agatston", type=_json, default={}, help="evaluation.agatston (JSON)")
    p.add_argument("--risk-scheme", default="paper", choices=["paper", "clinical"])
    p.add_argument("--out-dir", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet.baselines import run_baseline

        table = run_baseline(
            a.prepared,
            a.problem,
            a.baseline,
            a.out_dir,
            rule=a.rule,
            agatston_kw=a.agatston,
            risk_scheme=a.risk_scheme,
        )
        log.info("baseline %s: %d test cases -> %s", a.baseline, len(table), a.out_dir)

    p.set_defaults(execute=run)


@stage(
    "metrics",
    "metrics of one model on its test set, with bootstrap CIs",
    inputs=("predictions", "localization", "prepared", "run"),
    outputs=("out", "cases"),
)
def _metrics_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictions", type=Path, required=True)
    p.add_argument("--localization", type=Path, required=True)
    p.add_argument("--prepared", type=Path, required=True)
    p.add_argument("--run", type=Path, required=True, help="the model's run.json")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cases", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import evaluate

        run_info = json.loads(a.run.read_text())
        keys = ("problem", "model", "n", "rep", "n_train", "fingerprint", "family", "target")
        identity = {k: run_info[k] for k in keys}
        record, per_case = evaluate.evaluate(
            a.predictions, a.localization, a.prepared, identity, n_boot=a.bootstrap, seed=a.seed
        )
        evaluate.write(record, per_case, a.out, a.cases)
        log.info("metrics: %s", {k: round(v["value"], 4) for k, v in record["metrics"].items()})

    p.set_defaults(execute=run)


def _read_cases(paths: list[Path]) -> dict:
    from rlnet import io

    return {path.parent.name: io.read_table(path) for path in paths}


@stage(
    "table2",
    "the paper's Table II: every metric of every model (TSV, Markdown, LaTeX)",
    inputs=("metrics",),
    outputs=("tsv", "markdown", "latex"),
)
def _table2_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", type=Path, nargs="+", required=True)
    p.add_argument("--tsv", type=Path, required=True)
    p.add_argument("--markdown", type=Path, required=True)
    p.add_argument("--latex", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io, tables

        table = tables.table2(tables.read_records(a.metrics))
        io.write_table(a.tsv, table)
        tables.write_text(a.markdown, tables.to_markdown(table))
        tables.write_text(a.latex, tables.to_latex(table))

    p.set_defaults(execute=run)


@stage(
    "table3",
    "the paper's Table III for one problem: pairwise tests between models",
    inputs=("cases",),
    outputs=("out",),
)
def _table3_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cases", type=Path, nargs="+", required=True, help="per-case TSVs")
    p.add_argument("--p-adjust", default="holm")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--out", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io, tables

        io.write_table(a.out, tables.table3(_read_cases(a.cases), a.p_adjust, a.alpha))

    p.set_defaults(execute=run)


@stage(
    "table4",
    "the paper's Table IV for an Agatston problem: Stuart-Maxwell tests on its risk groups",
    inputs=("cases",),
    outputs=("out",),
)
def _table4_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cases", type=Path, nargs="+", required=True, help="per-case TSVs")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--out", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io, tables

        io.write_table(a.out, tables.table4(_read_cases(a.cases), a.alpha))

    p.set_defaults(execute=run)


@stage(
    "comparison",
    "per-slice and per-subject rho and Dice of an RL and a segmentation model (liver)",
    inputs=("cases",),
    outputs=("out",),
)
def _comparison_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cases", type=Path, nargs="+", required=True, help="per-case TSVs")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--out", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io, tables

        io.write_table(a.out, tables.comparison(_read_cases(a.cases), a.alpha))

    p.set_defaults(execute=run)


@stage(
    "sample-size",
    "sample-size summary: mean, min, max, sd of rho and Dice per size",
    inputs=("metrics",),
    outputs=("out",),
)
def _sample_size_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)

    def run(a: argparse.Namespace) -> None:
        from rlnet import io, tables

        io.write_table(a.out, tables.sample_size_summary(tables.read_records(a.metrics)))

    p.set_defaults(execute=run)


# --- figures (workflow/rules/figures.smk; one stage per kind of figure) -------------------------
# Each writes --out (.pdf) and the .png and .json sidecar beside it.


def _predictions(path: Path):
    from rlnet import io

    return io.read_table(path, required=("case_id", "reference", "prediction"))


@stage(
    "figure-bland-altman",
    "Bland-Altman plot of one model's test predictions (Figs. 8, 9)",
    inputs=("predictions",),
    outputs=FIGURE_OUT,
)
def _figure_bland_altman_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictions", type=Path, required=True)
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument("--model", required=True)
    p.add_argument("--out", type=Path, required=True, help="PDF; .png and .json beside it")

    def run(a: argparse.Namespace) -> None:
        from rlnet.figures import agreement

        numbers = agreement.bland_altman(_predictions(a.predictions), a.biomarker, a.model, a.out)
        log.info("Bland-Altman: bias %s, n %d -> %s", numbers["bias"], numbers["n"], a.out)

    p.set_defaults(execute=run)


@stage(
    "figure-correlation",
    "correlation plot of one model's test predictions (Figs. 8, 9)",
    inputs=("predictions",),
    outputs=FIGURE_OUT,
)
def _figure_correlation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictions", type=Path, required=True)
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument("--model", required=True)
    p.add_argument("--out", type=Path, required=True, help="PDF; .png and .json beside it")

    def run(a: argparse.Namespace) -> None:
        from rlnet.figures import agreement

        numbers = agreement.correlation(_predictions(a.predictions), a.biomarker, a.model, a.out)
        log.info("correlation: rho %s, n %d -> %s", numbers["rho"], numbers["n"], a.out)

    p.set_defaults(execute=run)


@stage(
    "figure-confusion",
    "cac risk-group confusion matrices of one model (Fig. 9)",
    inputs=("predictions",),
    outputs=FIGURE_OUT,
)
def _figure_confusion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictions", type=Path, required=True)
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument("--model", required=True)
    p.add_argument("--risk-scheme", default="paper", choices=["paper", "clinical"])
    p.add_argument("--out", type=Path, required=True, help="PDF; .png and .json beside it")

    def run(a: argparse.Namespace) -> None:
        from rlnet import io
        from rlnet.figures import confusion

        table = io.read_table(a.predictions, required=("reference_group", "predicted_group"))
        numbers = confusion.confusion(table, a.biomarker, a.model, a.out, a.risk_scheme)
        log.info("confusion: n %d, accuracy %s -> %s", numbers["n"], numbers["accuracy"], a.out)

    p.set_defaults(execute=run)


@stage(
    "figure-overlays",
    "localization overlays of six test cases (Figs. 8, 11)",
    inputs=("predictions", "localization", "prepared"),
    outputs=FIGURE_OUT,
)
def _figure_overlays_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictions", type=Path, required=True)
    p.add_argument("--localization", type=Path, required=True)
    p.add_argument("--prepared", type=Path, required=True)
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument("--model", required=True)
    p.add_argument("--out", type=Path, required=True, help="PDF; .png and .json beside it")

    def run(a: argparse.Namespace) -> None:
        import numpy as np

        from rlnet.figures import overlays
        from rlnet.prepare import Prepared

        numbers = overlays.overlays(
            _predictions(a.predictions),
            np.load(a.localization, mmap_mode="r"),
            Prepared.load(a.prepared),
            a.biomarker,
            a.model,
            a.out,
        )
        log.info("overlays: cases %s -> %s", numbers["case_ids"], a.out)

    p.set_defaults(execute=run)


@stage(
    "figure-comparison",
    "localization of RL and segmentation models side by side (Fig. 12: liver)",
    inputs=("predictions", "localization", "prepared"),
    outputs=FIGURE_OUT,
)
def _figure_comparison_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--predictions", type=Path, nargs="+", required=True, help="one per model")
    p.add_argument("--localization", type=Path, nargs="+", required=True, help="one per model")
    p.add_argument("--prepared", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="PDF; .png and .json beside it")

    def run(a: argparse.Namespace) -> None:
        import numpy as np

        from rlnet.figures import overlays
        from rlnet.prepare import Prepared

        if not len(a.models) == len(a.predictions) == len(a.localization):
            raise ValueError("--models, --predictions and --localization differ in length")
        models = {
            m: (_predictions(p), np.load(loc, mmap_mode="r"))
            for m, p, loc in zip(a.models, a.predictions, a.localization, strict=True)
        }
        numbers = overlays.comparison(models, Prepared.load(a.prepared), a.biomarker, a.out)
        log.info("comparison: cases %s -> %s", numbers["case_ids"], a.out)

    p.set_defaults(execute=run)


@stage(
    "figure-abs-error",
    "box plots of absolute error per model of one problem (Fig. 10)",
    inputs=("predictions",),
    outputs=FIGURE_OUT,
)
def _figure_abs_error_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument(
        "--predictions",
        type=Path,
        nargs="+",
        required=True,
        help=".../{model}/{run}/predictions.tsv (the model is read from the path)",
    )
    p.add_argument("--out", type=Path, required=True, help="PDF; .png and .json beside it")

    def run(a: argparse.Namespace) -> None:
        from rlnet.figures import errors

        tables = {path.parent.parent.name: _predictions(path) for path in a.predictions}
        errors.abs_error(tables, a.biomarker, a.out)
        log.info("absolute error: %s -> %s", sorted(tables), a.out)

    p.set_defaults(execute=run)


@stage(
    "figure-sample-size",
    "rho (and Dice) against training-set size (Fig. 13)",
    inputs=("table",),
    outputs=FIGURE_OUT,
)
def _figure_sample_size_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", type=Path, required=True, help="results/tables/sample_size.tsv")
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument("--out", type=Path, required=True, help="PDF; .png and .json beside it")

    def run(a: argparse.Namespace) -> None:
        from rlnet import io
        from rlnet.figures import sample_size

        table = io.read_table(a.table, required=("problem", "metric", "n", "mean", "sd"))
        sample_size.sample_size(table, a.biomarker, a.out)
        log.info("sample size: %s -> %s", a.biomarker, a.out)

    p.set_defaults(execute=run)


@stage(
    "figure-distribution",
    "biomarker distribution per split, log y-axis (Figs. 2, 5, 6)",
    inputs=("split", "manifest"),
    outputs=FIGURE_OUT,
)
def _figure_distribution_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument("--out", type=Path, required=True, help="PDF; .png and .json beside it")

    def run(a: argparse.Namespace) -> None:
        from rlnet import io
        from rlnet.figures import data

        table = data.cases(io.read_table(a.split), io.read_table(a.manifest), a.biomarker)
        data.distribution(table, a.biomarker, a.out)
        log.info("distribution: %d cases -> %s", len(table), a.out)

    p.set_defaults(execute=run)


@stage(
    "figure-risk-groups",
    "risk-group proportions per split of an Agatston biomarker (Fig. 3)",
    inputs=("split", "manifest"),
    outputs=FIGURE_OUT,
)
def _figure_risk_groups_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--biomarker", type=_biomarker, required=True, help=BIOMARKER_HELP)
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--risk-scheme", default="paper", choices=["paper", "clinical"])
    p.add_argument("--out", type=Path, required=True, help="PDF; .png and .json beside it")

    def run(a: argparse.Namespace) -> None:
        from rlnet import io
        from rlnet.figures import data

        table = data.cases(io.read_table(a.split), io.read_table(a.manifest), a.biomarker)
        data.risk_groups(table, a.biomarker, a.out, a.risk_scheme)
        log.info("risk groups: %d cases -> %s", len(table), a.out)

    p.set_defaults(execute=run)


@stage("audit", "check a result file and its whole chain of inputs against their records")
def _audit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="any file the pipeline wrote, e.g. a table")
    p.add_argument(
        "--results", type=Path, default=Path("results"), help="the pipeline's output folder"
    )
    p.add_argument("--full", action="store_true", help="hash every file (ignore the cache)")
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="accept files made from a checkout with uncommitted edits (warn instead)",
    )
    p.add_argument("--list", action="store_true", help="print every file checked")

    def run(a: argparse.Namespace) -> None:
        from collections import Counter

        from rlnet import provenance

        report = provenance.audit(a.file, a.results, a.allow_dirty, a.full)
        stages = Counter(record["stage"] for record in report.checked.values())
        if a.list:
            for path, record in report.checked.items():
                commit = record["code"].get("git_commit") or "no git"
                print(f"made  {path}  by '{record['stage']}' ({commit})")
            for path in report.leaves:
                print(f"raw   {path}")
        for warning in report.warnings:
            print(f"WARN  {warning}")
        for problem in report.problems:
            print(f"FAIL  {problem}")
        if report.problems:
            raise provenance.AuditError(
                f"{a.file}: {len(report.problems)} provenance problem(s), listed above"
            )
        by_stage = ", ".join(f"{n} by '{stage}'" for stage, n in sorted(stages.items()))
        print(
            f"ok: {len(report.checked)} file(s) made by the pipeline ({by_stage}), "
            f"{len(report.leaves)} raw input(s)"
        )

    p.set_defaults(execute=run)


def _clear_records(args: argparse.Namespace) -> None:
    """Remove the provenance records of a stage's outputs before it runs, so a failed run
    leaves no record of a file it did not write (a folder output: every record in it; the files
    an output table lists: the shared records of their folders)."""
    from rlnet import provenance

    outputs = STAGE_IO[args.stage][1]
    names = tuple(n for n in outputs if "@" not in n)
    for path in _paths(args, names):
        stale = path.glob(f"*{provenance.SUFFIX}") if path.is_dir() else [provenance.sidecar(path)]
        for record in stale:
            record.unlink(missing_ok=True)
    for table, listed in _listed(args, outputs):
        if table.is_file():
            for folder in {p.parent for p in listed}:
                provenance.shared_record(folder, table).unlink(missing_ok=True)


def _listed(args: argparse.Namespace, names: tuple[str, ...]) -> list[tuple[Path, list[Path]]]:
    """(table, the files it lists) for each output named ``arg@files`` (a table not yet written
    lists nothing)."""
    tables = [getattr(args, n.removesuffix("@files")) for n in names if n.endswith("@files")]
    return [(t, _referenced(t) if t.is_file() else []) for t in tables]


def _phantom_module(args: argparse.Namespace) -> str | None:
    """The phantom module a synthesis stage ran (its code record leaves the others out)."""
    if getattr(args, "phantom", None) is None:
        return None
    return PHANTOMS[args.phantom].module


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage."""
    parser = argparse.ArgumentParser(
        prog="rlnet",
        description="RL-Net pipeline stages (each Snakemake rule calls one).",
    )
    parser.add_argument("--version", action="version", version=f"rlnet {__version__}")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (help_text, add_arguments) in STAGES.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one stage; errors print one clear line and exit with status 1 (130 on Ctrl-C)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        _clear_records(args)
        args.execute(args)
        if args.stage in STAGE_IO:
            from rlnet import provenance

            inputs, outputs = STAGE_IO[args.stage]
            provenance.write_records(
                args.stage,
                argv,
                _paths(args, inputs),
                _paths(args, tuple(n for n in outputs if "@" not in n)),
                _phantom_module(args),
                dict(_listed(args, outputs)),
            )
    except (ValueError, OSError, RuntimeError) as err:
        log.error("%s failed: %s", args.stage, err)
        return 1
    except KeyboardInterrupt:
        log.error("%s interrupted (Ctrl-C): its outputs were not written", args.stage)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
