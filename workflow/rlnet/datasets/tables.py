"""Import a table of scans and reference values (CSV or TSV) as a problem's manifest.

``slices_table`` (pma, sfa): one row per case with ``case_id``, ``image`` (a 2D image, or a 3D
scan with ``slice``: the index along its first array axis, axial for axial scans) and ``value``
(the area, mm^2); optional ``subject_id`` (default: the case) and ``mask`` (the reference, 2D or
the scan's grid with the same slice). Each case's slice (and mask) is written as 2D NIfTI under
the output folder, in the slice's in-plane geometry (the table holds absolute paths).

``cac_table`` (cac): one row per scan with ``case_id``, ``image`` (a 3D scan: NIfTI or a DICOM
series folder), ``agatston`` (the reference score) and the calcium volume (mm^3) as ``volume``
or from a ``calcium_mask`` on the scan's grid (its voxels x the voxel volume; it is also the
reference mask); optional ``subject_id``, ``heart_mask``, ``roi_center``. Scans stay where they
are; the manifest points to them.

Relative paths are taken from the table's folder. Errors name the table, the line and the case
(a CAC table's header checks too: the manifest stage's, run here on the user's table).
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import atomic, io
from rlnet.datasets import manifest, manifest_files

#: Columns each importer needs, and those it also reads.
SLICES_REQUIRED, SLICES_OPTIONAL = ("case_id", "image", "value"), ("subject_id", "slice", "mask")
CAC_REQUIRED = ("case_id", "image", "agatston")
CAC_OPTIONAL = ("subject_id", "volume", "calcium_mask", "heart_mask", "roi_center")
#: Columns holding paths.
PATHS = ("image", "mask", "calcium_mask", "heart_mask")


class TableError(ValueError):
    """A table row that cannot be imported; the message names the table, line and case."""


def read_table(path: str | Path, required: tuple, optional: tuple) -> pd.DataFrame:
    """The table as text cells indexed by line number, paths resolved from its folder."""
    path = Path(path)
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise TableError(f"{path}: cannot read table ({err})") from err
    missing = [c for c in required if c not in table]
    if missing:
        raise TableError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    unknown = sorted(set(table) - set(required) - set(optional))
    if unknown:
        raise TableError(f"{path}: unknown column(s) {unknown}; known: {required + optional}")
    if table.empty:
        raise TableError(f"{path}: no rows")
    table.index = table.index + 2  # line 1 is the header
    duplicated = table.loc[table["case_id"].duplicated(), "case_id"].tolist()
    if duplicated:
        raise TableError(f"{path}: duplicate case id(s) {duplicated}")
    for column in PATHS:
        if column in table:
            table[column] = [manifest_files.resolve(path, v) if v else "" for v in table[column]]
    for line, row in table.iterrows():
        for column in PATHS:
            if row.get(column) and not Path(row[column]).exists():
                raise TableError(f"{_where(path, line, row)}: {column} {row[column]} not found")
    return table


def _where(path: Path, line: int, row: pd.Series) -> str:
    return f"{path}: line {line} (case {row['case_id']})"


def _number(path: Path, line: int, row: pd.Series, column: str) -> float:
    """A cell as a finite number >= 0."""
    try:
        value = float(row[column])
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise TableError(f"{_where(path, line, row)}: {column} {row[column]!r} is no number >= 0")
    return value


def _slice(path: Path, line: int, row: pd.Series, column: str, kind: str, index: int | None):
    """(2D array, its geometry) of a row's image or mask: the image itself, or slice ``index``."""
    try:
        array, geometry = io.read_image(row[column], kind=kind)
    except io.ImageReadError as err:
        raise TableError(f"{_where(path, line, row)}: {err}") from None
    if index is None:
        if array.ndim != 2:
            raise TableError(
                f"{_where(path, line, row)}: {column} {row[column]} has {array.ndim} axes; a "
                f"3D scan needs a 'slice' column"
            )
        return array, geometry
    if array.ndim != 3 or not 0 <= index < array.shape[0]:
        raise TableError(
            f"{_where(path, line, row)}: slice {index} is not in {column} {row[column]} "
            f"(shape {array.shape})"
        )
    return array[index], geometry.plane(index)


def import_slices_table(path: str | Path, out_dir: str | Path) -> pd.DataFrame:
    """The manifest of a slices table (see the module docstring); slices written to out_dir."""
    path, out_dir = Path(path), Path(out_dir)
    table = read_table(path, SLICES_REQUIRED, SLICES_OPTIONAL)
    with atomic.removed_on_error() as written:
        return pd.DataFrame(
            [_import_slice(path, line, row, out_dir, written) for line, row in table.iterrows()]
        )


def _import_slice(path: Path, line: int, row: pd.Series, out_dir: Path, written: list) -> dict:
    """Write one case's 2D image (and mask) to ``out_dir`` (paths added to ``written``); its
    manifest row."""
    case = row["case_id"]
    value = _number(path, line, row, "value")
    index = None
    if row.get("slice", ""):
        if not row["slice"].isdigit():
            raise TableError(f"{_where(path, line, row)}: slice {row['slice']!r} is no index")
        index = int(row["slice"])
    image, geometry = _slice(path, line, row, "image", "ct", index)
    mask = None
    if row.get("mask", ""):
        mask, _ = _slice(path, line, row, "mask", "mask", index)
        if mask.shape != image.shape:
            raise TableError(
                f"{_where(path, line, row)}: mask shape {mask.shape} != image {image.shape}"
            )
    image_path = out_dir / "images" / f"{case}.nii.gz"
    io.write_image(image_path, image, geometry)
    written.append(image_path)
    mask_path = None
    if mask is not None:
        mask_path = out_dir / "masks" / f"{case}.nii.gz"
        io.write_image(mask_path, (mask > 0).astype(np.uint8), geometry)
        written.append(mask_path)
    return {
        "case_id": case,
        "subject_id": row.get("subject_id", "") or case,
        "image": str(image_path.resolve()),
        "value": value,
        "mask": str(mask_path.resolve()) if mask_path else "",
        "source_image": row["image"],
        "slice_index": "" if index is None else index,
    }


def check_cac_headers(path: Path, table: pd.DataFrame) -> None:
    """The manifest's header checks (``manifest.check_headers``: 3D scans, spacing finite and
    > 0, calcium and heart masks on the scan's grid, the ROI centre inside it) on every row of
    a CAC table, so an error names the user's table and line, not the imported manifest."""
    checked = pd.DataFrame(
        {
            "case_id": table["case_id"],
            "image": table["image"],
            "spacing": "",
            "mask": table.get("calcium_mask", ""),
            "candidate_mask": "",
            "heart_mask": table.get("heart_mask", ""),
            "roi_center": table.get("roi_center", ""),
        },
        index=table.index,
    )
    try:
        manifest.check_headers(checked, path, spatial_dims=3, lines=True)
    except manifest.ManifestError as err:
        raise TableError(str(err)) from None


def import_cac_table(path: str | Path) -> pd.DataFrame:
    """The manifest of a CAC table (see the module docstring); scans stay where they are.
    Every row's headers are checked first (``check_cac_headers``)."""
    path = Path(path)
    table = read_table(path, CAC_REQUIRED, CAC_OPTIONAL)
    check_cac_headers(path, table)
    rows = []
    for line, row in table.iterrows():
        if row.get("volume", ""):
            volume = _number(path, line, row, "volume")
        elif row.get("calcium_mask", ""):
            try:
                mask, geometry = io.read_image(row["calcium_mask"], kind="mask")
            except io.ImageReadError as err:
                raise TableError(f"{_where(path, line, row)}: {err}") from None
            volume = float(np.count_nonzero(mask)) * float(np.prod(geometry.spacing))
        else:
            raise TableError(
                f"{_where(path, line, row)}: no calcium volume: give 'volume' (mm^3) or a "
                f"'calcium_mask'"
            )
        rows.append(
            {
                "case_id": row["case_id"],
                "subject_id": row.get("subject_id", "") or row["case_id"],
                "image": row["image"],
                "value": volume,
                "mask": row.get("calcium_mask", ""),
                "agatston": _number(path, line, row, "agatston"),
                "heart_mask": row.get("heart_mask", ""),
                "roi_center": row.get("roi_center", ""),
            }
        )
    return pd.DataFrame(rows)
