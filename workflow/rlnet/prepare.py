"""Prepare a problem for training: fixed-size arrays of images, candidates and reference masks.

Outputs (in one folder, memory-mappable ``.npy``, cases in split order train, val, test):
    images.npy      int16 HU, (N, *shape)
    candidates.npy  uint8 {0,1}, (N, *shape)
    masks.npy       uint8 {0,1} reference masks (zeros where a case has none), (N, *shape)
    heart.npy       3D, when some case has a heart_region or heart_mask: uint8 {0,1} heart
                    region (the heart-rule baseline's; zeros where a case has none; cases.tsv
                    ``has_heart``), cropped as the image
    cases.tsv       one row per array index: ids, split, stratum, value, voxel size, geometry
    meta.json       shapes, padding / ROI settings, HU windows

2D slices are padded with air to a multiple of 16 (the U-Net's four poolings). 3D volumes are
cropped to a fixed ROI (``roi.size`` + 2 x ``roi.margin`` voxels, no rescaling) around the heart:
the manifest's ``roi_center`` ("z y x" voxels), else the centroid of its ``heart_mask``, else the
centre ``rlnet.heart_search.find_heart`` finds (with a confidence; below its ``LOW_CONFIDENCE``
a warning names the case). cases.tsv records the centre, its source, the confidence and why it
is low. The margin leaves room for displacement augmentation.
"""

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.format import open_memmap

from rlnet import heart_search, io, roi
from rlnet.candidates import hu_candidates
from rlnet.datasets.manifest import format_spacing, parse_roi_center, parse_spacing
from rlnet.split import SPLITS

log = logging.getLogger(__name__)

PAD_MULTIPLE = 16
AIR_HU = -1000


class PrepareError(ValueError):
    """A case that cannot be prepared; the message names the case and file."""


def padded_shape(shape: tuple[int, ...], multiple: int = PAD_MULTIPLE) -> tuple[int, ...]:
    """Smallest shape >= ``shape`` with every axis a multiple of ``multiple``."""
    return tuple(-(-s // multiple) * multiple for s in shape)


def pad_to(array: np.ndarray, shape: tuple[int, ...], fill: float) -> np.ndarray:
    """Pad at the end of each axis to ``shape`` with ``fill``."""
    widths = [(0, t - s) for s, t in zip(array.shape, shape, strict=True)]
    return np.pad(array, widths, constant_values=fill)


def _read(path: str, case_id: str, what: str, spatial_dims: int) -> tuple[np.ndarray, io.Geometry]:
    """Read and verify one image of a case (``what``: "image" is CT, anything else a mask)."""
    try:
        array, geometry = io.read_image(path, kind="ct" if what == "image" else "mask")
    except io.ImageReadError as err:
        raise PrepareError(f"case {case_id}: {what}: {err}") from err
    if array.ndim != spatial_dims:
        raise PrepareError(
            f"case {case_id}: {what} {path} has {array.ndim} dimensions, expected {spatial_dims}"
        )
    return array, geometry


def _ordered_cases(manifest: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    cases = manifest.merge(split[["case_id", "split", "stratum"]], on="case_id", how="left")
    if cases["split"].isna().any():
        missing = cases.loc[cases["split"].isna(), "case_id"].tolist()[:5]
        raise PrepareError(f"cases {missing} are in the manifest but not in the split")
    order = {name: k for k, name in enumerate(SPLITS)}
    cases["_order"] = cases["split"].map(order)
    return (
        cases.sort_values(["_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    )


@dataclass
class _Case:
    """One case's prepared arrays and the geometry facts that go in cases.tsv."""

    image: np.ndarray
    candidates: np.ndarray
    mask: np.ndarray
    origin: tuple[int, ...]  # index of the array's first voxel in the source image
    spacing: tuple[float, ...]
    source_shape: tuple[int, ...]  # shape of the source image
    heart: heart_search.HeartSearch | None = None  # 3D: the ROI centre and how it was found
    heart_source: str = ""  # roi_center | heart_mask | search
    heart_region: np.ndarray | None = None  # 3D: the heart region cropped as the image, or None


def _heart(
    row: pd.Series, image: np.ndarray, geometry: io.Geometry
) -> tuple[heart_search.HeartSearch, str]:
    """The ROI centre of a 3D case and where it came from: the manifest's roi_center, its
    heart_mask's centroid, or the search (logged as a warning when its confidence is low)."""
    case = row["case_id"]
    if row["roi_center"]:
        return heart_search.HeartSearch(parse_roi_center(row["roi_center"]), 1.0, ""), "roi_center"
    if row["heart_mask"]:
        heart = _read(row["heart_mask"], case, "heart_mask", 3)[0] > 0
        if not heart.any():
            raise PrepareError(f"case {case}: heart_mask {row['heart_mask']} is empty")
        centre = np.rint(np.argwhere(heart).mean(axis=0)).astype(int)
        return heart_search.HeartSearch(tuple(int(c) for c in centre), 1.0, ""), "heart_mask"
    try:
        found = heart_search.find_heart(image, geometry.spacing, geometry.direction)
    except ValueError as err:
        raise PrepareError(
            f"case {case}: {row['image']}: {err}; give the case a roi_center or heart_mask"
        ) from None
    if found.confidence < heart_search.LOW_CONFIDENCE:
        log.warning(
            "case %s: heart ROI doubtful (confidence %.2f: %s); check results/qc, or give a "
            "roi_center or heart_mask in the manifest",
            case,
            found.confidence,
            found.note,
        )
    return found, "search"


def _heart_region(row: pd.Series, shape: tuple[int, ...]) -> np.ndarray | None:
    """The heart region of a 3D case (its heart_region, else its heart_mask), or None."""
    column = "heart_region" if row.get("heart_region") else "heart_mask"
    if not row.get(column):
        return None
    region = _read(row[column], row["case_id"], column, 3)[0] > 0
    if region.shape != shape:
        raise PrepareError(
            f"case {row['case_id']}: {column} {row[column]} shape {region.shape} != image {shape}"
        )
    return region


def _prepare_case(row: pd.Series, problem: dict, out_shape: tuple[int, ...] | None) -> _Case:
    dims = problem["spatial_dims"]
    image, geometry = _read(row["image"], row["case_id"], "image", dims)
    spacing = parse_spacing(row["spacing"]) if row["spacing"] else geometry.spacing
    if len(spacing) != len(geometry.spacing) or not np.allclose(
        spacing, geometry.spacing, rtol=1e-3
    ):
        raise PrepareError(
            f"case {row['case_id']}: manifest spacing {spacing} differs from the image header "
            f"{geometry.spacing} of {row['image']}"
        )
    mask = (
        _read(row["mask"], row["case_id"], "mask", dims)[0] if row["mask"] else np.zeros_like(image)
    )
    if mask.shape != image.shape:
        raise PrepareError(
            f"case {row['case_id']}: mask {row['mask']} shape {mask.shape} != image {image.shape}"
        )
    cand_cfg = problem["candidates"]
    if "mask" in cand_cfg:
        if not row["candidate_mask"]:
            raise PrepareError(f"case {row['case_id']}: no candidate_mask path in the manifest")
        candidates = _read(row["candidate_mask"], row["case_id"], "candidate mask", dims)[0] > 0
        candidates = candidates.astype(np.uint8)
    else:
        candidates = hu_candidates(image, cand_cfg["hu"], cand_cfg.get("opening_radius", 0))
    origin: tuple[int, ...] = (0,) * dims
    source_shape = image.shape
    heart, heart_source, heart_region = None, "", None
    if dims == 3:
        size = tuple(
            s + 2 * m for s, m in zip(problem["roi"]["size"], problem["roi"]["margin"], strict=True)
        )
        heart, heart_source = _heart(row, image, geometry)
        image, origin = roi.crop(image, heart.centre, size, fill=AIR_HU)
        candidates, _ = roi.crop(candidates, heart.centre, size, fill=0)
        mask, _ = roi.crop(mask, heart.centre, size, fill=0)
        heart_region = _heart_region(row, source_shape)
        if heart_region is not None:
            heart_region = roi.crop(heart_region.astype(np.uint8), heart.centre, size, fill=0)[0]
    elif out_shape is not None:
        if any(s > t for s, t in zip(image.shape, out_shape, strict=True)):
            raise PrepareError(
                f"case {row['case_id']}: image shape {image.shape} differs from the first case's "
                f"{out_shape}; 2D problems need one slice size"
            )
        image = pad_to(image, out_shape, AIR_HU)
        candidates = pad_to(candidates, out_shape, 0)
        mask = pad_to(mask, out_shape, 0)
    if not candidates.any():
        log.warning("case %s: candidate mask is empty; its prediction will be 0", row["case_id"])
    return _Case(
        image.astype(np.int16),
        candidates.astype(np.uint8),
        (mask > 0).astype(np.uint8),
        tuple(int(o) for o in origin),
        geometry.spacing,
        source_shape,
        heart,
        heart_source,
        heart_region,
    )


def prepare(
    manifest: pd.DataFrame, split: pd.DataFrame, problem: dict, out_dir: str | Path
) -> pd.DataFrame:
    """Write the prepared arrays of one problem into ``out_dir``; return cases.tsv's table.

    Written to a temporary sibling folder and moved into place at the end, so a failure leaves
    nothing half-written.
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        table = _prepare_into(manifest, split, problem, tmp)
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return table


def _prepare_into(manifest, split, problem, folder: Path) -> pd.DataFrame:
    cases = _ordered_cases(manifest, split)
    dims = problem["spatial_dims"]
    out_shape = None
    if dims == 2:
        first, _ = _read(cases.loc[0, "image"], cases.loc[0, "case_id"], "image", dims)
        out_shape = padded_shape(first.shape)
    else:
        out_shape = tuple(
            s + 2 * m for s, m in zip(problem["roi"]["size"], problem["roi"]["margin"], strict=True)
        )
    n = len(cases)
    arrays = {
        "images": open_memmap(folder / "images.npy", "w+", np.int16, (n, *out_shape)),
        "candidates": open_memmap(folder / "candidates.npy", "w+", np.uint8, (n, *out_shape)),
        "masks": open_memmap(folder / "masks.npy", "w+", np.uint8, (n, *out_shape)),
    }
    regions = [c for c in ("heart_region", "heart_mask") if c in cases]
    if dims == 3 and any(cases[c].astype(bool).any() for c in regions):
        arrays["heart"] = open_memmap(folder / "heart.npy", "w+", np.uint8, (n, *out_shape))
    origins, spacings, source_shapes, hearts = [], [], [], []
    for k, row in cases.iterrows():
        case = _prepare_case(row, problem, out_shape if dims == 2 else None)
        arrays["images"][k] = case.image
        arrays["candidates"][k] = case.candidates
        arrays["masks"][k] = case.mask
        if "heart" in arrays:
            arrays["heart"][k] = 0 if case.heart_region is None else case.heart_region
        origins.append(" ".join(str(o) for o in case.origin))
        spacings.append(format_spacing(case.spacing))
        source_shapes.append(" ".join(str(s) for s in case.source_shape))
        hearts.append(case)
    for array in arrays.values():
        array.flush()
    table = cases[
        ["case_id", "subject_id", "split", "stratum", "value", "agatston", "image", "mask"]
    ].copy()
    table.insert(0, "index", np.arange(n))
    table["spacing"] = spacings
    table["voxel_size"] = [float(np.prod(parse_spacing(s))) for s in spacings]
    table["origin"] = origins
    table["source_shape"] = source_shapes
    table["has_mask"] = cases["mask"].astype(bool).astype(int)
    if dims == 3:
        table["roi_center"] = [" ".join(map(str, c.heart.centre)) for c in hearts]
        table["roi_source"] = [c.heart_source for c in hearts]
        table["roi_confidence"] = [c.heart.confidence for c in hearts]
        table["roi_note"] = [c.heart.note for c in hearts]
        table["has_heart"] = [int(c.heart_region is not None) for c in hearts]
    io.write_table(folder / "cases.tsv", table)
    meta = {
        "spatial_dims": dims,
        "shape": list(out_shape),
        "input_window": list(problem["input_window"]),
        "candidates": problem["candidates"],
        "roi": problem.get("roi"),
        "n_cases": n,
    }
    io.write_json(folder / "meta.json", meta)
    return table


@dataclass(frozen=True)
class Prepared:
    """A problem's prepared arrays (memory-mapped) and case table."""

    images: np.ndarray  # int16 HU, (N, *shape)
    candidates: np.ndarray  # uint8, (N, *shape)
    masks: np.ndarray  # uint8, (N, *shape)
    cases: pd.DataFrame
    meta: dict
    heart: np.ndarray | None = None  # uint8 heart region, (N, *shape); None without heart.npy

    @classmethod
    def load(cls, folder: str | Path) -> "Prepared":
        """Open ``folder`` written by ``rlnet.prepare`` without reading the arrays into memory."""
        folder = Path(folder)
        return cls(
            images=np.load(folder / "images.npy", mmap_mode="r"),
            candidates=np.load(folder / "candidates.npy", mmap_mode="r"),
            masks=np.load(folder / "masks.npy", mmap_mode="r"),
            cases=io.read_table(folder / "cases.tsv"),
            meta=json.loads((folder / "meta.json").read_text()),
            heart=np.load(folder / "heart.npy", mmap_mode="r")
            if (folder / "heart.npy").exists()
            else None,
        )

    @property
    def spatial_dims(self) -> int:
        return int(self.meta["spatial_dims"])

    def indices(self, split: str) -> np.ndarray:
        """Array indices of the cases of one split, in table order."""
        return self.cases.loc[self.cases["split"] == split, "index"].to_numpy()

    def spacing(self, index: int) -> tuple[float, ...]:
        """Voxel size (mm, array axis order) of one case."""
        return tuple(float(v) for v in str(self.cases.loc[index, "spacing"]).split())

    def window(self) -> tuple[int, ...]:
        """Spatial shape the network sees: the ROI for 3D, the padded slice for 2D."""
        roi = self.meta.get("roi")
        return tuple(roi["size"]) if roi else tuple(self.meta["shape"])

    def center_offset(self) -> tuple[int, ...]:
        """Offset of the network window inside the prepared array (the ROI margin; 0 in 2D)."""
        roi = self.meta.get("roi")
        return tuple(roi["margin"]) if roi else (0,) * self.spatial_dims

    def region(self) -> tuple[slice, ...]:
        """Slices of the network window inside a stored case array (spatial axes, array order)."""
        offset, window = self.center_offset(), self.window()
        return tuple(slice(o, o + w) for o, w in zip(offset, window, strict=True))
