"""The per-problem manifest: one row per case, validated before anything trains on it.

Columns:
    case_id, subject_id: identifiers (strings); case ids are unique, a subject may own several.
    image: path of the CT image.
    spacing: voxel size in mm, space-separated, in array axis order (z y x) or (y x).
    value: the training target (mm^2 for areas, mm^3 for the calcium volume).
    mask: reference mask path, or empty where none exists (used only for evaluation).
    candidate_mask: path of a mask used as candidates (liver problem), or empty.
    agatston: reference Agatston score (cac only), or empty.
    heart_mask: 3D: a heart mask that centres the ROI (and is the heart-rule baseline's region).
    roi_center: 3D: the ROI centre "z y x" (voxels), instead of the search or the heart mask.
    heart_region: 3D: a heart mask used only as the heart-rule baseline's region (the ROI is
        still found as without it); the synthetic heart phantom writes its pericardium here.
"""

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import io
from rlnet.datasets import manifest_files

REQUIRED = ("case_id", "subject_id", "image", "value")
#: Path columns (resolved against the manifest's folder, as ``manifest_files`` lists them).
PATH_COLUMNS = manifest_files.PATH_COLUMNS
COLUMNS = (
    "case_id",
    "subject_id",
    "image",
    "spacing",
    "value",
    "mask",
    "candidate_mask",
    "agatston",
    "heart_mask",
    "roi_center",
    "heart_region",
)
#: Manifest spacing and image header spacing agree to this relative tolerance.
SPACING_RTOL = 1e-3


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


def _row(index: object, case: str, lines: bool) -> str:
    """One row named for a message: 'line 4 (case c02)', or 'case c02' (``lines``: the table's
    index holds the rows' line numbers in the user's TSV)."""
    return f"line {index} (case {case})" if lines else f"case {case}"


def _rows(table: pd.DataFrame, selected: pd.Series, lines: bool) -> str:
    """The selected rows' case ids for a message (up to five), with their line numbers."""
    picked = table.loc[selected]
    text = str(picked["case_id"].tolist()[:5])
    if lines:
        text += f" (line(s) {picked.index.tolist()[:5]})"
    return text + (f" and {len(picked) - 5} more" if len(picked) > 5 else "")


def validate(
    table: pd.DataFrame, source: str | Path, check_files: bool = True, lines: bool = False
) -> pd.DataFrame:
    """Check a manifest table; return it with all COLUMNS present (blanks as empty strings).

    ``lines``: the table's index holds each row's line number in ``source`` (named in errors).
    Raises ManifestError naming ``source`` and the offending case(s).
    """
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ManifestError(
            f"{source}: missing column(s) {missing}; found {[str(c) for c in table.columns]}"
        )
    if table.empty:
        raise ManifestError(f"{source}: manifest has no rows")
    table = table.copy()
    for column in COLUMNS:
        if column not in table.columns:
            table[column] = ""
    table["case_id"] = table["case_id"].astype(str)
    table["subject_id"] = table["subject_id"].astype(str)
    duplicated = table["case_id"].duplicated()
    if duplicated.any():
        raise ManifestError(f"{source}: duplicate case id(s) {_rows(table, duplicated, lines)}")
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise ManifestError(
            f"{source}: case(s) {_rows(table, bad, lines)} have a missing, non-numeric, "
            f"negative or non-finite value"
        )
    _check_values_vary(values, source)
    table["value"] = values.astype(float)
    if check_files:
        for column in PATH_COLUMNS:
            for index, case, path in zip(table.index, table["case_id"], table[column], strict=True):
                if not _blank(path) and not Path(path).exists():
                    raise ManifestError(
                        f"{source}: {_row(index, case, lines)}: {column} file {path} not found"
                    )
    table = table.loc[:, list(COLUMNS)].copy()
    for column in COLUMNS:
        if column != "value":  # text columns: blanks as empty strings
            table[column] = table[column].astype(object).where(table[column].notna(), "")
    return table


def _check_values_vary(values: pd.Series, source: str | Path) -> None:
    """Raise ManifestError if every reference value is the same (a constant target)."""
    if len(values) > 1 and values.nunique() == 1:
        value = float(values.iloc[0])
        hint = " (all zero: empty reference masks?)" if value == 0 else ""
        raise ManifestError(
            f"{source}: all {len(values)} reference values (column 'value') are {value:g}"
            f"{hint}; a constant target leaves nothing to learn"
        )


def require_masks(table: pd.DataFrame, source: str | Path, lines: bool = False) -> None:
    """Raise ManifestError naming the cases without a ``mask`` (a mask-trained model needs one
    on every case)."""
    missing = table["mask"].map(_blank)
    if missing.any():
        raise ManifestError(
            f"{source}: case(s) {_rows(table, missing, lines)} have no mask, but the problem "
            f"trains a mask-trained model (seg-*): give every case a mask or drop that model "
            f"from the problem's 'models'"
        )


def check_headers(
    table: pd.DataFrame, source: str | Path, spatial_dims: int, lines: bool = False
) -> pd.DataFrame:
    """Check every row's image headers (no pixels read); return the table with blank spacings
    filled from the headers.

    Per row: readable headers; the image has ``spatial_dims`` axes, each at least one voxel;
    its header spacing and the manifest's (when given: one value per axis) are finite, > 0
    and agree; masks have the image's shape. Raises ManifestError naming ``source`` and the row.
    """
    rows = zip(table.index, table.to_dict("records"), strict=True)  # dicts: iterrows costs more
    spacings = [
        _check_row(row, f"{source}: {_row(index, row['case_id'], lines)}", spatial_dims)
        for index, row in rows
    ]
    table = table.copy()
    table["spacing"] = [format_spacing(s) for s in spacings]
    return table


def _header(path: str, where: str, column: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(shape, spacing) of an image header; ManifestError naming the row when unreadable."""
    try:
        return io.read_header(path)
    except io.ImageReadError as err:
        raise ManifestError(f"{where}: {column} {err}") from err


def _check_row(row: dict, where: str, spatial_dims: int) -> tuple[float, ...]:
    """Header checks of one manifest row (``where`` names it); return its spacing (mm)."""
    shape, header_spacing = _header(row["image"], where, "image")
    image = f"image {row['image']}"
    if len(shape) != spatial_dims:
        raise ManifestError(
            f"{where}: {image} has {len(shape)} dimensions {shape}, but the problem's "
            f"spatial_dims is {spatial_dims}{_dims_hint(shape, spatial_dims)}"
        )
    if min(shape) < 1:
        raise ManifestError(f"{where}: {image} has no voxels along an axis (shape {shape})")
    if not all(math.isfinite(s) and s > 0 for s in header_spacing):
        raise ManifestError(
            f"{where}: {image} header spacing {header_spacing} must be finite and > 0"
        )
    spacing = _row_spacing(row["spacing"], where, len(shape)) or header_spacing
    if not _close(spacing, header_spacing):
        raise ManifestError(
            f"{where}: spacing {format_spacing(spacing)} differs from the header's "
            f"{format_spacing(header_spacing)} of {image}"
        )
    _check_roi_center(row["roi_center"], where, shape)
    for column in ("heart_mask", "heart_region"):
        if spatial_dims == 2 and not _blank(row.get(column, "")):
            raise ManifestError(f"{where}: {column} is for 3D problems (the cac ROI)")
    for column in ("mask", "candidate_mask", "heart_mask", "heart_region"):
        if not _blank(row.get(column, "")):
            mask_shape, _ = _header(row[column], where, column)
            if mask_shape != shape:
                raise ManifestError(
                    f"{where}: {column} {row[column]} has shape {mask_shape}, the image {shape}"
                )
    return tuple(spacing)


def parse_roi_center(text: str) -> tuple[int, ...]:
    """'z y x' -> (z, y, x) voxel indices; ValueError when it is not three integers."""
    parts = str(text).split()
    if len(parts) != 3 or not all(p.lstrip("-").isdigit() for p in parts):
        raise ValueError(f"roi_center {text!r} must be three voxel indices 'z y x'")
    return tuple(int(p) for p in parts)


def _close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """np.allclose(a, b, rtol=SPACING_RTOL) of two equally long tuples, without numpy's
    per-call cost: |a - b| <= 1e-8 + SPACING_RTOL |b| on every axis."""
    return all(abs(x - y) <= 1e-8 + SPACING_RTOL * abs(y) for x, y in zip(a, b, strict=True))


def _check_roi_center(text: str, where: str, shape: tuple[int, ...]) -> None:
    """A given roi_center: three voxel indices inside a 3D image."""
    if _blank(text):
        return
    if len(shape) != 3:
        raise ManifestError(f"{where}: roi_center is for 3D problems (the cac ROI)")
    try:
        centre = parse_roi_center(text)
    except ValueError as err:
        raise ManifestError(f"{where}: {err}") from None
    if not all(0 <= c < n for c, n in zip(centre, shape, strict=True)):
        raise ManifestError(f"{where}: roi_center {text} lies outside the image (shape {shape})")


def _dims_hint(shape: tuple[int, ...], spatial_dims: int) -> str:
    if spatial_dims == 2 and len(shape) == 3 and shape[0] == 1:
        return " (a volume of one slice: save the slice as a 2D image)"
    if spatial_dims == 3 and len(shape) == 2:
        return " (a single slice: this problem needs volumes)"
    return ""


def _row_spacing(text: object, where: str, n_axes: int) -> tuple[float, ...]:
    """A row's manifest spacing (mm), () when blank; one finite value > 0 per image axis."""
    if _blank(text):
        return ()
    try:
        spacing = parse_spacing(str(text))
    except ValueError as err:
        raise ManifestError(f"{where}: spacing {text!r} is not numbers") from err
    if len(spacing) != n_axes:
        raise ManifestError(
            f"{where}: spacing {text!r} has {len(spacing)} value(s); the image has {n_axes} "
            f"axes and needs one per axis"
        )
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ManifestError(f"{where}: spacing {text!r} must be finite and > 0 (mm)")
    return spacing


def read_user_manifest(path: Path) -> pd.DataFrame:
    """A user's manifest TSV as text cells, indexed by line number (blank lines dropped)."""
    try:
        table = pd.read_csv(
            path, sep="\t", dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: cannot read manifest ({err})") from err
    if len(table.columns) == 1 and "," in str(table.columns[0]):
        raise ManifestError(
            f"{path}: looks comma-separated; manifests are tab-separated (TSV), one row per case"
        )
    table.index = table.index + 2  # line 1 is the header
    return table.loc[~(table == "").all(axis=1)]


def import_user_manifest(
    path: str | Path, spatial_dims: int, needs_masks: bool = False
) -> pd.DataFrame:
    """Read and check a user's manifest TSV; relative paths are taken from the manifest's folder.

    Every row is checked (``validate``, ``check_headers``; ``require_masks`` when the problem
    trains a mask-trained model); a missing spacing is filled from the image headers.
    """
    path = Path(path)
    table = read_user_manifest(path)
    for column in PATH_COLUMNS:
        if column in table.columns:
            table[column] = [
                "" if _blank(p) else manifest_files.resolve(path, p) for p in table[column]
            ]
    table = validate(table, path, lines=True)
    if needs_masks:
        require_masks(table, path, lines=True)
    return check_headers(table, path, spatial_dims, lines=True).reset_index(drop=True)
