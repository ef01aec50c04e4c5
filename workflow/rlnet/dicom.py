"""DICOM series as folders: the one series of a folder, every file of it a slice, every
slice's pixel size stated, the slices evenly spaced; errors name the folder or the file."""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rlnet import image_checks as checks
from rlnet.image_checks import ImageReadError
from rlnet.itk import header, keeps_locale, simpleitk

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
def series_files(folder: str | os.PathLike) -> list[str]:
    """The files of the one DICOM series in ``folder``, in slice order; ImageReadError naming
    the folder when it holds none or several (listing each series' UID and file count)."""
    sitk = simpleitk()

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
    check_every_file_is_a_slice(Path(folder), files)
    return files


def check_every_file_is_a_slice(folder: Path, files: Sequence[str]) -> None:
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
    whys = [why_not_a_slice(path) for path in strays]
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


def why_not_a_slice(path: Path) -> str:
    """Why a file GDCM left out of a folder's series is not one of its slices."""
    with open(path, "rb") as handle:
        if handle.read(DICOM_MAGIC_END)[DICOM_MAGIC_END - 4 :] != b"DICM":
            return "not a DICOM file"
    try:
        header(path)
    except ImageReadError:
        return "a DICOM file that cannot be read whole (truncated or corrupt)"
    return "a DICOM file that is not an image of the series"


def check_even_slices(
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


def check_pixel_spacing(path: Path, tags: dict[str, str]) -> None:
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
