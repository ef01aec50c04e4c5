"""Config files merge over the embedded default as Snakemake merges them; a null leaves a key
out. The shipped whole studies are true overrides: merged over the default, they are
themselves (so they mean the same with or without --replace-workflow-config, also in cluster
jobs, which Snakemake 9.27 starts without that flag)."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from rlnet import config as cfg

ROOT = Path(__file__).resolve().parents[1]


def without_nulls(value):
    """``value`` with every null-valued mapping key left out, at any depth."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value


def read(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.mark.parametrize("name", ["test.yaml", "paper.yaml", "synthetic-full.yaml"])
def test_shipped_studies_merged_over_the_default_are_themselves(name):
    merged = read("config.yaml")
    update_config(merged, read(name))  # Snakemake's own merge of a --configfile
    assert without_nulls(merged) == without_nulls(read(name))


def test_drop_nulls_removes_null_keys_at_every_depth():
    config = {"a": None, "b": {"c": None, "d": 1, "e": {"f": None}}, "g": [None, 2]}
    assert cfg.drop_nulls(config) == {"b": {"d": 1, "e": {}}, "g": [None, 2]}
    assert config == {"b": {"d": 1, "e": {}}, "g": [None, 2]}  # in place


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(text)
    return path


def test_load_merges_an_override_file_over_the_default(tmp_path):
    """config.yaml by hand: training.batch_size 16, lr.rl 1e-3 and lr.enc 3e-4; five models on
    pma, the sweep on pma; the override changes lr.rl only, replaces pma's model list (lists
    are replaced, not merged) and removes sfa and the sweep."""
    override = "training: {lr: {rl: 0.01}}\nproblems: {sfa: null, pma: {models: [rl-unet]}}\n"
    config = cfg.load(write(tmp_path, override + "sample_size: null\n"))
    assert config["training"]["lr"] == {"rl": 0.01, "enc": 3.0e-4, "seg": 1.0e-3}
    assert config["training"]["batch_size"] == 16
    assert list(config["problems"]) == ["pma", "cac", "liver"]
    assert config["problems"]["pma"]["models"] == ["rl-unet"]
    assert config["problems"]["pma"]["source"] == {"synthetic": "chest", "target": "pectoralis"}
    assert "sample_size" not in config
    expected = copy.deepcopy(read("config.yaml"))
    expected["training"]["lr"]["rl"] = 0.01
    del expected["problems"]["sfa"], expected["sample_size"], expected["resources"]["gpu_model"]
    expected["problems"]["pma"]["models"] = ["rl-unet"]
    assert config == expected


def test_config_checker_checks_a_file_as_the_workflow_reads_it(tmp_path, capsys):
    """`python -m rlnet.config FILE`: an override is fine merged over the default; alone
    (`--replace-workflow-config`) it lacks the required keys; a changed source must null the
    default's (synthetic + manifest matches more than one kind of source)."""
    partial = write(tmp_path, "seed: 11\n")
    assert cfg.main([str(partial)]) == 0
    assert capsys.readouterr().out == f"{partial}: ok\n"
    assert cfg.main(["--replace-workflow-config", str(partial)]) == 1
    assert "'device' is a required property" in capsys.readouterr().err
    source = tmp_path / "source.yaml"
    source.write_text("problems: {pma: {source: {manifest: m.tsv}}}\n")
    assert cfg.main([str(source)]) == 1
    assert "config key 'problems.pma.source'" in capsys.readouterr().err
    source.write_text(
        "problems: {pma: {source: {manifest: m.tsv, synthetic: null, target: null}, "
        "grid: {spacing: [0.8, 0.8], shape: [448, 448]}}}\n"
    )
    assert cfg.main([str(source)]) == 0
