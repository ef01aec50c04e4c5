"""Typed settings: what training, prediction and evaluation read, as frozen dataclasses.

The Snakefile builds them from the validated config (``rlnet.config``) and passes their
:func:`identity` as JSON on a stage's command line; the stage parses the JSON back with
:func:`parse`, which refuses an unknown or missing key by name, so a typo fails loudly.

**Identity.** A field without a default is always part of a settings object's identity; a
field with a default (an option added later, whose default reproduces the behaviour from
before it existed) only where it is set to something else. A rule's params (Snakemake's
rerun trigger) and a training run's fingerprint are hashed over the identity, so adding such
an option changes neither: runs made before it rerun nothing and their checkpoints resume.

Standard library only: the Snakefile imports it at parse time.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """Settings that do not fit their dataclass: ``key`` (dotted) and what is wrong with it."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"settings key '{key}': {reason}")
        self.key, self.reason = key, reason


def parse(cls: type[T], data: Mapping, where: str = "settings") -> T:
    """``data`` as an instance of the settings dataclass ``cls``: every key a field (nested
    dataclasses parsed likewise, lists made tuples), every field without a default present.
    SettingsError naming ``where`` and the key otherwise."""
    if not isinstance(data, Mapping):
        raise SettingsError(where, f"expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise SettingsError(f"{where}.{unknown[0]}", f"not a setting (known: {known})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, spec in fields.items():
        if name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise SettingsError(f"{where}.{name}", "missing")
            continue
        values[name] = _value(hints[name], data[name], f"{where}.{name}")
    return cls(**values)


def _value(hint: Any, value: Any, where: str) -> Any:
    """``value`` for a field typed ``hint``: a nested settings dataclass parsed, a list a
    tuple; anything else as given (the schema checked its type)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    nested = [t for t in options if dataclasses.is_dataclass(t)]
    if nested:
        return parse(nested[0], value, where)
    if isinstance(value, list):
        return tuple(value)
    return value


def identity(settings: Any) -> dict:
    """What defines ``settings``: every field without a default, and each field with one
    whose value differs from it; nested settings by their identity, tuples as lists."""
    out = {}
    for spec in dataclasses.fields(settings):
        value = getattr(settings, spec.name)
        if spec.default is not dataclasses.MISSING and value == spec.default:
            continue
        if dataclasses.is_dataclass(value):
            value = identity(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[spec.name] = value
    return out


def to_json(settings: Any) -> str:
    """The identity of ``settings`` as compact JSON with sorted keys (a rule's param and a
    stage's argument)."""
    return json.dumps(identity(settings), sort_keys=True, separators=(",", ":"))


@dataclasses.dataclass(frozen=True)
class LearningRates:
    """Adam learning rate per model family."""

    rl: float
    enc: float
    seg: float

    def of(self, family: str) -> float:
        """The rate of ``family`` (rl, enc or seg)."""
        return getattr(self, family)


@dataclasses.dataclass(frozen=True)
class Augment:
    """Random augmentation of training samples: 2D rotation (degrees) and translation per axis
    (mm); 3D displacement of the ROI centre within a sphere (radius, mm)."""

    rotation_deg: float
    translation_mm: float
    displacement_mm: float


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """One run's training settings (``rlnet.config.training_settings``: the config's training
    block, the problem's and the model's overrides, the biomarker's score). The keys are the
    schema's ``training`` keys (config/README.md); ``score`` is the biomarker's,
    ``equal_steps`` the sweep's (subset runs only), ``output_bias_shift`` a start's."""

    max_epochs: int
    patience: int
    batch_size: int
    base_width: int
    output_bias: float | str  # a number, or "auto"
    output_bias_starts: tuple[float, ...]
    target_transform: str
    direct_loss: str
    lr: LearningRates
    augment: Augment
    amp: str
    num_workers: int
    score: str
    equal_steps: bool = False
    output_bias_shift: float = 0.0

    @classmethod
    def from_json(cls, text: str) -> TrainingSettings:
        """Parse the JSON a stage gets (SettingsError naming the key)."""
        return parse(cls, json.loads(text), "training")


@dataclasses.dataclass(frozen=True)
class AgatstonSettings:
    """How an Agatston score is computed (``evaluation.agatston``): in-plane lesion
    connectivity (4 or 8) and the smallest lesion kept, mm^2."""

    connectivity: int
    min_lesion_mm2: float

    def kwargs(self) -> dict:
        """As keyword arguments of ``rlnet.biomarkers.agatston``."""
        return dataclasses.asdict(self)
