"""Verification of the images read: a header's spacing is finite and > 0, a NIfTI file holds
the bytes its header announces, CT values are finite, fit int16 and are not constant, masks
hold non-negative integers.

ITK's NIfTI reader fills a cut-off file's missing voxels with zeros and turns NaN into 0; these
checks make such files errors naming the file (``ImageReadError``), for ``rlnet.io``.
"""

import logging
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

log = logging.getLogger(__name__)


class ImageReadError(ValueError):
    """An image file that cannot be read or fails validation; the message names the file."""


#: HU of air. CT values below it are scanner padding outside the field of view (-2048, -3024)
#: and are read as air.
AIR_HU = -1024
#: Prepared images are stored as int16: CT values outside this range are refused, never wrapped.
HU_LIMITS = (int(np.iinfo(np.int16).min), int(np.iinfo(np.int16).max))
#: NIfTI datatype codes of floating-point voxels (float32, float64, float128).
NIFTI_FLOAT_TYPES = (16, 64, 1536)
#: What a mask may hold.
MASK_RULE = "masks hold 0 outside and positive integers (labels) inside"


#: File names SimpleITK reads with its NIfTI reader (NIfTI-1/2 and Analyze pairs).
NIFTI_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".hdr.gz", ".img", ".img.gz")


def is_nifti(path: Path) -> bool:
    """Whether SimpleITK reads ``path`` (a file) as NIfTI: by its name, as ITK chooses the
    reader (asking ITK costs ~1 ms per file)."""
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def check_spacing(path: str | os.PathLike, spacing: Sequence[float]) -> None:
    """Raise ImageReadError naming ``path`` unless every spacing value (mm) is finite and > 0."""
    spacing = tuple(float(s) for s in spacing)
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        shown = tuple(float(f"{s:.7g}") for s in spacing)  # float32 headers: 3.6, not 3.5999999
        raise ImageReadError(f"{path}: header spacing {shown} must be finite and > 0 (mm)")


def check_nifti_size(path: Path, header) -> None:
    """Raise ImageReadError unless the NIfTI data holds vox_offset + prod(dim) * bitpix / 8
    bytes (the header's promise); ``header``: the SimpleITK image or header reader of ``path``.
    """
    meta = header.GetMetaData
    n_dims = int(meta("dim[0]"))
    dims = [int(meta(f"dim[{k}]")) for k in range(1, n_dims + 1)]
    check_nifti_bytes(path, dims, int(meta("bitpix")), int(float(meta("vox_offset"))))


def check_nifti_bytes(path: Path, dims: Sequence[int], bitpix: int, vox_offset: int) -> None:
    """Raise ImageReadError unless the data file of ``path`` holds the bytes its header
    announces: vox_offset (single-file NIfTI only) + prod(dims) * bitpix / 8."""
    data = nifti_data_file(path)
    offset = 0 if data != path else vox_offset
    needed = offset + int(np.prod(dims)) * bitpix // 8
    found = gzip_size(data, needed) if data.name.endswith(".gz") else data.stat().st_size
    if found < needed:
        raise ImageReadError(
            f"{path}: incomplete file: {found} of the {needed} bytes its header announces "
            f"({100 * found / needed:.0f}%; a cut-off copy or download?)"
        )


def check_nifti_finite(path: Path) -> None:
    """Raise ImageReadError if a float NIfTI file holds NaN or infinite voxels (ITK's reader
    would silently make them 0, so the stored values are read again with nibabel)."""
    import nibabel

    data = nibabel.load(path).dataobj.get_unscaled()
    bad = int(data.size - np.count_nonzero(np.isfinite(data)))
    if bad:
        raise_non_finite(path, bad, data.size)


def nifti_data_file(path: Path) -> Path:
    """The file holding a NIfTI image's voxels: ``path`` itself, or a header's .img partner."""
    for header, data in ((".hdr", ".img"), (".hdr.gz", ".img.gz")):
        if path.name.endswith(header):
            return path.with_name(path.name.removesuffix(header) + data)
    return path


def gzip_size(path: Path, expected: int) -> int:
    """Decompressed size of a gzip file in bytes (a stream that ends early counts what it holds).

    Fast path: a single-member stream's trailer stores the size modulo 2^32; when it equals
    ``expected`` the stream is taken as complete without decompressing it.
    """
    with open(path, "rb") as handle:
        handle.seek(-4, os.SEEK_END)
        if int.from_bytes(handle.read(4), "little") == expected % 2**32:
            return expected
    size, stream = 0, zlib.decompressobj(wbits=31)
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                while chunk:
                    size += len(stream.decompress(chunk))
                    chunk = b""
                    if stream.eof:  # the next member of a multi-member file, if any
                        chunk, stream = stream.unused_data, zlib.decompressobj(wbits=31)
    except zlib.error as err:
        raise ImageReadError(f"{path}: corrupt gzip stream ({err})") from err
    return size


def finite_range(array: np.ndarray, path: str | os.PathLike) -> tuple[Any, Any]:
    """(min, max) of ``array``; raise ImageReadError counting NaN and infinite voxels, if any."""
    low, high = array.min(), array.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        raise_non_finite(path, int(array.size - np.count_nonzero(np.isfinite(array))), array.size)
    return low, high


def raise_non_finite(path: str | os.PathLike, bad: int, size: int) -> NoReturn:
    raise ImageReadError(f"{path}: {bad} of {size} voxels are NaN or infinite")


def checked_ct(array: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """``array`` (HU) verified: finite, within int16, not constant; padding below AIR_HU set to
    AIR_HU in place (the count is logged)."""
    low, high = finite_range(array, path)
    if low < HU_LIMITS[0] or high > HU_LIMITS[1]:
        raise ImageReadError(
            f"{path}: values {low:g} to {high:g} HU do not fit int16 "
            f"[{HU_LIMITS[0]}, {HU_LIMITS[1]}] (not HU? a scaling slope missing?)"
        )
    if max(low, AIR_HU) >= high:
        what = f"{low:g} HU" if low >= AIR_HU else f"air or padding (<= {AIR_HU} HU)"
        raise ImageReadError(f"{path}: constant image, every voxel {what}: a blank export?")
    if low < AIR_HU:
        padding = array < AIR_HU
        log.info(
            "%s: %d voxel(s) below %d HU (padding outside the field of view) read as air",
            path,
            int(np.count_nonzero(padding)),
            AIR_HU,
        )
        array[padding] = AIR_HU
    return array


def checked_mask(array: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """``array`` verified as a mask: finite, non-negative integers (nonzero = inside)."""
    low, _ = finite_range(array, path)
    if low < 0:
        raise ImageReadError(f"{path}: mask has negative values (down to {low:g}); {MASK_RULE}")
    if array.dtype.kind == "f" and np.any(np.mod(array, 1)):
        raise ImageReadError(
            f"{path}: mask has fractional values (a probability map?); {MASK_RULE}"
        )
    return array


#: Bytes of a NIfTI-1 header (its first four bytes); NIfTI-2 headers hold 540.
NIFTI1_HEADER_BYTES, NIFTI2_HEADER_BYTES = 348, 540


def nifti_header(path: Path):
    """The nibabel header of a single-file NIfTI-1 image, as stored (pixdim not fixed)."""
    import io as bytes_io

    import nibabel

    try:
        raw = _leading_bytes(path, NIFTI1_HEADER_BYTES)
    except (OSError, zlib.error) as err:
        raise ImageReadError(f"{path}: cannot read image header ({err})") from err
    sizes = {int.from_bytes(raw[:4], order) for order in ("little", "big")}
    if NIFTI2_HEADER_BYTES in sizes:
        raise ImageReadError(
            f"{path}: cannot read image header (NIfTI-2, which ITK does not read: save it as "
            f"NIfTI-1, e.g. nibabel.Nifti1Image(img.dataobj, img.affine))"
        )
    if NIFTI1_HEADER_BYTES not in sizes or len(raw) < NIFTI1_HEADER_BYTES:
        raise ImageReadError(f"{path}: cannot read image header (not a NIfTI-1 file)")
    try:
        return nibabel.Nifti1Header.from_fileobj(bytes_io.BytesIO(raw), check=False)
    except (ValueError, nibabel.spatialimages.HeaderDataError) as err:
        raise ImageReadError(f"{path}: cannot read image header ({err})") from err


#: Compressed bytes read per step while looking for a gzip file's first bytes.
_GZIP_STEP = 4096


def _leading_bytes(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of a file's content (fewer if it is shorter), decompressing a
    ``.gz`` file only as far as needed (zlib directly: a GzipFile costs more than the read)."""
    with open(path, "rb") as handle:
        if not path.name.lower().endswith(".gz"):
            return handle.read(n)
        stream, out = zlib.decompressobj(wbits=31), b""
        while len(out) < n and (chunk := handle.read(_GZIP_STEP)):
            out += stream.decompress(chunk, n - len(out))
        return out
