"""Import a LiTS folder (``volume-N.nii[.gz]`` with ``segmentation-N.nii[.gz]``) as a manifest.

As in the paper: one case per axial slice that holds tumour, its value the tumour area (mm^2),
the liver (labels 1 and 2) as the candidate mask and the tumour (label 2) as the reference mask;
the subject is the volume, so all slices of one patient land in one split. LiTS volumes are
stored in different orientations, so each volume and its segmentation are first brought to one
convention (``ORIENTATION``, SimpleITK's DICOMOrient) and the stored orientation is recorded in
the table (column ``source_orientation``).

Written per slice (2D NIfTI, in-plane spacing and position of the reoriented volume; the
table holds their absolute paths, as a checked user manifest does):
``<out>/images/<case>.nii.gz`` (CT, HU), ``<out>/masks/<case>_liver.nii.gz`` and
``<out>/masks/<case>_tumour.nii.gz``.
"""

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import atomic, io

log = logging.getLogger(__name__)

#: The orientation every volume is brought to: array axes (z, y, x) run inferior->superior,
#: anterior->posterior and right->left (DICOM's LPS), so array[k] is an axial slice.
ORIENTATION = "LPS"
#: LiTS labels: background, liver, tumour.
LIVER, TUMOUR = 1, 2
#: Origins and direction cosines of a volume and its segmentation agree to this (mm / cosine).
GRID_TOLERANCE = 1e-3
_NUMBER = re.compile(r"^(volume|segmentation)-(\d+)\.nii(\.gz)?$")


class LitsError(ValueError):
    """A LiTS folder that cannot be imported; the message names the file."""


def pair_files(
    volumes: Sequence[str | Path], segmentations: Sequence[str | Path]
) -> list[tuple[int, Path, Path]]:
    """(N, volume-N, segmentation-N) for every volume; LitsError naming a volume without its
    segmentation or a file whose name is not LiTS's."""
    found: dict[str, dict[int, Path]] = {"volume": {}, "segmentation": {}}
    for path in map(Path, [*volumes, *segmentations]):
        match = _NUMBER.match(path.name)
        if match is None:
            raise LitsError(f"{path}: not a LiTS file name (volume-N.nii or segmentation-N.nii)")
        found[match[1]][int(match[2])] = path
    pairs = []
    for number, volume in sorted(found["volume"].items()):
        segmentation = found["segmentation"].get(number)
        if segmentation is None:
            raise LitsError(f"{volume}: no segmentation-{number}.nii[.gz] beside it")
        pairs.append((number, volume, segmentation))
    if not pairs:
        raise LitsError("no LiTS volume (volume-N.nii or volume-N.nii.gz) given")
    return pairs


def _reoriented(path: Path, kind: str):
    """(array (z, y, x) in ``ORIENTATION``, its geometry, the stored orientation code)."""
    import SimpleITK as sitk

    array, geometry = io.read_image(path, kind=kind)
    if array.ndim != 3:
        raise LitsError(f"{path}: a LiTS volume has 3 axes, this image has {array.ndim}")
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(geometry.spacing[::-1])
    image.SetOrigin(geometry.origin[::-1])
    image.SetDirection(geometry.direction)
    stored = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(geometry.direction)
    oriented = sitk.DICOMOrient(image, ORIENTATION)
    return (
        sitk.GetArrayFromImage(oriented),
        io.Geometry(
            tuple(float(s) for s in oriented.GetSpacing()[::-1]),
            tuple(float(o) for o in oriented.GetOrigin()[::-1]),
            tuple(float(d) for d in oriented.GetDirection()),
        ),
        stored,
    )


def _check_same_grid(volume: Path, segmentation: Path, shapes, geometries) -> None:
    """LitsError naming both files when the segmentation is on another grid."""
    (vol_shape, seg_shape), (vol_geo, seg_geo) = shapes, geometries
    same = vol_shape == seg_shape and all(
        np.allclose(getattr(vol_geo, key), getattr(seg_geo, key), atol=GRID_TOLERANCE)
        for key in ("spacing", "origin", "direction")
    )
    if not same:
        raise LitsError(
            f"{segmentation}: not on the grid of {volume} (shape {seg_shape} vs {vol_shape}, "
            f"spacing {seg_geo.spacing} vs {vol_geo.spacing})"
        )


def import_volume(
    number: int, volume: Path, segmentation: Path, out_dir: Path, written: list
) -> pd.DataFrame:
    """Write the tumour-bearing slices of one volume (paths added to ``written``); their
    manifest rows."""
    ct, geometry, stored = _reoriented(volume, "ct")
    labels, seg_geometry, _ = _reoriented(segmentation, "mask")
    _check_same_grid(volume, segmentation, (ct.shape, labels.shape), (geometry, seg_geometry))
    unknown = sorted(set(np.unique(labels).tolist()) - {0, LIVER, TUMOUR})
    if unknown:
        raise LitsError(f"{segmentation}: labels {unknown} (LiTS has 0, 1 liver, 2 tumour)")
    pixel_mm2 = geometry.spacing[1] * geometry.spacing[2]
    rows = []
    subject = f"volume{number}"
    for k in np.flatnonzero((labels == TUMOUR).any(axis=(1, 2))):
        case = f"{subject}_z{k:04d}"
        plane = geometry.plane(int(k))
        image_path = out_dir / "images" / f"{case}.nii.gz"
        liver_path = out_dir / "masks" / f"{case}_liver.nii.gz"
        tumour_path = out_dir / "masks" / f"{case}_tumour.nii.gz"
        tumour = (labels[k] == TUMOUR).astype(np.uint8)
        io.write_image(image_path, ct[k].astype(np.int16), plane)
        io.write_image(liver_path, np.isin(labels[k], (LIVER, TUMOUR)).astype(np.uint8), plane)
        io.write_image(tumour_path, tumour, plane)
        written += [image_path, liver_path, tumour_path]
        rows.append(
            {
                "case_id": case,
                "subject_id": subject,
                "image": str(image_path.resolve()),
                "value": float(tumour.sum()) * pixel_mm2,
                "mask": str(tumour_path.resolve()),
                "candidate_mask": str(liver_path.resolve()),
                "source_volume": str(volume),
                "source_orientation": stored,
                "slice_index": int(k),
            }
        )
    log.info("%s: %d tumour slices (stored %s)", volume, len(rows), stored)
    return pd.DataFrame(rows)


def import_lits(
    volumes: Sequence[str | Path], segmentations: Sequence[str | Path], out_dir: str | Path
) -> pd.DataFrame:
    """The manifest of a LiTS folder's tumour-bearing slices (see the module docstring)."""
    with atomic.removed_on_error() as written:
        tables = [
            import_volume(number, volume, segmentation, Path(out_dir), written)
            for number, volume, segmentation in pair_files(volumes, segmentations)
        ]
    table = pd.concat(tables, ignore_index=True)
    if table.empty:
        raise LitsError(f"no tumour slice in {len(tables)} LiTS volume(s)")
    return table
