"""Typed settings (rlnet.settings): the schema's defaults filled in by Snakemake's validate, a
typo'd key refused by name, and fingerprints hashed over the settings' identity, so a new
option at its default keeps every fingerprint."""

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from conftest import TRAINING
from rlnet import config as cfg
from rlnet.cli import build_parser
from rlnet.settings import AgatstonSettings, SettingsError, TrainingSettings, identity, parse
from rlnet.training.run_spec import RunSpec
from rlnet.training.starts import started

ROOT = Path(__file__).resolve().parents[1]
#: The fields every training run's fingerprint has hashed since runs were first fingerprinted.
KNOWN = {**TRAINING, "output_bias": "auto"}


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_validate_fills_the_schemas_defaults():
    """Keys the config leaves out get the schema's default: direct_loss mae, localization
    area, the Agatston connectivity 8 and minimum lesion 1 mm^2, no baselines."""
    config = default_config()
    del config["training"]["direct_loss"], config["evaluation"]["localization"]
    del config["evaluation"]["agatston"], config["evaluation"]["baselines"]
    cfg.validate(config)
    assert config["training"]["direct_loss"] == "mae"
    assert config["evaluation"]["localization"] == "area"
    assert config["evaluation"]["agatston"] == {"connectivity": 8, "min_lesion_mm2": 1.0}
    assert config["evaluation"]["baselines"] == []
    assert cfg.agatston_settings(config) == AgatstonSettings(8, 1.0)


def test_a_problems_overrides_get_no_defaults():
    """The defaults fill the top-level training block only: a problem's override block that
    leaves direct_loss out keeps the global one (mse here), not the schema's mae."""
    config = default_config()
    config["training"]["direct_loss"] = "mse"
    config["problems"]["pma"]["training"] = {"batch_size": 8}
    cfg.validate(config)
    assert config["problems"]["pma"]["training"] == {"batch_size": 8}
    assert cfg.training_settings(config, "pma").direct_loss == "mse"


def test_a_schema_error_is_one_line_naming_the_key():
    config = default_config()
    config["training"]["batch_size"] = 0
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(config)
    assert str(err.value) == "config key 'training.batch_size': 0 is less than the minimum of 1"


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        ({"patiance": 3}, "training.patiance", "not a setting"),
        ({"lr": {"rl": 1e-3, "enc": 3e-4, "sge": 1e-3}}, "training.lr.sge", "not a setting"),
        ({"score": None}, "training.score", "missing"),
    ],
)
def test_a_typo_in_the_settings_is_refused_naming_the_key(change, key, reason):
    settings = {**KNOWN, **change}
    settings = {k: v for k, v in settings.items() if v is not None}
    with pytest.raises(SettingsError) as err:
        parse(TrainingSettings, settings, "training")
    assert (err.value.key, err.value.reason.split(" (")[0]) == (key, reason)
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        RunSpec("pma", "rl-unet", None, 0, 3, settings)


def test_the_train_stage_refuses_a_typo_in_its_settings_in_one_line(capsys):
    settings = json.dumps({**KNOWN, "patiance": 3})
    argv = ["train", "--prepared", "p", "--problem", "pma", "--model", "rl-unet", "--seed", "1"]
    argv += ["--settings", settings, "--out-dir", "o", "--checkpoint-dir", "c"]
    with pytest.raises(SystemExit) as code:
        build_parser().parse_args(argv)
    assert code.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --settings: settings key 'training.patiance': not a setting" in last


def hashed_by_hand(settings: dict, seed: int = 3) -> str:
    """The fingerprint of run (pma, rl-unet, whole split, rep 0, ``seed``) as loop.py has
    always hashed it: SHA-256 of the sorted JSON of the identity and the settings, 16 hex."""
    body = json.dumps(["pma", "rl-unet", None, 0, seed, settings], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def test_fingerprint_is_the_hash_of_the_known_fields_whatever_the_defaults():
    """Options at their defaults (a subset run's equal_steps off, no start shift) are no part
    of it; set otherwise they are."""
    spec = RunSpec("pma", "rl-unet", None, 0, 3, KNOWN)
    assert spec.fingerprint == hashed_by_hand(KNOWN)
    at_default = RunSpec("pma", "rl-unet", None, 0, 3, {**KNOWN, "equal_steps": False})
    assert at_default.fingerprint == hashed_by_hand(KNOWN)
    assert started(spec, 0.0).fingerprint == hashed_by_hand(KNOWN)
    shifted = {**KNOWN, "output_bias_shift": 2.0}
    assert started(spec, 2.0).fingerprint == hashed_by_hand(shifted) != spec.fingerprint
    on = RunSpec("pma", "rl-unet", None, 0, 3, {**KNOWN, "equal_steps": True})
    assert on.fingerprint == hashed_by_hand({**KNOWN, "equal_steps": True})


def test_a_new_option_at_its_default_keeps_the_fingerprint():
    """A training option added later (a field whose default keeps the old behaviour): runs
    that do not set it keep their fingerprint, so their checkpoints resume."""
    extended = dataclasses.make_dataclass(
        "ExtendedSettings",
        [("new_option", bool, dataclasses.field(default=False))],
        bases=(TrainingSettings,),
        frozen=True,
    )
    old = RunSpec("pma", "rl-unet", None, 0, 3, parse(TrainingSettings, KNOWN))
    new = RunSpec("pma", "rl-unet", None, 0, 3, parse(extended, {**KNOWN, "new_option": False}))
    assert identity(new.settings) == identity(old.settings)
    assert new.fingerprint == old.fingerprint == hashed_by_hand(KNOWN)
    changed = RunSpec("pma", "rl-unet", None, 0, 3, parse(extended, {**KNOWN, "new_option": True}))
    assert changed.fingerprint == hashed_by_hand({**KNOWN, "new_option": True})


def test_the_fingerprints_of_runs_trained_before_typed_settings_are_kept():
    """The tiny study's pma rl-unet run, its +2 start and cac's enc-unet run (seed 7), hashed
    by loop.py before settings were typed and their defaults filled in by the schema."""
    config = cfg.load(ROOT / "config" / "test.yaml", default=None)
    pma = RunSpec("pma", "rl-unet", None, 0, config["seed"], cfg.training_settings(config, "pma"))
    cac = cfg.training_settings(config, "cac", model="enc-unet")
    assert pma.fingerprint == "4e538777ff414e7d"
    assert started(pma, 2.0).fingerprint == "62bf8148e5995f60"
    assert RunSpec("cac", "enc-unet", None, 0, config["seed"], cac).fingerprint == (
        "361993c58f65c926"
    )
