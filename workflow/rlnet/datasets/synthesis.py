"""Synthesis: phantom cases of one shard written as NIfTI images and masks plus a shard table.

Images go to ``out_dir/images/{case}.nii.gz`` (int16 HU), masks to
``out_dir/masks/{case}_{mask}.nii.gz`` (uint8); every draw derives from (seed, phantom, index).
"""

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from rlnet import biomarkers, codebase, io
from rlnet import phantom_registry as registry
from rlnet.datasets.manifest import format_spacing
from rlnet.phantoms import PhantomCase


def _kwargs(settings: dict, names: tuple[str, ...]) -> dict:
    return {
        k: tuple(settings[k]) if isinstance(settings[k], list) else settings[k]
        for k in names
        if k in settings
    }


def generator(phantom: str, settings: dict, seed: int) -> Callable[[int], list[PhantomCase]]:
    """A function index -> the phantom cases of that index (one, or one subject's slices)."""
    entry = registry.phantom(phantom)
    module = importlib.import_module(f"{codebase.PHANTOM_PACKAGE}.{entry.module}")
    kw = _kwargs(settings, entry.settings)
    if entry.per_subject:
        return lambda i: module.generate_subject(seed, i, **kw)
    return lambda i: [module.generate(seed, i, **kw)]


def _case_ids(cases: list[PhantomCase]) -> Iterator[str]:
    if len(cases) == 1:
        yield cases[0].subject_id
    else:
        for k, case in enumerate(cases):
            yield f"{case.subject_id}_s{k:02d}"


def write_shard(
    phantom: str,
    settings: dict,
    seed: int,
    indices: range,
    out_dir: str | Path,
    agatston_kw: dict | None = None,
) -> pd.DataFrame:
    """Generate and write the cases of ``indices``; return the shard table.

    Images go to ``out_dir/images/{case}.nii.gz`` (int16 HU), masks to
    ``out_dir/masks/{case}_{mask}.nii.gz`` (uint8). Columns: case_id, subject_id, image,
    spacing, then per mask ``mask_{name}`` (path) and ``value_{name}`` (mm^2 or mm^3), and per
    calcium mask of the phantom (registry) ``agatston_{name}`` (its score in the image).
    """
    out_dir = Path(out_dir)
    make = generator(phantom, settings, seed)
    calcium = registry.phantom(phantom).calcium
    rows = []
    for index in indices:
        cases = make(index)
        for case_id, case in zip(_case_ids(cases), cases, strict=True):
            rows.append(_write_case(case_id, case, out_dir, calcium, agatston_kw or {}))
    return pd.DataFrame(rows)


def _write_case(
    case_id: str, case: PhantomCase, out_dir: Path, calcium: tuple[str, ...], agatston_kw: dict
) -> dict:
    image_path = out_dir / "images" / f"{case_id}.nii.gz"
    io.write_image(image_path, case.image, case.spacing)
    row: dict = {
        "case_id": case_id,
        "subject_id": case.subject_id,
        "image": str(image_path),
        "spacing": format_spacing(case.spacing),
    }
    for name, mask in case.masks.items():
        mask_path = out_dir / "masks" / f"{case_id}_{name}.nii.gz"
        io.write_image(mask_path, mask.astype("uint8"), case.spacing)
        row[f"mask_{name}"] = str(mask_path)
        row[f"value_{name}"] = biomarkers.measure(mask, case.spacing)
    for name in calcium:
        row[f"agatston_{name}"] = biomarkers.agatston(
            case.image, case.masks[name], case.spacing, **agatston_kw
        )
    for key, value in case.extras.items():
        row[f"extra_{key}"] = value
    return row
