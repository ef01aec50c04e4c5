"""Provenance sidecars and the audit that walks them back to the raw data.

Every file a stage writes gets ``<file>.prov.json``: the stage, its command-line arguments
(which carry the config blocks it used), the code version (package version and git commit),
the SHA-256 of the file and of every input. ``audit(path)`` checks the file against its record,
each input against the recorded hash, and recurses into inputs that have records of their own,
down to files made by no stage (synthetic shards' seeds are in their arguments; a user's
manifest and images are leaves).
"""

import hashlib
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rlnet import __version__, io

SUFFIX = ".prov.json"
_CHUNK = 1 << 20


def sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar(path: str | Path) -> Path:
    """Where the provenance record of ``path`` lives."""
    return Path(f"{path}{SUFFIX}")


def code_version() -> dict:
    """rlnet's version and, when the package runs from a git checkout, its commit."""
    root = Path(__file__).resolve().parents[2]
    version = {"rlnet": __version__, "git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return version
    if commit.returncode == 0:
        version["git_commit"] = commit.stdout.strip()
        version["git_dirty"] = bool(status.stdout.strip())
    return version


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named by ``paths``; a folder stands for the files directly inside it."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(
                p for p in path.iterdir() if p.is_file() and not p.name.endswith(SUFFIX)
            )
        elif path.exists():
            files.append(path)
    return files


def write_records(
    stage: str, argv: list[str], inputs: Iterable[Path], outputs: Iterable[Path]
) -> None:
    """Write a sidecar beside every output file (atomically)."""
    input_entries = [{"path": str(p), "sha256": sha256(p)} for p in expand(inputs)]
    version = code_version()
    for output in expand(outputs):
        record = {
            "file": str(output),
            "sha256": sha256(output),
            "stage": stage,
            "arguments": argv,
            "code": version,
            "inputs": input_entries,
        }
        io.write_json(sidecar(output), record)


class AuditError(ValueError):
    """A file whose bytes or inputs do not match its provenance record."""


@dataclass
class AuditReport:
    """What an audit checked: every file reached, and the problems found."""

    checked: list[str] = field(default_factory=list)
    leaves: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def audit(path: str | Path, report: AuditReport | None = None) -> AuditReport:
    """Check ``path`` and, recursively, its inputs against their provenance records."""
    report = report if report is not None else AuditReport()
    path = Path(path)
    if str(path) in report.checked:
        return report
    record_path = sidecar(path)
    if not record_path.exists():
        raise AuditError(f"{path}: no provenance record ({record_path} is missing)")
    record = json.loads(record_path.read_text())
    report.checked.append(str(path))
    if not path.exists():
        report.problems.append(f"{path}: file is missing")
    elif sha256(path) != record["sha256"]:
        report.problems.append(f"{path}: content changed since stage '{record['stage']}' wrote it")
    for entry in record["inputs"]:
        source = Path(entry["path"])
        if not source.exists():
            report.problems.append(f"{path}: input {source} is missing")
        elif sha256(source) != entry["sha256"]:
            report.problems.append(f"{path}: input {source} changed after {path} was made from it")
        elif sidecar(source).exists():
            audit(source, report)
        elif str(source) not in report.leaves:
            report.leaves.append(str(source))
    return report
