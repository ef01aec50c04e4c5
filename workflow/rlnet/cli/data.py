"""The data stages: synthesis, importers, manifest, split, prepare and the ROI QC."""

import argparse
import logging
from pathlib import Path

from rlnet.cli.declare import (
    AGATSTON,
    BIOMARKER_HELP,
    RISK_SCHEMES,
    agatston_kw,
    biomarker,
    inp,
    json_block,
    out,
    param,
    stage,
    wildcard,
    yes_no,
)
from rlnet.phantom_registry import PHANTOMS

log = logging.getLogger("rlnet")


@stage(
    "synthesize",
    "generate one shard of synthetic CT cases (NIfTI + shard table)",
    wildcard("--phantom", choices=list(PHANTOMS)),
    wildcard("--shard", type=int),
    param("--settings", type=json_block, help="phantoms.<name> block (JSON)"),
    AGATSTON,
    param("--seed", type=int),
    param("--shard-size", type=int),
    param("--out-dir", type=Path, help="folder of the images/ and masks/ the table lists"),
    out("--table", listed=True),
)
def synthesize(a: argparse.Namespace) -> None:
    from rlnet import tsv
    from rlnet.datasets import synthesis, synthetic

    indices = synthetic.shard_range(a.settings, a.shard_size, a.shard)
    table = synthesis.write_shard(a.phantom, a.settings, a.seed, indices, a.out_dir, agatston_kw(a))
    tsv.write_table(a.table, table)
    log.info("%s shard %d: %d cases -> %s", a.phantom, a.shard, len(table), a.table)


@stage(
    "import-lits",
    "a LiTS folder's tumour-bearing axial slices as a manifest (2D NIfTI slices and masks)",
    inp("--volumes", nargs="+", help="volume-N.nii[.gz]"),
    inp("--segmentations", nargs="*", default=[], required=False),
    param("--out-dir", type=Path, help="folder of the slices the table lists"),
    out("--table", listed=True),
)
def import_lits(a: argparse.Namespace) -> None:
    from rlnet import tsv
    from rlnet.datasets import lits

    table = lits.import_lits(a.volumes, a.segmentations, a.out_dir)
    tsv.write_table(a.table, table)
    log.info(
        "LiTS: %d tumour slices of %d volumes -> %s",
        len(table),
        table.subject_id.nunique(),
        a.table,
    )


@stage(
    "import-slices-table",
    "a table of 2D slices (or 3D scans + slice index) and areas as a manifest (slices as NIfTI)",
    inp("--source", help="the user's table (CSV or TSV)"),
    param("--out-dir", type=Path, help="folder of the slices the table lists"),
    out("--table", listed=True),
    filled=("files",),
)
def import_slices_table(a: argparse.Namespace) -> None:
    from rlnet.datasets.tables import import_slices_table as run_import

    _import_table(a, lambda: run_import(a.source, a.out_dir))


@stage(
    "import-cac-table",
    "a table of CT scans with Agatston scores and calcium volumes or masks as a manifest",
    inp("--source", help="the user's table (CSV or TSV)"),
    out("--table"),
    filled=("files",),
)
def import_cac_table(a: argparse.Namespace) -> None:
    from rlnet.datasets.tables import import_cac_table as run_import

    _import_table(a, lambda: run_import(a.source))


def _import_table(a: argparse.Namespace, run_importer) -> None:
    """Run a table importer: record the files the user's table names (provenance inputs),
    write the manifest it returns to --table."""
    from rlnet import tsv
    from rlnet.datasets.manifest_files import manifest_files

    a.files = [Path(f) for f in manifest_files(a.source)]
    table = run_importer()
    tsv.write_table(a.table, table)
    log.info("%s: %d cases -> %s", a.stage, len(table), a.table)


@stage(
    "manifest",
    "build a problem's manifest from synthetic shards or a user manifest",
    param(
        "--source",
        type=json_block,
        records=(":manifest", ":manifest@files"),
        help="problems.<name>.source (JSON)",
    ),
    inp("--shards", nargs="*", default=[], required=False),
    param("--spatial-dims", type=int, choices=[2, 3]),
    param(
        "--needs-masks",
        type=yes_no,
        default=False,
        help="true: the problem trains a mask-trained model (seg-*): every case needs a mask",
    ),
    out("--out"),
)
def manifest(a: argparse.Namespace) -> None:
    from rlnet import tsv
    from rlnet.datasets import manifest, synthetic

    if "manifest" in a.source:
        table = manifest.import_user_manifest(a.source["manifest"], a.spatial_dims, a.needs_masks)
    else:
        origin = ", ".join(map(str, a.shards))
        shards = [synthetic.read_shard(s, a.source) for s in a.shards]
        table = synthetic.manifest_from_shards(shards, a.source, origin)
        if a.needs_masks:
            manifest.require_masks(table, origin)
        table = manifest.check_headers(table, origin, a.spatial_dims)
    tsv.write_table(a.out, table)
    log.info("manifest: %d cases, %d subjects -> %s", len(table), table.subject_id.nunique(), a.out)


@stage(
    "split",
    "stratified, subject-grouped train/val/test split",
    inp("--manifest"),
    param("--biomarker", type=biomarker, help=BIOMARKER_HELP),
    param("--split", type=json_block, help="problems.<name>.split (JSON)"),
    param("--seed", type=int),
    param("--risk-scheme", default="paper", choices=RISK_SCHEMES),
    param(
        "--source-name",
        default=None,
        help="the data's origin named in errors (the user's manifest file; default --manifest)",
    ),
    out("--out"),
    out("--report"),
)
def split(a: argparse.Namespace) -> None:
    from rlnet import split as splitting
    from rlnet import tsv
    from rlnet.datasets.manifest import validate

    source = a.source_name or a.manifest
    table = validate(tsv.read_table(a.manifest), source, check_files=False)
    fractions = (a.split["train"], a.split["val"], a.split["test"])
    strata = a.split.get("strata", splitting.default_strata(a.biomarker.risk_groups))
    try:
        result = splitting.make_split(
            table,
            fractions,
            a.seed,
            n_strata=strata,
            by_risk=a.biomarker.risk_groups,
            scheme=a.risk_scheme,
        )
    except splitting.SplitError as err:
        raise splitting.SplitError(f"{source} (problem {a.biomarker.problem}): {err}") from err
    tsv.write_table(a.out, result)
    tsv.write_table(a.report, splitting.report(result))
    log.info("split: %s", result.split.value_counts().to_dict())


@stage(
    "prepare",
    "crop ROIs, build candidate masks, store memory-mappable arrays",
    inp("--manifest", listed=True),
    inp("--split"),
    param(
        "--problem-settings",
        type=json_block,
        help="the problem keys prepare reads (JSON; rlnet.config.prepare_settings)",
    ),
    out("--out-dir"),
)
def prepare(a: argparse.Namespace) -> None:
    from rlnet import prepare as preparing
    from rlnet import tsv
    from rlnet.datasets.manifest import validate

    table = validate(tsv.read_table(a.manifest), a.manifest)
    cases = preparing.prepare(table, tsv.read_table(a.split), a.problem_settings, a.out_dir)
    log.info("prepared %d cases -> %s", len(cases), a.out_dir)


@stage(
    "roi-qc",
    "the heart ROIs of a prepared 3D problem: roi.tsv and a montage of the boxes (PNG)",
    inp("--prepared"),
    out("--table"),
    out("--montage"),
)
def roi_qc(a: argparse.Namespace) -> None:
    from rlnet.roi_qc import roi_qc as run_qc

    table = run_qc(a.prepared, a.table, a.montage)
    doubtful = table.loc[table["flag"] != "", "case_id"].tolist()
    log.info(
        "heart ROIs: %d cases, %d doubtful %s -> %s", len(table), len(doubtful), doubtful, a.table
    )
