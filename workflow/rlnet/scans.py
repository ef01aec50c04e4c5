"""New scans for inference, as a user has them: a folder, a scans TSV, or one image file.

A folder is searched at every depth: each NIfTI, NRRD or MetaImage file is one scan, and each
folder holding DICOM files (``DICM`` at byte 128, any file name) is one series, the usual PACS
export ``patient/series/files``. A scan's case id is its path relative to the folder, less the
image suffix (``patient1/series2``, ``ct07``). Hidden files (``.DS_Store``) and ``DICOMDIR``
indexes are passed over, as are the data files that a MetaImage header names; any other file
is refused, naming it, and so is a folder without a scan.

A scans TSV (tab-separated; ``.csv``: comma-separated) has one row per scan: ``case_id``,
``image`` and, optionally, ``candidate_mask``, ``spacing`` (mm, array order, checked against
the header), ``roi_center`` ("z y x" voxels) and ``heart_mask`` (3D problems: the heart ROI),
``slices`` ("first-last" or one index along the first array axis; 2D problems given a volume:
the axial slices to predict, all by default). Relative paths are taken from the TSV's folder.

Every row gets the header checks of a manifest row (``rlnet.datasets.manifest.check_headers``:
dimensions, spacing finite and > 0 and as given, masks on the image's grid, the ROI centre
inside it), and every error names the user's folder or TSV, its line and the case.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import io
from rlnet.datasets import manifest
from rlnet.datasets.manifest_files import resolve

#: File names read as one scan each.
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")
#: Suffixes read as a scans table.
TABLE_SUFFIXES = (".tsv", ".csv", ".txt")
#: Columns a scans TSV may hold (``case_id`` and ``image`` are required).
COLUMNS = ("case_id", "image", "candidate_mask", "spacing", "roi_center", "heart_mask", "slices")
#: Columns of a TSV holding paths.
PATH_COLUMNS = ("image", "candidate_mask", "heart_mask")
#: Columns only a 3D problem reads.
ROI_COLUMNS = ("roi_center", "heart_mask")
#: The DICOM index file of a PACS export: no image.
DICOMDIR = "DICOMDIR"
#: A scan whose voxels are non-negative integers of at most this many distinct values is a
#: label image (a mask or segmentation), not a CT: CT holds air (about -1000 HU) and thousands
#: of distinct values.
MAX_LABELS = 255


class ScansError(ValueError):
    """Scans that cannot be read as a list of cases; the message names the file, row or key."""


def is_dicom(path: Path) -> bool:
    """Whether ``path`` is a DICOM file (Part 10: ``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is named as an image file NIfTI, NRRD or MetaImage."""
    return path.name.lower().endswith(IMAGE_SUFFIXES)


def scan_name(path: Path) -> str:
    """A file's name less its image suffix (the folder's name for a folder)."""
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if path.name.lower().endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def _metaimage_data(header: Path) -> set[Path]:
    """The data file a MetaImage header names (``ElementDataFile``), if it is a file."""
    try:
        lines = header.read_text(errors="replace").splitlines()
    except OSError:
        return set()
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "ElementDataFile" and value.strip() not in ("LOCAL", ""):
            return {header.parent / value.strip()}
    return set()


def folder_scans(folder: Path) -> pd.DataFrame:
    """(case_id, image) of every scan below ``folder`` (module docstring); ScansError naming a
    file that is no scan, or the folder when it holds none."""
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    data = set().union(*(_metaimage_data(p) for p in files if p.name.lower().endswith(".mhd")))
    scans: dict[Path, Path] = {}  # case path (relative, less suffix) -> image
    for path in files:
        if path.name == DICOMDIR or path in data:
            continue
        if is_image_file(path):
            scans[path.parent / scan_name(path)] = path
        elif is_dicom(path):
            scans[path.parent] = path.parent
        else:
            raise ScansError(
                f"{path}: not a scan (NIfTI, NRRD, MetaImage or DICOM file); a scans folder "
                "holds scans only: move it out, or list the scans in a scans TSV"
            )
    if not scans:
        raise ScansError(
            f"{folder}: no scan (NIfTI, NRRD, MetaImage file or DICOM series) in the folder"
        )
    names = {
        case: (case.relative_to(folder).as_posix() if case != folder else folder.name)
        for case in scans
    }
    rows = sorted((names[case], str(image)) for case, image in scans.items())
    return pd.DataFrame(rows, columns=["case_id", "image"])


def _read_tsv(path: Path) -> pd.DataFrame:
    """A scans TSV as text cells indexed by line number (blank lines dropped), paths resolved."""
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ScansError(f"{path}: cannot read scans TSV ({err})") from err
    missing = [c for c in ("case_id", "image") if c not in table]
    if missing:
        raise ScansError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    unknown = sorted(set(table) - set(COLUMNS))
    if unknown:
        raise ScansError(f"{path}: unknown column(s) {unknown}; known: {COLUMNS}")
    table.index = table.index + 2  # line 1 is the header
    table = table.loc[~(table == "").all(axis=1)]
    for column in PATH_COLUMNS:
        if column in table:
            table[column] = [resolve(path, v) if v else "" for v in table[column]]
    return table


def read_scans(scans: str | Path) -> tuple[pd.DataFrame, bool]:
    """(table of COLUMNS, lines): the scans of a folder, a scans TSV or one image file (a
    DICOM file or folder too); ``lines``: the table's index holds the TSV's line numbers."""
    scans = Path(scans)
    lines = False
    if scans.is_dir():
        table = folder_scans(scans)
    elif scans.is_file() and (is_image_file(scans) or is_dicom(scans)):
        table = pd.DataFrame({"case_id": [scan_name(scans)], "image": [str(scans)]})
    elif scans.is_file():
        if not scans.name.lower().endswith(TABLE_SUFFIXES):
            raise ScansError(
                f"{scans}: neither a scans TSV (.tsv, .csv) nor an image (NIfTI, NRRD, "
                "MetaImage, DICOM)"
            )
        table, lines = _read_tsv(scans), True
    else:
        raise ScansError(f"{scans}: no such folder, scans TSV or image file")
    if table.empty:
        raise ScansError(f"{scans}: no scan (the scans TSV has no rows)")
    for column in COLUMNS:
        if column not in table:
            table[column] = ""
    return table.loc[:, list(COLUMNS)], lines


def where(source: Path, index: object, case: str, lines: bool) -> str:
    """A row named for a message: 'scans.tsv: line 4 (case c02)' or 'folder: case c02'."""
    return f"{source}: line {index} (case {case})" if lines else f"{source}: case {case}"


def _check_case_id(case: str, place: str) -> None:
    """A case id names map files: non-empty parts separated by '/', none '.', '..' or hidden."""
    parts = case.split("/")
    if not case or any(p in ("", ".", "..") or p.startswith(".") or "\\" in p for p in parts):
        raise ScansError(f"{place}: case_id {case!r} cannot name a file (maps/<case_id>.nii.gz)")


def parse_slices(text: str, place: str) -> tuple[int, int] | None:
    """'first-last' or 'k' -> (first, last), inclusive indices; None when blank."""
    text = str(text).strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
    if not match or (match[2] is not None and int(match[2]) < int(match[1])):
        raise ScansError(
            f"{place}: slices {text!r} must be 'first-last' (0-based indices, first <= last) "
            "or one index"
        )
    first = int(match[1])
    return first, int(match[2]) if match[2] is not None else first


def check_scans(
    table: pd.DataFrame, source: str | Path, problem: dict, lines: bool = False
) -> pd.DataFrame:
    """Check every row of ``read_scans``'s table for ``problem`` (its config block); return it
    with ``spacing`` filled from the headers and ``ndim`` (the image's axes) added.

    A 3D problem takes 3D scans; a 2D problem 2D slices or 3D volumes (``slices``: which axial
    slices, inside the volume). Candidates from a mask need a ``candidate_mask`` per row. Then
    the manifest's header checks (``manifest.check_headers``). ScansError naming the row."""
    source = Path(source)
    dims = problem["spatial_dims"]
    table = table.copy()
    ndims = []
    for index, row in table.iterrows():
        place = where(source, index, row["case_id"], lines)
        _check_case_id(row["case_id"], place)
        if not row["image"]:
            raise ScansError(f"{place}: no image")
        for column in PATH_COLUMNS:
            if row[column] and not Path(row[column]).exists():
                raise ScansError(f"{place}: {column} file {row[column]} not found")
        if dims == 2:
            for column in ROI_COLUMNS:
                if row[column]:
                    raise ScansError(f"{place}: {column} is for 3D problems (the heart ROI)")
        elif row["slices"]:
            raise ScansError(f"{place}: slices is for 2D problems (a 3D problem takes the volume)")
        if "mask" in problem["candidates"] and not row["candidate_mask"]:
            raise ScansError(
                f"{place}: no candidate_mask, but the problem's candidates come from a mask: "
                "list the scans in a scans TSV with a candidate_mask column"
            )
        try:
            shape, _ = io.read_header(row["image"])
        except io.ImageReadError as err:
            raise ScansError(f"{place}: image {err}") from None
        allowed = (2, 3) if dims == 2 else (3,)
        if len(shape) not in allowed:
            takes = "2D slices or 3D volumes" if dims == 2 else "3D volumes"
            raise ScansError(
                f"{place}: image {row['image']} has {len(shape)} dimensions {shape}; a "
                f"{dims}D problem takes {takes}"
            )
        chosen = parse_slices(row["slices"], place)
        if chosen is not None and (len(shape) != 3 or chosen[1] >= shape[0]):
            raise ScansError(
                f"{place}: slices {row['slices']} are not in image {row['image']} (shape {shape})"
            )
        ndims.append(len(shape))
    table["ndim"] = ndims
    duplicated = table["case_id"].duplicated()
    if duplicated.any():
        twice = sorted(table.loc[duplicated, "case_id"])
        raise ScansError(f"{source}: case ids {twice} appear twice")
    checked = []
    for ndim in sorted(set(ndims)):
        rows = table.loc[table["ndim"] == ndim]
        rows = rows.assign(mask="", subject_id=rows["case_id"], value="")
        try:
            checked.append(manifest.check_headers(rows, source, ndim, lines=lines))
        except manifest.ManifestError as err:
            raise ScansError(str(err)) from None
    table["spacing"] = pd.concat(checked)["spacing"].reindex(table.index)
    return table


def label_values(array: np.ndarray) -> int | None:
    """The number of distinct values of a label image (non-negative integers, at most
    MAX_LABELS distinct values), None for anything else (a CT)."""
    if array.size == 0 or array.min() < 0:
        return None
    if not np.issubdtype(array.dtype, np.integer):
        if not np.array_equal(array, np.round(array)):
            return None
    values = np.unique(array)
    return len(values) if len(values) <= MAX_LABELS else None


def check_not_labels(array: np.ndarray, image: str, place: str) -> None:
    """ScansError when a scan's pixels are a label image (``label_values``): a mask given as
    a CT."""
    labels = label_values(array)
    if labels is not None:
        top = float(array.max())
        raise ScansError(
            f"{place}: image {image} looks like a mask, not a CT ({labels} distinct integer "
            f"values, 0..{top:g}, no negative HU); a mask goes in the candidate_mask or "
            "heart_mask column of a scans TSV"
        )
