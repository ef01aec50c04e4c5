"""Prepare a problem for training: images, candidates and reference masks on its training grid.

Outputs (in one folder, memory-mappable ``.npy``, cases in split order train, val, test):
    images.npy      int16 HU, (N, *shape)
    candidates.npy  uint8 {0,1}, (N, *shape)
    masks.npy       uint8 {0,1} reference masks (zeros where a case has none), (N, *shape)
    heart.npy       uint8 {0,1} heart region on the grid, (N, *shape), in 3D when some case
                    has a heart_region or heart_mask (the heart-rule baseline's; its
                    heart_region, else its heart_mask; zeros where a case has neither:
                    cases.tsv ``has_heart``); otherwise an empty array (0,): always written,
                    so it is a declared output whose provenance the audit checks
    cases.tsv       one row per array index: ids, split, stratum, value, the grid's voxel size
                    (``spacing``, ``voxel_size``) and where the array lies (``grid_origin``, mm,
                    array order: voxel 0's position; its axes are the source's), the source's
                    spacing and shape; 3D: the heart centre, its source and confidence, has_heart
    meta.json       shapes, the grid, ROI settings, HU windows

Every case reaches the networks at the problem's training grid (``rlnet.grid``: the settings'
``grid``, ``rlnet.config.problem_grid``), whatever its own pixel size and size, in any case
order: 2D slices are resampled to ``grid.spacing`` and centre-cropped or padded with air to
``grid.shape``; 3D volumes give a fixed ROI (``roi.size`` + 2 x ``roi.margin`` voxels at
``grid.spacing``) centred on the heart: the manifest's ``roi_center`` ("z y x" source voxels),
else the centroid of its ``heart_mask``, else the centre ``rlnet.heart_search.find_heart``
finds on the source image (with a confidence; below its ``LOW_CONFIDENCE`` a warning names the
case). The margin leaves room for displacement augmentation. Reference values stay as the
manifest gives them; an area or volume measured on the arrays uses the grid's voxel size.

HU candidates are thresholds of the resampled CT, not a resampled mask of the source's
thresholds: the candidates are then exactly the network input's voxels in the HU range (the
RL head multiplies its map with them), and an opening's radius (voxels) means the same on
every case. A given candidate mask (liver) is resampled like the reference (nearest
neighbour); with an HU range as well, only its voxels in the range are candidates. Grid voxels
beyond the source image are never candidates. A heart region is resampled like the reference.
"""

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.format import open_memmap

from rlnet import atomic, heart_search, io, tsv
from rlnet import grid as grids
from rlnet.candidates import hu_candidates
from rlnet.datasets.manifest import format_spacing, parse_roi_center, parse_spacing
from rlnet.split import SPLITS

log = logging.getLogger(__name__)

AIR_HU = -1000


class PrepareError(ValueError):
    """A case that cannot be prepared; the message names the case and file."""


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
    """One case's arrays on the grid and the geometry facts that go in cases.tsv."""

    image: np.ndarray
    candidates: np.ndarray
    mask: np.ndarray
    placed: io.Geometry  # the grid array's geometry (voxel 0's position, grid spacing)
    source_spacing: tuple[float, ...]
    source_shape: tuple[int, ...]  # shape of the source image
    heart: heart_search.HeartSearch | None = (
        None  # 3D: the ROI centre (source voxels), how it was found
    )
    heart_source: str = ""  # roi_center | heart_mask | search
    heart_region: np.ndarray | None = None  # 3D: the heart region on the grid, or None


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


def _read_mask(row: pd.Series, column: str, what: str, image: np.ndarray, dims: int):
    """A case's mask of the image's shape (its ``column``); PrepareError naming it otherwise."""
    mask = _read(row[column], row["case_id"], what, dims)[0]
    if mask.shape != image.shape:
        raise PrepareError(
            f"case {row['case_id']}: {what} {row[column]} shape {mask.shape} != image {image.shape}"
        )
    return mask


def _heart_region(
    row: pd.Series, image: np.ndarray, source: io.Geometry, placed: io.Geometry, grid: grids.Grid
) -> np.ndarray | None:
    """The heart region of a 3D case on the grid (its heart_region, else its heart_mask;
    nearest neighbour), or None without either."""
    column = "heart_region" if row.get("heart_region") else "heart_mask"
    if not row.get(column):
        return None
    region = _read_mask(row, column, column, image, 3) > 0
    return grids.sample(region.astype(np.uint8), source, placed, grid.shape, mask=True, fill=0)


def _candidates(
    row: pd.Series,
    problem: dict,
    image: np.ndarray,
    source: io.Geometry,
    grid: grids.Grid,
    centre: tuple[int, ...],
    on_grid: np.ndarray,
) -> np.ndarray:
    """The candidate mask on the grid: the given mask resampled, the HU range of the CT on the
    grid, or both (the given mask's voxels in the HU range); 0 beyond the source image."""
    cand_cfg = problem["candidates"]
    placed = grids.placement(source, grid, centre)
    inside = np.broadcast_to(np.uint8(1), image.shape)  # no memory: a view of one value
    found = grids.sample(inside, source, placed, grid.shape, mask=True, fill=0)
    if "mask" in cand_cfg:
        if not row["candidate_mask"]:
            raise PrepareError(f"case {row['case_id']}: no candidate_mask path in the manifest")
        given = _read_mask(row, "candidate_mask", "candidate mask", image, problem["spatial_dims"])
        found &= grids.sample(given, source, placed, grid.shape, mask=True, fill=0)
    if "hu" in cand_cfg:
        found &= _hu_candidates(cand_cfg, image, source, grid, centre, on_grid)
    return found


def _hu_candidates(
    cand_cfg: dict,
    image: np.ndarray,
    source: io.Geometry,
    grid: grids.Grid,
    centre: tuple[int, ...],
    on_grid: np.ndarray,
) -> np.ndarray:
    """The HU range of the CT on the grid (``on_grid``; with an opening, the CT on a grid
    widened by twice its radius, so that the opening sees beyond the grid's edge as it would
    on the whole image)."""
    radius = int(cand_cfg.get("opening_radius", 0))
    ct = on_grid
    if radius:
        wide = grids.Grid(grid.spacing, tuple(s + 4 * radius for s in grid.shape))
        wide_placed = grids.placement(source, wide, centre)
        ct = grids.sample(image, source, wide_placed, wide.shape, mask=False, fill=AIR_HU)
    found = hu_candidates(ct, cand_cfg["hu"], radius)
    inner = tuple(slice(2 * radius, 2 * radius + s) for s in grid.shape)
    return found[inner]


def _prepare_case(row: pd.Series, problem: dict, grid: grids.Grid) -> _Case:
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
    mask = _read_mask(row, "mask", "mask", image, dims) if row["mask"] else None
    heart, heart_source, heart_region = None, "", None
    if dims == 3:
        heart, heart_source = _heart(row, image, geometry)
        centre = tuple(heart.centre)
    else:
        centre = tuple(s // 2 for s in image.shape)
    placed = grids.placement(geometry, grid, centre)
    on_grid = grids.sample(image, geometry, placed, grid.shape, mask=False, fill=AIR_HU)
    candidates = _candidates(row, problem, image, geometry, grid, centre, on_grid)
    if dims == 3:
        heart_region = _heart_region(row, image, geometry, placed, grid)
    if not candidates.any():
        log.warning("case %s: candidate mask is empty; its prediction will be 0", row["case_id"])
    if mask is None:
        reference = np.zeros(grid.shape, np.uint8)
    else:
        reference = grids.sample(mask, geometry, placed, grid.shape, mask=True, fill=0)
    return _Case(
        on_grid.astype(np.int16),
        candidates.astype(np.uint8),
        (reference > 0).astype(np.uint8),
        io.Geometry(grid.spacing, placed.origin, placed.direction),
        geometry.spacing,
        image.shape,
        heart,
        heart_source,
        heart_region,
    )


def _millimetres(values) -> str:
    """Positions (mm) as 'a b c', precise to well below a micrometre."""
    return " ".join(f"{float(v):.10g}" for v in values)


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
    grid = grids.Grid.of_settings(problem)
    n = len(cases)
    arrays = {
        "images": open_memmap(folder / "images.npy", "w+", np.int16, (n, *grid.shape)),
        "candidates": open_memmap(folder / "candidates.npy", "w+", np.uint8, (n, *grid.shape)),
        "masks": open_memmap(folder / "masks.npy", "w+", np.uint8, (n, *grid.shape)),
    }
    regions = [c for c in ("heart_region", "heart_mask") if c in cases]
    if dims == 3 and any(cases[c].astype(bool).any() for c in regions):
        arrays["heart"] = open_memmap(folder / "heart.npy", "w+", np.uint8, (n, *grid.shape))
    else:
        np.save(folder / "heart.npy", np.zeros(0, np.uint8))
    prepared = []
    for k, row in cases.iterrows():
        case = _prepare_case(row, problem, grid)
        arrays["images"][k] = case.image
        arrays["candidates"][k] = case.candidates
        arrays["masks"][k] = case.mask
        if "heart" in arrays:
            arrays["heart"][k] = 0 if case.heart_region is None else case.heart_region
        prepared.append(case)
    for array in arrays.values():
        array.flush()
    table = cases[
        ["case_id", "subject_id", "split", "stratum", "value", "agatston", "image", "mask"]
    ].copy()
    table.insert(0, "index", np.arange(n))
    table["spacing"] = format_spacing(grid.spacing)
    table["voxel_size"] = float(np.prod(parse_spacing(format_spacing(grid.spacing))))
    table["grid_origin"] = [_millimetres(c.placed.origin) for c in prepared]
    table["source_spacing"] = [format_spacing(c.source_spacing) for c in prepared]
    table["source_shape"] = [" ".join(str(s) for s in c.source_shape) for c in prepared]
    table["has_mask"] = cases["mask"].astype(bool).astype(int)
    if dims == 3:
        table["roi_center"] = [" ".join(map(str, c.heart.centre)) for c in prepared]
        table["roi_source"] = [c.heart_source for c in prepared]
        table["roi_confidence"] = [c.heart.confidence for c in prepared]
        table["roi_note"] = [c.heart.note for c in prepared]
        table["has_heart"] = [int(c.heart_region is not None) for c in prepared]
    tsv.write_table(folder / "cases.tsv", table)
    meta = {
        "spatial_dims": dims,
        "shape": list(grid.shape),
        "grid": {"spacing": list(grid.spacing), "shape": list(grid.shape)},
        "input_window": list(problem["input_window"]),
        "candidates": problem["candidates"],
        "roi": problem.get("roi"),
        "n_cases": n,
    }
    atomic.write_json(folder / "meta.json", meta)
    return table


def _heart_array(path: Path) -> np.ndarray | None:
    """heart.npy memory-mapped, or None where it is empty or absent (no case has a region)."""
    if not path.exists():
        return None
    heart = np.load(path, mmap_mode="r")
    return heart if heart.size else None


@dataclass(frozen=True)
class Prepared:
    """A problem's prepared arrays (memory-mapped) and case table."""

    images: np.ndarray  # int16 HU, (N, *shape)
    candidates: np.ndarray  # uint8, (N, *shape)
    masks: np.ndarray  # uint8, (N, *shape)
    cases: pd.DataFrame
    meta: dict
    heart: np.ndarray | None = None  # uint8 heart region, (N, *shape); None without one

    @classmethod
    def load(cls, folder: str | Path) -> "Prepared":
        """Open ``folder`` written by ``rlnet.prepare`` without reading the arrays into memory."""
        folder = Path(folder)
        return cls(
            images=np.load(folder / "images.npy", mmap_mode="r"),
            candidates=np.load(folder / "candidates.npy", mmap_mode="r"),
            masks=np.load(folder / "masks.npy", mmap_mode="r"),
            cases=tsv.read_table(folder / "cases.tsv"),
            meta=json.loads((folder / "meta.json").read_text()),
            heart=_heart_array(folder / "heart.npy"),
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
        """Spatial shape the network sees: the ROI for 3D, the grid's slice for 2D."""
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
