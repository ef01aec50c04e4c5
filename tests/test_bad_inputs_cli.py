"""Bad-input catalogue, command-line part: a user's Ctrl-C ends a stage with one line."""

import json
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT, TRAINING, files_under


def test_ctrl_c_during_training_is_one_line_and_leaves_no_output(toy_prepared, tmp_path):
    settings = {**TRAINING, "max_epochs": 500, "patience": 500}
    out = tmp_path / "model"
    argv = [sys.executable, "-m", "rlnet", "train", "--prepared", str(toy_prepared)]
    argv += ["--problem", "pma", "--model", "rl-unet", "--seed", "1", "--threads", "1"]
    argv += ["--settings", json.dumps(settings), "--device", "cpu"]
    argv += ["--out-dir", str(out), "--checkpoint-dir", str(tmp_path / "checkpoints")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    # SIGINT at its default in the child: a suite started in the background (nohup, `&`)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    process = subprocess.Popen(
        argv,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # interrupt once the first epoch has been logged
        line = process.stderr.readline()
        lines.append(line)
        if "epoch 1/" in line or not line:
            break
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=60)[1]
    stderr = "".join(lines) + rest
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "train interrupted (Ctrl-C): its outputs were not written" in stderr
    assert files_under(out) == set()
