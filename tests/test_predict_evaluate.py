"""Prediction (maps in the source geometry, empty candidates, foreign checkpoints) and
evaluation (its numbers and its errors) on the toy problem."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import TRAINING, write_prepared
from rlnet import evaluate, io, metrics, tsv
from rlnet.predict import CheckpointError, predict
from rlnet.prepare import Prepared
from rlnet.training.loop import Trainer
from rlnet.training.run_spec import RunSpec


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
    table = tsv.read_table(predicted / "predictions.tsv")
    prepared = Prepared.load(toy_prepared)
    test = prepared.cases[prepared.cases["split"] == "test"]
    assert list(table["case_id"]) == list(test["case_id"])
    assert np.allclose(table["reference"], test["value"])
    local = np.load(predicted / "localization.npy")
    assert local.shape == (len(test), 32, 32) and local.dtype == np.uint8


def test_maps_overlay_the_source_image(predicted):
    table = tsv.read_table(predicted / "predictions.tsv")
    local = np.load(predicted / "localization.npy")
    for k, row in table.iterrows():
        array, geometry = io.read_image(row["map"], kind="mask")
        assert array.shape == (30, 30)  # the slice before padding to the 32 x 32 grid
        assert geometry.spacing == pytest.approx((2.0, 2.0))
        # centred: the slice's pixel 15 is the grid's 16, so the slice is grid rows/columns 1-30
        np.testing.assert_array_equal(array, local[k][1:31, 1:31])
        assert row["map"].endswith(f"{row['case_id']}.nii.gz")


def test_localization_is_zero_outside_candidates(predicted, toy_prepared):
    prepared = Prepared.load(toy_prepared)
    table = tsv.read_table(predicted / "predictions.tsv")
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


def dice_by_counting(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Dice from the sets of foreground pixel coordinates, 2 |A & B| / (|A| + |B|)."""
    a = {tuple(index) for index in np.argwhere(predicted != 0)}
    b = {tuple(index) for index in np.argwhere(reference != 0)}
    assert a or b, "every toy case has a reference"
    return 2 * len(a & b) / (len(a) + len(b))


def test_dice_by_counting_is_right_on_a_hand_example():
    a, b = np.zeros((3, 3)), np.zeros((3, 3))
    a[0, :] = 1  # 3 pixels
    b[0, :2] = b[1, 0] = 1  # 3 pixels, 2 shared
    assert dice_by_counting(a, b) == pytest.approx(2 * 2 / 6)


def test_metrics_match_hand_computation(predicted, toy_prepared):
    identity = {"problem": "pma", "model": "rl-unet"}
    record, per_case = evaluate.evaluate(
        predicted / "predictions.tsv",
        predicted / "localization.npy",
        toy_prepared,
        identity,
        n_boot=20,
    )
    table = tsv.read_table(predicted / "predictions.tsv")
    prepared = Prepared.load(toy_prepared)
    local = np.load(predicted / "localization.npy")
    dice = [dice_by_counting(local[k], prepared.masks[i]) for k, i in enumerate(table["index"])]
    assert record["metrics"]["dice"]["value"] == pytest.approx(np.mean(dice))
    r = np.corrcoef(table["reference"], table["prediction"])[0, 1]
    assert record["metrics"]["rho"]["value"] == pytest.approx(r)
    ci = record["metrics"]["rho"]
    assert ci["ci_low"] <= ci["value"] <= ci["ci_high"] and ci["n"] == len(table)
    assert record["n_test"] == len(table) and record["model"] == "rl-unet"
    json.dumps(record)  # serialisable as written by the metrics rule


def test_nan_prediction_names_the_file_and_case(predicted, toy_prepared, tmp_path):
    table = tsv.read_table(predicted / "predictions.tsv")
    table.loc[0, "prediction"] = np.nan
    bad = tmp_path / "predictions.tsv"
    tsv.write_table(bad, table)
    with pytest.raises(evaluate.PredictionError, match=rf"{bad}.*{table.loc[0, 'case_id']}"):
        evaluate.evaluate(bad, predicted / "localization.npy", toy_prepared, {})


def test_case_ids_must_match_the_test_set(predicted, toy_prepared, tmp_path):
    table = tsv.read_table(predicted / "predictions.tsv")
    table.loc[0, "case_id"] = "intruder"
    bad = tmp_path / "predictions.tsv"
    tsv.write_table(bad, table)
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


# --- metrics that cannot flatter, on six hand-made 4 x 4 test cases ----------------------------

#: case: (subject, reference pixels, predicted pixels, reference value, predicted value)
HAND_CASES = {
    "A": ("s1", [(0, 0), (0, 1), (1, 0), (1, 1)], [(0, 0), (0, 1), (2, 2), (2, 3)], 10, 12),
    "B": ("s2", [(0, 0), (0, 1)], [(0, 0), (0, 1)], 20, 18),
    "C": ("s1", [], [], 0, 1),  # empty reference, empty prediction: Dice 1 that says nothing
    "D": ("s2", [], [(3, 0), (3, 1), (3, 2)], 0, 5),
    "E": ("s3", [(2, 2)], [(2, 2)], 30, 33),
    "F": ("s4", [(1, 1), (1, 2)], [], 40, 30),  # missed: Hausdorff undefined
}


def pixels(points) -> np.ndarray:
    mask = np.zeros((4, 4), np.uint8)
    for y, x in points:
        mask[y, x] = 1
    return mask


def hand_record(tmp_path, predictions=None, **options):
    """evaluate() on the six hand cases (``predictions``: the predicted values, by default
    HAND_CASES'); ``options`` pass on to evaluate."""
    names = list(HAND_CASES)
    cases = pd.DataFrame(
        {
            "case_id": names,
            "subject_id": [HAND_CASES[c][0] for c in names],
            "split": "test",
            "value": [float(HAND_CASES[c][3]) for c in names],
            "spacing": "1 1",
            "voxel_size": 1.0,
            "has_mask": 1,
        }
    )
    masks = np.stack([pixels(HAND_CASES[c][1]) for c in names])
    prepared = write_prepared(
        tmp_path / "prepared", np.zeros_like(masks), np.ones_like(masks), masks, cases
    )
    table = cases[["case_id", "subject_id"]].assign(
        index=np.arange(len(names)),
        reference=cases["value"],
        prediction=predictions or [float(HAND_CASES[c][4]) for c in names],
        has_mask=1,
    )
    tsv.write_table(tmp_path / "predictions.tsv", table)
    np.save(tmp_path / "localization.npy", np.stack([pixels(HAND_CASES[c][2]) for c in names]))
    return evaluate.evaluate(
        tmp_path / "predictions.tsv",
        tmp_path / "localization.npy",
        prepared,
        {},
        n_boot=20,
        **options,
    )


@pytest.fixture
def hand_evaluated(tmp_path):
    return hand_record(tmp_path)


def test_dice_leaves_out_empty_references_and_dice_all_keeps_them(hand_evaluated):
    record, per_case = hand_evaluated
    m = record["metrics"]
    # Dice: A 2*2/(4+4) = 0.5, B 1, E 1, F 0; C (1) and D (0) have empty references
    assert m["dice"]["value"] == pytest.approx((0.5 + 1 + 1 + 0) / 4) and m["dice"]["n"] == 4
    assert m["dice_all"]["value"] == pytest.approx((0.5 + 1 + 1 + 0 + 1 + 0) / 6)
    assert m["dice_all"]["n"] == 6
    assert m["avg_hausdorff_px"]["n"] == 4 and m["avg_hausdorff_px"]["n_undefined"] == 1
    assert per_case.set_index("case_id").loc["C", "dice"] == 1.0  # the per-case table keeps it


def test_per_patient_rho_and_pooled_dice(hand_evaluated):
    record, _ = hand_evaluated
    m = record["metrics"]
    # subject sums: reference 10, 20, 30, 40; prediction 13, 23, 33, 30. Deviations from the
    # means (25, 24.75): x -15 -5 5 15, y -11.75 -1.75 8.25 5.25; sum xy = 305,
    # sum x^2 = 500, sum y^2 = 236.75
    assert m["rho_patient"]["value"] == pytest.approx(305 / np.sqrt(500 * 236.75))
    assert m["rho_patient"]["n"] == 4
    # pooled pixels: s1 2*2/(4+4); s2 2*2/((2+3)+2); s3 1; s4 0 (a missed tumour)
    assert m["dice_patient"]["value"] == pytest.approx((0.5 + 4 / 7 + 1 + 0) / 4)
    assert m["dice_patient"]["n"] == 4


def test_one_case_per_subject_and_no_empty_reference_add_no_metric(predicted, toy_prepared):
    record, _ = evaluate.evaluate(
        predicted / "predictions.tsv", predicted / "localization.npy", toy_prepared, {}, n_boot=5
    )
    assert not {"dice_all", "rho_patient", "dice_patient"} & set(record["metrics"])


def test_predict_writes_the_masks_of_both_rules(predicted, toy_prepared):
    with np.load(predicted / "localizations.npz") as stored:
        assert set(stored.files) == {"area", "threshold"}
        np.testing.assert_array_equal(stored["area"], np.load(predicted / "localization.npy"))
        area, threshold = stored["area"], stored["threshold"]
    assert area.shape == threshold.shape and threshold.dtype == np.uint8


def test_dice_under_the_other_rule_from_localizations(tmp_path):
    """The hand cases scored with their masks as the ``area`` rule's, and other masks as the
    ``threshold`` rule's: A misses one of its 4 reference pixels (2 x 3 / (3 + 4)), B and E
    are exact, F is missed: (6/7 + 1 + 1 + 0) / 4 over the 4 cases with a reference."""
    names = list(HAND_CASES)
    threshold = np.stack([pixels(HAND_CASES[c][1]) for c in names])
    threshold[0, 1, 1] = 0
    threshold[names.index("F")] = 0
    area = np.stack([pixels(HAND_CASES[c][2]) for c in names])
    np.savez(tmp_path / "localizations.npz", area=area, threshold=threshold)
    record, per_case = hand_record(tmp_path, localizations_path=tmp_path / "localizations.npz")
    m = record["metrics"]
    assert m["dice_threshold"]["value"] == pytest.approx((6 / 7 + 1 + 1 + 0) / 4)
    assert m["dice_threshold"]["n"] == 4 and record["localization"] == "area"
    assert m["dice"]["value"] == pytest.approx((0.5 + 1 + 1 + 0) / 4)  # the area rule's masks
    assert per_case.set_index("case_id").loc["A", "dice_threshold"] == pytest.approx(6 / 7)
    record, _ = hand_record(
        tmp_path, localizations_path=tmp_path / "localizations.npz", localization_rule="threshold"
    )
    assert "dice_area" in record["metrics"] and "dice_threshold" not in record["metrics"]


def test_bootstrap_replicates_are_kept_and_pair_up_across_runs(tmp_path):
    """Two runs on one test set draw the same resamples (equal keys), so Table II can average
    their replicates; every CI is the percentile interval of its own replicates."""
    first, _ = hand_record(tmp_path)
    second, _ = hand_record(tmp_path, predictions=[13.0, 19.0, 2.0, 4.0, 30.0, 35.0])
    for name, entry in first["metrics"].items():
        assert (
            len(entry["bootstrap"]) == 20
            and entry["resample"] == (second["metrics"][name]["resample"])
        )
        assert metrics.percentile_ci(entry["bootstrap"]) == pytest.approx(
            (entry["ci_low"], entry["ci_high"]), nan_ok=True
        )
    assert first["bootstrap"] == {"resamples": 20, "seed": 0, "unit": "subject"}
    assert first["metrics"]["rho"]["bootstrap"] != second["metrics"]["rho"]["bootstrap"]


def test_calcium_free_scans_by_hand():
    """Reference Agatston 0 on three scans: predicted 0, 12, 0 -> mean 4.0, 2 of 3 empty."""
    table = pd.DataFrame(
        {
            "subject_id": ["s1", "s2", "s3", "s4"],
            "reference_agatston": [0.0, 0.0, 0.0, 50.0],
            "predicted_agatston": [0.0, 12.0, 0.0, 40.0],
        }
    )
    m = evaluate.calcium_free_metrics(table, n_boot=50, seed=1)
    assert m["agatston_fp"]["value"] == pytest.approx(4.0) and m["agatston_fp"]["n"] == 3
    assert m["calcium_free_empty"]["value"] == pytest.approx(2 / 3)
    assert 0 <= m["agatston_fp"]["ci_low"] <= 4.0 <= m["agatston_fp"]["ci_high"] <= 12.0
    assert evaluate.calcium_free_metrics(table.iloc[3:], n_boot=5, seed=1) == {}
