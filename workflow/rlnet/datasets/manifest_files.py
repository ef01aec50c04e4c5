"""The files a user's manifest points to, read with the standard library only.

The Snakefile lists them as inputs of the manifest job at parse time (an edited image reruns the
problem's jobs), before any package heavier than the standard library is imported.
"""

import csv
from pathlib import Path

#: Columns of a manifest that hold file paths.
PATH_COLUMNS = ("image", "mask", "candidate_mask", "heart_mask", "heart_region")
#: Path columns of the tables importers read (a manifest's and a CAC table's calcium masks).
TABLE_PATH_COLUMNS = (*PATH_COLUMNS, "calcium_mask")


def resolve(manifest: str | Path, value: str) -> str:
    """A path cell of ``manifest``: relative paths are taken from the manifest's folder."""
    return str((Path(manifest).parent / value).resolve())


def manifest_files(manifest: str | Path) -> list[str]:
    """Absolute paths of every existing image and mask ``manifest`` (a TSV, or a CSV by its
    suffix: an importer's table) lists. A file that does not exist, or a manifest that cannot
    be read, is left to the manifest or import stage, which reports it naming the file and row."""
    delimiter = "," if str(manifest).lower().endswith(".csv") else "\t"
    try:
        with open(manifest, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter=delimiter))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    paths = [
        resolve(manifest, row[column])
        for row in rows
        for column in TABLE_PATH_COLUMNS
        if (row.get(column) or "").strip()
    ]
    return [p for p in paths if Path(p).exists()]
