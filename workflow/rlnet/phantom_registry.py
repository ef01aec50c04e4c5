"""The phantoms the synthetic source draws: one entry each, in one place.

Standard library only, so config validation, the CLI, the rules (at parse time) and
``rlnet.codebase`` read it without importing numpy or any phantom code. Synthesis imports the
entry's module by name (``rlnet.phantoms.<module>``) and passes it the entry's settings.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Phantom:
    """One phantom.

    Attributes:
        module: the module of ``rlnet.phantoms`` that draws it.
        masks: the reference masks it writes (targets and candidate masks a problem may use).
        spatial_dims: 2 (slices) or 3 (volumes).
        settings: keys of ``phantoms.<name>`` passed to its drawing function.
        per_subject: True when one index draws a subject's several cases
            (``generate_subject``), False for one case (``generate``).
        calcium: the masks holding calcium: the shard records each one's Agatston score
            (``agatston_<mask>``), the reference of a problem whose biomarker is ``agatston``.
    """

    module: str
    masks: tuple[str, ...]
    spatial_dims: int
    settings: tuple[str, ...]
    per_subject: bool = False
    calcium: tuple[str, ...] = ()


PHANTOMS: dict[str, Phantom] = {
    "chest": Phantom(
        "chest", ("pectoralis", "subcutaneous_fat"), 2, ("shape", "spacing", "noise_hu", "blur_px")
    ),
    "heart": Phantom(
        "heart",
        ("cac", "heart"),
        3,
        ("shape", "spacing", "noise_hu", "risk_group_probs"),
        calcium=("cac",),
    ),
    "abdomen": Phantom(
        "liver",
        ("liver", "tumour"),
        2,
        ("slices", "shape", "spacing", "noise_hu", "blur_px"),
        per_subject=True,
    ),
}


def phantom(name: str) -> Phantom:
    """The registry entry of ``name``; ValueError listing the known phantoms otherwise."""
    try:
        return PHANTOMS[name]
    except KeyError:
        raise ValueError(f"unknown phantom {name!r}; known: {', '.join(PHANTOMS)}") from None


def n_items(settings: dict) -> int:
    """Number of phantom indices (cases, or subjects for the abdomen) in a phantom's config."""
    return int(settings.get("n_cases", settings.get("n_subjects", 0)))


def n_shards(settings: dict, shard_size: int) -> int:
    """How many shards (synthesis jobs) a phantom's indices are split into."""
    return -(-n_items(settings) // shard_size)
