"""Inference on the test split: biomarker values and localization masks.

Outputs (one folder per trained model):
    predictions.tsv   case_id, subject_id, index, reference, prediction (the table's biomarker:
                      the Agatston score for cac, the area otherwise), has_mask, map; for cac
                      also reference/predicted volume (mm^3), Agatston and risk group
    localization.npy  uint8 binarised localization (N_test, *window) in network-input space,
                      used by the metrics stage (binarised by ``rlnet.localization``: the
                      ``area`` rule by default, the paper's ``threshold`` on request)
    localizations.npz the maps binarised by every rule (test split only), so the metrics stage
                      reports Dice under both
    maps/{case}.nii.gz the binarised localization in the source image's geometry (overlays the
                      CT in 3D Slicer / ITK-SNAP): the training grid's window mapped back onto
                      the source's voxels (for cac the ROI placed back in the volume)
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from rlnet import atomic, biomarkers, grid, io, tsv
from rlnet.localization import RULES, binarise, save_all
from rlnet.models import build_model
from rlnet.prepare import Prepared
from rlnet.training.data import CaseDataset
from rlnet.training.device import resolve_device
from rlnet.training.targets import inverse

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint that does not belong to the requested model/problem."""


def load_model(path: str | Path, problem: str, model_name: str, device: torch.device):
    """Rebuild a trained model from ``model.pt``; the checkpoint must match model and problem."""
    state = torch.load(path, map_location=device, weights_only=False)
    run = state.get("run", {}) if isinstance(state, dict) else {}
    if run.get("model") != model_name or run.get("problem") != problem:
        raise CheckpointError(
            f"{path}: checkpoint is for model {run.get('model')!r} on problem "
            f"{run.get('problem')!r}, not {model_name!r} on {problem!r}"
        )
    model = build_model(model_name, run["spatial_dims"], run["base_width"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit {model_name}: {err}") from err
    return model.to(device).eval(), run


@torch.no_grad()
def infer(model, dataset: CaseDataset, device: torch.device, batch_size: int):
    """(values [N], localization maps [N, *window] float32 in [0, 1], or None) for a dataset."""
    values, maps = [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for batch in loader:
        out = model(
            batch["image"].to(device),
            batch["candidates"].to(device),
            batch["voxel_size"].to(device),
        )
        values.append(out.value.float().cpu().numpy())
        if out.localization is not None:
            maps.append(out.localization[:, 0].float().cpu().numpy())
    return np.concatenate(values), (np.concatenate(maps) if maps else None)


def _agatston_columns(
    prepared, indices, values, maps, family, agatston_kw, scheme, reference: bool = True
) -> pd.DataFrame:
    """Predicted calcium volume, Agatston score and risk group of each case (and the
    reference's when ``reference``)."""
    cases = prepared.cases.loc[indices]
    region = prepared.region()
    predicted_agatston, predicted_volume = [], []
    for k, index in enumerate(indices):
        if maps is None:  # direct regressors learn the Agatston score itself
            predicted_agatston.append(max(float(values[k]), 0.0))
            predicted_volume.append(np.nan)
            continue
        image = np.asarray(prepared.images[index][region])
        spacing = prepared.spacing(index)
        predicted_agatston.append(biomarkers.agatston(image, maps[k], spacing, **agatston_kw))
        predicted_volume.append(float(values[k]))
    table = pd.DataFrame({"predicted_volume": predicted_volume})
    if reference:
        table.insert(0, "reference_volume", cases["value"].astype(float).to_numpy())
        table["reference_agatston"] = cases["agatston"].astype(float).to_numpy()
    table["predicted_agatston"] = predicted_agatston
    if reference:
        table["reference_group"] = biomarkers.risk_group(table["reference_agatston"], scheme)
    table["predicted_group"] = biomarkers.risk_group(np.asarray(predicted_agatston), scheme)
    return table


def _write_map(prepared: Prepared, index: int, local: np.ndarray, path: Path) -> None:
    """Place one binarised localization (the network window of a grid array) back on its
    source image's voxels (``rlnet.grid.to_source``, nearest neighbour) and write it in the
    source's geometry. A one-slice DICOM series gets a one-slice volume at the slice's position.
    """
    row = prepared.cases.loc[index]
    shape, source = io.read_geometry(row["image"])
    origin = tuple(float(v) for v in str(row["grid_origin"]).split())
    placed = io.Geometry(prepared.spacing(index), origin, source.direction)
    window = placed.shifted(prepared.center_offset())
    full = grid.to_source(local.astype(np.uint8), window, source, shape)
    volume_shape, volume = io.read_geometry(row["image"], one_slice_as_2d=False)
    if len(volume_shape) > len(shape):
        full, source = full[np.newaxis], volume
    io.write_image(path, full.astype(np.uint8), source)


def predict(
    model_path: str | Path,
    prepared_dir: str | Path,
    problem: str,
    model_name: str,
    out_dir: str | Path,
    *,
    device: str = "auto",
    batch_size: int = 8,
    agatston_kw: dict | None = None,
    risk_scheme: str = "paper",
    localization: str = "area",
    reference: bool = True,
) -> pd.DataFrame:
    """Predict the test split; write predictions.tsv, localization.npy and maps/ to out_dir.
    ``localization``: the rule binarising the maps (``rlnet.localization.RULES``).
    ``reference=False`` (new scans, ``rlnet.infer``): no reference columns; the image path
    instead. A model of an Agatston biomarker (its training settings' ``score``) is reported
    in Agatston units, with risk groups."""
    if localization not in RULES:
        raise ValueError(
            f"unknown localization rule {localization!r} (choose from {', '.join(RULES)})"
        )
    out_dir = Path(out_dir)
    torch_device = resolve_device(device)
    model, run = load_model(model_path, problem, model_name, torch_device)
    prepared = Prepared.load(prepared_dir)
    indices = prepared.indices("test")
    cases = prepared.cases.loc[indices]
    empty = [
        c
        for c, i in zip(cases["case_id"], indices, strict=True)
        if not prepared.candidates[i].any()
    ]
    for case in empty:
        log.warning("case %s: empty candidate mask, prediction 0", case)
    dataset = CaseDataset(prepared, indices, np.zeros(len(indices)), None, seed=0)
    values, maps = infer(model, dataset, torch_device, batch_size)
    if reference:
        every = {r: np.zeros(0, np.uint8) if maps is None else binarise(maps, r) for r in RULES}
        save_all(out_dir / "localizations.npz", every)
    maps = None if maps is None else binarise(maps, localization)
    # back to target units from the space the model learned in (a run without the key: none)
    values = inverse(values, run.get("target_transform", "none"))
    ids = ["case_id", "subject_id", "index"] if reference else ["case_id", "image"]
    table = cases[ids].reset_index(drop=True)
    if run["settings"]["score"] == "agatston":
        extra = _agatston_columns(
            prepared,
            indices,
            values,
            maps,
            run["family"],
            agatston_kw or {},
            risk_scheme,
            reference,
        )
        if reference:
            table["reference"] = extra["reference_agatston"]
        table["prediction"] = extra["predicted_agatston"]
        table = pd.concat([table, extra], axis=1)
    else:
        if reference:
            table["reference"] = cases["value"].astype(float).to_numpy()
        table["prediction"] = values.astype(float)
    if reference:
        table["has_mask"] = cases["has_mask"].to_numpy()
    table["map"] = ""
    # Direct regressors localize nothing: an empty array and an empty maps/ keep the declared
    # outputs uniform.
    atomic.save_npy(
        out_dir / "localization.npy", maps if maps is not None else np.zeros(0, np.uint8)
    )
    (out_dir / "maps").mkdir(parents=True, exist_ok=True)
    if maps is not None:
        for k, index in enumerate(indices):
            path = out_dir / "maps" / f"{table.loc[k, 'case_id']}.nii.gz"
            _write_map(prepared, index, maps[k], path)
            table.loc[k, "map"] = str(path)
    tsv.write_table(out_dir / "predictions.tsv", table)
    return table
