"""Apply a trained model to new scans that have no reference values.

The scans are a folder (every NIfTI, NRRD or MetaImage file in it and every subfolder holding a
DICOM series is one scan, named after it) or a TSV with columns ``case_id`` and ``image``
(optional ``candidate_mask``, ``spacing``; relative paths from the TSV's folder). They are
prepared exactly as a problem's cases are (``rlnet.prepare``: candidates, 2D padding or the 3D
heart ROI, with the problem's config block) and predicted as the test split is
(``rlnet.predict``), in a temporary folder beside the output.

Outputs in ``out_dir``: ``predictions.tsv`` (case_id, image, prediction: the area in mm^2, or
for cac the Agatston score with the predicted calcium volume and risk group; map) and
``maps/<case>.nii.gz``, the localization in each scan's own geometry (DICOM scans too).
"""

import logging
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from rlnet import io
from rlnet.datasets.manifest_files import resolve
from rlnet.predict import predict
from rlnet.prepare import prepare

log = logging.getLogger(__name__)

#: File names read as one scan each in a scans folder.
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")
#: Columns a scans TSV may hold.
SCAN_COLUMNS = ("case_id", "image", "candidate_mask", "spacing")


class ScansError(ValueError):
    """Scans that cannot be read as a list of cases; the message names the file or folder."""


def _scan_name(path: Path) -> str:
    """A scan's case id: its file name less the image suffix, or its folder's name."""
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if path.name.lower().endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def scan_table(scans: str | Path) -> pd.DataFrame:
    """(case_id, image, candidate_mask, spacing) of every scan in a folder or a scans TSV."""
    scans = Path(scans)
    if scans.is_dir():
        paths = [
            p
            for p in sorted(scans.iterdir())
            if (p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))
            or (p.is_dir() and any(c.is_file() for c in p.iterdir()))
        ]
        table = pd.DataFrame({"case_id": [_scan_name(p) for p in paths], "image": paths})
        table["image"] = table["image"].astype(str)
    elif scans.is_file():
        table = io.read_table(scans, required=("case_id", "image")).fillna("")
        unknown = sorted(set(table) - set(SCAN_COLUMNS))
        if unknown:
            raise ScansError(f"{scans}: unknown column(s) {unknown}; known: {SCAN_COLUMNS}")
        for column in ("image", "candidate_mask"):
            if column in table:
                table[column] = [resolve(scans, v) if v else "" for v in table[column]]
    else:
        raise ScansError(f"{scans}: no such folder or scans TSV")
    if table.empty:
        raise ScansError(f"{scans}: no scan (NIfTI, NRRD, MetaImage file or DICOM folder)")
    duplicated = sorted(table.loc[table["case_id"].duplicated(), "case_id"])
    if duplicated:
        raise ScansError(f"{scans}: case ids {duplicated} appear twice")
    for column in SCAN_COLUMNS:
        if column not in table:
            table[column] = ""
    return table.loc[:, list(SCAN_COLUMNS)]


def infer_scans(
    model_file: str | Path,
    problem: str,
    model_name: str,
    settings: dict,
    table: pd.DataFrame,
    out_dir: str | Path,
    **predict_kw,
) -> pd.DataFrame:
    """Prepare and predict every scan of ``table`` (``scan_table``; ``settings``: the problem's
    config block); the table written to ``out_dir/predictions.tsv``. ``predict_kw``:
    ``rlnet.predict.predict``'s keywords (device, batch_size, agatston_kw, risk_scheme,
    localization)."""
    manifest = table.assign(subject_id=table["case_id"], value="", mask="", agatston="")
    split = pd.DataFrame({"case_id": table["case_id"], "split": "test", "stratum": 0})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".infer.", dir=out_dir.parent))
    try:
        prepared = work / "prepared"
        prepare(manifest, split, settings, prepared)
        result = predict(
            model_file, prepared, problem, model_name, out_dir, reference=False, **predict_kw
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (out_dir / "localization.npy").unlink(missing_ok=True)  # network-input space: no use here
    log.info("%s on %s: %d scans -> %s", model_name, problem, len(result), out_dir)
    return result
