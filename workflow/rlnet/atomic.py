"""Files written atomically: to a temporary name beside the target, moved into place with
``os.replace`` once complete, so no reader and no failed job ever sees half a file."""

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def _umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place with os.replace.

    On any exception the temporary file is removed, so no half-written output survives.
    The temporary name keeps ``path``'s extension(s) so format-sniffing writers still work.
    The result gets the mode a plain ``open(path, "w")`` would (0666 less the umask), not
    mkstemp's 0600, so collaborators on a shared cluster can read it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix if suffix is not None else "".join(target.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{ext}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            tmp_path.chmod(0o666 & ~_umask())
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextmanager
def removed_on_error() -> Iterator[list[Path]]:
    """A list to add the paths of written files to; on any exception they are deleted, so a
    stage writing many files leaves none of them behind when it fails."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise


def json_text(data: Any) -> str:
    """``data`` as the JSON text ``write_json`` writes (sorted keys, 2-space indent)."""
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n"


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON (sorted keys, 2-space indent) atomically."""
    write_text(path, json_text(data))


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save a .npy atomically (readable later with ``np.load(mmap_mode='r')``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))
