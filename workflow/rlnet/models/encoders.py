"""Direct regressors of Sec. II-D: an encoder, then FC 512 + ReLU, FC 512 + ReLU, one linear unit.

The encoder's bottleneck features are globally average-pooled (adaptive pooling to a 1-voxel
grid) before the fully connected layers, instead of flattened: the head is then independent of
the input size (a flattened 512 x 32 x 32 bottleneck at 512 x 512 would need 268 M weights in the
first FC layer alone). The linear unit predicts the target divided by ``target_scale`` (a buffer,
1.0 until the trainer sets it to the training-set mean), so the net learns a target near 1.
"""

import torch
from torch import nn

from .blocks import ConvNormAct, check_input, layer, spatial_axes
from .output import ModelOutput


class BaselineEncoder(nn.Module):
    """Plain conv-maxpool encoder: blocks of conv3 + ReLU + max-pool 2, no batch norm.

    2D: 4 blocks of widths w, 2w, 4w, 8w; 3D: the 3-block encoder of the paper's ref. [2]
    (CAC), widths w, 2w, 4w. [B, 1, *s] -> [B, 8w or 4w, *s/16 or *s/8].
    """

    def __init__(self, spatial_dims: int, base_width: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        n_blocks = 4 if spatial_dims == 2 else 3
        widths = [base_width * 2**i for i in range(n_blocks)]
        self.multiple = 2**n_blocks
        self.blocks = nn.Sequential(
            *(
                nn.Sequential(
                    ConvNormAct(spatial_dims, cin, cout, norm=False),
                    layer("maxpool", spatial_dims)(2),
                )
                for cin, cout in zip((1, *widths[:-1]), widths, strict=True)
            )
        )
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.multiple)
        return self.blocks(x)


class RegressionHead(nn.Sequential):
    """[B, C] pooled features -> FC 512 + ReLU -> FC 512 + ReLU -> linear 1 -> [B, 1]."""

    def __init__(self, in_features: int, hidden: int = 512) -> None:
        super().__init__(
            nn.Linear(in_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )


class EncoderRegressor(nn.Module):
    """Enc(backbone) or the baseline: image -> biomarker, trained with MAE.

    ``encoder`` maps [B, 1, *s] to [B, encoder.out_channels, *s'] and checks its input size.
    Candidates and voxel size are accepted for the uniform interface and ignored.
    """

    family = "enc"
    target_scale: torch.Tensor

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.multiple: int = encoder.multiple
        self.head = RegressionHead(encoder.out_channels)
        self.register_buffer("target_scale", torch.tensor(1.0))

    def forward(
        self,
        image: torch.Tensor,
        candidates: torch.Tensor | None = None,
        voxel_size: torch.Tensor | None = None,
    ) -> ModelOutput:
        features = self.encoder(image)
        value = self.head(features.mean(spatial_axes(features))).squeeze(1) * self.target_scale
        return ModelOutput(value=value, localization=None, prob=None)
