"""Tab-separated tables: read with errors naming the file and its missing columns, written
atomically (no index column, ``\n`` line ends)."""

import os
from collections.abc import Sequence

import pandas as pd

from rlnet.atomic import atomic_path


def write_table(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write a DataFrame as tab-separated text atomically (no index column)."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def read_table(path: str | os.PathLike, required: Sequence[str] = ()) -> pd.DataFrame:
    """Read a TSV; raise ValueError naming the file and the missing columns, if any."""
    try:
        table = pd.read_csv(path, sep="\t", dtype={"case_id": str, "subject_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path}: cannot read table ({err})") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    return table
