"""Configuration: schema validation with its defaults, the semantic checks
(``rlnet.config_checks``), and the settings each stage reads, derived per problem."""

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config
from snakemake.utils import validate as snakemake_validate

from rlnet.model_registry import BASELINES, MODELS, TRAINED
from rlnet.settings import AgatstonSettings, SettingsError, TrainingSettings, parse

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
#: The embedded default study (config/config.yaml of this checkout).
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "config.yaml"

#: 3D ROIs feed the networks uncropped: every axis must survive four 2x poolings.
ROI_MULTIPLE = 16
#: 2D grid shapes likewise (the U-Net's four poolings).
GRID_MULTIPLE = 16


class ConfigError(ValueError):
    """A configuration problem; the message names the offending key."""


def load_schema() -> dict:
    """The config schema, its model enums filled from the model registry (the trained models,
    the baselines without learning)."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema["definitions"]["model_name"]["enum"] = list(TRAINED)
    schema["definitions"]["baseline_name"]["enum"] = list(BASELINES)
    return schema


def validate_schema(config: dict) -> None:
    """Validate against the JSON schema with ``snakemake.utils.validate``, which fills in the
    schema's ``default`` values (in place); ConfigError naming the key of the first error."""
    with tempfile.TemporaryDirectory() as folder:
        schema = Path(folder) / "config.schema.json"  # the registry's enums filled in
        schema.write_text(json.dumps(load_schema()))
        try:
            snakemake_validate(config, str(schema), set_default=True)
        except WorkflowError as err:
            cause = err.__context__
            if not isinstance(cause, ValidationError):
                raise
            key = ".".join(str(p) for p in cause.absolute_path) or "<root>"
            raise ConfigError(f"config key '{key}': {cause.message}") from None


def baseline_applies(baseline: str, problem: dict) -> bool:
    """Whether a baseline of ``evaluation.baselines`` runs on a problem (its config block):
    ``candidates`` and ``rule`` on every problem, ``heart-rule`` on Agatston problems (calcium
    inside the heart), ``skin-rule`` on 2D problems whose candidates are an HU range without a
    given mask (candidates within a distance of the skin)."""
    if baseline == "heart-rule":
        return problem["biomarker"]["score"] == "agatston"
    if baseline == "skin-rule":
        candidates = problem["candidates"]
        return problem["spatial_dims"] == 2 and "hu" in candidates and "mask" not in candidates
    return True


def problem_baselines(config: dict, name: str) -> list[str]:
    """The baselines of ``evaluation.baselines`` that run on problem ``name``, in that order."""
    problem = config["problems"][name]
    return [b for b in config["evaluation"].get("baselines", []) if baseline_applies(b, problem)]


def validate(config: dict) -> None:
    """Schema validation (defaults filled in place), then the semantic checks."""
    from rlnet.config_checks import check_semantics  # it reads the settings derived here

    validate_schema(config)
    check_semantics(config)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a syntax error is a ConfigError naming the file, line and column."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read config file ({err})") from err
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}: YAML error{where}: {problem}") from err


def load(path: str | Path, default: str | Path | None = DEFAULT_CONFIG_PATH) -> dict:
    """The validated config that ``--configfile path`` gives the workflow: ``path`` merged over
    the ``default`` config by Snakemake's own merge (``snakemake.utils.update_config``: mappings
    key by key, any other value replaced), every null-valued key removed (:func:`drop_nulls`),
    the schema's defaults filled in. ``default=None``: ``path`` alone, as
    ``--replace-workflow-config`` reads it."""
    config: dict = {}
    for source in (default, path) if default is not None else (path,):
        layer = read_yaml(source)
        if not isinstance(layer, dict):
            raise ConfigError(f"{source}: not a YAML mapping")
        update_config(config, layer)
    validate(drop_nulls(config))
    return config


def drop_nulls(config: dict) -> dict:
    """Remove, in place and at every depth, each key whose value is null, and return
    ``config``: how a file or ``--config`` merged over the default leaves out a key the default
    sets (``problems: {sfa: null}`` drops the problem, ``sample_size: null`` the sweep)."""
    for key in [key for key, value in config.items() if value is None]:
        del config[key]
    for value in config.values():
        if isinstance(value, dict):
            drop_nulls(value)
    return config


#: Keys of a problem's block that ``rlnet.prepare`` reads. The prepare rule gets only these, so
#: an edit of the problem's models, training or split block does not re-prepare it (and so
#: retrain every model of the problem); a split edit reaches prepare through split.tsv.
PREPARE_KEYS = ("spatial_dims", "candidates", "input_window", "roi", "grid")


def problem_grid(config: dict, problem: str) -> dict:
    """The training grid of a problem: its ``grid`` block, else (a synthetic source) the
    phantom's own spacing and, 2D, its slice shape rounded up to a multiple of GRID_MULTIPLE,
    so the phantom's images are used as they are. A user's source must set ``grid``
    (``check_grid``): a grid taken from the data would change with the cases."""
    block = config["problems"][problem]
    if "grid" in block:
        return copy.deepcopy(block["grid"])
    phantom = config["phantoms"][block["source"]["synthetic"]]
    grid = {"spacing": list(phantom["spacing"])}
    if block["spatial_dims"] == 2:
        grid["shape"] = [-(-int(s) // GRID_MULTIPLE) * GRID_MULTIPLE for s in phantom["shape"]]
    return grid


def prepare_settings(config: dict, problem: str) -> dict:
    """The part of a problem's block that ``rlnet.prepare.prepare`` reads, its grid resolved
    (``problem_grid``)."""
    block = config["problems"][problem]
    settings = {key: block[key] for key in PREPARE_KEYS if key in block}
    settings["grid"] = problem_grid(config, problem)
    return settings


def problem_settings(config: dict, problem: str) -> dict:
    """A problem's whole block with its grid resolved: what a stage preparing new scans as the
    problem's cases reads (rule infer)."""
    return {**copy.deepcopy(config["problems"][problem]), **prepare_settings(config, problem)}


def needs_masks(config: dict, problem: str) -> bool:
    """Whether a mask-trained model trains on ``problem``: one of its models, or the
    sample-size sweep's model when the sweep covers the problem."""
    models = set(config["problems"][problem]["models"])
    sample = config.get("sample_size", {})
    if problem in sample.get("problems", []):
        models.add(sample["model"])
    return any(MODELS[m].needs_masks for m in models)


def training_settings(
    config: dict, problem: str, n: str = "all", model: str | None = None
) -> TrainingSettings:
    """A run's training settings: the global training block with the problem's overrides
    merged on top, then the problem's ``model_training.<model>`` overrides (e.g. one model's
    epoch budget), and the biomarker's ``score`` (which target a direct regressor learns:
    rlnet.training.targets).

    ``n`` is the run's training-set size (the ``n{n}`` of its path); a sample-size subset run
    (not ``all``) gets ``equal_steps`` when the sweep asks for it (its default, off, is no part
    of the settings' identity: rlnet.settings).
    """
    block = config["problems"][problem]
    merged = copy.deepcopy(config["training"])
    for overrides in (block.get("training", {}), block.get("model_training", {}).get(model, {})):
        for key, value in overrides.items():
            if isinstance(value, dict):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    if n != "all" and config.get("sample_size", {}).get("equal_steps", False):
        merged["equal_steps"] = True
    merged["score"] = block["biomarker"]["score"]
    try:
        return parse(TrainingSettings, merged, "training")
    except SettingsError as err:
        raise ConfigError(f"config key '{err.key}': {err.reason}") from None


def agatston_settings(config: dict) -> AgatstonSettings:
    """How Agatston scores are computed: ``evaluation.agatston``, its defaults filled in."""
    return parse(AgatstonSettings, config["evaluation"]["agatston"], "evaluation.agatston")


def main(argv: list[str] | None = None) -> int:
    """``python -m rlnet.config [--replace-workflow-config] FILE...``: validate each FILE as
    ``--configfile FILE`` gives it (merged over the default, or alone with the flag), one line
    each (a YAML error with its line and column); exit status 1 if any fails."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    flag = "--replace-workflow-config"
    default = None if flag in args else DEFAULT_CONFIG_PATH
    failed = 0
    for path in [arg for arg in args if arg != flag]:
        try:
            load(path, default)
            print(f"{path}: ok")
        except ConfigError as err:
            print(err, file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
