"""Image and table I/O with atomic writes.

Images are read and written through SimpleITK (NIfTI, NRRD, MHA, DICOM series, ...), imported
where used so that stages writing only tables and figures start faster. Arrays
come back in numpy order (z, y, x) or (y, x); spacing and origin are converted once here from
SimpleITK's (x, y, z) order to the array's axis order.
"""

import functools
import json
import locale
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlnet import image_checks as checks
from rlnet.image_checks import ImageReadError

#: What ``read_image`` verifies an image as: CT (HU) or a mask.
IMAGE_KINDS = ("ct", "mask")

log = logging.getLogger(__name__)


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

    def plane(self, k: int) -> "Geometry":
        """2D geometry (y, x) of slice ``k`` along the first axis of a 3D geometry: in-plane
        spacing, the y and x of its first voxel's position, the in-plane direction block."""
        if len(self.spacing) != 3:
            raise ValueError(f"plane() needs a 3D geometry, not {len(self.spacing)}D")
        origin = self.shifted((k, 0, 0)).origin
        direction = np.asarray(self.direction, float).reshape(3, 3)[:2, :2]
        return Geometry(self.spacing[1:], origin[1:], tuple(map(float, direction.ravel())))

    def shifted(self, offset_voxels: Sequence[int]) -> "Geometry":
        """Geometry of a crop whose first voxel is at ``offset_voxels`` (array order)."""
        direction = np.asarray(self.direction).reshape(len(self.spacing), -1)
        step_xyz = np.asarray(offset_voxels[::-1], float) * np.asarray(self.spacing[::-1])
        origin_xyz = np.asarray(self.origin[::-1]) + direction @ step_xyz
        return Geometry(self.spacing, tuple(origin_xyz[::-1].tolist()), self.direction)


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


#: Kinds of image ``read_image`` checks: CT in HU, or a mask (reference or candidates).
def keeps_locale(function):
    """Restore the process locale after ``function``: ITK's DICOM reader (GDCM) sets it to "C",
    which would turn Python's default text encoding into ASCII for the rest of the process."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        saved = locale.setlocale(locale.LC_ALL)
        try:
            return function(*args, **kwargs)
        finally:
            locale.setlocale(locale.LC_ALL, saved)

    return wrapper


def _itk():
    """SimpleITK, with ITK's warnings off: they go to stderr past Python's logging (e.g. GDCM's
    "No Series were found"), and every problem they describe is an ImageReadError here."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    return sitk


@keeps_locale
def read_image(path: str | os.PathLike, kind: str = "ct") -> tuple[np.ndarray, Geometry]:
    """Read and verify an image: (array in (z, y, x)/(y, x) order, geometry in the same order).

    A directory is read as a DICOM series (one slice: a 2D image). Every file must hold all the
    pixels its header announces. ``kind="ct"``: finite, within int16, not constant; values
    below ``image_checks.AIR_HU`` (padding) become air, their count logged. ``kind="mask"``: finite,
    non-negative integers (nonzero = inside; all zero allowed). Raises ImageReadError naming
    the file.
    """
    sitk = _itk()

    if kind not in IMAGE_KINDS:
        raise ValueError(f"unknown image kind {kind!r}; known: {', '.join(IMAGE_KINDS)}")
    image = _read_sitk(Path(path))
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(f"{path}: expected a scalar image, got vector pixels")
    array = sitk.GetArrayFromImage(image)
    array = checks.checked_ct(array, path) if kind == "ct" else checks.checked_mask(array, path)
    return array, _geometry_of(image)


def _read_sitk(path: Path):
    """The SimpleITK image of a file or DICOM series folder, verified complete, its spacing
    finite and > 0 as stored (never ITK's 1 mm for a zero)."""
    try:
        if path.is_dir():
            return _read_series(path)
        reader = _header(path)
        _check_header_spacing(path, reader)
        image = reader.Execute()
    except RuntimeError as err:
        raise ImageReadError(f"{path}: cannot read image ({_itk_reason(err)})") from err
    # NRRD, MetaImage and DICOM readers fail on missing pixel data; ITK's NIfTI reader fills
    # the missing part with zeros and turns NaN and infinities into 0, so NIfTI is checked here.
    if checks.is_nifti(path):
        checks.check_nifti_size(path, image)
        if int(image.GetMetaData("datatype")) in checks.NIFTI_FLOAT_TYPES:
            checks.check_nifti_finite(path)
    return image


def _read_series(folder: Path):
    """The SimpleITK image of the DICOM series in ``folder`` (one slice: a 2D image), every
    file's pixel spacing checked and the slices evenly spaced."""
    sitk = _itk()

    reader = sitk.ImageSeriesReader()
    files = dicom_series_files(folder)
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    image = reader.Execute()
    for k, name in enumerate(files):
        tags = {
            t: reader.GetMetaData(k, t) for t in PIXEL_SPACING_TAGS if reader.HasMetaDataKey(k, t)
        }
        _check_pixel_spacing(Path(name), tags)
    positions = [
        [float(v) for v in reader.GetMetaData(k, POSITION_TAG).split("\\")]
        for k in range(len(files))
        if reader.HasMetaDataKey(k, POSITION_TAG)
    ]
    if len(positions) == len(files) > 1:
        _check_even_slices(folder, positions, image.GetDirection())
    if len(files) == 1 and image.GetDimension() == 3:
        image = image[:, :, 0]  # one slice: a 2D image (in-plane geometry)
    return image


def _check_header_spacing(path: Path, reader) -> None:
    """ImageReadError naming ``path`` unless its header spacing is finite and > 0: a NIfTI
    file's pixdim as stored (ITK reads a zero as 1 mm), any other format's as ITK reads it."""
    n_dims = reader.GetDimension()
    if checks.is_nifti(path) and path.name.lower().endswith((".nii", ".nii.gz")):
        stored = checks.nifti_header(path)["pixdim"][1 : n_dims + 1]
        spacing = tuple(float(s) for s in stored)[::-1]
    else:
        spacing = tuple(float(s) for s in reader.GetSpacing())[::-1]
    checks.check_spacing(path, spacing)


def _check_pixel_spacing(path: Path, tags: dict[str, str]) -> None:
    """ImageReadError naming the DICOM file unless the first pixel-size tag present
    (``PIXEL_SPACING_TAGS``: its values in ``tags``) holds two finite values > 0: GDCM reads a
    zero or a missing pixel size as 1 mm."""
    tag = next((t for t in PIXEL_SPACING_TAGS if t in tags), None)
    if tag is None:
        raise ImageReadError(
            f"{path}: no pixel size in the DICOM header (none of the tags "
            f"{', '.join(PIXEL_SPACING_TAGS)}): the pixel size is unknown"
        )
    try:
        spacing = tuple(float(v) for v in tags[tag].split("\\"))
    except ValueError:
        spacing = ()
    if len(spacing) != 2:
        raise ImageReadError(
            f"{path}: pixel size {tags[tag].strip()!r} (DICOM tag {tag}) is not two numbers (mm)"
        )
    checks.check_spacing(path, spacing)


def read_header(path: str | os.PathLike) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Shape and spacing (mm), both in array order, from an image header; pixels not read.

    Single-file NIfTI-1 (``.nii``, ``.nii.gz``) is parsed with nibabel (~0.3 ms, ~4x faster
    than ITK's header read) and its size checked against the header; the spacing is the header's
    pixdim as stored, so a zero, negative or NaN pixdim (which ITK would turn into 1 or keep)
    reaches the caller's checks. Other formats and DICOM folders go through ``read_geometry``.
    """
    path = Path(path)
    if path.is_dir() or not path.name.lower().endswith((".nii", ".nii.gz")):
        shape, geometry = read_geometry(path)
        return shape, geometry.spacing
    header = checks.nifti_header(path)
    n_dims = int(header["dim"][0])
    dims = [int(d) for d in header["dim"][1 : n_dims + 1]]
    checks.check_nifti_bytes(path, dims, int(header["bitpix"]), int(header["vox_offset"]))
    spacing = tuple(float(s) for s in header["pixdim"][1 : n_dims + 1])
    return tuple(dims[::-1]), spacing[::-1]


@keeps_locale
def read_geometry(
    path: str | os.PathLike, one_slice_as_2d: bool = True
) -> tuple[tuple[int, ...], Geometry]:
    """Shape (array order) and geometry from an image header, without reading the pixels
    (a NIfTI file's size is checked against its header: cheap, see ``image_checks.gzip_size``).

    A directory is a DICOM series (one per folder): every file's header is read; the first
    gives the in-plane geometry, the slices' gap along the slice normal the slice spacing (the
    gaps must be equal). A series of one slice is a 2D image (its in-plane geometry), or with
    ``one_slice_as_2d=False`` the volume of one slice it is, at its position: the geometry a
    map must be written with to overlay the slice in a viewer.
    """
    path = Path(path)
    if not path.is_dir():
        reader = _header(path)
        _check_header_spacing(path, reader)
        if checks.is_nifti(path):
            checks.check_nifti_size(path, reader)
        return tuple(int(s) for s in reader.GetSize()[::-1]), _geometry_of(reader)
    files = dicom_series_files(path)
    headers = [_header(Path(f)) for f in files]
    for name, header in zip(files, headers, strict=True):
        tags = {t: header.GetMetaData(t) for t in PIXEL_SPACING_TAGS if header.HasMetaDataKey(t)}
        _check_pixel_spacing(Path(name), tags)
    first = headers[0]
    geometry = _geometry_of(first)
    columns, rows = first.GetSize()[:2]
    if len(files) == 1:  # one slice: a 2D image, as read_image gives it
        if not one_slice_as_2d:
            return (1, int(rows), int(columns)), geometry
        return (int(rows), int(columns)), geometry.plane(0)
    if len(files) > 1:
        step = _check_even_slices(path, [h.GetOrigin() for h in headers], first.GetDirection())
        geometry = Geometry(
            (float(step), *geometry.spacing[1:]), geometry.origin, geometry.direction
        )
    return (len(files), int(rows), int(columns)), geometry


#: DICOM tag of a slice's position (ImagePositionPatient, mm).
POSITION_TAG = "0020|0032"
#: DICOM tags of the pixel size (row, column spacing in mm), the first one present is read:
#: PixelSpacing (CT, MR), ImagerPixelSpacing (projection images), NominalScannedPixelSpacing
#: (secondary capture, which ITK's DICOM writer makes).
PIXEL_SPACING_TAGS = ("0028|0030", "0018|1164", "0018|2010")
#: Files of a series folder that are not slices: hidden files (``.DS_Store``) and a DICOMDIR.
NOT_SLICES = ("DICOMDIR",)
#: A DICOM file's "DICM" marker ends at this byte (after the 128-byte preamble).
DICOM_MAGIC_END = 132
#: Largest difference between slice gaps of one series read as even (mm).
SLICE_GAP_TOLERANCE_MM = 0.01


@keeps_locale
def dicom_series_files(folder: str | os.PathLike) -> list[str]:
    """The files of the one DICOM series in ``folder``, in slice order; ImageReadError naming
    the folder when it holds none or several (listing each series' UID and file count)."""
    sitk = _itk()

    folder = str(folder)
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
    if not series:
        raise ImageReadError(f"{folder}: directory holds no DICOM series")
    if len(series) > 1:
        listed = ", ".join(
            f"{uid} ({len(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid))} files)"
            for uid in series
        )
        raise ImageReadError(
            f"{folder}: holds {len(series)} DICOM series ({listed}); "
            f"move each series to a folder of its own and name the one to use"
        )
    files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, series[0]))
    _check_every_file_is_a_slice(Path(folder), files)
    return files


def _check_every_file_is_a_slice(folder: Path, files: Sequence[str]) -> None:
    """ImageReadError naming each file of ``folder`` that is not one of the series' ``files``:
    GDCM leaves out a truncated or corrupt file without a word, which would lose its slice (or,
    in the middle, leave a gap). Hidden files and a DICOMDIR are not slices."""
    listed = {Path(f).name for f in files}
    strays = [
        path
        for path in sorted(folder.iterdir())
        if path.is_file()
        and path.name not in listed
        and not path.name.startswith(".")
        and path.name.upper() not in NOT_SLICES
    ]
    if not strays:
        return
    whys = [_why_not_a_slice(path) for path in strays]
    advice = "replace it with a complete copy or remove it"
    if len(strays) == 1:
        raise ImageReadError(
            f"{strays[0]}: {whys[0]}, in the folder of a DICOM series of {len(files)} other "
            f"file(s); {advice}"
        )
    named = "; ".join(f"{p.name} ({why})" for p, why in zip(strays[:5], whys, strict=False))
    more = f" and {len(strays) - 5} more" if len(strays) > 5 else ""
    raise ImageReadError(
        f"{folder}: {len(strays)} files are not slices of its DICOM series of {len(files)} "
        f"file(s): {named}{more}; replace each with a complete copy or remove it"
    )


def _why_not_a_slice(path: Path) -> str:
    """Why a file GDCM left out of a folder's series is not one of its slices."""
    with open(path, "rb") as handle:
        if handle.read(DICOM_MAGIC_END)[DICOM_MAGIC_END - 4 :] != b"DICM":
            return "not a DICOM file"
    try:
        _header(path)
    except ImageReadError:
        return "a DICOM file that cannot be read whole (truncated or corrupt)"
    return "a DICOM file that is not an image of the series"


def _check_even_slices(
    folder: Path, positions: Sequence[Sequence[float]], direction: Sequence[float]
) -> float:
    """The slice spacing (mm) of a series from its slices' positions (x, y, z, mm, in file
    order) along the slice normal; ImageReadError naming ``folder`` when two slices share a
    position or the gaps differ (mixed thickness, a missing slice)."""
    normal = np.asarray(direction, float).reshape(3, 3)[:, 2]
    gaps = np.diff(np.asarray(positions, float) @ normal)
    if np.any(np.abs(gaps) < SLICE_GAP_TOLERANCE_MM):
        raise ImageReadError(f"{folder}: two slices of the series share a position")
    if gaps.max() - gaps.min() > SLICE_GAP_TOLERANCE_MM:
        raise ImageReadError(
            f"{folder}: slices are not evenly spaced (gaps {gaps.min():.3g} to "
            f"{gaps.max():.3g} mm: mixed thickness or a missing slice); resample the series"
        )
    return abs(float(np.mean(gaps)))


def _header(path: Path):
    """A SimpleITK ImageFileReader holding the header of ``path`` (pixels not read)."""
    sitk = _itk()

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise ImageReadError(f"{path}: cannot read image header ({_itk_reason(err)})") from err
    return reader


def _itk_reason(err: RuntimeError) -> str:
    """The informative line of a SimpleITK error (its last, less the C++ class prefix)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if len(lines) > 1 and lines[-1].startswith("Reason:"):  # MetaImage appends a stale errno
        lines.pop()
    if not lines:
        return "unknown error"
    return re.sub(r"^(ITK ERROR: \w+\(0x[0-9a-f]+\): |sitk::ERROR: )", "", lines[-1])


def _geometry_of(source) -> Geometry:
    """Geometry (array axis order) of a SimpleITK image or of a reader's header."""
    return Geometry(
        spacing=tuple(float(s) for s in source.GetSpacing()[::-1]),
        origin=tuple(float(o) for o in source.GetOrigin()[::-1]),
        direction=tuple(float(d) for d in source.GetDirection()),
    )


@keeps_locale
def write_image(
    path: str | os.PathLike, array: np.ndarray, geometry: Geometry | Sequence[float]
) -> None:
    """Write ``array`` ((z, y, x) or (y, x)) with ``geometry`` (or a bare spacing) atomically.

    The format follows the extension (``.nii.gz``, ``.nrrd``, ``.mha``, ...).
    """
    sitk = _itk()

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
