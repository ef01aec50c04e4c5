"""What models learn: the automatic RL output bias and the direct regressors' log1p target,
checked against numbers computed by hand from the toy problem's arrays."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, TRAINING
from rlnet import config as cfg
from rlnet import tsv
from rlnet.models import MODEL_NAMES, build_model, model_family
from rlnet.predict import predict
from rlnet.prepare import Prepared
from rlnet.training import targets
from rlnet.training.data import CaseDataset
from rlnet.training.loop import Trainer
from rlnet.training.run_spec import RunSpec

#: The toy problem's pixel area (2 mm x 2 mm).
PIXEL_MM2 = 4.0


def spec(model="rl-unet", **overrides) -> RunSpec:
    return RunSpec("pma", model, None, 0, 3, {**TRAINING, **overrides})


def toy_train(toy_prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training indices, their values in mm^2, their candidate areas in mm^2), read straight
    from cases.tsv and candidates.npy."""
    cases = pd.read_csv(toy_prepared / "cases.tsv", sep="\t")
    train = cases.loc[cases["split"] == "train", "index"].to_numpy()
    candidates = np.load(toy_prepared / "candidates.npy")
    areas = candidates[train].reshape(len(train), -1).sum(axis=1) * PIXEL_MM2
    return train, cases.loc[train, "value"].to_numpy(float), areas


def test_auto_bias_is_the_logit_of_mean_target_over_mean_candidate_area(toy_prepared):
    train, values, areas = toy_train(toy_prepared)
    p = values.mean() / areas.mean()
    assert 0.05 < p < 0.95  # the toy target is part of its candidates (the distractor is not)
    expected = math.log(p / (1 - p))
    bias = targets.auto_output_bias(Prepared.load(toy_prepared), train, values)
    assert bias == pytest.approx(expected, rel=1e-12)
    # The rule's promise: sigmoid(b) x mean candidate measure = mean training target.
    assert 1 / (1 + math.exp(-bias)) * areas.mean() == pytest.approx(values.mean(), rel=1e-12)


def test_auto_bias_model_starts_at_the_mean_training_target(toy_prepared, tmp_path):
    """Built with ``auto``, the head bias is b; with the head's weights at zero the map is
    sigmoid(b) everywhere and the mean first prediction over the training split is the mean
    training target. run.json records b."""
    train, values, areas = toy_train(toy_prepared)
    p = values.mean() / areas.mean()
    expected = math.log(p / (1 - p))
    trainer = Trainer(spec(output_bias="auto", max_epochs=1), toy_prepared, "cpu")
    head = trainer.model.backbone.head
    torch.testing.assert_close(head.bias, torch.full_like(head.bias, expected))
    model = trainer.model.eval()
    dataset = CaseDataset(Prepared.load(toy_prepared), train, values, None, 0)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=len(train))))
    with torch.no_grad():
        head.weight.zero_()
        first = model(batch["image"], batch["candidates"], batch["voxel_size"]).value
    assert float(first.mean()) == pytest.approx(values.mean(), rel=1e-5)
    run = Trainer(spec(output_bias="auto", max_epochs=1), toy_prepared, "cpu").fit(
        tmp_path / "out", tmp_path / "ck"
    )
    assert run["output_bias"] == pytest.approx(expected, rel=1e-12)
    assert json.loads((tmp_path / "out/run.json").read_text())["output_bias"] == run["output_bias"]


def test_a_number_is_used_as_given_and_direct_regressors_have_no_bias(toy_prepared):
    trainer = Trainer(spec(output_bias=1.5), toy_prepared, "cpu")
    assert trainer.output_bias == 1.5
    assert (trainer.model.backbone.head.bias == 1.5).all()
    assert Trainer(spec("enc-unet", output_bias="auto"), toy_prepared, "cpu").output_bias is None


def test_auto_bias_is_clipped_when_the_target_exceeds_the_candidates(toy_prepared, caplog):
    train, values, _ = toy_train(toy_prepared)
    with caplog.at_level("WARNING", logger="rlnet"):
        bias = targets.auto_output_bias(Prepared.load(toy_prepared), train, values * 1e6)
    assert bias == pytest.approx(math.log((1 - 1e-4) / 1e-4))
    assert "the automatic output bias is clipped" in caplog.text


def test_log1p_and_its_inverse_by_hand():
    np.testing.assert_allclose(
        targets.forward(np.array([0.0, math.e - 1, 99.0]), "log1p"), [0.0, 1.0, math.log(100)]
    )
    np.testing.assert_allclose(
        targets.inverse(np.array([-1.0, 0.0, 1.0, math.log(100)]), "log1p"),
        [0.0, 0.0, math.e - 1, 99.0],
    )
    np.testing.assert_array_equal(targets.inverse(np.array([-3.0, 2.0]), "none"), [-3.0, 2.0])


def test_log1p_applies_to_direct_regressors_only(toy_prepared, tmp_path):
    train, values, _ = toy_train(toy_prepared)
    enc = Trainer(spec("enc-unet", target_transform="log1p", max_epochs=1), toy_prepared, "cpu")
    np.testing.assert_allclose(enc.train_set.targets, np.log1p(values), rtol=1e-6)
    assert enc.scale == pytest.approx(np.log1p(values).mean())
    assert float(enc.model.target_scale) == pytest.approx(np.log1p(values).mean())
    run = enc.fit(tmp_path / "enc", tmp_path / "ck_enc")
    assert (run["target_transform"], run["output_bias"]) == ("log1p", None)
    rl = Trainer(spec(target_transform="log1p"), toy_prepared, "cpu")
    assert rl.transform == "none" and rl.scale == pytest.approx(values.mean())
    np.testing.assert_allclose(rl.train_set.targets, values, rtol=1e-6)


def test_predictions_of_a_log1p_regressor_are_inverted(toy_prepared, tmp_path):
    """predictions.tsv holds max(exp(y) - 1, 0) of the network's raw output y."""
    Trainer(spec("enc-unet", target_transform="log1p", max_epochs=1), toy_prepared, "cpu").fit(
        tmp_path / "model", tmp_path / "ck"
    )
    table = predict(
        tmp_path / "model/model.pt",
        toy_prepared,
        "pma",
        "enc-unet",
        tmp_path / "pred",
        device="cpu",
    )
    state = torch.load(tmp_path / "model/model.pt", weights_only=False)
    model = build_model("enc-unet", 2, TRAINING["base_width"])
    model.load_state_dict(state["model"])
    model.eval()
    prepared = Prepared.load(toy_prepared)
    images = [
        torch.from_numpy(np.clip(prepared.images[i].astype(np.float32), -250, 250) / 250)[None]
        for i in table["index"]
    ]
    with torch.no_grad():
        raw = model(torch.stack(images)).value.numpy().astype(float)
    np.testing.assert_allclose(table["prediction"], np.maximum(np.exp(raw) - 1, 0), rtol=1e-5)
    assert (tsv.read_table(tmp_path / "pred/predictions.tsv")["prediction"] >= 0).all()


def test_model_family_matches_the_built_model():
    for name in MODEL_NAMES:
        assert model_family(name) == build_model(name, 2, 4).family
    with pytest.raises(ValueError, match="unknown model 'rl-vnet'"):
        model_family("rl-vnet")


def test_config_accepts_auto_and_log1p_and_names_bad_values():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert config["training"]["output_bias"] == "auto"
    assert cfg.training_settings(config, "cac").target_transform == "log1p"
    assert cfg.training_settings(config, "pma").target_transform == "none"
    assert all("output_bias" not in p.get("training", {}) for p in config["problems"].values())
    config["training"]["output_bias"] = -3.5
    config["training"]["output_bias_starts"] = [0]  # a fixed bias trains one start
    cfg.validate(config)
    for key, value in (("output_bias", "high"), ("output_bias", 12), ("target_transform", "log")):
        bad = {**config, "training": {**config["training"], key: value}}
        with pytest.raises(cfg.ConfigError, match=f"config key 'training.{key}'"):
            cfg.validate(bad)
