"""Image and table I/O with atomic writes.

Images are read and written through SimpleITK (NIfTI, NRRD, MHA, DICOM series, ...), imported
where used so that stages writing only tables and figures start faster. Arrays
come back in numpy order (z, y, x) or (y, x); spacing and origin are converted once here from
SimpleITK's (x, y, z) order to the array's axis order.
"""

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Geometry:
    """Physical placement of an image, in array axis order (z, y, x) or (y, x).

    Attributes:
        spacing: voxel size in mm.
        origin: position of voxel 0 in mm (array axis order).
        direction: direction cosines as SimpleITK stores them (row-major, x-y-z order).
    """

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def from_spacing(cls, spacing: Sequence[float]) -> "Geometry":
        """Identity direction, zero origin, the given spacing (array order)."""
        n = len(spacing)
        return cls(
            tuple(float(s) for s in spacing),
            (0.0,) * n,
            tuple(float(v) for v in np.eye(n).ravel()),
        )

    def shifted(self, offset_voxels: Sequence[int]) -> "Geometry":
        """Geometry of a crop whose first voxel is at ``offset_voxels`` (array order)."""
        direction = np.asarray(self.direction).reshape(len(self.spacing), -1)
        step_xyz = np.asarray(offset_voxels[::-1], float) * np.asarray(self.spacing[::-1])
        origin_xyz = np.asarray(self.origin[::-1]) + direction @ step_xyz
        return Geometry(self.spacing, tuple(origin_xyz[::-1].tolist()), self.direction)


class ImageReadError(ValueError):
    """An image file that cannot be read or fails validation; the message names the file."""


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


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, Geometry]:
    """Read an image: (array in (z, y, x)/(y, x) order, geometry in the same order).

    A directory is read as a DICOM series. Raises ImageReadError naming the file on failure.
    """
    import SimpleITK as sitk

    path = Path(path)
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            files = reader.GetGDCMSeriesFileNames(str(path))
            if not files:
                raise ImageReadError(f"{path}: directory holds no DICOM series")
            reader.SetFileNames(files)
            image = reader.Execute()
        else:
            image = sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise ImageReadError(
            f"{path}: cannot read image ({str(err).strip().splitlines()[-1]})"
        ) from err
    array = sitk.GetArrayFromImage(image)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(f"{path}: expected a scalar image, got vector pixels")
    geometry = Geometry(
        spacing=tuple(float(s) for s in image.GetSpacing()[::-1]),
        origin=tuple(float(o) for o in image.GetOrigin()[::-1]),
        direction=tuple(float(d) for d in image.GetDirection()),
    )
    return array, geometry


def read_geometry(path: str | os.PathLike) -> tuple[tuple[int, ...], Geometry]:
    """Shape (array order) and geometry from an image header, without reading the pixels."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise ImageReadError(f"{path}: cannot read image header") from err
    geometry = Geometry(
        spacing=tuple(float(s) for s in reader.GetSpacing()[::-1]),
        origin=tuple(float(o) for o in reader.GetOrigin()[::-1]),
        direction=tuple(float(d) for d in reader.GetDirection()),
    )
    return tuple(int(s) for s in reader.GetSize()[::-1]), geometry


def write_image(
    path: str | os.PathLike, array: np.ndarray, geometry: Geometry | Sequence[float]
) -> None:
    """Write ``array`` ((z, y, x) or (y, x)) with ``geometry`` (or a bare spacing) atomically.

    The format follows the extension (``.nii.gz``, ``.nrrd``, ``.mha``, ...).
    """
    import SimpleITK as sitk

    if not isinstance(geometry, Geometry):
        geometry = Geometry.from_spacing(geometry)
    array = np.asarray(array)
    if array.ndim != len(geometry.spacing):
        raise ValueError(
            f"{path}: array has {array.ndim} axes but geometry has {len(geometry.spacing)}"
        )
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(geometry.spacing[::-1])
    image.SetOrigin(geometry.origin[::-1])
    image.SetDirection(geometry.direction)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def write_table(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write a DataFrame as tab-separated text atomically (no index column)."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def read_table(path: str | os.PathLike, required: Sequence[str] = ()) -> pd.DataFrame:
    """Read a TSV; raise ValueError naming the file and the missing columns, if any."""
    try:
        table = pd.read_csv(path, sep="\t", dtype={"case_id": str, "subject_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path}: cannot read table ({err})") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    return table


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON (sorted keys, 2-space indent) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save a .npy atomically (readable later with ``np.load(mmap_mode='r')``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))
