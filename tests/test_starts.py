"""RL models trained from several starting output biases (rlnet.training.starts): each start is
a job of its own (``python -m rlnet train --start``), the kept run is the one with the lowest
validation loss, each start's bias is the hand-computed automatic bias plus its shift."""

import copy
import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from test_targets import toy_train

from conftest import ROOT, TRAINING
from rlnet import cli
from rlnet import config as cfg
from rlnet.settings import identity, to_json
from rlnet.training import starts
from rlnet.training.run_spec import RunSpec

SHIFTS = [0, 2]
#: run.json keys that hold wall-clock times (the rest of a run is reproducible).
TIMINGS = ("train_seconds",)


def spec(model="rl-unet", **overrides) -> RunSpec:
    settings = {**TRAINING, "output_bias": "auto", "max_epochs": 2, **overrides}
    return RunSpec("pma", model, None, 0, 3, settings)


def untimed(run: dict) -> dict:
    """A run.json without its timings (each start's too)."""
    out = {k: v for k, v in run.items() if k not in TIMINGS}
    if "output_bias_starts" in out:
        out["output_bias_starts"] = [untimed(s) for s in out["output_bias_starts"]]
    return out


def train_job(prepared, run_spec: RunSpec, start: str, out_dir, checkpoint_dir):
    """One training job as the rule runs it: ``python -m rlnet train`` in its own process."""
    argv = ["train", "--prepared", str(prepared), "--problem", run_spec.problem]
    argv += ["--model", run_spec.model, "--n", "all", "--rep", str(run_spec.rep)]
    argv += ["--start", start, "--seed", str(run_spec.seed)]
    argv += ["--settings", to_json(run_spec.settings), "--device", "cpu", "--threads", "1"]
    argv += ["--out-dir", str(out_dir), "--checkpoint-dir", str(checkpoint_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    result = subprocess.run(
        [sys.executable, "-m", "rlnet", *argv], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]


#: What one training job did before starts were jobs: every start of the run, one after the
#: other in one process, from the settings as the command line gives them (JSON).
IN_TURN = """
import json, sys
from pathlib import Path
import torch
from rlnet.training import starts
from rlnet.training.loop import Trainer
from rlnet.training.run_spec import RunSpec
torch.set_num_threads(1)
prepared, spec, out = sys.argv[1], RunSpec(*json.loads(sys.argv[2])), Path(sys.argv[3])
for d in starts.shifts(spec.settings, spec.model):
    Trainer(starts.started(spec, d), prepared, "cpu").fit(out / f"{d:g}", out / f"ck{d:g}")
"""


def trained_in_turn(prepared, run_spec: RunSpec, out) -> dict[int, dict]:
    """{shift: run.json} of the starts of ``run_spec`` trained one after the other in one
    process (IN_TURN), into ``out/<shift>``."""
    fields = [run_spec.problem, run_spec.model, run_spec.n, run_spec.rep, run_spec.seed]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    command = [sys.executable, "-c", IN_TURN, str(prepared)]
    command += [json.dumps([*fields, identity(run_spec.settings)]), str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return {d: json.loads((out / f"{d}/run.json").read_text()) for d in SHIFTS}


def test_starts_as_jobs_give_the_model_that_training_them_in_turn_gives(toy_prepared, tmp_path):
    """Each start trained in a process of its own (a job), then select-start: the same bytes of
    model.pt and log.tsv's losses, and the same run.json but timings, as the starts trained one
    after the other in one process and the lowest validation loss kept by hand."""
    run_spec = spec(output_bias_starts=SHIFTS)
    in_turn = trained_in_turn(toy_prepared, run_spec, tmp_path / "in_turn")
    folders = {d: tmp_path / f"out/starts/start+{d}" for d in SHIFTS}
    for d in SHIFTS:
        train_job(toy_prepared, run_spec, f"+{d}", folders[d], tmp_path / f"ck/start+{d}")
    argv = ["select-start", "--runs", *[str(folders[d] / "run.json") for d in SHIFTS]]
    argv += ["--models", *[str(folders[d] / "model.pt") for d in SHIFTS]]
    argv += ["--logs", *[str(folders[d] / "log.tsv") for d in SHIFTS], "--out-dir"]
    assert cli.main([*argv, str(tmp_path / "out")]) == 0

    train, values, areas = toy_train(toy_prepared)
    p = values.mean() / areas.mean()
    derived = math.log(p / (1 - p))
    for d in SHIFTS:
        own = json.loads((folders[d] / "run.json").read_text())
        assert own["output_bias"] == pytest.approx(derived + d, rel=1e-9)
        assert untimed(own) == untimed(in_turn[d])
        assert (folders[d] / "model.pt").read_bytes() == (
            tmp_path / f"in_turn/{d}/model.pt"
        ).read_bytes()
        assert (tmp_path / f"ck/start+{d}/last.pt").is_file()
    assert in_turn[0]["best_val_loss"] != in_turn[2]["best_val_loss"]
    best = min(SHIFTS, key=lambda d: in_turn[d]["best_val_loss"])
    kept = tmp_path / f"in_turn/{best}"
    assert (tmp_path / "out/model.pt").read_bytes() == (kept / "model.pt").read_bytes()
    log, expected_log = (pd.read_csv(f / "log.tsv", sep="\t") for f in (tmp_path / "out", kept))
    pd.testing.assert_frame_equal(log.drop(columns="seconds"), expected_log.drop(columns="seconds"))
    run = json.loads((tmp_path / "out/run.json").read_text())
    expected = {
        **in_turn[best],
        "output_bias_shift": best,
        "output_bias_starts": [
            {"shift": d, **{k: in_turn[d][k] for k in starts.START_KEYS}} for d in SHIFTS
        ],
    }
    assert untimed(run) == untimed(expected)
    # why each start's training ended is kept beside its losses
    assert [s["stopped_by"] for s in run["output_bias_starts"]] == [
        in_turn[d]["stopped_by"] for d in SHIFTS
    ]
    own_seconds = [
        json.loads((folders[d] / "run.json").read_text())["train_seconds"] for d in SHIFTS
    ]
    assert run["train_seconds"] == pytest.approx(sum(own_seconds))
    # A rerun of a start resumes from its checkpoint: no epoch is trained again.
    again = starts.train(
        run_spec, 2.0, toy_prepared, "cpu", tmp_path / "again", tmp_path / "ck/start+2"
    )
    assert again == json.loads((folders[2] / "run.json").read_text())


def test_a_start_the_run_does_not_train_is_refused(toy_prepared, tmp_path):
    run_spec = spec(output_bias_starts=SHIFTS)
    with pytest.raises(
        starts.StartError,
        match=r"rl-unet on pma trains from 2 starts \(start\+0, start\+2\): one job each",
    ):
        starts.train(run_spec, None, toy_prepared, "cpu", tmp_path / "o", tmp_path / "c")
    with pytest.raises(
        starts.StartError, match=r"start\+1 is not one of its starts \(start\+0, start\+2\)"
    ):
        starts.train(run_spec, 1.0, toy_prepared, "cpu", tmp_path / "o", tmp_path / "c")
    assert not (tmp_path / "o").exists()


def test_select_refuses_starts_of_different_runs_or_a_start_twice(tmp_path):
    def run_json(name, **fields):
        run = {"problem": "pma", "model": "rl-unet", "n": None, "rep": 0, "seed": 3}
        run |= {"settings": {}, "best_val_loss": 1.0, **fields}
        path = tmp_path / name / "run.json"
        path.parent.mkdir()
        path.write_text(json.dumps(run))
        return path

    first = run_json("a")
    with pytest.raises(starts.StartError, match="starts of different runs"):
        starts.select([first, run_json("b", rep=1)], tmp_path / "out")
    with pytest.raises(starts.StartError, match="two runs of the same start"):
        starts.select([first, run_json("c")], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_one_start_a_fixed_bias_or_a_direct_regressor_train_once(toy_prepared, tmp_path):
    for name, one in (
        ("one", spec(output_bias_starts=[0])),
        ("fixed", spec(output_bias=-1.0, output_bias_starts=SHIFTS)),
        ("enc", spec("enc-unet", output_bias_starts=SHIFTS)),
    ):
        run = starts.train(one, None, toy_prepared, "cpu", tmp_path / name, tmp_path / f"{name}_ck")
        assert not (tmp_path / name / "starts").exists()
        assert "output_bias_starts" not in run
        assert (tmp_path / name / "model.pt").is_file()
        assert (tmp_path / f"{name}_ck" / "last.pt").is_file()
    assert run["output_bias"] is None  # enc-unet has no RL head


def test_shifts_without_the_automatic_bias_are_a_config_error():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert config["training"]["output_bias"] == "auto"
    config["training"]["output_bias_starts"] = [0, 2]  # beside the automatic bias: valid
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
    """With every RL model trained from b and b + 2, a per-model override of one problem brings
    that model alone back to one start."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["training"]["output_bias_starts"] = [0, 2]
    config["problems"]["cac"]["model_training"] = {"rl-senet": {"output_bias_starts": [0]}}
    cfg.validate(config)
    one = cfg.training_settings(config, "cac", model="rl-senet")
    assert starts.shifts(one, "rl-senet") == [0.0]
    assert starts.shifts(cfg.training_settings(config, "cac", model="rl-unet"), "rl-unet") == [
        0.0,
        2.0,
    ]
