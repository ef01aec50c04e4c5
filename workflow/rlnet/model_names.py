"""Model names and their families, standard library only: the Snakefile reads them at parse
time (which runs train from several starts) without importing torch."""

#: Every model name, in table order -> its family ("rl", "enc", "seg"; the built model's
#: ``family``).
FAMILIES: dict[str, str] = {
    "baseline": "enc",
    "enc-unet": "enc",
    "enc-senet": "enc",
    "enc-sdnet": "enc",
    "rl-unet": "rl",
    "rl-senet": "rl",
    "rl-sdnet": "rl",
    "seg-unet": "seg",
}
#: Every model name, in table order.
MODEL_NAMES: tuple[str, ...] = tuple(FAMILIES)


def check_name(name: str) -> None:
    """ValueError naming an unknown model and the known ones."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")


def model_family(name: str) -> str:
    """The family of model ``name`` ("rl", "enc" or "seg") without building it."""
    check_name(name)
    return FAMILIES[name]
