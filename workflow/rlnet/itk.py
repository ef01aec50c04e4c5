"""SimpleITK at the package's boundary: imported where used (stages writing only tables and
figures start faster), its warnings off, the process locale kept, its errors read as one line."""

import functools
import locale
import re
from pathlib import Path

from rlnet.image_checks import ImageReadError


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


def simpleitk():
    """SimpleITK, with ITK's warnings off: they go to stderr past Python's logging (e.g. GDCM's
    "No Series were found"), and every problem they describe is an ImageReadError here."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    return sitk


def header(path: Path):
    """A SimpleITK ImageFileReader holding the header of ``path`` (pixels not read)."""
    sitk = simpleitk()

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise ImageReadError(f"{path}: cannot read image header ({reason(err)})") from err
    return reader


def reason(err: RuntimeError) -> str:
    """The informative line of a SimpleITK error (its last, less the C++ class prefix)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if len(lines) > 1 and lines[-1].startswith("Reason:"):  # MetaImage appends a stale errno
        lines.pop()
    if not lines:
        return "unknown error"
    return re.sub(r"^(ITK ERROR: \w+\(0x[0-9a-f]+\): |sitk::ERROR: )", "", lines[-1])
