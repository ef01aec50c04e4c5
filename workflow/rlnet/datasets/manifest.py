"""The per-problem manifest: one row per case, validated before anything trains on it.

Columns:
    case_id, subject_id: identifiers (strings); case ids are unique, a subject may own several.
    image: path of the CT image.
    spacing: voxel size in mm, space-separated, in array axis order (z y x) or (y x).
    value: the training target (mm^2 for areas, mm^3 for the calcium volume).
    mask: reference mask path, or empty where none exists (used only for evaluation).
    candidate_mask: path of a mask used as candidates (liver problem), or empty.
    agatston: reference Agatston score (cac only), or empty.
"""

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

REQUIRED = ("case_id", "subject_id", "image", "value")
COLUMNS = (
    "case_id",
    "subject_id",
    "image",
    "spacing",
    "value",
    "mask",
    "candidate_mask",
    "agatston",
)


class ManifestError(ValueError):
    """A manifest problem; the message names the file and the case."""


def format_spacing(spacing: Sequence[float]) -> str:
    """Spacing tuple -> 'a b c' (mm, array axis order)."""
    return " ".join(f"{float(s):.6g}" for s in spacing)


def parse_spacing(text: str) -> tuple[float, ...]:
    """'a b c' -> (a, b, c) in mm."""
    return tuple(float(v) for v in str(text).split())


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def header_spacing(path: str | Path) -> tuple[float, ...]:
    """Spacing (array axis order, mm) from an image header without reading the pixels."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise ManifestError(f"{path}: cannot read image header ({err})") from err
    return tuple(float(s) for s in reader.GetSpacing()[::-1])


def validate(table: pd.DataFrame, source: str | Path, check_files: bool = True) -> pd.DataFrame:
    """Check a manifest table; return it with all COLUMNS present (blanks as empty strings).

    Raises ManifestError naming ``source`` and the offending case(s).
    """
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ManifestError(f"{source}: missing column(s) {missing}")
    if table.empty:
        raise ManifestError(f"{source}: manifest has no rows")
    table = table.copy()
    for column in COLUMNS:
        if column not in table.columns:
            table[column] = ""
    table["case_id"] = table["case_id"].astype(str)
    table["subject_id"] = table["subject_id"].astype(str)
    duplicated = table.loc[table["case_id"].duplicated(), "case_id"].tolist()
    if duplicated:
        raise ManifestError(f"{source}: duplicate case id(s) {duplicated[:5]}")
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = table.loc[~np.isfinite(values) | (values < 0), "case_id"].tolist()
    if bad:
        raise ManifestError(
            f"{source}: case(s) {bad[:5]} have a missing, non-numeric, negative or non-finite value"
        )
    table["value"] = values.astype(float)
    if check_files:
        for column in ("image", "mask", "candidate_mask"):
            for case, path in zip(table["case_id"], table[column], strict=True):
                if not _blank(path) and not Path(path).exists():
                    raise ManifestError(f"{source}: case {case}: {column} file {path} not found")
    table = table.loc[:, list(COLUMNS)].copy()
    for column in COLUMNS:
        if column != "value":  # text columns: blanks as empty strings
            table[column] = table[column].astype(object).where(table[column].notna(), "")
    return table


def import_user_manifest(path: str | Path) -> pd.DataFrame:
    """Read a user's manifest TSV; relative paths are taken from the manifest's folder.

    A missing spacing column is filled from the image headers.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ManifestError(f"{path}: cannot read manifest ({err})") from err
    for column in ("image", "mask", "candidate_mask"):
        if column in table.columns:
            table[column] = [
                "" if _blank(p) else str((path.parent / p).resolve()) for p in table[column]
            ]
    table = validate(table, path)
    missing_spacing = table["spacing"] == ""
    table.loc[missing_spacing, "spacing"] = [
        format_spacing(header_spacing(p)) for p in table.loc[missing_spacing, "image"]
    ]
    return table
