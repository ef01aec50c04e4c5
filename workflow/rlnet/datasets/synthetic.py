"""Synthetic source: shards of phantom indices and the manifest built from their tables.

A shard is a contiguous block of phantom indices (cases, or subjects for the abdomen), so
shards can be generated in parallel (``rlnet.datasets.synthesis``) and any shard regenerated
byte-identically. This module runs no phantom code: the manifest stage, which reads shard
tables, does not depend on how the phantoms draw.
"""

from pathlib import Path

import pandas as pd

from rlnet import tsv
from rlnet.datasets.manifest import ManifestError, validate
from rlnet.phantom_registry import n_items, n_shards


def shard_range(settings: dict, shard_size: int, shard: int) -> range:
    """The phantom indices of one shard."""
    total = n_items(settings)
    if not 0 <= shard < n_shards(settings, shard_size):
        raise ValueError(f"shard {shard} out of range for {total} items of {shard_size}")
    return range(shard * shard_size, min(total, (shard + 1) * shard_size))


def read_shard(path: str | Path, source: dict) -> pd.DataFrame:
    """One shard table, checked for rows and for the measure and mask of ``source["target"]``
    (and ``source["candidate_mask"]`` when given). Raises ManifestError naming the shard."""
    table = tsv.read_table(path)
    if table.empty:
        raise ManifestError(f"{path}: shard table has no cases")
    masks = sorted(c.removeprefix("value_") for c in table.columns if c.startswith("value_"))
    for name in (source["target"], source.get("candidate_mask")):
        if name and not {f"value_{name}", f"mask_{name}"} <= set(table.columns):
            raise ManifestError(f"{path}: no mask {name!r} in this shard (it has {masks})")
    return table


def manifest_from_shards(shards: list[pd.DataFrame], source: dict, origin: str) -> pd.DataFrame:
    """The problem manifest selected from the phantom's shard tables.

    ``source`` is the problem's ``source`` config: ``target`` names the mask whose measure is
    the value; ``candidate_mask`` (optional) names a mask used as candidates. A phantom's
    ``heart`` mask becomes the heart_region (the heart-rule baseline's region; the ROI is
    still searched, as for a user's scan without a heart mask).
    """
    table = pd.concat(shards, ignore_index=True)
    target = source["target"]
    out = table[["case_id", "subject_id", "image", "spacing"]].copy()
    out["value"] = table[f"value_{target}"]
    out["mask"] = table[f"mask_{target}"]
    out["candidate_mask"] = (
        table.get(f"mask_{source['candidate_mask']}", "") if "candidate_mask" in source else ""
    )
    out["agatston"] = table.get(f"agatston_{target}", "")
    out["heart_region"] = table.get("mask_heart", "")
    return validate(out, origin)
