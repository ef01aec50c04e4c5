"""The repository stands alone: its docs link only to files inside it, and no file points to
notes kept outside it (a clone has only what git tracks)."""

import re
import subprocess
from pathlib import Path

from conftest import ROOT

TEXT_SUFFIXES = {".md", ".py", ".smk", ".yaml", ".yml", ".toml", ".rst", ".sh", ".js", ".json"}
#: Paths of notes kept beside the repository (a shared folder above it, a notes folder), the
#: patterns assembled from pieces so that this file does not match itself.
OUTSIDE = re.compile(
    "|".join([r"\.\./" + "shared", "shared/" + "no" + "tes", r"(?<![\w./-])" + "no" + "tes/"])
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked(*suffixes: str) -> list[Path]:
    """Files git tracks (or would: untracked but not ignored) with one of ``suffixes``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    files = [ROOT / name for name in listed]
    return [f for f in files if f.is_file() and (f.suffix in suffixes or f.name in suffixes)]


def test_no_file_points_to_notes_outside_the_repository():
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in tracked(*TEXT_SUFFIXES, "Snakefile", "Makefile")
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert hits == []


def test_every_relative_link_in_the_docs_is_a_file_of_the_repository():
    documents = tracked(".md")
    assert ROOT / "README.md" in documents and ROOT / "config" / "README.md" in documents
    broken = []
    for document in documents:
        for target in LINK.findall(document.read_text()):
            if re.match(r"[a-z]+:|#", target):  # a URL or an anchor of the same page
                continue
            path = (document.parent / target.split("#")[0]).resolve()
            if not (path.is_relative_to(ROOT) and path.exists()):
                broken.append(f"{document.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_checks_find_what_they_look_for(tmp_path):
    assert OUTSIDE.search("see ../" + "shared/" + "no" + "tes/x.md")
    assert OUTSIDE.search("(" + "no" + "tes/" + "run.md)")
    assert not OUTSIDE.search("conda-prefix: /shared/conda-envs")
    assert LINK.findall("[a](docs/x.md) and [b](https://e.org/y)") == [
        "docs/x.md",
        "https://e.org/y",
    ]
