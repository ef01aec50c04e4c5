"""prepare reads only the problem keys the workflow passes it (rlnet.config.prepare_settings)."""

import numpy as np

from conftest import PROBLEM_2D, write_toy_dataset
from rlnet.config import prepare_settings
from rlnet.prepare import Prepared, prepare
from rlnet.split import make_split


def test_prepare_reads_only_prepare_settings(tmp_path):
    """The rule passes prepare_settings(config, problem): the result must equal a run on the
    whole block (a key prepare reads but prepare_settings drops would raise KeyError here)."""
    manifest = write_toy_dataset(tmp_path / "raw", n=16)  # 4 test cases: the metrics need 3
    split = make_split(manifest, (0.5, 0.25, 0.25), seed=1, n_strata=2)
    problem = {**PROBLEM_2D, "training": {"max_epochs": 1}}
    subset = prepare_settings({"problems": {"toy": problem}}, "toy")
    assert set(subset) == {"spatial_dims", "candidates", "input_window", "grid"}
    prepare(manifest, split, problem, tmp_path / "whole")
    prepare(manifest, split, subset, tmp_path / "subset")
    whole, part = Prepared.load(tmp_path / "whole"), Prepared.load(tmp_path / "subset")
    for name in ("images", "candidates", "masks"):
        assert np.array_equal(getattr(whole, name), getattr(part, name)), name
    assert whole.cases.equals(part.cases)
    assert (tmp_path / "whole/meta.json").read_text() == (tmp_path / "subset/meta.json").read_text()
