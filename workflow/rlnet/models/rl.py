"""The RL head of Sec. II-B (Fig. 1): localization = ReLU(sigmoid map x candidates), biomarker =
sum of the localization x pixel area (2D, mm^2) or voxel volume (3D, mm^3); trained with L2."""

import torch
import torch.nn.functional as F
from torch import nn

from .output import ModelOutput, measure


class RLNet(nn.Module):
    """Wraps a backbone [B, 1, *s] -> sigmoid map [B, 1, *s] (U-Net, scSE-Net, SD-Net).

    The backbone's last 1x1 conv bias starts at ``output_bias``. With the map at sigmoid(b)
    everywhere the first prediction is sigmoid(b) x the candidate measure, so training sets b
    from the training split (``training.output_bias: auto``,
    ``rlnet.training.targets.auto_output_bias``) to start at the mean training target. The
    starting level also survives as a floor over non-target candidates, so it shapes the
    localization (config/README.md, ``output_bias``). The ReLU is the paper's; it is the
    identity for {0, 1} candidates and kept so that any non-negative-weighted candidate map works.
    """

    family = "rl"

    def __init__(self, backbone: nn.Module, output_bias: float = -2.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.multiple: int = backbone.multiple
        nn.init.constant_(backbone.head.bias, output_bias)

    def forward(
        self, image: torch.Tensor, candidates: torch.Tensor, voxel_size: torch.Tensor
    ) -> ModelOutput:
        """image, candidates [B, 1, *s]; voxel_size [B] -> value [B], localization, prob."""
        if candidates.shape != image.shape:
            raise ValueError(
                f"candidates shape {tuple(candidates.shape)} != image shape {tuple(image.shape)}"
            )
        prob = self.backbone(image)
        localization = F.relu(prob * candidates)
        return ModelOutput(measure(localization, voxel_size), localization, prob)
