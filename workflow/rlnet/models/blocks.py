"""Building blocks shared by every network, one class for 2D and 3D (``spatial_dims`` 2 or 3).

Feature maps are [B, C, H, W] in 2D and [B, C, D, H, W] in 3D.
"""

import torch
import torch.nn.functional as F
from torch import nn

_LAYERS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "conv": (nn.Conv2d, nn.Conv3d),
    "norm": (nn.BatchNorm2d, nn.BatchNorm3d),
    "pad": (nn.ZeroPad2d, nn.ZeroPad3d),
    "maxpool": (nn.MaxPool2d, nn.MaxPool3d),
}


def layer(kind: str, spatial_dims: int) -> type[nn.Module]:
    """The 2D or 3D class of a layer kind: ``conv``, ``norm``, ``pad`` or ``maxpool``."""
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    return _LAYERS[kind][spatial_dims - 2]


def check_input(x: torch.Tensor, spatial_dims: int, multiple: int) -> None:
    """Raise ValueError unless ``x`` is [B, C, *spatial] with every spatial size divisible by
    ``multiple`` (the product of the network's pooling factors)."""
    if x.ndim != spatial_dims + 2:
        raise ValueError(
            f"a {spatial_dims}D network needs input [B, C, {'D, ' * (spatial_dims == 3)}H, W], "
            f"got shape {tuple(x.shape)}"
        )
    sizes = tuple(x.shape[2:])
    if any(s % multiple for s in sizes):
        raise ValueError(
            f"input of shape {tuple(x.shape)}: spatial sizes {sizes} must be divisible by "
            f"{multiple} (pad or crop to rlnet.models.spatial_multiple(name))"
        )


def spatial_axes(x: torch.Tensor) -> tuple[int, ...]:
    """The spatial axes (2, 3[, 4]) of a [B, C, *spatial] tensor."""
    return tuple(range(2, x.ndim))


def max_pool(
    x: torch.Tensor, return_indices: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Max-pool 2 (halves every spatial size); with ``return_indices`` also the argmax indices."""
    pool = F.max_pool2d if x.ndim == 4 else F.max_pool3d
    return pool(x, 2, return_indices=return_indices)


def max_unpool(x: torch.Tensor, indices: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Inverse of :func:`max_pool`: [B, C, *s] -> [B, C, *size], zeros off the indices."""
    unpool = F.max_unpool2d if x.ndim == 4 else F.max_unpool3d
    return unpool(x, indices, 2, output_size=size)


def upsample(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour up-sampling by 2 along every spatial axis."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class ConvNormAct(nn.Sequential):
    """Convolution (with bias, as Keras' default) [+ batch norm] + ReLU; keeps the spatial size.

    An odd kernel is padded symmetrically; an even one (the decoder's 2x2 convolution) is
    zero-padded by one more voxel after than before each axis, i.e. Keras/TensorFlow
    ``padding="same"`` (k=2: nothing before, one after).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        norm: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        if kernel_size % 2:
            padding = kernel_size // 2
        else:
            side = ((kernel_size - 1) // 2, kernel_size // 2)
            layers.append(layer("pad", spatial_dims)(side * spatial_dims))
            padding = 0
        layers.append(
            layer("conv", spatial_dims)(in_channels, out_channels, kernel_size, 1, padding)
        )
        if norm:
            layers.append(layer("norm", spatial_dims)(out_channels))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DoubleConv(nn.Sequential):
    """Two 3x3(x3) ConvNormAct: [B, in, *s] -> [B, out, *s]."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__(
            ConvNormAct(spatial_dims, in_channels, out_channels),
            ConvNormAct(spatial_dims, out_channels, out_channels),
        )


class SCSE(nn.Module):
    """Concurrent spatial and channel squeeze & excitation (Roy et al. 2018), as in Sec. II-B:
    cSE (global average pool, FC C/2 + ReLU, FC C + sigmoid, scale channels) added to sSE
    (1x1 conv to one channel + sigmoid, scale voxels). [B, C, *s] -> [B, C, *s]."""

    def __init__(self, spatial_dims: int, channels: int) -> None:
        super().__init__()
        hidden = max(channels // 2, 1)
        self.squeeze = nn.Linear(channels, hidden)
        self.excite = nn.Linear(hidden, channels)
        self.spatial = layer("conv", spatial_dims)(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = torch.sigmoid(self.excite(F.relu(self.squeeze(x.mean(spatial_axes(x))))))
        c = c.view(*c.shape, *(1,) * (x.ndim - 2))  # [B, C, 1, 1(, 1)]
        s = torch.sigmoid(self.spatial(x))  # [B, 1, *s]
        return x * (c + s)  # = x * c + x * s, one full-size op fewer
