"""Training survives its own files: corrupt checkpoints, unlearnable splits, reproducible bytes."""

import hashlib
import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from conftest import TRAINING, assert_nothing_half_written, files_under
from rlnet import cli, tsv
from rlnet.training.checkpoints import set_aside
from rlnet.training.loop import Trainer, TrainingError
from rlnet.training.run_spec import RunSpec

#: One epoch: a whole run takes about a second on a CPU.
ONE_EPOCH = {**TRAINING, "max_epochs": 1}


def spec(model: str = "rl-unet", **overrides) -> RunSpec:
    return RunSpec("pma", model, None, 0, 3, {**ONE_EPOCH, **overrides})


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clean_run(toy_prepared, tmp_path_factory):
    """An uninterrupted one-epoch run: its folder (model.pt) and its checkpoint last.pt."""
    root = tmp_path_factory.mktemp("clean")
    Trainer(spec(), toy_prepared, "cpu").fit(root / "out", root / "ck")
    return root


def _truncated(clean_run) -> bytes:
    data = (clean_run / "ck/last.pt").read_bytes()
    return data[: len(data) // 2]


def _wrong_keys(clean_run) -> bytes:
    path = clean_run / "wrong_keys.pt"
    torch.save({"epoch": 3, "weights": torch.zeros(2)}, path)
    return path.read_bytes()


def _weights_of_another_model(clean_run) -> bytes:
    """This run's fingerprint and keys, but model weights that do not fit (one tensor missing)."""
    state = torch.load(clean_run / "ck/last.pt", weights_only=False)
    state["model"] = dict(list(state["model"].items())[:-1])
    path = clean_run / "bad_weights.pt"
    torch.save(state, path)
    return path.read_bytes()


CORRUPT = {
    "truncated zip": (_truncated, "unreadable"),
    "empty file": (lambda _: b"", "unreadable"),
    "garbage bytes": (lambda _: bytes(range(256)) * 8, "unreadable"),
    "pickle of a list": (lambda _: pickle.dumps([1, 2, 3]), "unreadable"),
    "torch.save of a list": (None, "not a training checkpoint (list)"),
    "dict without the keys": (_wrong_keys, "not a training checkpoint (['epoch', 'weights'])"),
    "weights that do not fit": (_weights_of_another_model, "its state does not load"),
}


@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_checkpoint_is_set_aside_and_training_starts_fresh(
    case, toy_prepared, clean_run, tmp_path, caplog
):
    make, reason = CORRUPT[case]
    if make is None:
        torch.save([1, 2, 3], tmp_path / "list.pt")
        content = (tmp_path / "list.pt").read_bytes()
    else:
        content = make(clean_run)
    checkpoint = tmp_path / "ck" / "last.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(content)
    with caplog.at_level("WARNING", logger="rlnet"):
        Trainer(spec(), toy_prepared, "cpu").fit(tmp_path / "out", tmp_path / "ck")
    assert f"ck/last.pt: corrupt checkpoint ({reason}" in caplog.text
    assert "moved aside to last.pt.corrupt-1, training starts afresh" in caplog.text
    assert (tmp_path / "ck/last.pt.corrupt-1").read_bytes() == content
    # A fresh start: the same bytes as an uninterrupted run, and a valid new checkpoint.
    assert sha256(tmp_path / "out/model.pt") == sha256(clean_run / "out/model.pt")
    assert torch.load(checkpoint, weights_only=False)["fingerprint"] == spec().fingerprint


def test_set_aside_never_overwrites_an_earlier_corrupt_file(tmp_path):
    (tmp_path / "last.pt").write_text("second")
    (tmp_path / "last.pt.corrupt-1").write_text("first")
    assert set_aside(tmp_path / "last.pt") == tmp_path / "last.pt.corrupt-2"
    assert (tmp_path / "last.pt.corrupt-1").read_text() == "first"
    assert (tmp_path / "last.pt.corrupt-2").read_text() == "second"
    assert not (tmp_path / "last.pt").exists()


def test_identical_runs_write_byte_identical_model_files(toy_prepared, tmp_path):
    for name in ("a", "b"):
        Trainer(spec(max_epochs=2), toy_prepared, "cpu").fit(
            tmp_path / name, tmp_path / f"ck_{name}"
        )
    assert sha256(tmp_path / "a/model.pt") == sha256(tmp_path / "b/model.pt")
    # Timings stay in run.json and log.tsv.
    run = json.loads((tmp_path / "a/run.json").read_text())
    stored = torch.load(tmp_path / "a/model.pt", weights_only=False)["run"]
    assert run["train_seconds"] > 0 and "train_seconds" not in stored
    assert stored == {k: v for k, v in run.items() if k != "train_seconds"}
    assert "seconds" in (tmp_path / "a/log.tsv").read_text().splitlines()[0].split("\t")


def _train_argv(prepared, out_dir, checkpoint_dir, model="rl-unet", **settings) -> list[str]:
    return [
        "train",
        "--prepared",
        str(prepared),
        "--problem",
        "pma",
        "--model",
        model,
        "--seed",
        "3",
        "--device",
        "cpu",
        "--settings",
        json.dumps({**ONE_EPOCH, **settings}),
        "--out-dir",
        str(out_dir),
        "--checkpoint-dir",
        str(checkpoint_dir),
    ]


def test_every_start_is_marked_fresh_or_resuming(toy_prepared, tmp_path, caplog):
    """A reader of the (appended) job log sees each run: fresh, then resuming from epoch 1."""
    argv = _train_argv(toy_prepared, tmp_path / "out", tmp_path / "ck")
    with caplog.at_level("INFO", logger="rlnet"):
        assert cli.main(argv) == 0
        assert cli.main(argv) == 0
    starts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("start ")]
    assert starts[0] == "start rl-unet on pma (n all, rep 0): fresh"
    assert starts[1] == (
        f"start rl-unet on pma (n all, rep 0): resuming from epoch 1 of 1 ({tmp_path}/ck/last.pt)"
    )
    assert len(starts) == 2


def _copy_prepared(toy_prepared, tmp_path):
    folder = tmp_path / "prepared"
    shutil.copytree(toy_prepared, folder)
    return folder, tsv.read_table(folder / "cases.tsv")


def _assert_train_stage_fails(argv, tmp_path, before, caplog, message: str) -> None:
    with caplog.at_level("ERROR", logger="rlnet"):
        assert cli.main(argv) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [f"train failed: {message}"]
    assert_nothing_half_written(tmp_path, before)


def test_segmentation_model_without_training_masks_fails_at_once(toy_prepared, tmp_path, caplog):
    prepared, cases = _copy_prepared(toy_prepared, tmp_path)
    masks = np.load(prepared / "masks.npy", mmap_mode="r+")
    train = cases.loc[cases["split"] == "train", "index"].to_numpy()
    masks[train] = 0
    masks.flush()
    del masks
    before = files_under(tmp_path)
    argv = _train_argv(prepared, tmp_path / "out", tmp_path / "ck", model="seg-unet")
    message = (
        "seg-unet on pma: the manifest has no masks for the training cases (masks.npy is all "
        "zero on the training split); a segmentation model needs reference masks"
    )
    _assert_train_stage_fails(argv, tmp_path, before, caplog, message)
    # An RL model learns the value only: the same problem trains.
    Trainer(spec(), prepared, "cpu")


def test_constant_training_target_fails_at_once(toy_prepared, tmp_path, caplog):
    prepared, cases = _copy_prepared(toy_prepared, tmp_path)
    cases.loc[cases["split"] == "train", "value"] = 64.0
    tsv.write_table(prepared / "cases.tsv", cases)
    before = files_under(tmp_path)
    argv = _train_argv(prepared, tmp_path / "out", tmp_path / "ck")
    message = (
        "rl-unet on pma: the 12 training cases all have target value = 64; "
        "a regression target needs spread (check the manifest)"
    )
    _assert_train_stage_fails(argv, tmp_path, before, caplog, message)
    with pytest.raises(TrainingError, match="seg-unet on pma: the 12 training cases"):
        Trainer(spec("seg-unet"), prepared, "cpu")


def test_auto_bias_without_training_candidates_fails_at_once(toy_prepared, tmp_path, caplog):
    prepared, cases = _copy_prepared(toy_prepared, tmp_path)
    candidates = np.load(prepared / "candidates.npy", mmap_mode="r+")
    candidates[cases.loc[cases["split"] == "train", "index"].to_numpy()] = 0
    candidates.flush()
    del candidates
    before = files_under(tmp_path)
    argv = _train_argv(prepared, tmp_path / "out", tmp_path / "ck", output_bias="auto")
    message = (
        "rl-unet on pma: the 12 training cases have no candidate voxels inside the network "
        "window (candidates.npy is zero there): an RL model has nothing to sum; check the "
        "problem's candidates setting"
    )
    _assert_train_stage_fails(argv, tmp_path, before, caplog, message)
    # A fixed bias needs no candidate measure: the run starts (and learns nothing).
    Trainer(spec(output_bias=-2.0), prepared, "cpu")


def test_log1p_of_a_negative_target_names_the_case(toy_prepared, tmp_path, caplog):
    prepared, cases = _copy_prepared(toy_prepared, tmp_path)
    first = cases.loc[cases["split"] == "train"].index[0]
    cases.loc[first, "value"] = -5.0
    tsv.write_table(prepared / "cases.tsv", cases)
    before = files_under(tmp_path)
    argv = _train_argv(
        prepared, tmp_path / "out", tmp_path / "ck", "enc-unet", target_transform="log1p"
    )
    message = (
        f"enc-unet on pma: target_transform log1p needs non-negative targets; case "
        f"{cases.loc[first, 'case_id']} has -5 (1 such case(s))"
    )
    _assert_train_stage_fails(argv, tmp_path, before, caplog, message)


def test_unknown_target_transform_is_named(toy_prepared):
    with pytest.raises(TrainingError, match="'target_transform': 'sqrt' is not one of none, log1p"):
        Trainer(spec("enc-unet", target_transform="sqrt"), toy_prepared, "cpu")
