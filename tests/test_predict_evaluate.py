"""Prediction (maps in the source geometry, empty candidates, foreign checkpoints) and
evaluation (its numbers and its errors) on the toy problem."""

import json
import shutil

import numpy as np
import pytest

from conftest import TRAINING
from rlnet import evaluate, io, metrics
from rlnet.predict import CheckpointError, predict
from rlnet.prepare import Prepared
from rlnet.training.loop import RunSpec, Trainer


@pytest.fixture(scope="module")
def trained(toy_prepared, tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    spec = RunSpec("pma", "rl-unet", None, 0, 3, {**TRAINING, "max_epochs": 2})
    Trainer(spec, toy_prepared, "cpu").fit(root / "model", root / "ck")
    return root / "model"


@pytest.fixture(scope="module")
def predicted(trained, toy_prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred")
    predict(trained / "model.pt", toy_prepared, "pma", "rl-unet", out, device="cpu")
    return out


def test_predictions_cover_the_test_split(predicted, toy_prepared):
    table = io.read_table(predicted / "predictions.tsv")
    prepared = Prepared.load(toy_prepared)
    test = prepared.cases[prepared.cases["split"] == "test"]
    assert list(table["case_id"]) == list(test["case_id"])
    assert np.allclose(table["reference"], test["value"])
    local = np.load(predicted / "localization.npy")
    assert local.shape == (len(test), 32, 32) and local.dtype == np.uint8


def test_maps_overlay_the_source_image(predicted):
    table = io.read_table(predicted / "predictions.tsv")
    local = np.load(predicted / "localization.npy")
    for k, row in table.iterrows():
        array, geometry = io.read_image(row["map"], kind="mask")
        assert array.shape == (30, 30)  # the slice before padding to a multiple of 16
        assert geometry.spacing == pytest.approx((2.0, 2.0))
        np.testing.assert_array_equal(array, local[k][:30, :30])
        assert row["map"].endswith(f"{row['case_id']}.nii.gz")


def test_localization_is_zero_outside_candidates(predicted, toy_prepared):
    prepared = Prepared.load(toy_prepared)
    table = io.read_table(predicted / "predictions.tsv")
    local = np.load(predicted / "localization.npy")
    for k, index in enumerate(table["index"]):
        assert not (local[k] & (prepared.candidates[index] == 0)).any()


def test_empty_candidate_mask_predicts_zero(trained, toy_prepared, tmp_path):
    copy = tmp_path / "prepared"
    shutil.copytree(toy_prepared, copy)
    prepared = Prepared.load(copy)
    index = int(prepared.indices("test")[0])
    candidates = np.load(copy / "candidates.npy")
    candidates[index] = 0
    np.save(copy / "candidates.npy", candidates)
    table = predict(trained / "model.pt", copy, "pma", "rl-unet", tmp_path / "out", device="cpu")
    assert table.loc[table["index"] == index, "prediction"].item() == 0.0
    assert np.isfinite(table["prediction"]).all()


def test_checkpoint_of_another_model_is_refused(trained, toy_prepared, tmp_path):
    with pytest.raises(CheckpointError, match="'rl-unet' on problem 'pma', not 'rl-senet'"):
        predict(trained / "model.pt", toy_prepared, "pma", "rl-senet", tmp_path)


def test_metrics_match_hand_computation(predicted, toy_prepared):
    identity = {"problem": "pma", "model": "rl-unet"}
    record, per_case = evaluate.evaluate(
        predicted / "predictions.tsv",
        predicted / "localization.npy",
        toy_prepared,
        identity,
        n_boot=20,
    )
    table = io.read_table(predicted / "predictions.tsv")
    prepared = Prepared.load(toy_prepared)
    local = np.load(predicted / "localization.npy")
    dice = [metrics.dice(local[k], prepared.masks[i]) for k, i in enumerate(table["index"])]
    assert record["metrics"]["dice"]["value"] == pytest.approx(np.mean(dice))
    r = np.corrcoef(table["reference"], table["prediction"])[0, 1]
    assert record["metrics"]["rho"]["value"] == pytest.approx(r)
    ci = record["metrics"]["rho"]
    assert ci["ci_low"] <= ci["value"] <= ci["ci_high"] and ci["n"] == len(table)
    assert record["n_test"] == len(table) and record["model"] == "rl-unet"
    json.dumps(record)  # serialisable as written by the metrics rule


def test_nan_prediction_names_the_file_and_case(predicted, toy_prepared, tmp_path):
    table = io.read_table(predicted / "predictions.tsv")
    table.loc[0, "prediction"] = np.nan
    bad = tmp_path / "predictions.tsv"
    io.write_table(bad, table)
    with pytest.raises(evaluate.PredictionError, match=rf"{bad}.*{table.loc[0, 'case_id']}"):
        evaluate.evaluate(bad, predicted / "localization.npy", toy_prepared, {})


def test_case_ids_must_match_the_test_set(predicted, toy_prepared, tmp_path):
    table = io.read_table(predicted / "predictions.tsv")
    table.loc[0, "case_id"] = "intruder"
    bad = tmp_path / "predictions.tsv"
    io.write_table(bad, table)
    with pytest.raises(evaluate.PredictionError, match="unexpected \\['intruder'\\]"):
        evaluate.evaluate(bad, predicted / "localization.npy", toy_prepared, {})


def test_region_is_the_network_window():
    """2D: the whole stored slice; 3D: the ROI inside the stored ROI + margin array."""
    flat = Prepared(None, None, None, None, {"spatial_dims": 2, "shape": [64, 80]})
    assert flat.region() == (slice(0, 64), slice(0, 80))
    roi = {"size": [32, 48, 48], "margin": [2, 3, 3]}
    volume = Prepared(None, None, None, None, {"spatial_dims": 3, "roi": roi})
    assert volume.region() == (slice(2, 34), slice(3, 51), slice(3, 51))
    stored = np.zeros((36, 54, 54))
    assert stored[volume.region()].shape == (32, 48, 48)
