"""Which modules each stage runs and their hashes: the rule params and the provenance records
both use this."""

import hashlib
import os
import subprocess
import sys

import pytest

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


def test_a_synthesis_job_runs_the_geometry_the_phantoms_share():
    """An edit of the shared geometry reruns every phantom's synthesis."""
    for phantom in ("chest", "heart", "liver"):
        assert "rlnet.phantoms.geometry" in codebase.stage_modules("synthesize", phantom)


def test_reading_shards_runs_no_phantom_code():
    """The manifest stage reads shard tables: an edited phantom must not rerun it."""
    assert not [m for m in codebase.stage_modules("manifest") if m.startswith("rlnet.phantoms")]


def test_training_runs_the_models_and_the_loop():
    modules = codebase.stage_modules("train")
    assert {"rlnet.training.loop", "rlnet.models.rl", "rlnet.models.unet"} <= set(modules)


def test_hashes_are_the_modules_sources():
    digest = hashlib.sha256((PACKAGE / "split.py").read_bytes()).hexdigest()
    assert codebase.stage_hashes("split")["rlnet.split"] == digest
    assert codebase.module_hash("rlnet.no_such_module") is None
    assert codebase.behaviour_hash("rlnet.no_such_module") is None


SOURCE = b'''"""A module."""

__version__ = "1.0"


def area(mask, spacing):
    """Area in mm^2."""
    return mask.sum() * spacing  # one pixel's area
'''


@pytest.mark.parametrize(
    "edited",
    [
        SOURCE.replace(b"one pixel's area", b"pixels times their area"),
        SOURCE.replace(b"Area in mm^2.", b"Area (mm^2) of a mask."),
        SOURCE.replace(b'"""A module."""', b'"""A module.\n\nMore words."""'),
        SOURCE.replace(b'"1.0"', b'"2.0"'),
        SOURCE.replace(b'__version__ = "1.0"', b'__version__: str = "2.0"'),
        SOURCE + b"\n# a comment at the end\n\n\n",
        SOURCE.replace(b"def area", b"# a new comment line\n\n\ndef area"),
        SOURCE.replace(b"    return", b'    """A second string."""\n    return'),
    ],
    ids=[
        "comment",
        "docstring",
        "module-docstring",
        "version",
        "annotated-version",
        "trailing-comment",
        "lines-moved",
        "bare-string",
    ],
)
def test_comments_docstrings_and_version_leave_the_behaviour_hash(edited):
    assert edited != SOURCE
    assert codebase.source_behaviour(edited) == codebase.source_behaviour(SOURCE)


@pytest.mark.parametrize(
    "edited",
    [
        SOURCE.replace(b"mask.sum() * spacing", b"mask.sum() * spacing * 2"),
        SOURCE.replace(b"mask.sum()", b"mask.mean()"),
        SOURCE.replace(b"def area(mask, spacing)", b"def area(mask, spacing=1.0)"),
        SOURCE + b'\nVERSION = "1.0"\n',
        SOURCE + b'\nprint("loaded")\n',
    ],
    ids=["constant", "call", "default", "other-assignment", "statement"],
)
def test_a_change_of_behaviour_changes_its_hash(edited):
    assert codebase.source_behaviour(edited) != codebase.source_behaviour(SOURCE)


def test_a_stage_hash_covers_exactly_its_modules(monkeypatch):
    """The rule param of a stage changes with the behaviour of a module it runs, not with one
    it does not run (training code for split)."""
    before = codebase.stage_behaviour("split")
    behaviours = dict(codebase.stage_behaviours("split"))
    assert set(behaviours) == set(codebase.stage_modules("split"))
    real = codebase.behaviour_hash
    monkeypatch.setattr(
        codebase,
        "behaviour_hash",
        lambda m: "0" * 64 if m == "rlnet.training.loop" else real(m),
    )
    assert codebase.stage_behaviour("split") == before
    monkeypatch.setattr(
        codebase, "behaviour_hash", lambda m: "0" * 64 if m == "rlnet.split" else real(m)
    )
    assert codebase.stage_behaviour("split") != before


#: The package modules a stage's function imports (read from its cli module by hand) -> the
#: modules of the training grid, the heart search and the scan reader it must run.
STAGE_IMPORTS = {
    "prepare": (["rlnet.io", "rlnet.prepare", "rlnet.datasets.manifest"], {"grid", "heart_search"}),
    "roi-qc": (["rlnet.roi_qc"], {"grid", "heart_search", "roi_qc"}),
    "infer": (["rlnet.infer", "rlnet.scans"], {"grid", "heart_search", "scans", "infer"}),
}


@pytest.mark.parametrize("stage", sorted(STAGE_IMPORTS))
def test_a_stage_runs_every_module_python_loads_for_it(stage):
    """Python's own import system as the oracle: the rlnet modules loaded by importing the
    package modules the stage's function imports (in a fresh interpreter) are all among the
    stage's modules, the training grid, the heart search and the scan reader included where the
    stage uses them. (The cli package loads every cli module; by design a stage runs only its
    own: rlnet.codebase.)"""
    imports, used = STAGE_IMPORTS[stage]
    script = f"import sys; {'; '.join(f'import {m}' for m in imports)}; print(*sorted(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    loaded = {m for m in result.stdout.split() if m.split(".")[0] == "rlnet"}
    modules = set(codebase.stage_modules(stage))
    assert {f"rlnet.{m}" for m in used} <= loaded
    assert loaded <= modules, sorted(loaded - modules)


def test_the_data_stages_before_prepare_run_no_grid_heart_search_or_scans():
    """Editing how a case is placed on the grid, where the heart is or how new scans are read
    reruns nothing of synthesis, the manifest or the split."""
    later = {"rlnet.grid", "rlnet.heart_search", "rlnet.scans", "rlnet.roi"}
    for stage in ("synthesize", "manifest", "split"):
        assert not later & set(codebase.stage_modules(stage)), stage
    assert "rlnet.scans" not in codebase.stage_modules("predict")
