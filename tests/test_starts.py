"""RL models trained from several starting output biases (rlnet.training.starts): the kept run
is the one with the lowest validation loss, each start's bias is the hand-computed automatic
bias plus its shift."""

import copy
import json
import math

import pytest
import yaml
from test_targets import toy_train

from conftest import ROOT, TRAINING
from rlnet import config as cfg
from rlnet.training import starts
from rlnet.training.loop import RunSpec

SHIFTS = [0, 2]


def spec(model="rl-unet", **overrides) -> RunSpec:
    settings = {**TRAINING, "output_bias": "auto", "max_epochs": 2, **overrides}
    return RunSpec("pma", model, None, 0, 3, settings)


def test_the_start_with_the_lowest_validation_loss_is_kept(toy_prepared, tmp_path):
    train, values, areas = toy_train(toy_prepared)
    p = values.mean() / areas.mean()
    derived = math.log(p / (1 - p))
    run = starts.fit(
        spec(output_bias_starts=SHIFTS), toy_prepared, "cpu", tmp_path / "out", tmp_path / "ck"
    )
    own = {d: json.loads((tmp_path / f"out/starts/start+{d}/run.json").read_text()) for d in SHIFTS}
    for d in SHIFTS:
        assert own[d]["output_bias"] == pytest.approx(derived + d, rel=1e-9)
        assert (tmp_path / f"ck/start+{d}/last.pt").is_file()
    best = min(SHIFTS, key=lambda d: own[d]["best_val_loss"])
    assert own[0]["best_val_loss"] != own[2]["best_val_loss"]
    assert run["output_bias_shift"] == best
    assert run["output_bias"] == own[best]["output_bias"]
    assert [s["shift"] for s in run["output_bias_starts"]] == SHIFTS
    assert [s["best_val_loss"] for s in run["output_bias_starts"]] == [
        own[d]["best_val_loss"] for d in SHIFTS
    ]
    assert run["train_seconds"] == pytest.approx(sum(own[d]["train_seconds"] for d in SHIFTS))
    for name in ("model.pt", "log.tsv"):
        chosen = tmp_path / f"out/starts/start+{best}/{name}"
        assert (tmp_path / "out" / name).read_bytes() == chosen.read_bytes()
    assert json.loads((tmp_path / "out/run.json").read_text()) == run
    # A rerun resumes every finished start from its checkpoint: no epoch is trained again.
    again = starts.fit(
        spec(output_bias_starts=SHIFTS), toy_prepared, "cpu", tmp_path / "out", tmp_path / "ck"
    )
    assert again["output_bias_starts"] == run["output_bias_starts"]


def test_one_start_a_fixed_bias_or_a_direct_regressor_train_once(toy_prepared, tmp_path):
    for name, one in (
        ("one", spec(output_bias_starts=[0])),
        ("fixed", spec(output_bias=-1.0, output_bias_starts=SHIFTS)),
        ("enc", spec("enc-unet", output_bias_starts=SHIFTS)),
    ):
        run = starts.fit(one, toy_prepared, "cpu", tmp_path / name, tmp_path / f"{name}_ck")
        assert not (tmp_path / name / "starts").exists()
        assert "output_bias_starts" not in run
        assert (tmp_path / f"{name}_ck" / "last.pt").is_file()
    assert run["output_bias"] is None  # enc-unet has no RL head


def test_shifts_without_the_automatic_bias_are_a_config_error():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert config["training"]["output_bias_starts"] == [0, 2]  # the default: shifts are valid
    cfg.validate(config)
    model_level = copy.deepcopy(config)
    model_level["problems"]["pma"]["model_training"] = {"rl-unet": {"output_bias": -2.0}}
    with pytest.raises(cfg.ConfigError, match=r"need output_bias auto \(rl-unet on pma sets -2"):
        cfg.validate(model_level)
    model_level["problems"]["pma"]["model_training"] = {"enc-unet": {"output_bias": -2.0}}
    cfg.validate(model_level)  # a model without an RL head trains once: nothing to refuse
    config["training"]["output_bias"] = -2.0
    with pytest.raises(cfg.ConfigError, match=r"shifts of the.*set output_bias_starts: \[0\]"):
        cfg.validate(config)


def test_one_model_can_train_one_start_through_model_training():
    """The default trains every RL model from b and b + 2; a per-model override of one problem
    brings that model alone back to one start."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["problems"]["cac"]["model_training"] = {"rl-senet": {"output_bias_starts": [0]}}
    cfg.validate(config)
    one = cfg.training_settings(config, "cac", model="rl-senet")
    assert starts.shifts(one, "rl-senet") == [0.0]
    assert starts.shifts(cfg.training_settings(config, "cac", model="rl-unet"), "rl-unet") == [
        0.0,
        2.0,
    ]
