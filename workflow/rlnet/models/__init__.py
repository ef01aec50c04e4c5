"""Networks of the paper (Sec. II-B, II-D) behind one interface:
``build_model(name, spatial_dims, base_width)(image, candidates, voxel_size) -> ModelOutput``."""

from .output import ModelOutput
from .registry import MODEL_NAMES, build_model, model_family, spatial_multiple
from .seg import seg_loss

__all__ = [
    "MODEL_NAMES",
    "ModelOutput",
    "build_model",
    "model_family",
    "seg_loss",
    "spatial_multiple",
]
