"""Which modules each stage runs: the rule inputs and the provenance records both use this."""

import hashlib

from conftest import ROOT
from rlnet import codebase

PACKAGE = ROOT / "workflow" / "rlnet"


def test_split_runs_its_module_and_the_cli_and_no_training_code():
    modules = codebase.stage_modules("split")
    assert {"rlnet", "rlnet.cli", "rlnet.io", "rlnet.split"} <= set(modules)
    assert not [m for m in modules if m.startswith(("rlnet.training", "rlnet.models"))]


def test_a_synthesis_job_runs_only_its_own_phantom():
    liver = codebase.stage_modules("synthesize", "liver")
    assert "rlnet.phantoms.liver" in liver
    assert "rlnet.phantoms.chest" not in liver and "rlnet.phantoms.heart" not in liver


def test_reading_shards_runs_no_phantom_code():
    """The manifest stage reads shard tables: an edited phantom must not rerun it."""
    assert not [m for m in codebase.stage_modules("manifest") if m.startswith("rlnet.phantoms")]


def test_training_runs_the_models_and_the_loop():
    modules = codebase.stage_modules("train")
    assert {"rlnet.training.loop", "rlnet.models.rl", "rlnet.models.unet"} <= set(modules)


def test_files_and_hashes_are_the_modules_sources():
    files = codebase.stage_files("split")
    assert PACKAGE / "split.py" in files and PACKAGE / "__init__.py" in files
    digest = hashlib.sha256((PACKAGE / "split.py").read_bytes()).hexdigest()
    assert codebase.stage_hashes("split")["rlnet.split"] == digest
    assert codebase.module_hash("rlnet.no_such_module") is None
