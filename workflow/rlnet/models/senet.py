"""scSE-Net of Sec. II-B (2): the U-Net with an scSE block after every encoder level (before
its pooling, so the skip is recalibrated too) and at the end of every decoder level."""

from .unet import UNet, UNetEncoder


class SENetEncoder(UNetEncoder):
    """scSE-Net encoder + bottleneck: [B, 1, *s] -> [B, 16w, *s/16]."""

    def __init__(self, spatial_dims: int, base_width: int) -> None:
        super().__init__(spatial_dims, base_width, scse=True)


class SENet(UNet):
    """scSE-Net: [B, 1, *s] -> sigmoid map [B, 1, *s]; sizes must divide by 16."""

    def __init__(self, spatial_dims: int, base_width: int) -> None:
        super().__init__(spatial_dims, base_width, scse=True)
