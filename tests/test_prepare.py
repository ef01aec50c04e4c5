"""prepare reads only the problem keys the workflow passes it (rlnet.config.prepare_settings)."""

import numpy as np
import pandas as pd

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


def test_a_candidate_mask_with_an_hu_range_keeps_its_voxels_in_the_range(tmp_path):
    """Liver-like candidates: the given mask (the left half of the slice) and an HU range
    [-100, 60]: of the image's columns at 40, 50, 70 and -120 HU only the 40 and 50 HU columns
    lying in the left half are candidates, counted by hand."""
    from rlnet import io
    from rlnet.datasets.manifest import COLUMNS

    image = np.zeros((16, 16), np.int16)
    image[:, 0:4], image[:, 4:8], image[:, 8:12], image[:, 12:16] = 40, 70, 50, -120
    image[:, 2] = -1000  # air inside the mask: not in the range
    liver = np.zeros((16, 16), np.uint8)
    liver[:, :10] = 1  # columns 0-9
    io.write_image(tmp_path / "ct.nii.gz", image, (2.0, 2.0))
    io.write_image(tmp_path / "liver.nii.gz", liver, (2.0, 2.0))
    row = dict.fromkeys(COLUMNS, "") | {"case_id": "c", "subject_id": "c", "value": 1.0}
    row |= {"image": str(tmp_path / "ct.nii.gz"), "candidate_mask": str(tmp_path / "liver.nii.gz")}
    manifest = pd.DataFrame([row])
    split = pd.DataFrame({"case_id": ["c"], "split": ["test"], "stratum": [0]})
    problem = {
        **PROBLEM_2D,
        "candidates": {"mask": "candidate_mask", "hu": [-100, 60]},
        "grid": {"spacing": [2.0, 2.0], "shape": [16, 16]},
    }
    prepare(manifest, split, problem, tmp_path / "out")
    candidates = Prepared.load(tmp_path / "out").candidates[0]
    expected = np.zeros((16, 16), np.uint8)
    expected[:, [0, 1, 3, 8, 9]] = 1  # 40 HU columns 0, 1, 3 (2 is air) and 50 HU columns 8, 9
    np.testing.assert_array_equal(candidates, expected)


def test_a_2d_problem_writes_an_empty_heart_region(tmp_path):
    """heart.npy is a declared output of every problem: in 2D an empty array, read as None."""
    manifest = write_toy_dataset(tmp_path / "raw", n=16)
    split = make_split(manifest, (0.5, 0.25, 0.25), seed=1, n_strata=2)
    prepare(manifest, split, PROBLEM_2D, tmp_path / "out")
    assert np.load(tmp_path / "out" / "heart.npy").shape == (0,)
    assert Prepared.load(tmp_path / "out").heart is None
