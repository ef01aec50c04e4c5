"""Provenance sidecars and the audit that walks them back to the raw data.

Every file a stage writes gets ``<file>.prov.json``: the stage, its command-line arguments
(which carry the config blocks it used), the code that ran (package version, git commit, whether
the tree under ``workflow/`` had uncommitted edits, and for every rlnet module the stage runs, as
``rlnet.codebase`` finds them, the SHA-256 of its bytes and its behaviour hash: its syntax tree
without comments and docstrings), the SHA-256 of the file and of every input.

``audit(path)`` checks the file against its record, the recorded modules against the current
source (saying when a module changed only in comments or docstrings), each input against its
recorded hash, and recurses into inputs made by the pipeline, down to the raw inputs (a user's
manifest and images). A file inside the results folder must
have a record: one without is a failure, never a raw input.

The many files one stage run writes into a folder for a table that lists them (a synthesis
shard's images and masks) share one record per folder, ``<folder>/.<table name>.prov.json``,
holding every file's hash under ``files``: thousands of small sidecars cost more to write than
the images they describe. ``load_record`` gives such a file the same record as a sidecar would.
"""

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rlnet import __version__, atomic, codebase

SUFFIX = ".prov.json"
#: Keys every record holds; a record lacking one is damaged.
RECORD_KEYS = ("file", "sha256", "stage", "arguments", "code", "inputs")
#: The key of a folder's shared record that maps each file's name to its SHA-256.
FILES_KEY = "files"
#: Hash cache of the audit, inside the results folder.
CACHE_NAME = ".audit-cache.json"
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


def shared_record(folder: str | Path, table: str | Path) -> Path:
    """Where the shared record of the files in ``folder`` that ``table`` lists lives."""
    return Path(folder) / f".{Path(table).name}{SUFFIX}"


def git_state(root: Path = codebase.SOURCE_ROOT.parent) -> dict:
    """The commit of the checkout at ``root`` and whether tracked files under its workflow/ or
    its Snakefile differ from it (None for both outside a git checkout)."""
    state = {"git_commit": None, "git_dirty": None}
    git = ["git", "-C", str(root)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "--", "workflow", "Snakefile"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return state
    if commit.returncode == 0 and status.returncode == 0:
        state["git_commit"] = commit.stdout.strip()
        state["git_dirty"] = bool(status.stdout.strip())
    return state


def code_version(stage: str, phantom_module: str | None = None) -> dict:
    """rlnet's version, the git state, {module: SHA-256 of its bytes} and {module: behaviour
    hash} (rlnet.codebase.behaviour_hash) of the modules ``stage`` runs."""
    return {
        "rlnet": __version__,
        **git_state(),
        "modules": codebase.stage_hashes(stage, phantom_module),
        "behaviour": codebase.stage_behaviours(stage, phantom_module),
    }


def expand(paths: Iterable[str | Path], every_depth: bool = False) -> list[Path]:
    """Files named by ``paths``; a folder stands for the files directly inside it (a DICOM
    series folder given as an input: its files), or, ``every_depth``, for every file below it
    (a folder a stage replaces whole, with its subfolders: infer's maps/)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = path.rglob("*") if every_depth else path.iterdir()
            files += sorted(p for p in found if p.is_file() and not p.name.endswith(SUFFIX))
        elif path.exists():
            files.append(path)
    return files


def write_records(
    stage: str,
    argv: list[str],
    inputs: Iterable[Path],
    outputs: Iterable[Path],
    phantom_module: str | None = None,
    listed: Mapping[Path, Iterable[Path]] | None = None,
) -> None:
    """Write a sidecar beside every output file (a folder's: the files directly inside it), and
    for each output table in ``listed`` one shared record per folder of the files it lists
    (atomically).

    The records of one stage run differ only in the file and its hash, so the JSON is encoded
    once with placeholders and each record fills in its own two strings (the same bytes as
    encoding each record).
    """
    outputs = expand(outputs)
    listed = {table: expand(files) for table, files in (listed or {}).items()}
    if not outputs and not any(listed.values()):
        return
    file_slot, hash_slot = (f"{uuid.uuid4().hex}-{key}" for key in ("file", "sha256"))
    common = {
        "stage": stage,
        "arguments": argv,
        "code": code_version(stage, phantom_module),
        "inputs": [{"path": str(p), "sha256": sha256(p)} for p in expand(inputs)],
    }
    template = atomic.json_text({"file": file_slot, "sha256": hash_slot, **common})
    file_slot, hash_slot = (json.dumps(slot) for slot in (file_slot, hash_slot))
    for output in outputs:
        text = template.replace(file_slot, json.dumps(str(output)), 1)
        atomic.write_text(sidecar(output), text.replace(hash_slot, json.dumps(sha256(output)), 1))
    for table, files in listed.items():
        folders: dict[Path, dict[str, str]] = {}
        for path in files:
            folders.setdefault(path.parent, {})[path.name] = sha256(path)
        for folder, hashes in folders.items():
            record = {"table": str(table), FILES_KEY: hashes, **common}
            atomic.write_text(shared_record(folder, table), atomic.json_text(record))


class AuditError(ValueError):
    """A file whose bytes, code or inputs do not match its provenance record, or a damaged
    record; the message names the file."""


def _read_json(record_path: Path) -> dict:
    """A record file's JSON object; AuditError naming it when it is not one."""
    try:
        record = json.loads(record_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AuditError(f"{record_path}: damaged provenance record (not JSON: {err})") from None
    if not isinstance(record, dict):
        raise AuditError(f"{record_path}: damaged provenance record (not a JSON object)")
    return record


#: A folder's shared records by file name: (the record file, its parsed JSON).
Shared = dict[str, tuple[Path, dict]]


def shared_records(folder: Path) -> Shared:
    """{file name: (its shared record, that record's JSON)} for the shared records in
    ``folder``, each record read once."""
    names: Shared = {}
    for record_path in sorted(folder.glob(f".*{SUFFIX}")):
        record = _read_json(record_path)
        files = record.get(FILES_KEY)
        if not isinstance(files, dict):
            raise AuditError(f"{record_path}: damaged provenance record (no key {FILES_KEY})")
        names.update(dict.fromkeys(files, (record_path, record)))
    return names


def _shared_of(path: Path, shared: Shared | None) -> tuple[Path, dict] | None:
    """The shared record listing ``path`` (``shared``: its folder's ``shared_records``, when
    already read)."""
    if shared is None:
        shared = shared_records(path.parent) if path.parent.is_dir() else {}
    return shared.get(path.name)


def record_path(path: str | Path, shared: Shared | None = None) -> Path | None:
    """The file holding ``path``'s record: its sidecar, else the shared record of its folder
    that lists it."""
    path = Path(path)
    if sidecar(path).exists():
        return sidecar(path)
    entry = _shared_of(path, shared)
    return entry[0] if entry else None


def load_record(path: str | Path, shared: Shared | None = None) -> dict:
    """The provenance record of ``path``; AuditError naming the record file when it is missing
    or damaged (not JSON, not an object, a key missing)."""
    path = Path(path)
    if sidecar(path).exists():
        found, record = sidecar(path), _read_json(sidecar(path))
    else:
        entry = _shared_of(path, shared)
        if entry is None:
            raise AuditError(f"{path}: no provenance record ({sidecar(path)} is missing)")
        found, bundle = entry
        common = {k: v for k, v in bundle.items() if k != FILES_KEY}
        record = {"file": str(path), "sha256": bundle[FILES_KEY][path.name], **common}
    missing = [k for k in RECORD_KEYS if k not in record]
    if not missing and not isinstance(record["code"], dict):
        missing = ["code"]
    if not missing and "modules" not in record["code"]:
        missing = ["code.modules"]
    if not missing and not isinstance(record["code"].get("behaviour", {}), dict):
        missing = ["code.behaviour"]
    if missing:
        raise AuditError(f"{found}: damaged provenance record (no key {', '.join(missing)})")
    return record


class HashCache:
    """SHA-256 of files keyed on (size, mtime in ns), kept in a JSON file between audits.

    An edit changes the modification time, so a changed file is hashed again; ``full``
    ignores the stored hashes (every file is hashed) and refreshes them.
    """

    def __init__(self, path: Path | None, full: bool = False) -> None:
        self.path = path
        self.entries: dict[str, list] = {}
        if path is not None and path.exists() and not full:
            try:
                self.entries = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError, OSError):
                self.entries = {}

    def sha256(self, path: Path) -> str:
        """The file's SHA-256, from the cache when its size and mtime are unchanged."""
        stat = path.stat()
        key = str(path.resolve())
        size, mtime, digest = self.entries.get(key, (None, None, None))
        if size == stat.st_size and mtime == stat.st_mtime_ns:
            return digest
        digest = sha256(path)
        self.entries[key] = [stat.st_size, stat.st_mtime_ns, digest]
        return digest

    def save(self) -> None:
        """Write the cache (atomically); nothing when it has no file."""
        if self.path is not None and self.path.parent.is_dir():
            atomic.write_json(self.path, self.entries)


@dataclass
class AuditReport:
    """What an audit checked: every made file with its record, the raw inputs, the problems
    (each fails the audit) and warnings (reported, not failing)."""

    checked: dict[str, dict] = field(default_factory=dict)
    leaves: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(Path(os.path.abspath(folder)))


class Auditor:
    """Walks records from a file down to its raw inputs; see ``audit``."""

    def __init__(
        self, results: Path, allow_dirty: bool, hashes: HashCache, allow_comments: bool = False
    ) -> None:
        self.results = results
        self.allow_dirty = allow_dirty
        self.allow_comments = allow_comments
        self.hashes = hashes
        self.report = AuditReport()
        self._current: dict[str, tuple[str | None, str | None]] = {}
        self._shared: dict[Path, Shared] = {}

    def _module_now(self, module: str) -> tuple[str | None, str | None]:
        """(SHA-256 of the module's bytes, its behaviour hash) now; None for both when it no
        longer exists."""
        if module not in self._current:
            self._current[module] = (codebase.module_hash(module), codebase.behaviour_hash(module))
        return self._current[module]

    def _check_code(self, path: Path, record: dict) -> None:
        stage, code = record["stage"], record["code"]
        behaviour = code.get("behaviour", {})  # absent from records of older versions
        for module, digest in sorted(code["modules"].items()):
            now, behaviour_now = self._module_now(module)
            if now is None:
                self.report.problems.append(
                    f"{path}: made by stage '{stage}' with module {module}, which no longer exists"
                )
            elif now != digest and behaviour.get(module) == behaviour_now:
                message = (
                    f"{path}: module {module} changed only in comments, docstrings or "
                    f"__version__ since stage '{stage}' made it (its behaviour hash is "
                    f"unchanged, so Snakemake does not rerun it)"
                )
                if self.allow_comments:
                    self.report.warnings.append(message)
                else:
                    self.report.problems.append(
                        message + "; pass --allow-comment-edits to accept it"
                    )
            elif now != digest:
                self.report.problems.append(
                    f"{path}: module {module} changed since stage '{stage}' made it "
                    f"(rerun the workflow)"
                )
        if code.get("git_dirty"):
            message = (
                f"{path}: made by stage '{stage}' from a checkout with uncommitted edits "
                f"(commit {code.get('git_commit')})"
            )
            if self.allow_dirty:
                self.report.warnings.append(message)
            else:
                self.report.problems.append(message + "; pass --allow-dirty to accept it")

    def _shared_in(self, folder: Path) -> Shared:
        if folder not in self._shared:
            self._shared[folder] = shared_records(folder) if folder.is_dir() else {}
        return self._shared[folder]

    def visit(self, path: Path) -> None:
        """Check ``path`` against its record, then its inputs."""
        if str(path) in self.report.checked:
            return
        record = load_record(path, self._shared_in(path.parent))
        self.report.checked[str(path)] = record
        if not path.exists():
            self.report.problems.append(f"{path}: file is missing")
        elif self.hashes.sha256(path) != record["sha256"]:
            self.report.problems.append(
                f"{path}: content changed since stage '{record['stage']}' wrote it"
            )
        self._check_code(path, record)
        for entry in record["inputs"]:
            self._visit_input(path, entry)

    def _visit_input(self, path: Path, entry: dict) -> None:
        source = Path(entry["path"])
        if not source.exists():
            self.report.problems.append(f"{path}: input {source} is missing")
        elif self.hashes.sha256(source) != entry["sha256"]:
            self.report.problems.append(
                f"{path}: input {source} changed after {path} was made from it"
            )
        elif record_path(source, self._shared_in(source.parent)) is not None:
            self.visit(source)
        elif _inside(source, self.results):
            self.report.problems.append(
                f"{path}: input {source} is inside {self.results} but has no provenance record "
                f"(made by no stage, or its record was deleted)"
            )
        elif str(source) not in self.report.leaves:
            self.report.leaves.append(str(source))


def audit(
    path: str | Path,
    results: str | Path = "results",
    allow_dirty: bool = False,
    full: bool = False,
    allow_comments: bool = False,
) -> AuditReport:
    """Check ``path`` and, recursively, its inputs against their provenance records.

    ``results``: the pipeline's output folder (files inside it must have records); file hashes
    are cached in it keyed on size and mtime unless ``full``. A module whose bytes changed but
    not its behaviour hash is a problem named as such, a warning with ``allow_comments``.
    Raises AuditError for a missing or damaged record of a file that needs one; every other
    mismatch is in the report.
    """
    results = Path(results)
    cache_path = results / CACHE_NAME if results.is_dir() else None
    hashes = HashCache(cache_path, full)
    auditor = Auditor(results, allow_dirty, hashes, allow_comments)
    auditor.visit(Path(path))
    auditor.hashes.save()
    return auditor.report
