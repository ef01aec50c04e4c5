"""One declaration per stage: its command-line arguments, the rule's command line, and which
arguments name the files it reads and writes (its provenance).

A stage is a function decorated with ``@stage(name, help, *arguments)``. Each argument says
its role:

    inp       a file (or files) the stage reads; the rule passes ``{input.<dest>}``
    out       a file (or folder) the stage writes; the rule passes ``{output.<dest>}``
    param     a setting; the rule passes ``{params.<dest>:q}``
    wildcard  part of the job's identity; the rule passes ``{wildcards.<dest>}``
    option    the command line only (the rules leave the default)

A param's value must not be an empty string (Snakemake's ``:q`` leaves nothing of it, and the
flag would take the next flag as its value): use a word such as ``none``.

So ``Stage.command()`` writes the rule's command line, ``Stage.inputs``/``outputs`` the
provenance names (rlnet.cli.records), and ``Stage.add_to`` the argparse sub-command, from the
same list. A rule's input, output and params keys are the arguments' dests.
"""

import argparse
import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rlnet.settings import AgatstonSettings, SettingsError, parse

ROLES = ("input", "output", "param", "wildcard", "option")
PLACEHOLDERS = {
    "input": "{{input.{}:q}}",
    "output": "{{output.{}:q}}",
    "param": "{{params.{}:q}}",
    "wildcard": "{{wildcards.{}}}",
}


@dataclass(frozen=True)
class Arg:
    """One command-line argument of a stage.

    Attributes:
        flag: ``--name`` (or a positional name, for options only).
        role: one of ``ROLES`` (module docstring).
        options: argparse keywords (type, nargs, required, default, choices, help).
        records: provenance names beyond the argument itself: ``.ext`` the file with that
            suffix beside it, ``@files`` the files a table lists, ``:key`` (and
            ``:key@files``) the path under ``key`` of a JSON argument.
        replaced: an output folder the stage replaces whole, its records with it: they are
            not cleared before the run (a failed run leaves the previous folder as it was).
    """

    flag: str
    role: str
    options: dict = field(default_factory=dict)
    records: tuple[str, ...] = ()
    replaced: bool = False

    @property
    def dest(self) -> str:
        """The argparse dest, the rule's key and the provenance name."""
        return self.flag.lstrip("-").replace("-", "_")

    def names(self) -> tuple[str, ...]:
        """Provenance names (rlnet.cli.records.paths): the argument's own (files only) and
        its ``records``."""
        own = (self.dest,) if self.role in ("input", "output") else ()
        return own + tuple(f"{self.dest}{suffix}" for suffix in self.records)


def inp(flag: str, *, listed: bool = False, **options) -> Arg:
    """A file the stage reads (a Path, required unless ``options`` say otherwise);
    ``listed``: the files the table lists are inputs too."""
    return Arg(flag, "input", {"type": Path, "required": True, **options}, _listed(listed))


def out(
    flag: str,
    *,
    beside: tuple[str, ...] = (),
    listed: bool = False,
    replaced: bool = False,
    **options,
) -> Arg:
    """A file or folder the stage writes; ``beside``: suffixes of files written next to it
    (``(".png", ".json")``); ``listed``: the table lists files the stage wrote; ``replaced``:
    a folder the stage replaces whole (its files at every depth are recorded)."""
    records = tuple(beside) + _listed(listed)
    options = {"type": Path, "required": True, **options}
    return Arg(flag, "output", options, records, replaced)


def param(flag: str, *, records: tuple[str, ...] = (), **options) -> Arg:
    """A setting the rule passes (required unless given a default)."""
    return Arg(flag, "param", {"required": "default" not in options, **options}, records)


def wildcard(flag: str, **options) -> Arg:
    """Part of the job's identity, from its wildcards (required unless given a default)."""
    return Arg(flag, "wildcard", {"required": "default" not in options, **options})


def option(flag: str, **options) -> Arg:
    """An argument of the command line only: the rules leave its default."""
    return Arg(flag, "option", options)


def _listed(listed: bool) -> tuple[str, ...]:
    return ("@files",) if listed else ()


@dataclass(frozen=True)
class Stage:
    """A stage: its arguments, the function that runs it and what it records.

    Attributes:
        filled: provenance inputs the run itself finds (e.g. the files a user's table names),
            as argument names the run sets on its namespace (default: empty).
        records: False for a stage that writes no provenance (the audit).
    """

    name: str
    help: str
    args: tuple[Arg, ...]
    run: Callable[[argparse.Namespace], None]
    filled: tuple[str, ...] = ()
    records: bool = True

    @property
    def inputs(self) -> tuple[str, ...]:
        """Provenance names of what the stage reads."""
        names = [n for a in self.args if a.role in ("input", "param") for n in a.names()]
        return tuple(names) + self.filled

    @property
    def outputs(self) -> tuple[str, ...]:
        """Provenance names of what the stage writes."""
        return tuple(n for a in self.args if a.role == "output" for n in a.names())

    @property
    def replaced(self) -> tuple[str, ...]:
        """Names of the output folders the stage replaces whole (``Arg.replaced``)."""
        return tuple(a.dest for a in self.args if a.role == "output" and a.replaced)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add the stage's arguments to its sub-command parser."""
        for arg in self.args:
            parser.add_argument(arg.flag, **arg.options)
        parser.set_defaults(execute=self.run, **{name: [] for name in self.filled})

    def command(self, **values: str) -> str:
        """The rule's command line: ``python -m rlnet <stage>`` and every argument passed by
        rules, each from its placeholder or from ``values[dest]`` (e.g. a folder built from
        wildcards). KeyError naming an unknown dest."""
        unknown = set(values) - {a.dest for a in self.args}
        if unknown:
            raise KeyError(f"stage {self.name} has no argument {sorted(unknown)}")
        parts = ["python -m rlnet", self.name]
        for arg in self.args:
            if arg.role in PLACEHOLDERS:
                parts += [arg.flag, values.get(arg.dest, PLACEHOLDERS[arg.role].format(arg.dest))]
        return " ".join(parts)

    def render(self, values: Mapping[str, str | Sequence[str]]) -> str:
        """The arguments of a job's command line from their values (a list for ``nargs``),
        each shell-quoted: what ``command()`` gives once Snakemake has filled it in, for a
        rule whose command is built per job (a rule defined in a loop). KeyError naming a
        missing value."""
        missing = [a.dest for a in self.args if a.role in PLACEHOLDERS and a.dest not in values]
        if missing:
            raise KeyError(f"stage {self.name}: no value for {missing}")
        parts = []
        for arg in self.args:
            if arg.role in PLACEHOLDERS:
                value = values[arg.dest]
                items = [value] if isinstance(value, str) else list(value)
                parts += [arg.flag, *(shlex.quote(str(item)) for item in items)]
        return " ".join(parts)


#: Every stage by name, in declaration order (the sub-commands).
STAGES: dict[str, Stage] = {}


def stage(
    name: str, help_text: str, *args: Arg, filled: tuple[str, ...] = (), records: bool = True
) -> Callable:
    """Register the decorated function as stage ``name`` with ``args``."""

    def register(run: Callable[[argparse.Namespace], None]) -> Callable:
        if name in STAGES:
            raise ValueError(f"stage {name} declared twice")
        STAGES[name] = Stage(name, help_text, args, run, filled, records)
        return run

    return register


def json_block(text: str) -> dict:
    """argparse type of a JSON argument (a config block)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err


def settings_of(cls: type, where: str):
    """argparse type of a JSON argument parsed into the settings dataclass ``cls``
    (rlnet.settings), its keys named from ``where``: an unknown or missing key is an error
    naming it."""

    def parse_settings(text: str):
        try:
            return parse(cls, json_block(text), where)
        except SettingsError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    parse_settings.__name__ = cls.__name__  # argparse names the type in its errors
    return parse_settings


def agatston_kw(a: argparse.Namespace) -> dict:
    """The keyword arguments of rlnet.biomarkers.agatston that ``--agatston`` gives (none: its
    defaults)."""
    return a.agatston.kwargs() if a.agatston else {}


def biomarker(text: str):
    """argparse type of ``--biomarker``: rlnet.biomarker.Biomarker from its JSON."""
    from rlnet.biomarker import Biomarker

    try:
        return Biomarker.from_json(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def size(text: str) -> int | None:
    """argparse type of a training-set size: an int, or None for ``all``."""
    return None if text == "all" else int(text)


def yes_no(text: str) -> bool:
    """argparse type of a boolean setting passed as ``true`` or ``false``."""
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
    return text == "true"


BIOMARKER_HELP = "the problem's biomarker (rlnet.biomarker.Biomarker as JSON)"
RISK_SCHEMES = ["paper", "clinical"]


#: ``--agatston``: evaluation.agatston (JSON) as rlnet.settings.AgatstonSettings.
AGATSTON = param(
    "--agatston",
    type=settings_of(AgatstonSettings, "evaluation.agatston"),
    default=None,
    help="evaluation.agatston (JSON); absent: the defaults of rlnet.biomarkers.agatston",
)
