"""Segmentation comparison (Sec. III-D): a U-Net trained with masks (soft Dice + BCE); its
biomarker is the area / volume of the map thresholded at 0.5."""

import torch
import torch.nn.functional as F
from torch import nn

from .output import ModelOutput, measure


class SegNet(nn.Module):
    """Wraps a backbone [B, 1, *s] -> sigmoid map [B, 1, *s]. Candidates are ignored.

    The value counts every voxel of the input above 0.5, so a caller that pads must pad with
    content the net maps to background (or crop the localization itself).
    """

    family = "seg"

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.multiple: int = backbone.multiple

    def forward(
        self,
        image: torch.Tensor,
        candidates: torch.Tensor | None,
        voxel_size: torch.Tensor,
    ) -> ModelOutput:
        """image [B, 1, *s], voxel_size [B] -> value [B], binary localization, prob."""
        prob = self.backbone(image)
        localization = (prob > 0.5).to(prob.dtype)
        return ModelOutput(measure(localization, voxel_size), localization, prob)


def seg_loss(prob: torch.Tensor, mask: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss over the whole batch + mean binary cross-entropy, a scalar.

    prob, mask: [B, 1, *s], mask in {0, 1}. Dice is pooled over the batch (not averaged per
    sample) so slices without tumour do not dominate; ``smooth`` keeps it defined when both are
    empty. Computed in float32 outside autocast (BCE on probabilities is unsafe in float16).
    """
    with torch.autocast(prob.device.type, enabled=False):
        prob, mask = prob.float(), mask.float()
        dice = (2 * (prob * mask).sum() + smooth) / (prob.sum() + mask.sum() + smooth)
        return 1 - dice + F.binary_cross_entropy(prob, mask)
