"""Apply a trained model to new scans that have no reference values.

The scans (``rlnet.scans``: a folder, a scans TSV or one image, each row checked as a manifest
row is) are prepared exactly as a problem's cases are (``rlnet.prepare``, with the problem's
config block) and predicted as the test split is (``rlnet.predict``). A scan whose pixels are a
label image (``rlnet.scans.label_values``: a mask lying among the scans) is refused.

2D problems take 2D slices and 3D volumes: every axial slice of a volume (array axis 0; or the
TSV's ``slices``) is one case, and the slices' maps are stacked back into the volume's geometry.
3D problems crop the heart ROI of each scan: the TSV's ``roi_center`` or ``heart_mask``, else the
search (``rlnet.heart_search.find_heart``); a doubtful ROI (below its ``LOW_CONFIDENCE``) is
warned about by name and flagged.

Outputs in ``out_dir``, which a run replaces whole (built beside it, then swapped in; a failed
run leaves the previous folder as it was and no temporary folder):
    predictions.tsv  case_id, image, prediction (the area in mm^2; for cac the Agatston score
                     with predicted_volume mm^3 and predicted_group), map; 2D problems also
                     ``slice`` (the axial index of a volume's slice, one row per slice; blank for
                     a 2D scan); 3D problems also roi_center ("z y x"), roi_source,
                     roi_confidence and roi_flag ("doubtful" or blank)
    volumes.tsv      2D problems given volumes: per volume its slices, their summed area
                     (mm^2) and predicted_volume_mm3 = the sum x the slice spacing
    roi.tsv, roi.png 3D problems: the heart ROI of every scan (``rlnet.roi_qc``)
    maps/<case>.nii.gz  the binarised localization in each scan's own geometry
"""

import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import io, roi_qc, tsv
from rlnet.predict import predict
from rlnet.prepare import Prepared, prepare
from rlnet.scans import ScansError, check_not_labels, parse_slices, where

log = logging.getLogger(__name__)


def _manifest_row(case: str, image: str, candidate_mask: str = "", **roi_columns) -> dict:
    """One row of the manifest ``rlnet.prepare`` reads (no reference value or mask)."""
    return {
        "case_id": case,
        "subject_id": case,
        "image": image,
        "spacing": "",
        "value": "",
        "mask": "",
        "candidate_mask": candidate_mask,
        "agatston": "",
        "heart_mask": roi_columns.get("heart_mask", ""),
        "roi_center": roi_columns.get("roi_center", ""),
    }


def _read_ct(row: pd.Series, place: str) -> tuple[np.ndarray, io.Geometry]:
    """A scan's CT, refused when it is a label image; ScansError naming the row."""
    try:
        array, geometry = io.read_image(row["image"])
    except io.ImageReadError as err:
        raise ScansError(f"{place}: image {err}") from None
    check_not_labels(array, row["image"], place)
    return array, geometry


def _slice_cases(row: pd.Series, place: str, folder: Path, start: int) -> list[dict]:
    """Manifest rows of a volume's axial slices (written as 2D images into ``folder``, files
    numbered from ``start``), each named "<scan>, slice <z>" in the prepare and predict logs;
    each row also holds ``scan_row`` and ``slice``."""
    volume, geometry = _read_ct(row, place)
    first, last = parse_slices(row["slices"], place) or (0, volume.shape[0] - 1)
    candidates = None
    if row["candidate_mask"]:
        try:
            candidates, _ = io.read_image(row["candidate_mask"], kind="mask")
        except io.ImageReadError as err:
            raise ScansError(f"{place}: candidate_mask {err}") from None
    cases = []
    for k, z in enumerate(range(first, last + 1)):
        case, number = f"{row['case_id']}, slice {z}", f"{start + k:06d}"
        image = folder / f"{number}.nii"
        io.write_image(image, volume[z], geometry.plane(z))
        mask = ""
        if candidates is not None:
            mask = str(folder / f"{number}_candidates.nii")
            io.write_image(mask, candidates[z], geometry.plane(z))
        cases.append(_manifest_row(case, str(image), mask) | {"scan_row": row.name, "slice": z})
    return cases


def _cases(scans: pd.DataFrame, source: Path, lines: bool, dims: int, folder: Path) -> list[dict]:
    """Manifest rows of every case of ``scans`` (``rlnet.scans.check_scans``' table), named
    as the user named them (so prepare's and predict's messages do), each with ``scan_row``
    (the scan's index) and ``slice`` (its axial index, or None)."""
    cases: list[dict] = []
    for index, row in scans.iterrows():
        place = where(source, index, row["case_id"], lines)
        if dims == 2 and row["ndim"] == 3:
            cases += _slice_cases(row, place, folder, len(cases))
            continue
        _read_ct(row, place)
        roi_columns = {c: row[c] for c in ("roi_center", "heart_mask")}
        case = _manifest_row(row["case_id"], row["image"], row["candidate_mask"], **roi_columns)
        cases.append(case | {"scan_row": index, "slice": None})
    return cases


def _stack_maps(paths: list[str], slices: list[int], image: str, out: Path) -> None:
    """Stack the 2D maps of a volume's slices back into the volume's geometry; zeros on the
    slices not predicted."""
    shape, geometry = io.read_geometry(image)
    volume = np.zeros(shape, np.uint8)
    for path, z in zip(paths, slices, strict=True):
        volume[z] = io.read_image(path, kind="mask")[0]
    io.write_image(out, volume, geometry)


def _volume_totals(table: pd.DataFrame, scans: pd.DataFrame) -> pd.DataFrame:
    """volumes.tsv: per volume of a 2D problem its slices' summed area and the volume."""
    rows = []
    for index, scan in scans.loc[scans["ndim"] == 3].iterrows():
        own = table.loc[table["scan_row"] == index]
        spacing = float(str(scan["spacing"]).split()[0])
        area = float(own["prediction"].sum())
        first, last = int(own["slice"].min()), int(own["slice"].max())
        rows.append(
            {
                "case_id": scan["case_id"],
                "image": scan["image"],
                "slices": f"{first}-{last}",
                "n_slices": len(own),
                "slice_spacing_mm": spacing,
                "area_sum_mm2": area,
                "predicted_volume_mm3": area * spacing,
                "how": f"sum of {len(own)} slice areas (mm^2) x slice spacing {spacing:g} mm",
                "map": own["map"].iloc[0],
            }
        )
    return pd.DataFrame(rows)


def _roi_columns(prepared: Path, table: pd.DataFrame, out_dir: Path) -> tuple[pd.DataFrame, ...]:
    """A 3D problem's ROI QC (roi.tsv's table) and the ROI columns of predictions.tsv; each
    doubtful ROI warned about by name."""
    cases = tsv.read_table(prepared / "cases.tsv").set_index("case_id").loc[table["internal"]]
    cases = cases.reset_index().assign(case_id=table["case_id"].to_numpy())
    cases["roi_note"] = cases["roi_note"].astype(object).fillna("")
    qc = roi_qc.roi_table(cases).drop(columns="split")
    for case in qc.loc[qc["flag"] != ""].itertuples():
        log.warning(
            "scan %s: heart ROI doubtful (confidence %.2f: %s); its row is flagged in "
            "predictions.tsv: look at %s and give the scan a roi_center or heart_mask in a "
            "scans TSV",
            case.case_id,
            case.roi_confidence,
            case.roi_note,
            out_dir / "roi.png",
        )
    columns = qc[["roi_center", "roi_source", "roi_confidence"]].assign(roi_flag=qc["flag"])
    return qc, columns.reset_index(drop=True)


def _replace_folder(new: Path, out_dir: Path, work: Path) -> None:
    """Move ``new`` to ``out_dir``, the folder there before (if any) set aside inside ``work``
    first and put back if the move fails."""
    previous = work / "previous"
    if out_dir.exists():
        os.replace(out_dir, previous)
    try:
        os.replace(new, out_dir)
    except BaseException:
        if previous.exists():
            os.replace(previous, out_dir)
        raise


def infer_scans(
    model_file: str | Path,
    problem: str,
    model_name: str,
    settings: dict,
    scans: pd.DataFrame,
    out_dir: str | Path,
    *,
    source: str | Path = "",
    lines: bool = False,
    **predict_kw,
) -> pd.DataFrame:
    """Prepare and predict every scan of ``scans`` (``rlnet.scans.check_scans``' table, read
    from ``source``; ``lines``: its index holds the TSV's line numbers, for messages);
    ``settings``: the problem's config block. Writes ``out_dir`` (module docstring), returns
    predictions.tsv's table. ``predict_kw``: ``rlnet.predict.predict``'s keywords (device,
    batch_size, agatston_kw, risk_scheme, localization)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    dims = settings["spatial_dims"]
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        (work / "slices").mkdir()
        cases = pd.DataFrame(_cases(scans, Path(source), lines, dims, work / "slices"))
        twice = sorted(set(cases.loc[cases["case_id"].duplicated(), "case_id"]))
        if twice:
            raise ScansError(f"{source}: a scan is named like another's slice: {twice}")
        manifest = cases.drop(columns=["scan_row", "slice"])
        split = pd.DataFrame({"case_id": cases["case_id"], "split": "test", "stratum": 0})
        prepare(manifest, split, settings, work / "prepared")
        predicted = predict(
            model_file, work / "prepared", problem, model_name, work / "predicted",
            reference=False, **predict_kw,
        )  # fmt: skip
        result = work / "result"
        table = _assemble(predicted, cases, scans, dims, work, result, out_dir)
        _replace_folder(result, out_dir, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("%s on %s: %d scans -> %s", model_name, problem, len(scans), out_dir)
    return table


def _assemble(
    predicted: pd.DataFrame,
    cases: pd.DataFrame,
    scans: pd.DataFrame,
    dims: int,
    work: Path,
    result: Path,
    out_dir: Path,
) -> pd.DataFrame:
    """Write the output folder's files into ``result`` (named as they will be in ``out_dir``)
    from the predictions of the prepared cases; predictions.tsv's table."""
    own_case = cases.set_index("case_id").loc[predicted["case_id"]]
    table = predicted.assign(
        internal=predicted["case_id"],
        scan_row=own_case["scan_row"].to_numpy(),
        slice=own_case["slice"].to_numpy(),
    )
    table["case_id"] = scans.loc[table["scan_row"], "case_id"].to_numpy()
    table["image"] = scans.loc[table["scan_row"], "image"].to_numpy()
    localizes = bool((predicted["map"] != "").all())
    maps = result / "maps"
    for index, scan in scans.iterrows():
        own = table["scan_row"] == index
        target = maps / f"{scan['case_id']}.nii.gz"
        if localizes and dims == 2 and scan["ndim"] == 3:
            slices = table.loc[own, "slice"].astype(int).tolist()
            _stack_maps(table.loc[own, "map"].tolist(), slices, scan["image"], target)
        elif localizes:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(table.loc[own, "map"].iloc[0], target)
        table.loc[own, "map"] = str(out_dir / target.relative_to(result)) if localizes else ""
    result.mkdir(parents=True, exist_ok=True)
    columns = [c for c in predicted.columns if c not in ("case_id", "image", "map")]
    if dims == 3:
        qc, roi_columns = _roi_columns(work / "prepared", table, out_dir)
        table = pd.concat([table.reset_index(drop=True), roi_columns], axis=1)
        columns += list(roi_columns.columns)
        tsv.write_table(result / "roi.tsv", qc)
        meta = Prepared.load(work / "prepared").meta
        spacing = tuple(meta["grid"]["spacing"])
        roi_qc.draw_montage(qc, tuple(meta["roi"]["size"]), spacing, result / "roi.png")
    else:
        if (scans["ndim"] == 3).any():
            tsv.write_table(result / "volumes.tsv", _volume_totals(table, scans))
        table["slice"] = [int(z) if pd.notna(z) else "" for z in table["slice"]]
        columns.insert(0, "slice")
    table = table.loc[:, ["case_id", "image", *columns, "map"]]
    tsv.write_table(result / "predictions.tsv", table)
    return table
