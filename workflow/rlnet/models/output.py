"""The uniform model output and the map-to-biomarker sum."""

from typing import NamedTuple

import torch


class ModelOutput(NamedTuple):
    """What every model returns.

    value: [B] biomarker in its units (mm^2 in 2D, mm^3 in 3D; the target's units for Enc).
    localization: [B, 1, *spatial] localization mask (RL: soft, Seg: binary), None for Enc.
    prob: [B, 1, *spatial] the backbone's sigmoid map, None for Enc.
    """

    value: torch.Tensor
    localization: torch.Tensor | None
    prob: torch.Tensor | None


def measure(mask: torch.Tensor, voxel_size: torch.Tensor) -> torch.Tensor:
    """Sum of a [B, 1, *spatial] map times the per-sample pixel area / voxel volume [B] -> [B].

    Summed in float32 even from a float16 map (a 3D map's sum can exceed float16's range).
    """
    if voxel_size.shape != mask.shape[:1]:
        raise ValueError(
            f"voxel_size must have shape [B] = {tuple(mask.shape[:1])}, "
            f"got {tuple(voxel_size.shape)}"
        )
    return mask.flatten(1).sum(1, dtype=torch.float32) * voxel_size
