"""Which modules each stage runs and their hashes: the rule params and the provenance records
both use this."""

import hashlib

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
