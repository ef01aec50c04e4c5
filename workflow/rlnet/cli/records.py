"""The provenance of one stage run: the files its arguments name (rlnet.cli.declare's
provenance names), cleared before it runs and recorded after it succeeds."""

import argparse
from pathlib import Path

from rlnet.cli.declare import Stage
from rlnet.phantom_registry import PHANTOMS


def referenced(table_path: Path) -> list[Path]:
    """The image and mask files a manifest or shard table points to (columns ``image``,
    ``mask``, ``candidate_mask`` and a shard's ``mask_*``)."""
    import pandas as pd

    from rlnet.datasets.manifest_files import PATH_COLUMNS

    table = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False)
    columns = [c for c in table if c in PATH_COLUMNS or c.startswith("mask_")]
    return [Path(v) for c in columns for v in table[c] if v]


def paths(args: argparse.Namespace, names: tuple[str, ...]) -> list[Path]:
    """The paths that the named arguments hold (lists flattened). Name forms: ``arg``;
    ``arg.ext``, the file of ``arg`` with its suffix replaced; ``arg@files``, the files the
    table in ``arg`` points to; ``arg:key``, the path under ``key`` of the JSON argument
    ``arg`` (absent key: nothing); ``arg:key@files``, the files the user manifest there lists
    (relative paths from its folder)."""
    found: list[Path] = []
    for name in names:
        if ":" in name and name.endswith("@files"):  # a user manifest named in a JSON argument
            from rlnet.datasets.manifest_files import manifest_files

            for user_manifest in paths(args, (name.removesuffix("@files"),)):
                found += [Path(p) for p in manifest_files(user_manifest)]
            continue
        if name.endswith("@files"):
            found += referenced(getattr(args, name.removesuffix("@files")))
            continue
        if ":" in name:
            dest, _, key = name.partition(":")
            value = getattr(args, dest).get(key)
            found += [Path(value)] if value else []
            continue
        dest, _, ext = name.partition(".")
        value = getattr(args, dest, None)
        values = value if isinstance(value, list) else [value] if value is not None else []
        found += [Path(v).with_suffix(f".{ext}") if ext else Path(v) for v in values]
    return found


def listed(args: argparse.Namespace, names: tuple[str, ...]) -> list[tuple[Path, list[Path]]]:
    """(table, the files it lists) for each output named ``arg@files`` (a table not yet written
    lists nothing)."""
    tables = [getattr(args, n.removesuffix("@files")) for n in names if n.endswith("@files")]
    return [(t, referenced(t) if t.is_file() else []) for t in tables]


def files_written(stage: Stage) -> tuple[str, ...]:
    """The output names that are files or folders the stage writes itself (not ``@files``)."""
    return tuple(n for n in stage.outputs if "@" not in n)


def clear(stage: Stage, args: argparse.Namespace) -> None:
    """Remove the provenance records of a stage's outputs before it runs, so a failed run
    leaves no record of a file it did not write (a folder output: every record in it; the files
    an output table lists: the shared records of their folders). A folder the stage replaces
    whole keeps its records until the new folder takes its place."""
    from rlnet import provenance

    kept = set(stage.replaced)
    for path in paths(args, tuple(n for n in files_written(stage) if n not in kept)):
        stale = path.glob(f"*{provenance.SUFFIX}") if path.is_dir() else [provenance.sidecar(path)]
        for record in stale:
            record.unlink(missing_ok=True)
    for table, files in listed(args, stage.outputs):
        if table.is_file():
            for folder in {p.parent for p in files}:
                provenance.shared_record(folder, table).unlink(missing_ok=True)


def write(stage: Stage, args: argparse.Namespace, argv: list[str]) -> None:
    """Record every output of a successful run with the inputs and code that made it (a folder
    the stage replaces whole: every file below it)."""
    from rlnet import provenance

    kept = set(stage.replaced)
    flat = paths(args, tuple(n for n in files_written(stage) if n not in kept))
    trees = provenance.expand(paths(args, stage.replaced), every_depth=True)
    provenance.write_records(
        stage.name,
        argv,
        paths(args, stage.inputs),
        flat + trees,
        phantom_module(args),
        dict(listed(args, stage.outputs)),
    )


def phantom_module(args: argparse.Namespace) -> str | None:
    """The phantom module a synthesis stage ran (its code record leaves the others out)."""
    if getattr(args, "phantom", None) is None:
        return None
    return PHANTOMS[args.phantom].module
