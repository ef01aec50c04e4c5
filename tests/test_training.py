"""Training: determinism, kill-and-resume equals an uninterrupted run, clear failures."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, TRAINING
from rlnet.prepare import Prepared
from rlnet.settings import Augment, parse
from rlnet.training.data import CaseDataset, subset_indices
from rlnet.training.loop import Trainer, TrainingError
from rlnet.training.run_spec import RunSpec

AUGMENT = parse(Augment, TRAINING["augment"])


def spec(model="rl-unet", **overrides) -> RunSpec:
    return RunSpec("pma", model, None, 0, 3, {**TRAINING, **overrides})


def weights(path):
    return torch.load(path, weights_only=False)["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_same_seed_gives_identical_weights(toy_prepared, tmp_path):
    for name in ("a", "b"):
        Trainer(spec(max_epochs=2), toy_prepared, "cpu").fit(
            tmp_path / name, tmp_path / f"ck{name}"
        )
    assert_same_weights(weights(tmp_path / "a/model.pt"), weights(tmp_path / "b/model.pt"))
    log = (tmp_path / "a/log.tsv").read_text().splitlines()
    assert log[0].split("\t") == ["epoch", "train_loss", "val_loss", "val_pearson", "seconds", "lr"]
    assert len(log) == 3
    run = json.loads((tmp_path / "a/run.json").read_text())
    assert run["model"] == "rl-unet" and run["epochs"] == 2 and run["n_train"] == 12


def test_killed_run_resumes_to_the_same_weights(toy_prepared, tmp_path):
    settings = {**TRAINING, "max_epochs": 4, "patience": 10}
    command = [
        sys.executable,
        "-m",
        "rlnet",
        "train",
        "--prepared",
        str(toy_prepared),
        "--problem",
        "pma",
        "--model",
        "rl-unet",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--settings",
        json.dumps(settings),
        "--threads",
        "1",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}

    def run(out: str, wait: bool = True):
        args = command + [
            "--out-dir",
            str(tmp_path / out),
            "--checkpoint-dir",
            str(tmp_path / f"ck_{out}"),
        ]
        return (
            subprocess.run(args, env=env, check=True, capture_output=True)
            if wait
            else subprocess.Popen(args, env=env, stderr=subprocess.PIPE)
        )

    run("straight")
    victim = run("resumed", wait=False)
    checkpoint = tmp_path / "ck_resumed" / "last.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)  # mid-way: epoch 0 is saved, epoch 1 is running
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "resumed" / "model.pt").exists()
    resumed = run("resumed")
    assert b"resuming" in resumed.stderr
    assert_same_weights(
        weights(tmp_path / "straight/model.pt"), weights(tmp_path / "resumed/model.pt")
    )


def test_stale_checkpoint_of_another_config_is_replaced(toy_prepared, tmp_path, caplog):
    """A config change reruns the train job (Snakemake params); the old run's checkpoint must
    not be resumed into the new run nor block it: training starts afresh."""
    Trainer(spec(max_epochs=1), toy_prepared, "cpu").fit(tmp_path / "a", tmp_path / "ck")
    changed = spec(max_epochs=1, lr={"rl": 5e-3, "enc": 3e-4, "seg": 1e-3})
    with caplog.at_level("WARNING", logger="rlnet"):
        Trainer(changed, toy_prepared, "cpu").fit(tmp_path / "b", tmp_path / "ck")
    assert "ck/last.pt: checkpoint of another run or config" in caplog.text
    Trainer(changed, toy_prepared, "cpu").fit(tmp_path / "fresh", tmp_path / "ck_fresh")
    assert_same_weights(weights(tmp_path / "b/model.pt"), weights(tmp_path / "fresh/model.pt"))
    assert torch.load(tmp_path / "ck/last.pt", weights_only=False)["fingerprint"] == (
        changed.fingerprint
    )


def test_non_finite_loss_names_model_problem_and_epoch(toy_prepared, tmp_path, monkeypatch):
    import rlnet.training.loop as loop

    monkeypatch.setattr(loop, "_loss", lambda *a: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(TrainingError, match=r"rl-unet on pma: training loss is nan at epoch 0"):
        Trainer(spec(), toy_prepared, "cpu").fit(tmp_path / "a", tmp_path / "ck")


#: Validation losses: best at epoch 1, flat until the drop at epoch 7 (a cac-like late start).
VAL_LOSSES = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


@pytest.mark.parametrize(
    ("patience", "epochs", "best_epoch", "stopped_by"),
    [(1, 3, 1, "patience"), (3, 5, 1, "patience"), (5, 7, 1, "patience"), (6, 13, 7, "budget")],
)
def test_early_stopping_after_patience_keeps_the_best_epoch(
    toy_prepared, tmp_path, monkeypatch, caplog, patience, epochs, best_epoch, stopped_by
):
    """The run stops ``patience`` epochs after its best; a patience longer than the flat start
    (5 bad epochs after epoch 1) reaches the drop at epoch 7 and keeps that model, and then
    the 13-epoch budget ends it (5 bad epochs after 7): run.json says which, a budget stop
    warns."""
    losses = iter(VAL_LOSSES)
    monkeypatch.setattr(Trainer, "_train_epoch", lambda self, epoch: 0.0)
    monkeypatch.setattr(Trainer, "_validate", lambda self: (next(losses), 0.0))
    settings = {"max_epochs": len(VAL_LOSSES), "patience": patience}
    run = Trainer(spec(**settings), toy_prepared, "cpu").fit(tmp_path / "a", tmp_path / "ck")
    assert (run["epochs"], run["best_epoch"]) == (epochs, best_epoch)
    assert run["best_val_loss"] == VAL_LOSSES[best_epoch]
    assert run["stopped_by"] == stopped_by
    assert json.loads((tmp_path / "a" / "run.json").read_text())["stopped_by"] == stopped_by
    warned = [r.message for r in caplog.records if "stopped by its budget" in r.getMessage()]
    assert bool(warned) == (stopped_by == "budget")


@pytest.mark.parametrize(("direct_loss", "expected"), [("mae", 1.5), ("mse", 2.5)])
def test_direct_regressors_learn_with_the_configured_loss(direct_loss, expected):
    """Errors (value - target) / scale of -1 and 2 (scale 2): MAE 1.5, MSE (1 + 4) / 2 = 2.5.
    RL models keep MSE whatever the setting."""
    from rlnet.models import build_model
    from rlnet.models.output import ModelOutput
    from rlnet.training.loop import _loss

    batch = {"target": torch.tensor([4.0, 2.0])}
    out = ModelOutput(torch.tensor([2.0, 6.0]), None, None)
    enc = build_model("enc-unet", 2, 2)
    assert _loss(enc, batch, out, 2.0, direct_loss).item() == pytest.approx(expected)
    assert _loss(build_model("rl-unet", 2, 2), batch, out, 2.0, direct_loss).item() == 2.5


def test_each_epoch_prints_its_run_and_an_upper_bound_on_time_left(
    toy_prepared, tmp_path, monkeypatch, capsys
):
    """Epoch lines name the run; time left = epochs to go x mean epoch seconds so far."""
    clock = iter([0.0, 2.0, 10.0, 14.0, 20.0, 26.0, 30.0])  # epochs of 2, 4 and 6 s
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(Trainer, "_train_epoch", lambda self, epoch: 0.5)
    val = iter([(0.25, 0.9)] * 3 + [(float("nan"), 0.0)])  # the 4th epoch ends the run
    monkeypatch.setattr(Trainer, "_validate", lambda self: next(val))
    with pytest.raises(TrainingError):
        Trainer(spec(max_epochs=5, patience=9), toy_prepared, "cpu").fit(
            tmp_path / "a", tmp_path / "ck"
        )
    lines = [line for line in capsys.readouterr().err.splitlines() if "] epoch" in line]
    assert lines == [
        "[pma/rl-unet nall_r0] epoch 1/5 train 0.5 val 0.25 r 0.900 (2.0 s; 2 s so far, "
        "at most ~8 s left)",
        "[pma/rl-unet nall_r0] epoch 2/5 train 0.5 val 0.25 r 0.900 (4.0 s; 6 s so far, "
        "at most ~9 s left)",
        "[pma/rl-unet nall_r0] epoch 3/5 train 0.5 val 0.25 r 0.900 (6.0 s; 12 s so far, "
        "at most ~8 s left)",
    ]


def test_augmentation_is_seeded_per_epoch_and_case(toy_prepared):
    prepared = Prepared.load(toy_prepared)
    idx = prepared.indices("train")
    data = CaseDataset(prepared, idx, prepared.cases["value"].to_numpy()[idx], AUGMENT, 5)
    data.set_epoch(2)
    first = data[0]["image"]
    data.set_epoch(3)
    other = data[0]["image"]
    data.set_epoch(2)
    assert torch.equal(first, data[0]["image"])
    assert not torch.equal(first, other)
    # Candidates stay binary after rotation (nearest neighbour).
    assert set(torch.unique(data[0]["candidates"]).tolist()) <= {0.0, 1.0}


def test_longer_epoch_cycles_the_cases_with_fresh_augmentation(toy_prepared):
    prepared = Prepared.load(toy_prepared)
    idx = prepared.indices("train")[:4]
    targets = prepared.cases["value"].to_numpy()[idx]
    once = CaseDataset(prepared, idx, targets, AUGMENT, 5)
    cycled = CaseDataset(prepared, idx, targets, AUGMENT, 5, epoch_size=10)
    assert len(once) == 4 and len(cycled) == 10 and cycled.passes == 3
    cycled.set_epoch(1)
    # Sample k is case k % 4 with its target; pass p of epoch 1 draws as epoch 3 + p.
    assert [int(cycled[k]["index"]) for k in range(10)] == [*idx, *idx, *idx[:2]]
    assert [float(cycled[k]["target"]) for k in (1, 5, 9)] == [pytest.approx(targets[1])] * 3
    for p in range(3):
        once.set_epoch(3 + p)
        assert torch.equal(cycled[4 * p + 1]["image"], once[1]["image"])
    assert not torch.equal(cycled[1]["image"], cycled[5]["image"])


def test_equal_steps_gives_a_subset_run_the_full_runs_epoch(toy_prepared, tmp_path):
    settings = {**TRAINING, "max_epochs": 1, "batch_size": 4}

    def subset(equal_steps: bool) -> RunSpec:
        return RunSpec("pma", "rl-unet", 6, 0, 3, {**settings, "equal_steps": equal_steps})

    full = Trainer(spec(**settings), toy_prepared, "cpu")
    part = Trainer(subset(True), toy_prepared, "cpu")
    plain = Trainer(subset(False), toy_prepared, "cpu")
    assert (len(full.train_set), len(part.train_set), len(plain.train_set)) == (12, 12, 6)
    run = part.fit(tmp_path / "out", tmp_path / "ck")
    assert (run["n_train"], run["epoch_size"]) == (6, 12)


def test_subset_is_stratified_and_reproducible(toy_prepared):
    prepared = Prepared.load(toy_prepared)
    a = subset_indices(prepared, 6, seed=1, rep=0)
    assert len(a) == 6 and set(a) <= set(prepared.indices("train"))
    assert (a == subset_indices(prepared, 6, seed=1, rep=0)).all()
    assert not (a == subset_indices(prepared, 6, seed=1, rep=1)).all()
    strata = prepared.cases.set_index("index").loc[a, "stratum"].value_counts()
    assert strata.min() == 3  # two strata of 6 cases each in train -> 3 + 3
    assert len(subset_indices(prepared, 10_000, seed=1, rep=0)) == len(prepared.indices("train"))
