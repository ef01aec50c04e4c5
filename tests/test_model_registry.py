"""One model registry (rlnet.model_registry): every place that knows models reads it.

The strongest check is the issue's own definition of done: adding a model is one registry
entry and its constructor. A copy of the workflow gets an `rl-tiny` (an RL head on a U-Net,
two lines); its config validates, its label reaches the tables' order, and a dry run of the
tiny study plans its training, prediction, metrics and the overlay figure of a model that
localizes, with no other edit.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from rlnet import model_registry
from rlnet.models import build_model, spatial_multiple
from rlnet.models.registry import _FACTORIES

BIN = Path(sys.executable).parent


def test_every_trained_model_has_a_constructor_and_every_constructor_an_entry():
    assert set(_FACTORIES) == set(model_registry.TRAINED)
    assert not set(model_registry.TRAINED) & set(model_registry.BASELINES)


@pytest.mark.parametrize("name", model_registry.TRAINED)
def test_a_built_model_is_what_its_entry_says(name):
    entry = model_registry.model(name)
    for dims in entry.dims:
        net = build_model(name, dims, 4)
        assert net.family == entry.family
        assert spatial_multiple(name) % net.multiple == 0
    assert entry.localizes == (entry.family in ("rl", "seg"))
    assert entry.needs_masks == (entry.family == "seg")


def test_the_comparison_pairs_rl_and_segmentation_on_one_backbone():
    models = ["enc-unet", "rl-senet", "seg-unet", "rl-unet"]
    assert model_registry.comparison(models) == [("rl-unet", "seg-unet")]
    assert model_registry.comparison(["rl-senet", "seg-unet"]) == []


def test_an_unknown_model_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="rl-vnet.*rl-unet"):
        model_registry.model("rl-vnet")


@pytest.mark.slow
def test_a_model_added_to_the_registry_is_known_everywhere(tmp_path):
    copy = tmp_path / "rlnet-copy"
    shutil.copytree(ROOT / "workflow", copy / "workflow", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copytree(ROOT / "config", copy / "config")
    shutil.copy(ROOT / "Snakefile", copy / "Snakefile")
    registry = copy / "workflow" / "rlnet" / "model_registry.py"
    text = registry.read_text()
    entry = '    "seg-unet": Model("U-Net (seg)", "seg", "unet"),\n'
    assert entry in text
    registry.write_text(
        text.replace(entry, entry + '    "rl-tiny": Model("RL-Tiny", "rl", "tiny"),\n')
    )
    factories = copy / "workflow" / "rlnet" / "models" / "registry.py"
    text = factories.read_text()
    line = '    "seg-unet": lambda d, w, b: SegNet(UNet(d, w)),\n'
    assert line in text
    factories.write_text(
        text.replace(line, line + '    "rl-tiny": lambda d, w, b: RLNet(UNet(d, w), b),\n')
    )
    check = (
        "import json, sys\n"
        "from rlnet import config, model_registry\n"
        "from rlnet.models import build_model\n"
        "cfg = config.load('config/test.yaml')\n"
        "cfg['problems']['pma']['models'].append('rl-tiny')\n"
        "config.validate(cfg)\n"
        "print(json.dumps([list(model_registry.MODEL_LABELS).index('rl-tiny'),\n"
        "                  build_model('rl-tiny', 2, 4).family]))\n"
    )
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": str(copy / "workflow")}
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=copy, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == [len(model_registry.MODELS), "rl"]
    (copy / "tiny.yaml").write_text("problems:\n  pma:\n    models: [enc-unet, rl-unet, rl-tiny]\n")
    dry = subprocess.run(
        [str(BIN / "snakemake"), "-n", "all", "--configfile", "config/test.yaml", "tiny.yaml"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    for planned in (
        "results/models/pma/rl-tiny/nall_r0/model.pt",
        "results/predictions/pma/rl-tiny/nall_r0/predictions.tsv",
        "results/metrics/pma/rl-tiny/nall_r0.json",
        "results/figures/overlays/pma_rl-tiny.pdf",
    ):
        assert planned in dry.stdout, planned
