"""A user's own data as the workflow takes it, written by the tests: a table of 2D slices and
3D scan slices with their areas, a table of CT scans with Agatston scores, a LiTS folder, and
new scans to infer on (slices of a real CT, one a DICOM folder)."""

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from conftest import REAL_CT, toy_case
from rlnet import io, itk, tsv
from rlnet.biomarkers import agatston
from rlnet.phantoms import heart

#: Voxel size of the toy LiTS volumes, in SimpleITK's (x, y, z) order, mm.
SPACING_XYZ = (0.8, 0.7, 2.5)


def toy_volume(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(CT in HU, labels) of shape (z, y, x) = (8, 40, 48): body, liver ellipsoid, tumours."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:8, :40, :48]
    body = ((y - 20) / 18) ** 2 + ((x - 24) / 22) ** 2 < 1
    liver = body & (((z - 4) / 4) ** 2 + ((y - 18) / 10) ** 2 + ((x - 16) / 12) ** 2 < 1)
    cy, cx = rng.integers(14, 22), rng.integers(12, 20)
    tumour = liver & (((z - 3) / 1.6) ** 2 + ((y - cy) / 3.5) ** 2 + ((x - cx) / 3.5) ** 2 < 1)
    ct = np.where(body, 40, -1000) + np.where(liver, 20, 0) - np.where(tumour, 30, 0)
    ct = (ct + rng.normal(0, 5, ct.shape)).astype(np.int16)
    labels = liver.astype(np.uint8) + tumour.astype(np.uint8)  # 0, 1 liver, 2 tumour
    return ct, labels


def write_stored(path: Path, array: np.ndarray, flipped: bool) -> None:
    """Write ``array`` (z, y, x; x to the patient's left, y posterior) as LPS, or flipped in x
    and y with direction diag(-1, -1, 1) (RAS, as some LiTS volumes are) at the same place."""
    if flipped:
        array = array[:, ::-1, ::-1]
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(SPACING_XYZ)
    size = image.GetSize()
    if flipped:
        image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
        image.SetOrigin(((size[0] - 1) * SPACING_XYZ[0], (size[1] - 1) * SPACING_XYZ[1], 0.0))
    sitk.WriteImage(image, str(path))


def write_lits_folder(folder: Path, n: int, flipped=(), suffix: str = ".nii") -> Path:
    """``n`` toy volumes in LiTS's layout (two batch folders, as LiTS ships them)."""
    for k in range(n):
        batch = folder / f"Training Batch {1 + k % 2}"
        batch.mkdir(parents=True, exist_ok=True)
        ct, labels = toy_volume(k)
        write_stored(batch / f"volume-{k}{suffix}", ct, k in flipped)
        write_stored(batch / f"segmentation-{k}{suffix}", labels, k in flipped)
    return folder


def slices_folder(folder: Path, n: int = 12) -> Path:
    """``n`` toy cases: even ones as 2D NIfTI, odd ones as slice 1 of a 3-slice scan (the
    other slices noise), each with its mask; areas.csv lists them."""
    rng = np.random.default_rng(3)
    rows = []
    for k in range(n):
        image, mask = toy_case(rng)
        if k % 2:
            stack = np.stack([image - 7, image, image + 9])
            masks = np.stack([np.zeros_like(mask), mask, np.zeros_like(mask)])
            io.write_image(folder / f"scan{k}.nii.gz", stack, (5.0, 2.0, 1.5))
            io.write_image(folder / f"scan{k}_mask.nii.gz", masks, (5.0, 2.0, 1.5))
            rows.append({"image": f"scan{k}.nii.gz", "slice": "1", "mask": f"scan{k}_mask.nii.gz"})
        else:
            io.write_image(folder / f"img{k}.nii.gz", image, (2.0, 1.5))
            io.write_image(folder / f"img{k}_mask.nii.gz", mask, (2.0, 1.5))
            rows.append({"image": f"img{k}.nii.gz", "slice": "", "mask": f"img{k}_mask.nii.gz"})
        rows[-1] |= {"case_id": f"c{k}", "value": float(mask.sum() * 3.0)}
    table = pd.DataFrame(rows)[["case_id", "image", "slice", "value", "mask"]]
    table.to_csv(folder / "areas.csv", index=False)
    return folder / "areas.csv"


def cac_folder(folder: Path, n: int) -> Path:
    """``n`` phantom chest CTs; even cases give a calcium mask, odd ones the volume (mm^3)."""
    rows = []
    for k in range(n):
        case = heart.generate(5, k, shape=(32, 64, 64), spacing=(3.0, 2.5, 2.5))
        io.write_image(folder / f"ct{k}.nii.gz", case.image, case.spacing)
        score = agatston(case.image, case.masks["cac"], case.spacing)
        row = {"case_id": f"p{k}", "image": f"ct{k}.nii.gz", "agatston": score}
        if k % 2:
            row["volume"] = float(case.masks["cac"].sum() * np.prod(case.spacing))
        else:
            io.write_image(folder / f"ca{k}.nii.gz", case.masks["cac"], case.spacing)
            row["calcium_mask"] = f"ca{k}.nii.gz"
        rows.append(row)
    table = pd.DataFrame(rows).astype(object).fillna("")
    table.to_csv(folder / "scores.csv", index=False)
    return folder / "scores.csv"


def write_dicom_slice(path: Path, plane: np.ndarray, geometry: io.Geometry) -> None:
    """One axial CT slice as a DICOM file whose tags hold ``geometry``'s position and in-plane
    direction (io.write_image's DICOM output keeps neither)."""
    image = sitk.GetImageFromArray(plane)
    image.SetSpacing(geometry.spacing[:0:-1])
    direction = np.asarray(geometry.direction).reshape(3, 3)
    tags = {
        "0020|0032": "\\".join(f"{v:.4f}" for v in geometry.origin[::-1]),
        "0020|0037": "\\".join(f"{v:g}" for v in [*direction[:, 0], *direction[:, 1]]),
        "0020|000e": "1.2.826.0.1.3680043.2.1125.7",
        "0008|0060": "CT",
    }
    for tag, value in tags.items():
        image.SetMetaData(tag, value)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    itk.keeps_locale(writer.Execute)(image)


def write_scans(study: Path) -> Path:
    """New scans for ``infer``: three axial slices of the real abdominal CT (stored RAS: its
    in-plane direction is diag(-1, -1)), the first as a one-slice DICOM series folder, listed
    with TotalSegmentator's liver (label 5) as candidate masks in a TSV of relative paths."""
    ct, geometry = io.read_image(REAL_CT / "example_ct_sm.nii.gz")
    seg, _ = io.read_image(REAL_CT / "example_seg.nii.gz", kind="mask")
    folder = study / "new-scans"
    rows = []
    for k, z in enumerate((8, 12, 16)):
        plane = geometry.plane(z)
        image = f"scan{k}.nii.gz" if k else "scan0"
        if k:
            io.write_image(folder / image, ct[z], plane)
        else:  # a DICOM slice with its position and orientation (RAS-stored: -x, -y)
            write_dicom_slice(folder / image / "1.dcm", ct[z], geometry.shifted((z, 0, 0)))
        scan_geometry = io.read_geometry(folder / image)[1]
        io.write_image(
            folder / f"scan{k}_liver.nii.gz", (seg[z] == 5).astype(np.uint8), scan_geometry
        )
        rows.append(
            {"case_id": f"scan{k}", "image": image, "candidate_mask": f"scan{k}_liver.nii.gz"}
        )
    tsv.write_table(folder / "scans.tsv", pd.DataFrame(rows))
    return folder / "scans.tsv"
