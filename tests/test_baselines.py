"""Baselines without learning (rlnet.baselines): each number recomputed here by brute force or
by hand, on the toy 2D problem and on a hand-made 3D calcium problem."""

import json
import logging
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from conftest import assert_nothing_half_written, files_under, write_prepared
from rlnet import atomic, baselines, cli, evaluate, tsv
from rlnet.prepare import Prepared

# --- the toy 2D problem (tests/conftest.py toy_prepared), brute force -------------------------


def train_and_test(prepared: Prepared):
    train, test = prepared.indices("train"), prepared.indices("test")
    y = prepared.cases.loc[train, "value"].astype(float).to_numpy()
    return train, test, y


def brute_r(measure, y) -> float:
    return np.corrcoef(measure, y)[0, 1] if np.std(measure) > 0 else np.nan


def test_candidates_calibrated_on_training(toy_prepared, tmp_path):
    prepared = Prepared.load(toy_prepared)
    train, test, y = train_and_test(prepared)
    pixel = 4.0  # 2 mm x 2 mm
    m_train = [np.count_nonzero(prepared.candidates[i]) * pixel for i in train]
    m_test = np.array([np.count_nonzero(prepared.candidates[i]) * pixel for i in test])
    slope, intercept = np.polyfit(m_train, y, 1)
    table = baselines.run_baseline(toy_prepared, "pma", "candidates", tmp_path)
    np.testing.assert_allclose(table["prediction"], np.maximum(slope * m_test + intercept, 0))
    np.testing.assert_allclose(table["reference"], prepared.cases.loc[test, "value"])
    local = np.load(tmp_path / "localization.npy")
    np.testing.assert_array_equal(local, prepared.candidates[test])
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["fit"]["slope"] == pytest.approx(slope) and run["n_train"] == len(train)


def test_region_rule_is_the_best_training_level(toy_prepared, tmp_path):
    prepared = Prepared.load(toy_prepared)
    train, test, y = train_and_test(prepared)
    masks = [prepared.masks[i] > 0 for i in train]
    count = np.sum(masks, axis=0)
    best = None
    for k in range(1, len(masks) + 1):
        region = count >= k
        measure = [np.sum((prepared.candidates[i] > 0) & region) * 4.0 for i in train]
        r = brute_r(measure, y)
        if np.isfinite(r) and (best is None or r > best[0]):
            best = (r, k, region, measure)
    r, k, region, measure = best
    slope, intercept = np.polyfit(measure, y, 1)
    expected_masks = np.stack([(prepared.candidates[i] > 0) & region for i in test])
    expected = np.maximum(slope * expected_masks.sum(axis=(1, 2)) * 4.0 + intercept, 0)
    table = baselines.run_baseline(toy_prepared, "pma", "rule", tmp_path, rule="region")
    np.testing.assert_allclose(table["prediction"], expected)
    np.testing.assert_array_equal(np.load(tmp_path / "localization.npy"), expected_masks)
    fit = json.loads((tmp_path / "run.json").read_text())["fit"]
    assert fit["level"] == pytest.approx(k / len(masks)) and fit["train_r"] == pytest.approx(r)
    # the region leaves out the distractor blob (rows 20-25, columns 18-25) of every toy case
    assert not expected_masks[:, 21:25, 19:25].any()


def test_threshold_rule_is_the_best_training_threshold(toy_prepared, tmp_path):
    prepared = Prepared.load(toy_prepared)
    train, test, y = train_and_test(prepared)

    def smooth(i):
        return ndimage.gaussian_filter(prepared.images[i].astype(np.float32), 1.0)

    pooled = np.concatenate([smooth(i)[prepared.candidates[i] > 0] for i in train])
    thresholds = np.unique(np.quantile(pooled, np.linspace(0.01, 0.99, 99)))
    best = None
    for side in ("below", "above"):
        for t in thresholds:
            chosen = [(smooth(i) <= t) if side == "below" else (smooth(i) >= t) for i in train]
            measure = [
                np.sum((prepared.candidates[i] > 0) & c) * 4.0
                for i, c in zip(train, chosen, strict=True)
            ]
            r = brute_r(measure, y)
            if np.isfinite(r) and (best is None or r > best[0]):
                best = (r, side, t, measure)
    r, side, t, measure = best
    slope, intercept = np.polyfit(measure, y, 1)
    chosen = [(smooth(i) <= t) if side == "below" else (smooth(i) >= t) for i in test]
    masks = np.stack([(prepared.candidates[i] > 0) & c for i, c in zip(test, chosen, strict=True)])
    table = baselines.run_baseline(toy_prepared, "pma", "rule", tmp_path, rule="threshold")
    np.testing.assert_allclose(
        table["prediction"], np.maximum(slope * masks.sum(axis=(1, 2)) * 4.0 + intercept, 0)
    )
    np.testing.assert_array_equal(np.load(tmp_path / "localization.npy"), masks)
    fit = json.loads((tmp_path / "run.json").read_text())["fit"]
    assert (fit["side"], fit["threshold_hu"]) == (side, pytest.approx(t))


def test_baseline_is_evaluated_like_a_model(toy_prepared, tmp_path):
    """predictions.tsv has predict's columns; the metrics stage reads its run.json."""
    table = baselines.run_baseline(toy_prepared, "pma", "rule", tmp_path, rule="region")
    assert list(table.columns) == [
        "case_id",
        "subject_id",
        "index",
        "reference",
        "prediction",
        "has_mask",
        "map",
    ]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["family"] == "baseline-rule" and run["model"] == "rule" and run["rep"] == 0
    keys = ("problem", "model", "n", "rep", "n_train", "fingerprint", "family", "target")
    record, _ = evaluate.evaluate(
        tmp_path / "predictions.tsv",
        tmp_path / "localization.npy",
        toy_prepared,
        {k: run[k] for k in keys},
        n_boot=10,
    )
    assert record["model"] == "rule" and {"rho", "icc", "dice"} <= set(record["metrics"])


def test_cli_stage_writes_outputs_and_records(toy_prepared, tmp_path):
    out = tmp_path / "out"
    argv = ["baseline", "--prepared", str(toy_prepared), "--problem", "pma"]
    assert cli.main([*argv, "--baseline", "candidates", "--out-dir", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"predictions.tsv", "localization.npy", "run.json", "run.json.prov.json"} <= names


# --- a hand-made 3D calcium problem -----------------------------------------------------------

#: Window = stored (4, 6, 6) minus a margin of one voxel: (2, 4, 4); voxels 3 x 1 x 1 mm.
ROI = {"size": [2, 4, 4], "margin": [1, 1, 1]}
SPACING = "3 1 1"


def calcium_cases(splits, values, agatston, has_mask=None) -> pd.DataFrame:
    n = len(splits)
    return pd.DataFrame(
        {
            "case_id": [f"c{k}" for k in range(n)],
            "subject_id": [f"s{k}" for k in range(n)],
            "split": splits,
            "value": values,
            "agatston": agatston,
            "spacing": SPACING,
            "voxel_size": 3.0,
            "has_mask": has_mask if has_mask is not None else [1] * n,
        }
    )


def window_voxels(count: int) -> np.ndarray:
    """A (4, 6, 6) candidate array with ``count`` voxels inside the window (in z = 1, 2) and
    one in the margin (z = 0) that no baseline may count."""
    arr = np.zeros((4, 6, 6), np.uint8)
    inside = [(z, y, x) for z in (1, 2) for y in range(1, 5) for x in range(1, 5)]
    for z, y, x in inside[:count]:
        arr[z, y, x] = 1
    arr[0, 0, 0] = 1
    return arr


@pytest.fixture
def calcium(tmp_path):
    """6 train, 1 val, 3 test cases. Training candidate measures 3 x (1, 2, 3, 4, 5, 6) mm^3,
    values = 2 x measure + 5 and Agatston = 10 x measure - 3 exactly; test Agatston 120, 0,
    250. Test case c7 holds two lesions inside the window and a bright voxel in the margin."""
    counts = [1, 2, 3, 4, 5, 6, 2, 4, 0, 8]
    splits = ["train"] * 6 + ["val"] + ["test"] * 3
    measures = np.array(counts) * 3.0
    images = np.full((10, 4, 6, 6), -100, np.int16)
    images[7, 1, 2, 2:4] = (250, 140)  # one 2 mm^2 lesion, peak 250 HU: weight 2
    images[7, 2, 3, 3] = 450  # one 1 mm^2 lesion, 450 HU: weight 4
    images[7, 0, 0, 0] = 900  # in the margin, outside the ROI
    masks = np.zeros_like(images, np.uint8)
    masks[7] = images[7] >= 130
    agatston = np.concatenate([10 * measures[:6] - 3, [20.0, 120.0, 0.0, 250.0]])
    cases = calcium_cases(splits, 2 * measures + 5, agatston)
    folder = write_prepared(
        tmp_path / "cac",
        images,
        np.stack([window_voxels(c) for c in counts]),
        masks,
        cases,
        ROI,
    )
    return folder


def test_agatston_rule_scores_the_roi_by_hand(calcium, tmp_path):
    table = baselines.run_baseline(
        calcium, "cac", "rule", tmp_path / "out", rule="agatston", agatston_kw={}
    )
    # case c7: 2 mm^2 x 2 + 1 mm^2 x 4 = 8, slice factor 3 mm / 3 mm; the margin voxel excluded
    assert table["predicted_agatston"].tolist() == [8.0, 0.0, 0.0]
    assert table["predicted_volume"].tolist() == [9.0, 0.0, 0.0]  # 3 voxels x 3 mm^3
    assert table["predicted_group"].tolist() == [0, 0, 0]
    assert (table["prediction"] == table["predicted_agatston"]).all()
    local = np.load(tmp_path / "out" / "localization.npy")
    assert local.shape == (3, 2, 4, 4) and local[0].sum() == 3
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["target"] == "agatston" and run["n_train"] == 0


def test_candidates_on_calcium_calibrate_volume_and_agatston(calcium, tmp_path):
    table = baselines.run_baseline(calcium, "cac", "candidates", tmp_path / "out")
    # test measures 3 x (4, 0, 8) mm^3: volume 2 m + 5, Agatston max(10 m - 3, 0)
    np.testing.assert_allclose(table["predicted_volume"], [29.0, 5.0, 53.0])
    np.testing.assert_allclose(table["predicted_agatston"], [117.0, 0.0, 237.0])
    assert table["reference_group"].tolist() == [2, 0, 2]  # 120, 0, 250: [100, 400) is 2
    assert table["predicted_group"].tolist() == [2, 0, 2]
    assert list(table.columns) == [
        "case_id",
        "subject_id",
        "index",
        "reference",
        "prediction",
        "reference_volume",
        "predicted_volume",
        "reference_agatston",
        "predicted_agatston",
        "reference_group",
        "predicted_group",
        "has_mask",
        "map",
    ]


# --- errors: one line naming the problem and the key, nothing written --------------------------


@pytest.mark.parametrize(
    ("baseline", "rule", "message"),
    [
        ("rule", None, "problem pma: baseline 'rule' needs config key problems.pma.baselines.rule"),
        ("rule", "median", "one of region, agatston, threshold (got 'median')"),
        ("rule", "agatston", "problem pma, baseline rule 'agatston': needs 3D images"),
        ("median", None, "unknown baseline 'median'; known: candidates, rule, heart-rule"),
    ],
)
def test_bad_settings_are_named_and_write_nothing(toy_prepared, tmp_path, baseline, rule, message):
    before = files_under(tmp_path)
    with pytest.raises(baselines.BaselineError, match=re.escape(message)):
        baselines.run_baseline(toy_prepared, "pma", baseline, tmp_path / "out", rule=rule)
    assert_nothing_half_written(tmp_path, before)


def test_region_rule_needs_training_masks(toy_prepared, tmp_path):
    copy = tmp_path / "prepared"
    shutil.copytree(toy_prepared, copy)
    cases = tsv.read_table(copy / "cases.tsv")
    tsv.write_table(copy / "cases.tsv", cases.assign(has_mask=0))
    with pytest.raises(baselines.BaselineError, match="no training case has a reference mask"):
        baselines.run_baseline(copy, "pma", "rule", tmp_path / "out", rule="region")
    assert not (tmp_path / "out").exists()


def test_constant_training_measure_cannot_be_calibrated(tmp_path):
    counts = [2] * 6 + [2, 1, 3, 4]
    splits = ["train"] * 6 + ["val"] + ["test"] * 3
    folder = write_prepared(
        tmp_path / "flat",
        np.full((10, 4, 6, 6), -100),
        np.stack([window_voxels(c) for c in counts]),
        np.zeros((10, 4, 6, 6)),
        calcium_cases(splits, np.arange(10.0) + 1, np.arange(10.0)),
        ROI,
    )
    message = "problem cac, baseline candidates: the training measure is the same for all 6"
    with pytest.raises(baselines.BaselineError, match=message):
        baselines.run_baseline(folder, "cac", "candidates", tmp_path / "out")


def test_cli_error_is_one_line(toy_prepared, tmp_path, caplog):
    argv = ["baseline", "--prepared", str(toy_prepared), "--problem", "pma", "--baseline", "rule"]
    with caplog.at_level(logging.ERROR, logger="rlnet"):
        assert cli.main([*argv, "--out-dir", str(tmp_path / "out")]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "baseline failed: problem pma: baseline 'rule' needs config key "
        "problems.pma.baselines.rule, one of region, agatston, threshold (got None)"
    ]
    assert not (tmp_path / "out").exists()


# --- the skin-distance rule: bodies with a fat frame of known width ------------------------------

#: Fat frame width (pixels) of every hand-made body; pixels are 2 mm x 2 mm.
FRAME_PX = 2


def body_case(height: int, width: int, blob: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, reference) of a 24 x 24 slice: a rectangular body (40 HU) at rows 2..2+height,
    columns 2..2+width, its outer FRAME_PX pixels fat (-100 HU: the reference), a lung (-800
    HU) of 4 x 4 pixels at its centre and ``blob`` fat pixels just above the lung: deep fat
    (depth >= 5 px once the lung is filled as body, 1 px if it were not)."""
    image = np.full((24, 24), -1000, np.int16)
    image[2 : 2 + height, 2 : 2 + width] = 40
    frame = np.zeros((24, 24), bool)
    frame[2 : 2 + height, 2 : 2 + width] = True
    frame[2 + FRAME_PX : 2 + height - FRAME_PX, 2 + FRAME_PX : 2 + width - FRAME_PX] = False
    image[frame] = -100
    cy, cx = 2 + height // 2, 2 + width // 2
    image[cy - 2 : cy + 2, cx - 2 : cx + 2] = -800
    image[cy - 3, cx - 2 : cx - 2 + blob] = -100
    return image, frame


@pytest.fixture
def bodies(tmp_path):
    """8 train, 1 val, 3 test bodies of varying size and deep fat; value = frame area (mm^2)."""
    shapes = [(14, 16, 0), (16, 14, 4), (18, 20, 2), (20, 18, 3), (15, 17, 1), (17, 19, 4)]
    shapes += [(19, 15, 0), (20, 20, 2), (16, 16, 1), (14, 18, 3), (18, 16, 4), (20, 20, 2)]
    made = [body_case(*s) for s in shapes]
    images = np.stack([m[0] for m in made])
    masks = np.stack([m[1] for m in made]).astype(np.uint8)
    candidates = ((images >= -140) & (images <= -70)).astype(np.uint8)
    splits = ["train"] * 8 + ["val"] + ["test"] * 3
    cases = pd.DataFrame(
        {
            "case_id": [f"b{k}" for k in range(12)],
            "subject_id": [f"s{k}" for k in range(12)],
            "split": splits,
            "value": masks.reshape(12, -1).sum(axis=1) * 4.0,
            "spacing": "2 2",
            "voxel_size": 4.0,
            "has_mask": 1,
        }
    )
    return write_prepared(tmp_path / "sfa", images, candidates, masks, cases), masks


def test_skin_rule_fits_the_frame_width_and_finds_the_frame(bodies, tmp_path):
    folder, masks = bodies
    table = baselines.run_baseline(folder, "sfa", "skin-rule", tmp_path / "out")
    fit = json.loads((tmp_path / "out" / "run.json").read_text())["fit"]
    # an axis-aligned body: a pixel's depth is its distance in pixels to the nearest row or
    # column outside, times 2 mm; the frame lies at depths 2 and 4 mm, the deep fat at >= 10 mm
    assert fit["distance_mm"] == 2.0 * FRAME_PX and fit["step_mm"] == 2.0
    assert fit["train_rmse"] == 0.0 and fit["train_r"] == pytest.approx(1.0)
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "localization.npy"), masks[9:])
    np.testing.assert_allclose(table["prediction"], masks[9:].reshape(3, -1).sum(axis=1) * 4.0)
    record, _ = evaluate.evaluate(
        tmp_path / "out" / "predictions.tsv",
        tmp_path / "out" / "localization.npy",
        folder,
        {},
        n_boot=5,
    )
    assert record["metrics"]["dice"]["value"] == 1.0


def test_skin_rule_refuses_mask_candidates(bodies, tmp_path):
    folder, _ = bodies
    meta = json.loads((folder / "meta.json").read_text())
    atomic.write_json(folder / "meta.json", {**meta, "candidates": {"mask": "candidate_mask"}})
    with pytest.raises(baselines.BaselineError, match="skin-rule: needs 2D images with HU-range"):
        baselines.run_baseline(folder, "sfa", "skin-rule", tmp_path / "out")


# --- the heart-region rule: calcium in and out of a heart mask -----------------------------------

#: Stored (4, 8, 8), window (2, 6, 6) (margin 1); voxels 3 x 1 x 1 mm (1 mm^2 pixels).
HEART_ROI = {"size": [2, 6, 6], "margin": [1, 1, 1]}


def heart_case(coronary_hu: int | None) -> np.ndarray:
    """A stored (4, 8, 8) image: background -100 HU; heart mask (heart_box) at z 1-2, y 2-4,
    x 2-3; a single 450 HU voxel inside the heart (1 mm^2: dropped below 2 mm^2); a coronary
    lesion of 2 voxels (y 3-4) at x 4, z 1 (1 mm outside the mask) of ``coronary_hu``; a bone
    (500 HU) at x 6, y 2-4 on both slices (3 mm from the mask); a 900 HU voxel in the margin."""
    image = np.full((4, 8, 8), -100, np.int16)
    image[2, 2, 2] = 450
    if coronary_hu is not None:
        image[1, 3:5, 4] = coronary_hu
    image[1:3, 2:5, 6] = 500
    image[0, 0, 0] = 900
    return image


def heart_box() -> np.ndarray:
    box = np.zeros((4, 8, 8), np.uint8)
    box[1:3, 2:5, 2:4] = 1
    return box


#: Agatston (2 mm^2 minimum) of the coronary lesion by its HU: 2 mm^2 x weight, slice factor 1.
CORONARY = {None: 0.0, 250: 4.0, 350: 6.0, 450: 8.0}


@pytest.fixture
def hearts(tmp_path):
    """6 train, 1 val, 3 test cases; the last test case has no heart mask."""
    hu = [250, None, 350, 450, 250, None, 350, 450, None, 250]
    images = np.stack([heart_case(h) for h in hu])
    has_heart = [1] * 9 + [0]
    heart = np.stack([heart_box() if h else np.zeros((4, 8, 8), np.uint8) for h in has_heart])
    splits = ["train"] * 6 + ["val"] + ["test"] * 3
    agatston = [CORONARY[h] for h in hu]
    cases = calcium_cases(splits, [2 * 3.0 * (h is not None) for h in hu], agatston)
    folder = write_prepared(
        tmp_path / "cac", images, images >= 130, np.zeros_like(images), cases, HEART_ROI
    )
    np.save(folder / "heart.npy", heart)
    tsv.write_table(
        folder / "cases.tsv", tsv.read_table(folder / "cases.tsv").assign(has_heart=has_heart)
    )
    return folder


def test_heart_rule_counts_calcium_in_the_heart_grown_by_the_fitted_margin(hearts, tmp_path):
    kw = {"connectivity": 8, "min_lesion_mm2": 2.0}
    table = baselines.run_baseline(hearts, "cac", "heart-rule", tmp_path / "out", agatston_kw=kw)
    fit = json.loads((tmp_path / "out" / "run.json").read_text())["fit"]
    # training error: margin 0 misses the coronary lesion (1 mm outside), 1 and 2 mm are exact,
    # from 3 mm on the bone counts too; the first exact margin wins
    assert fit["margin_mm"] == 1.0 and fit["train_mae_agatston"] == 0.0
    assert (fit["train_cases_with_heart"], fit["test_cases_whole_roi"]) == (6, 1)
    # test: 450 HU (8), none (0); the case without a heart mask scores its whole ROI: coronary
    # 250 HU (2 mm^2 x 2 = 4) + bone 3 mm^2 x 4 on two slices (24); the lone voxel never counts
    assert table["predicted_agatston"].tolist() == [8.0, 0.0, 28.0]
    assert table["predicted_volume"].tolist() == [6.0, 0.0, 24.0]  # voxels x 3 mm^3
    local = np.load(tmp_path / "out" / "localization.npy")
    expected = np.zeros((2, 6, 6), np.uint8)
    expected[0, 2:4, 3] = 1  # the coronary lesion in window coordinates
    np.testing.assert_array_equal(local[0], expected)


def test_heart_rule_without_heart_masks_scores_the_roi(hearts, tmp_path):
    (hearts / "heart.npy").unlink()
    kw = {"connectivity": 8, "min_lesion_mm2": 2.0}
    table = baselines.run_baseline(hearts, "cac", "heart-rule", tmp_path / "out", agatston_kw=kw)
    # every case its whole ROI: coronary (8, 0, 4) + bone (24)
    assert table["predicted_agatston"].tolist() == [32.0, 24.0, 28.0]
    fit = json.loads((tmp_path / "out" / "run.json").read_text())["fit"]
    assert fit["margin_mm"] is None and fit["train_cases_with_heart"] == 0
