"""The identity of one training run (problem, model, size, repeat, seed, settings): its seed of
initialisation and data order, and the fingerprint a checkpoint must match to resume."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from rlnet.settings import TrainingSettings, identity, parse


@dataclass(frozen=True)
class RunSpec:
    """Identity of one training run: what goes into the checkpoint and the run metadata.
    ``settings`` may be given as a mapping (the JSON a stage gets): it is parsed into
    TrainingSettings, refusing an unknown or missing key by name."""

    problem: str
    model: str
    n: int | None  # training-set size; None = the whole training split
    rep: int
    seed: int
    settings: TrainingSettings = field(hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.settings, Mapping):
            object.__setattr__(self, "settings", parse(TrainingSettings, self.settings, "training"))

    @property
    def run_seed(self) -> int:
        """Seed of this run's initialisation and data order."""
        text = f"{self.seed}|{self.problem}|{self.model}|{self.n}|{self.rep}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")

    @property
    def fingerprint(self) -> str:
        """Hash of everything that defines the run; a checkpoint must match it to resume. The
        settings enter by their identity (rlnet.settings: an option at its default is left
        out), so adding an option whose default keeps the old behaviour keeps every
        fingerprint."""
        settings = identity(self.settings)
        body = json.dumps(
            [self.problem, self.model, self.n, self.rep, self.seed, settings], sort_keys=True
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]
