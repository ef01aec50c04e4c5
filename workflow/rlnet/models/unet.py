"""U-Net backbone of Sec. II-B (1), optionally with scSE blocks (the scSE-Net, ``senet.py``).

Encoder: 4 x (2 x [conv3 + BN + ReLU] [+ scSE], max-pool 2), widths w, 2w, 4w, 8w; bottleneck
2 x [conv3 + BN + ReLU] of 16w. Decoder: 4 x (nearest up-sampling 2, conv2 + BN + ReLU, concat
with the encoder output of that level, 2 x [conv3 + BN + ReLU] [+ scSE]), widths 8w .. w; a
1x1 conv to one channel + sigmoid. The paper's widths are w = 32 (32 .. 512).
"""

import torch
from torch import nn

from .blocks import SCSE, ConvNormAct, DoubleConv, check_input, layer, max_pool, upsample


def unet_widths(base_width: int) -> tuple[int, ...]:
    """Channel widths of the four levels and the bottleneck: w, 2w, 4w, 8w, 16w."""
    return tuple(base_width * 2**i for i in range(5))


def _level(spatial_dims: int, in_channels: int, out_channels: int, scse: bool) -> nn.Module:
    conv = DoubleConv(spatial_dims, in_channels, out_channels)
    return nn.Sequential(conv, SCSE(spatial_dims, out_channels)) if scse else conv


class UNetEncoder(nn.Module):
    """U-Net encoder + bottleneck: [B, 1, *s] -> [B, 16w, *s/16]. Sizes must divide by 16."""

    multiple = 16

    def __init__(self, spatial_dims: int, base_width: int, scse: bool = False) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        widths = unet_widths(base_width)
        self.levels = nn.ModuleList(
            _level(spatial_dims, cin, cout, scse)
            for cin, cout in zip((1, *widths[:3]), widths[:4], strict=True)
        )
        self.bottleneck = DoubleConv(spatial_dims, widths[3], widths[4])
        self.out_channels = widths[4]

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Bottleneck features and the per-level outputs before pooling (the skips), top first."""
        check_input(x, self.spatial_dims, self.multiple)
        skips = []
        for level in self.levels:
            x = level(x)
            skips.append(x)
            x = max_pool(x)
        return self.bottleneck(x), skips

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]


class UpConcat(nn.Module):
    """Decoder level: up-sample 2, conv2 + BN + ReLU, concat the skip, 2 x conv3 [+ scSE].

    [B, in, *s] and skip [B, out, *2s] -> [B, out, *2s]. With scSE the block is recalibrated
    at its end (after each decoder block, as in Roy et al.'s scSE placement).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, scse: bool) -> None:
        super().__init__()
        self.up_conv = ConvNormAct(spatial_dims, in_channels, out_channels, kernel_size=2)
        self.convs = _level(spatial_dims, 2 * out_channels, out_channels, scse)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([self.up_conv(upsample(x)), skip], dim=1))


class UNet(nn.Module):
    """U-Net (scSE-Net with ``scse=True``): [B, 1, *s] -> sigmoid map [B, 1, *s]."""

    multiple = 16

    def __init__(self, spatial_dims: int, base_width: int, scse: bool = False) -> None:
        super().__init__()
        widths = unet_widths(base_width)
        self.encoder = UNetEncoder(spatial_dims, base_width, scse)
        self.decoder = nn.ModuleList(
            UpConcat(spatial_dims, widths[i + 1], widths[i], scse) for i in reversed(range(4))
        )
        self.head = layer("conv", spatial_dims)(widths[0], 1, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck features [B, 16w, *s/16]."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = self.encoder.features(x)
        for up, skip in zip(self.decoder, reversed(skips), strict=True):
            x = up(x, skip)
        return torch.sigmoid(self.head(x))
