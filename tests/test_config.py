"""Config files validate; bad configs fail with a message naming the key."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from rlnet import config as cfg

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "paper.yaml"])
def test_shipped_configs_validate(name):
    cfg.load(ROOT / "config" / name)


@pytest.fixture
def default():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def expect_error(config, *fragments):
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(config)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_unknown_key_is_named(default):
    default["training"]["learning_rate"] = 1e-3
    expect_error(default, "training", "learning_rate")


def test_wrong_type_is_named(default):
    default["training"]["batch_size"] = "sixteen"
    expect_error(default, "training.batch_size")


def test_out_of_range_is_named(default):
    default["problems"]["pma"]["split"]["train"] = 1.5
    expect_error(default, "problems.pma.split.train")


def test_a_problem_of_ones_own_is_accepted(default):
    """Any lower-case name declares a problem (test_biomarker: its traits)."""
    default["problems"]["lungs"] = copy.deepcopy(default["problems"]["pma"])
    cfg.validate(default)


def test_unknown_model_is_named(default):
    default["problems"]["pma"]["models"].append("rl-resnet")
    expect_error(default, "problems.pma.models", "rl-resnet")


def test_split_fractions_must_sum_to_one(default):
    default["problems"]["sfa"]["split"]["test"] = 0.3
    expect_error(default, "problems.sfa.split", "must be 1")


def test_target_must_be_a_mask_of_the_phantom(default):
    default["problems"]["pma"]["source"]["target"] = "heart"
    expect_error(default, "problems.pma.source.target", "pectoralis")


def test_dimensionality_must_match_the_phantom(default):
    default["problems"]["cac"]["spatial_dims"] = 2
    expect_error(default, "problems.cac.spatial_dims")


def test_roi_must_fit_the_networks(default):
    default["problems"]["cac"]["roi"]["size"] = [30, 48, 48]
    expect_error(default, "problems.cac.roi.size", "multiples of 16")


def test_roi_on_a_2d_problem_is_refused(default):
    default["problems"]["pma"]["roi"] = default["problems"]["cac"]["roi"]
    expect_error(default, "problems.pma.roi", "only 3D")


def test_problem_training_overrides_merge(default):
    merged = cfg.training_settings(default, "cac")
    assert merged["batch_size"] == default["problems"]["cac"]["training"]["batch_size"]
    assert merged["lr"] == default["training"]["lr"]


def test_model_training_overrides_one_model_of_one_problem(default):
    default["problems"]["cac"]["model_training"] = {
        "rl-sdnet": {"max_epochs": 3, "lr": {"rl": 0.5}}
    }
    cfg.check_semantics(default)
    merged = cfg.training_settings(default, "cac", model="rl-sdnet")
    assert merged["max_epochs"] == 3 and merged["lr"]["rl"] == 0.5
    assert merged["lr"]["enc"] == default["training"]["lr"]["enc"]
    assert merged["batch_size"] == default["problems"]["cac"]["training"]["batch_size"]
    other = cfg.training_settings(default, "cac", model="rl-unet")
    assert other["max_epochs"] == default["problems"]["cac"]["training"]["max_epochs"] != 3


def test_model_training_of_a_model_the_problem_lacks_is_refused(default):
    default["problems"]["liver"]["model_training"] = {"rl-sdnet": {"max_epochs": 3}}
    expect_error(default, "problems.liver.model_training.rl-sdnet", "not one of the problem's")


def test_only_subset_runs_get_the_sweeps_equal_steps(default):
    default["sample_size"]["equal_steps"] = True
    assert "equal_steps" not in cfg.training_settings(default, "pma", "all")
    assert cfg.training_settings(default, "pma", "40")["equal_steps"] is True
    default["sample_size"]["equal_steps"] = False
    assert "equal_steps" not in cfg.training_settings(default, "pma", "40")


def _schema_keys(node: dict, schema: dict) -> set[str]:
    """Every property name the schema accepts (following $ref into definitions)."""
    keys: set[str] = set()
    if "$ref" in node:
        node = schema["definitions"][node["$ref"].split("/")[-1]]
    for sub in node.get("allOf", []) + node.get("oneOf", []):
        keys |= _schema_keys(sub, schema)
    for name, child in node.get("properties", {}).items():
        keys.add(name)
        keys |= _schema_keys(child, schema)
    if isinstance(node.get("additionalProperties"), dict):
        keys |= _schema_keys(node["additionalProperties"], schema)
    return keys


def _documented_keys(readme: str) -> set[str]:
    """Key names in config/README.md's section headings and in the first cell of its table
    rows: each code span split at dots (``chest.n_cases`` documents ``chest`` and ``n_cases``)."""
    keys: set[str] = set()
    for line in readme.splitlines():
        if line.startswith("| `") or line.startswith("## "):
            first_cell = line.split("|")[1] if line.startswith("|") else line
            for span in re.findall(r"`([^`]+)`", first_cell):
                keys |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span))
    return keys


def test_config_readme_documents_every_key():
    """Every key the schema accepts is named in the first column of a README table row."""
    schema = yaml.safe_load(cfg.SCHEMA_PATH.read_text())
    readme = (ROOT / "config" / "README.md").read_text()
    missing = sorted(_schema_keys(schema, schema) - _documented_keys(readme))
    assert not missing, f"config/README.md has no row for {missing}"
    assert "learning_rate" not in _documented_keys(readme)  # the check can fail


def _undescribed_keys(node: dict, path: str = "") -> list[str]:
    """Paths of the property nodes under ``node`` that lack a non-empty string description:
    ``properties`` recursively, inside ``definitions``, ``allOf``/``oneOf`` entries and
    dict-valued ``additionalProperties`` (written ``*``)."""
    missing: list[str] = []
    for name, child in node.get("definitions", {}).items():
        missing += _undescribed_keys(child, f"#/definitions/{name}")
    for sub in node.get("allOf", []) + node.get("oneOf", []):
        missing += _undescribed_keys(sub, path)
    if isinstance(node.get("additionalProperties"), dict):
        missing += _undescribed_keys(node["additionalProperties"], f"{path}.*" if path else "*")
    for name, child in node.get("properties", {}).items():
        key = f"{path}.{name}" if path else name
        description = child.get("description")
        if not (isinstance(description, str) and description.strip()):
            missing.append(key)
        missing += _undescribed_keys(child, key)
    return missing


def test_every_schema_key_has_a_description():
    """Every property of the config schema, nested and in definitions, has a description."""
    schema = yaml.safe_load(cfg.SCHEMA_PATH.read_text())
    missing = _undescribed_keys(schema)
    assert not missing, f"config schema keys without a description: {missing}"
    del schema["properties"]["training"]["description"]  # the check can fail
    del schema["definitions"]["training"]["properties"]["lr"]["properties"]["rl"]["description"]
    assert sorted(_undescribed_keys(schema)) == ["#/definitions/training.lr.rl", "training"]
