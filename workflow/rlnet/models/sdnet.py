"""SD-Net (skip-deconvolution network) of Sec. II-B (3), also in 3D.

Constant width c = 4 * base_width (the paper's 128 at base_width 32, so one ``base_width``
knob scales every model alike). Encoder: 3 x (2 x [conv3 + BN + ReLU], max-pool 2 keeping the
indices); bottleneck 2 x [conv3 + BN + ReLU]; decoder: 3 x (max-unpool with that level's
indices, conv3 + BN + ReLU, concat with the encoder output of the level, 2 x [conv3 + BN + ReLU]);
1x1 conv to one channel + sigmoid. The paper names only ReLU; batch norm is added as in the
original SD-Net (Roy et al. 2017) and like the other backbones here, so that all train at the
same learning rate from scratch.
"""

import torch
from torch import nn

from .blocks import ConvNormAct, DoubleConv, check_input, layer, max_pool, max_unpool


def sdnet_width(base_width: int) -> int:
    """The constant SD-Net width c = 4 * base_width."""
    return 4 * base_width


class SDNetEncoder(nn.Module):
    """SD-Net encoder + bottleneck: [B, 1, *s] -> [B, c, *s/8]. Sizes must divide by 8."""

    multiple = 8

    def __init__(self, spatial_dims: int, base_width: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        c = sdnet_width(base_width)
        self.levels = nn.ModuleList(DoubleConv(spatial_dims, cin, c) for cin in (1, c, c))
        self.bottleneck = DoubleConv(spatial_dims, c, c)
        self.out_channels = c

    def features(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Bottleneck features, per-level outputs before pooling and pooling indices, top first."""
        check_input(x, self.spatial_dims, self.multiple)
        skips, indices = [], []
        for level in self.levels:
            x = level(x)
            skips.append(x)
            x, idx = max_pool(x, return_indices=True)
            indices.append(idx)
        return self.bottleneck(x), skips, indices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]


class UnpoolConcat(nn.Module):
    """Decoder level: max-unpool with indices, conv3, concat the skip, 2 x conv3.

    [B, c, *s] with indices and skip [B, c, *2s] -> [B, c, *2s].
    """

    def __init__(self, spatial_dims: int, channels: int) -> None:
        super().__init__()
        self.conv = ConvNormAct(spatial_dims, channels, channels)
        self.convs = DoubleConv(spatial_dims, 2 * channels, channels)

    def forward(self, x: torch.Tensor, indices: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.conv(max_unpool(x, indices, skip.shape[2:]))
        return self.convs(torch.cat([x, skip], dim=1))


class SDNet(nn.Module):
    """SD-Net: [B, 1, *s] -> sigmoid map [B, 1, *s]; sizes must divide by 8."""

    multiple = 8

    def __init__(self, spatial_dims: int, base_width: int) -> None:
        super().__init__()
        self.encoder = SDNetEncoder(spatial_dims, base_width)
        c = self.encoder.out_channels
        self.decoder = nn.ModuleList(UnpoolConcat(spatial_dims, c) for _ in range(3))
        self.head = layer("conv", spatial_dims)(c, 1, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck features [B, c, *s/8]."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips, indices = self.encoder.features(x)
        for up, idx, skip in zip(self.decoder, reversed(indices), reversed(skips), strict=True):
            x = up(x, idx, skip)
        return torch.sigmoid(self.head(x))
