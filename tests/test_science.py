"""The paper's central claim on the default's chest problems: trained on the area value alone,
RL-U-Net regresses the pectoralis (pma) and subcutaneous fat (sfa) areas better than Enc(U-Net)
on the same test set and localizes the tissue (Dice of its binarised map) without ever seeing a
mask.

The default's chest slices (400, 96 x 96 at 3.6 mm, config/config.yaml) and an earlier
default's training settings (20 epochs, patience 5, the automatic output bias, one start; the
default now trains 40 epochs with patience 10, which would double the suite's time here: the
bars below hold at the shorter budget), drawn with the science-test seed 101: neither the
tuning seed (2020) nor a record seed of docs/protocol.md, so no setting was chosen on this draw
(2-3 min per problem on 2 CPU threads). The bars were fixed before this draw was first run:
rho >= 0.95 and above enc-unet's, Dice >= 0.70 and a clear margin (0.15) over the Dice of the
candidate mask itself, so a map that merely spreads over the candidates fails. The draw was
cut from the full study's 600 slices and 25 epochs to the default's size for the suite's time;
the bars were kept as fixed."""

import numpy as np
import pytest

from rlnet import metrics
from rlnet.datasets import synthesis, synthetic
from rlnet.evaluate import localization_metrics
from rlnet.predict import predict
from rlnet.prepare import Prepared, prepare
from rlnet.split import make_split
from rlnet.training.loop import Trainer
from rlnet.training.run_spec import RunSpec

pytestmark = pytest.mark.slow

CHEST = {"n_cases": 400, "shape": [96, 96], "spacing": [3.6, 3.6], "noise_hu": [5, 15]}
SEED = 101
PROBLEMS = {
    "pma": {"target": "pectoralis", "hu": [-20, 100]},
    "sfa": {"target": "subcutaneous_fat", "hu": [-140, -70]},
}
SETTINGS = {
    "max_epochs": 20,
    "patience": 5,
    "batch_size": 16,
    "base_width": 8,
    "output_bias": "auto",
    "output_bias_starts": [0],
    "target_transform": "none",
    "direct_loss": "mae",
    "lr": {"rl": 1e-3, "enc": 3e-4, "seg": 1e-3},
    "augment": {"rotation_deg": 10.0, "translation_mm": 8.0, "displacement_mm": 0.0},
    "amp": "none",
    "num_workers": 0,
    "score": "measure",
}


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    root = tmp_path_factory.mktemp("science")
    return synthesis.write_shard("chest", CHEST, SEED, range(CHEST["n_cases"]), root / "raw")


def prepared(shard, problem, root):
    manifest = synthetic.manifest_from_shards(
        [shard], {"target": PROBLEMS[problem]["target"]}, problem
    )
    split = make_split(manifest, (0.6, 0.15, 0.25), seed=SEED, n_strata=4)
    spec = {
        "spatial_dims": 2,
        "candidates": {"hu": PROBLEMS[problem]["hu"]},
        "input_window": [-250, 250],
        "grid": {"spacing": CHEST["spacing"], "shape": CHEST["shape"]},  # the phantom's own
    }
    prepare(manifest, split, spec, root / "prepared")
    return root / "prepared"


def trained(problem, model, data, root):
    Trainer(RunSpec(problem, model, None, 0, SEED, SETTINGS), data, "cpu").fit(
        root / model, root / f"{model}_ck"
    )
    return predict(root / model / "model.pt", data, problem, model, root / f"{model}_p")


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_rl_unet_beats_enc_unet_and_localizes(shard, problem, tmp_path):
    data = prepared(shard, problem, tmp_path)
    rl, enc = (
        trained(problem, "rl-unet", data, tmp_path),
        trained(problem, "enc-unet", data, tmp_path),
    )
    assert list(rl["case_id"]) == list(enc["case_id"])
    rho_rl = metrics.pearson(rl["reference"], rl["prediction"])[0]
    rho_enc = metrics.pearson(enc["reference"], enc["prediction"])[0]
    local = np.load(tmp_path / "rl-unet_p" / "localization.npy")
    arrays = Prepared.load(data)
    dice = localization_metrics(rl, local, arrays)["dice"].mean()
    region = arrays.region()
    candidates = np.stack([arrays.candidates[int(i)][region] for i in rl["index"]])
    dice_candidates = localization_metrics(rl, candidates, arrays)["dice"].mean()
    print(
        f"{problem}: rl-unet rho {rho_rl:.4f} Dice {dice:.3f} (candidates {dice_candidates:.3f});"
        f" enc-unet rho {rho_enc:.4f}"
    )
    assert rho_rl >= 0.95
    assert rho_rl > rho_enc
    assert dice >= 0.70
    assert dice >= dice_candidates + 0.15
