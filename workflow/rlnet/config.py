"""Configuration: schema validation, semantic checks and derived per-problem settings."""

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from rlnet.model_registry import BASELINES, MODELS, TRAINED
from rlnet.phantom_registry import PHANTOMS

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
#: The embedded default study (config/config.yaml of this checkout).
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "config.yaml"

#: 3D ROIs feed the networks uncropped: every axis must survive four 2x poolings.
ROI_MULTIPLE = 16
#: 2D grid shapes likewise (the U-Net's four poolings).
GRID_MULTIPLE = 16


class ConfigError(ValueError):
    """A configuration problem; the message names the offending key."""


def _key(path: list[Any]) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def load_schema() -> dict:
    """The config schema, its model enums filled from the model registry (the trained models,
    the baselines without learning)."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema["definitions"]["model_name"]["enum"] = list(TRAINED)
    schema["definitions"]["baseline_name"]["enum"] = list(BASELINES)
    return schema


def validate_schema(config: dict) -> None:
    """Validate against the JSON schema; raise ConfigError naming the key on failure."""
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"config key '{_key(list(e.absolute_path))}': {e.message}" for e in errors]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


#: [low, high] pairs of a phantom's block; low == high is a fixed value, so low <= high.
PHANTOM_RANGES = ("noise_hu", "slices")


def _check_range(pair: list, key: str, strict: bool) -> None:
    """Raise ConfigError naming ``key`` if ``pair`` is reversed (or, ``strict``, empty)."""
    low, high = pair
    if low > high or (strict and low == high):
        need = "low < high" if strict else "low <= high"
        raise ConfigError(f"config key '{key}': [{low}, {high}] is not a range ({need})")


def check_ranges(config: dict) -> None:
    """Every [low, high] pair of a (schema-valid) config is a range: the HU ranges of a
    problem non-empty, a phantom's ranges not reversed. Raise ConfigError naming the key."""
    for name, problem in config["problems"].items():
        pairs = {"candidates.hu": problem["candidates"].get("hu")}
        pairs["input_window"] = problem["input_window"]
        for key, pair in pairs.items():
            if pair is not None:
                _check_range(pair, f"problems.{name}.{key}", strict=True)
    for phantom, settings in config.get("phantoms", {}).items():
        for key in PHANTOM_RANGES:
            if isinstance(settings, dict) and key in settings:
                _check_range(settings[key], f"phantoms.{phantom}.{key}", strict=False)


def check_infer(config: dict) -> None:
    """Each ``infer`` entry names a problem and models it trains (its ``models``, all trained
    models of the registry by the schema, the ``baseline`` CNN among them); a learning-free
    baseline (``rlnet.model_registry.BASELINES``) has nothing trained to apply."""
    for problem, block in config.get("infer", {}).items():
        if problem not in config["problems"]:
            known = ", ".join(config["problems"])
            raise ConfigError(f"config key 'infer.{problem}': no such problem (problems: {known})")
        trained = config["problems"][problem]["models"]
        for model in block["models"]:
            if model in trained:
                continue
            key = f"config key 'infer.{problem}.models'"
            if model in BASELINES:
                raise ConfigError(
                    f"{key}: {model} is a baseline without learning (evaluation.baselines): "
                    f"nothing trained to apply to new scans (models of {problem}: "
                    f"{', '.join(trained)})"
                )
            raise ConfigError(
                f"{key}: {model} is not trained on {problem} (its models: {', '.join(trained)})"
            )


def check_semantics(config: dict) -> None:
    """Checks the schema cannot express; raise ConfigError naming the key."""
    check_ranges(config)
    check_infer(config)
    phantoms = config.get("phantoms", {})
    for name, problem in config["problems"].items():
        split = problem["split"]
        total = split["train"] + split["val"] + split["test"]
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(
                f"config key 'problems.{name}.split': train + val + test = {total:g}, must be 1"
            )
        source = problem["source"]
        if "synthetic" in source:
            phantom = source["synthetic"]
            if phantom not in phantoms:
                raise ConfigError(
                    f"config key 'problems.{name}.source.synthetic': phantom '{phantom}' has no "
                    f"settings under 'phantoms.{phantom}'"
                )
            masks = PHANTOMS[phantom].masks
            for key in ("target", "candidate_mask"):
                if key in source and source[key] not in masks:
                    raise ConfigError(
                        f"config key 'problems.{name}.source.{key}': '{source[key]}' is not a "
                        f"mask of phantom '{phantom}' (known: {', '.join(masks)})"
                    )
            calcium = PHANTOMS[phantom].calcium
            if problem["biomarker"]["score"] == "agatston" and source["target"] not in calcium:
                raise ConfigError(
                    f"config key 'problems.{name}.source.target': an agatston biomarker needs a "
                    f"calcium mask of phantom '{phantom}' (it has: {', '.join(calcium) or 'none'})"
                )
            dims = PHANTOMS[phantom].spatial_dims
            if dims != problem["spatial_dims"]:
                raise ConfigError(
                    f"config key 'problems.{name}.spatial_dims': {problem['spatial_dims']} but "
                    f"phantom '{phantom}' makes {dims}D images"
                )
        unused = [m for m in problem.get("model_training", {}) if m not in problem["models"]]
        if unused:
            raise ConfigError(
                f"config key 'problems.{name}.model_training.{unused[0]}': not one of the "
                f"problem's models ({', '.join(problem['models'])})"
            )
        for model in (m for m in problem["models"] if MODELS[m].family == "rl"):  # RL heads
            bias = training_settings(config, name, model=model)
            if bias["output_bias"] != "auto" and list(bias["output_bias_starts"]) != [0]:
                raise ConfigError(
                    f"config key 'training.output_bias_starts': shifts of the automatic bias "
                    f"need output_bias auto ({model} on {name} sets {bias['output_bias']}); "
                    "with a fixed bias set output_bias_starts: [0]"
                )
        if problem["biomarker"]["score"] == "agatston" and problem["spatial_dims"] != 3:
            raise ConfigError(
                f"config key 'problems.{name}.biomarker.score': agatston scores 3D volumes; "
                "the problem is 2D"
            )
        if problem["spatial_dims"] == 3 and "roi" not in problem:
            raise ConfigError(f"config key 'problems.{name}.roi': required for 3D problems")
        if "roi" in problem and problem["spatial_dims"] != 3:
            raise ConfigError(f"config key 'problems.{name}.roi': only 3D problems crop an ROI")
        bad = [s for s in problem.get("roi", {}).get("size", []) if s % ROI_MULTIPLE]
        if bad:
            raise ConfigError(
                f"config key 'problems.{name}.roi.size': {problem['roi']['size']} must be "
                f"multiples of {ROI_MULTIPLE} (the networks pool four times)"
            )
        check_grid(name, problem)
        if "mask" in problem["candidates"] and "synthetic" in source:
            if "candidate_mask" not in source:
                raise ConfigError(
                    f"config key 'problems.{name}.source.candidate_mask': needed because "
                    f"candidates come from a mask"
                )
    sample = config.get("sample_size")
    if sample:
        for name in sample["problems"]:
            if name not in config["problems"]:
                raise ConfigError(
                    f"config key 'sample_size.problems': '{name}' is not a configured problem"
                )
    check_evaluation(config)


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


#: A grid block per spatial_dims, named in the error of a user's problem without one.
GRID_EXAMPLES = {2: "{spacing: [0.8, 0.8], shape: [448, 448]}", 3: "{spacing: [3.0, 2.0, 2.0]}"}


def check_grid(name: str, problem: dict) -> None:
    """A problem's ``grid``: required for a user's source; one spacing per axis; 2D a shape of
    multiples of GRID_MULTIPLE, 3D none (the ROI is its shape). ConfigError naming the key."""

    def key(sub: str = "") -> str:
        return f"config key 'problems.{name}.grid{sub}'"

    dims = problem["spatial_dims"]
    grid = problem.get("grid")
    if grid is None:
        if "synthetic" not in problem["source"]:
            example = GRID_EXAMPLES[dims]
            raise ConfigError(
                f"{key()}: required for your own data: the voxel size every case is resampled "
                f"to{' and the slice size' if dims == 2 else ''}, e.g. grid: {example}"
            )
        return
    if len(grid["spacing"]) != dims:
        raise ConfigError(
            f"{key('.spacing')}: {grid['spacing']} has {len(grid['spacing'])} values; the problem "
            f"is {dims}D"
        )
    if dims == 3:
        if "shape" in grid:
            raise ConfigError(
                f"{key('.shape')}: 3D problems crop the ROI (roi.size + 2 x roi.margin voxels at "
                "the grid's spacing); leave shape out"
            )
        return
    shape = grid.get("shape")
    if shape is None:
        raise ConfigError(f"{key('.shape')}: required for 2D problems (the slice size, [y, x])")
    if len(shape) != 2 or any(s % GRID_MULTIPLE for s in shape):
        raise ConfigError(
            f"{key('.shape')}: {shape} must be two multiples of {GRID_MULTIPLE} (the networks "
            "pool four times)"
        )


def check_evaluation(config: dict) -> None:
    """The baselines and repeats keys, where the schema cannot check them; ConfigError naming
    the key."""
    evaluation = config["evaluation"]
    if "rule" in evaluation.get("baselines", []):
        for name, problem in config["problems"].items():
            key = f"config key 'problems.{name}.baselines.rule'"
            chosen = problem.get("baselines", {}).get("rule")
            if chosen is None:
                raise ConfigError(
                    f"{key}: needed because evaluation.baselines lists 'rule' "
                    "(region, agatston or threshold)"
                )
            if chosen == "agatston" and problem["spatial_dims"] != 3:
                raise ConfigError(f"{key}: 'agatston' scores 3D volumes; the problem is 2D")
    configured = {m for p in config["problems"].values() for m in p["models"]}
    for model in evaluation.get("repeats", {}).get("models", []):
        if model not in configured:
            raise ConfigError(
                f"config key 'evaluation.repeats.models': '{model}' is not a model of any problem"
            )


def validate(config: dict) -> None:
    """Schema then semantic validation."""
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
    the ``default`` config as Snakemake merges (mappings key by key, any other value replaced),
    then every null-valued key removed (:func:`drop_nulls`). ``default=None``: ``path`` alone,
    as ``--replace-workflow-config`` reads it."""
    config: dict = {}
    for source in (default, path) if default is not None else (path,):
        layer = read_yaml(source)
        if not isinstance(layer, dict):
            raise ConfigError(f"{source}: not a YAML mapping")
        _merge(config, layer)
    validate(drop_nulls(config))
    return config


def _merge(base: dict, override: dict) -> None:
    """Merge ``override`` into ``base`` in place, as snakemake.utils.update_config does."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


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


def training_settings(config: dict, problem: str, n: str = "all", model: str | None = None) -> dict:
    """The global training block with the problem's overrides merged on top, then the
    problem's ``model_training.<model>`` overrides (e.g. one model's epoch budget), and the
    biomarker's ``score`` (which target a direct regressor learns: rlnet.training.targets).

    ``n`` is the run's training-set size (the ``n{n}`` of its path); a sample-size subset run
    (not ``all``) also gets ``equal_steps: true`` when the sweep asks for it. Off, the key is
    left out, so subset runs keep the settings (and fingerprints) they had without it.
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
    return merged


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
