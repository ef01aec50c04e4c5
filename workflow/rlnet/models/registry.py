"""Trained models' constructors, by the names of ``rlnet.model_registry``."""

from collections.abc import Callable

from torch import nn

from rlnet.model_registry import TRAINED as MODEL_NAMES
from rlnet.model_registry import model, model_family

from .encoders import BaselineEncoder, EncoderRegressor
from .rl import RLNet
from .sdnet import SDNet, SDNetEncoder
from .seg import SegNet
from .senet import SENet, SENetEncoder
from .unet import UNet, UNetEncoder

__all__ = ["MODEL_NAMES", "build_model", "model_family", "spatial_multiple"]

#: name -> constructor(spatial_dims, base_width, output_bias), one per trained model of the
#: registry (tests/test_models.py checks both ways).
_FACTORIES: dict[str, Callable[[int, int, float], nn.Module]] = {
    "baseline": lambda d, w, b: EncoderRegressor(BaselineEncoder(d, w)),
    "enc-unet": lambda d, w, b: EncoderRegressor(UNetEncoder(d, w)),
    "enc-senet": lambda d, w, b: EncoderRegressor(SENetEncoder(d, w)),
    "enc-sdnet": lambda d, w, b: EncoderRegressor(SDNetEncoder(d, w)),
    "rl-unet": lambda d, w, b: RLNet(UNet(d, w), b),
    "rl-senet": lambda d, w, b: RLNet(SENet(d, w), b),
    "rl-sdnet": lambda d, w, b: RLNet(SDNet(d, w), b),
    "seg-unet": lambda d, w, b: SegNet(UNet(d, w)),
}


def build_model(
    name: str, spatial_dims: int, base_width: int, *, output_bias: float = -2.0
) -> nn.Module:
    """A freshly initialised model (uses torch's global RNG: seed it first).

    ``spatial_dims`` 2 or 3; ``base_width`` w (32 in the paper): U-Net / scSE-Net widths
    w .. 16w, SD-Net width 4w, baseline w .. 8w. ``output_bias`` is the initial bias of the RL
    models' last layer (ignored by the others; training sets it from the data, see
    ``rlnet.training.targets.auto_output_bias``). Every model is called as
    ``model(image, candidates, voxel_size) -> ModelOutput`` and has ``family`` ("rl", "enc",
    "seg") and ``multiple`` attributes (the loss follows the family: rlnet.training.loop).
    """
    _check_trained(name)
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    if base_width < 1:
        raise ValueError(f"base_width must be a positive integer, got {base_width!r}")
    return _FACTORIES[name](spatial_dims, base_width, output_bias)


def spatial_multiple(name: str) -> int:
    """What every spatial input size of model ``name`` must be divisible by (its registry
    entry's ``multiple``: 8 for the SD-Net models, 3 poolings; 16 otherwise, 4 poolings; the
    3D baseline needs only 8 but 16 is safe for it in both dimensionalities)."""
    _check_trained(name)
    return model(name).multiple


def _check_trained(name: str) -> None:
    """ValueError naming an unknown or untrained model and the trained ones."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")
