"""Every model and learning-free baseline the study knows, in one place (standard library only).

The schema's model enums, the tables' and figures' labels and order, the config checks, the
rules (which models train, which localize, which need reference masks) and the tests read
this registry; nothing tells models apart by their names. Adding a model is one entry here
and, for a trained one, its constructor in ``rlnet.models.registry``.
"""

from dataclasses import dataclass

#: Families: "rl" (RL head: regression with a localization map), "enc" (direct regressors),
#: "seg" (trained on reference masks), "free" (a baseline without learning, rlnet.baselines).
FAMILIES = ("rl", "enc", "seg", "free")


@dataclass(frozen=True)
class Model:
    """One model.

    Attributes:
        label: the paper's label (tables, figures).
        family: one of ``FAMILIES``.
        backbone: the network it is built on ("" for a learning-free baseline); an RL and a
            segmentation model on the same backbone form the paper's comparison (Fig. 12).
        dims: the spatial dimensionalities it runs in.
        multiple: what every spatial input size must be divisible by (its poolings).
    """

    label: str
    family: str
    backbone: str = ""
    dims: tuple[int, ...] = (2, 3)
    multiple: int = 16

    @property
    def trains(self) -> bool:
        """A training job makes it (the learning-free baselines are fitted by rule baseline)."""
        return self.family != "free"

    @property
    def localizes(self) -> bool:
        """It outputs a localization map: RL networks, the segmentation U-Net, every baseline."""
        return self.family in ("rl", "seg", "free")

    @property
    def needs_masks(self) -> bool:
        """It trains on reference masks, so every case of its problem needs one."""
        return self.family == "seg"


#: name -> model, in table order: the learning-free baselines first (their names say "rule"
#: or "candidates", never "baseline", the paper's trained CNN).
MODELS: dict[str, Model] = {
    "candidates": Model("Candidates (calibrated)", "free"),
    "rule": Model("Fixed rule", "free"),
    "heart-rule": Model("Heart-region rule", "free", dims=(3,)),
    "skin-rule": Model("Skin-distance rule", "free", dims=(2,)),
    "baseline": Model("Baseline", "enc", "baseline"),
    "enc-unet": Model("Enc(U-Net)", "enc", "unet"),
    "enc-senet": Model("Enc(SE-Net)", "enc", "senet"),
    "enc-sdnet": Model("Enc(SD-Net)", "enc", "sdnet", multiple=8),
    "rl-unet": Model("RL-U-Net", "rl", "unet"),
    "rl-senet": Model("RL-SE-Net", "rl", "senet"),
    "rl-sdnet": Model("RL-SD-Net", "rl", "sdnet", multiple=8),
    "seg-unet": Model("U-Net (seg)", "seg", "unet"),
}

#: Label of every name, in table order.
MODEL_LABELS: dict[str, str] = {name: m.label for name, m in MODELS.items()}
#: The models a training job makes, in table order.
TRAINED: tuple[str, ...] = tuple(name for name, m in MODELS.items() if m.trains)
#: The baselines without learning, in table order.
BASELINES: tuple[str, ...] = tuple(name for name, m in MODELS.items() if not m.trains)


def model(name: str) -> Model:
    """The registry entry of ``name``; ValueError naming the known models otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def model_family(name: str) -> str:
    """The family of model ``name`` ("rl", "enc", "seg" or "free")."""
    return model(name).family


def in_table_order(models) -> list[str]:
    """``models`` (names) in the registry's order, that of the tables and figures."""
    return sorted(models, key=list(MODELS).index)


def comparison(models: list[str]) -> list[tuple[str, str]]:
    """(RL model, segmentation model) pairs on one backbone among ``models``: the paper's
    RL-Net against a U-Net trained with masks."""
    return [
        (rl, seg)
        for rl in models
        for seg in models
        if model(rl).family == "rl"
        and model(seg).family == "seg"
        and model(rl).backbone == model(seg).backbone
    ]
