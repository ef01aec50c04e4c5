"""The checks of a schema-valid config that the schema cannot express: one small function per
rule, each raising ConfigError naming the key (``config key 'problems.pma.split': ...``).

``check_semantics`` runs the config-wide checks (CONFIG_CHECKS) and, for each problem, the
problem checks (PROBLEM_CHECKS, called with the config, the problem's name and its block).
"""

from collections.abc import Callable

from rlnet.config import GRID_MULTIPLE, ROI_MULTIPLE, ConfigError, training_settings
from rlnet.model_registry import BASELINES, MODELS
from rlnet.phantom_registry import PHANTOMS

#: [low, high] pairs of a phantom's block; low == high is a fixed value, so low <= high.
PHANTOM_RANGES = ("noise_hu", "slices")
#: A grid block per spatial_dims, named in the error of a user's problem without one.
GRID_EXAMPLES = {2: "{spacing: [0.8, 0.8], shape: [448, 448]}", 3: "{spacing: [3.0, 2.0, 2.0]}"}


def _key(name: str, sub: str) -> str:
    """The quoted key ``problems.<name>.<sub>`` an error names."""
    return f"config key 'problems.{name}.{sub}'"


def _check_range(pair: list, key: str, strict: bool) -> None:
    """Raise ConfigError naming ``key`` if ``pair`` is reversed (or, ``strict``, empty)."""
    low, high = pair
    if low > high or (strict and low == high):
        need = "low < high" if strict else "low <= high"
        raise ConfigError(f"config key '{key}': [{low}, {high}] is not a range ({need})")


def check_phantom_ranges(config: dict) -> None:
    """A phantom's [low, high] pairs (PHANTOM_RANGES) are not reversed."""
    for phantom, settings in config.get("phantoms", {}).items():
        for key in PHANTOM_RANGES:
            if isinstance(settings, dict) and key in settings:
                _check_range(settings[key], f"phantoms.{phantom}.{key}", strict=False)


def check_hu_ranges(config: dict, name: str, problem: dict) -> None:
    """A problem's HU ranges (``candidates.hu``, ``input_window``) are non-empty."""
    pairs = {"candidates.hu": problem["candidates"].get("hu")}
    pairs["input_window"] = problem["input_window"]
    for key, pair in pairs.items():
        if pair is not None:
            _check_range(pair, f"problems.{name}.{key}", strict=True)


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


def check_split(config: dict, name: str, problem: dict) -> None:
    """The split fractions sum to 1."""
    split = problem["split"]
    total = split["train"] + split["val"] + split["test"]
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"{_key(name, 'split')}: train + val + test = {total:g}, must be 1")


def check_phantom_source(config: dict, name: str, problem: dict) -> None:
    """A synthetic source: its phantom has settings, makes its target and candidate masks (an
    agatston biomarker: a calcium mask) and images of the problem's dimensionality."""
    source = problem["source"]
    if "synthetic" not in source:
        return
    phantom = source["synthetic"]
    if phantom not in config.get("phantoms", {}):
        raise ConfigError(
            f"{_key(name, 'source.synthetic')}: phantom '{phantom}' has no settings under "
            f"'phantoms.{phantom}'"
        )
    traits = PHANTOMS[phantom]
    for key in ("target", "candidate_mask"):
        if key in source and source[key] not in traits.masks:
            raise ConfigError(
                f"{_key(name, f'source.{key}')}: '{source[key]}' is not a mask of phantom "
                f"'{phantom}' (known: {', '.join(traits.masks)})"
            )
    if problem["biomarker"]["score"] == "agatston" and source["target"] not in traits.calcium:
        raise ConfigError(
            f"{_key(name, 'source.target')}: an agatston biomarker needs a calcium mask of "
            f"phantom '{phantom}' (it has: {', '.join(traits.calcium) or 'none'})"
        )
    if traits.spatial_dims != problem["spatial_dims"]:
        raise ConfigError(
            f"{_key(name, 'spatial_dims')}: {problem['spatial_dims']} but phantom '{phantom}' "
            f"makes {traits.spatial_dims}D images"
        )


def check_model_training(config: dict, name: str, problem: dict) -> None:
    """``model_training`` names only models of the problem."""
    unused = [m for m in problem.get("model_training", {}) if m not in problem["models"]]
    if unused:
        raise ConfigError(
            f"{_key(name, f'model_training.{unused[0]}')}: not one of the problem's models "
            f"({', '.join(problem['models'])})"
        )


def check_output_bias_starts(config: dict, name: str, problem: dict) -> None:
    """Shifts of the automatic output bias (several starts) need ``output_bias: auto``."""
    for model in (m for m in problem["models"] if MODELS[m].family == "rl"):
        settings = training_settings(config, name, model=model)
        if settings.output_bias != "auto" and list(settings.output_bias_starts) != [0]:
            raise ConfigError(
                f"config key 'training.output_bias_starts': shifts of the automatic bias "
                f"need output_bias auto ({model} on {name} sets {settings.output_bias}); "
                "with a fixed bias set output_bias_starts: [0]"
            )


def check_agatston_dims(config: dict, name: str, problem: dict) -> None:
    """An agatston biomarker scores 3D volumes."""
    if problem["biomarker"]["score"] == "agatston" and problem["spatial_dims"] != 3:
        raise ConfigError(
            f"{_key(name, 'biomarker.score')}: agatston scores 3D volumes; the problem is 2D"
        )


def check_roi(config: dict, name: str, problem: dict) -> None:
    """3D problems, and only they, crop an ROI whose size survives the networks' poolings."""
    if problem["spatial_dims"] == 3 and "roi" not in problem:
        raise ConfigError(f"{_key(name, 'roi')}: required for 3D problems")
    if "roi" in problem and problem["spatial_dims"] != 3:
        raise ConfigError(f"{_key(name, 'roi')}: only 3D problems crop an ROI")
    if any(s % ROI_MULTIPLE for s in problem.get("roi", {}).get("size", [])):
        raise ConfigError(
            f"{_key(name, 'roi.size')}: {problem['roi']['size']} must be multiples of "
            f"{ROI_MULTIPLE} (the networks pool four times)"
        )


def check_grid(config: dict, name: str, problem: dict) -> None:
    """A problem's ``grid``: required for a user's source; one spacing per axis; 2D a shape of
    multiples of GRID_MULTIPLE, 3D none (the ROI is its shape)."""
    dims = problem["spatial_dims"]
    grid = problem.get("grid")
    if grid is None:
        if "synthetic" not in problem["source"]:
            raise ConfigError(
                f"{_key(name, 'grid')}: required for your own data: the voxel size every case is "
                f"resampled to{' and the slice size' if dims == 2 else ''}, e.g. grid: "
                f"{GRID_EXAMPLES[dims]}"
            )
        return
    if len(grid["spacing"]) != dims:
        raise ConfigError(
            f"{_key(name, 'grid.spacing')}: {grid['spacing']} has {len(grid['spacing'])} values; "
            f"the problem is {dims}D"
        )
    if dims == 3:
        if "shape" in grid:
            raise ConfigError(
                f"{_key(name, 'grid.shape')}: 3D problems crop the ROI (roi.size + 2 x "
                "roi.margin voxels at the grid's spacing); leave shape out"
            )
        return
    shape = grid.get("shape")
    if shape is None:
        raise ConfigError(
            f"{_key(name, 'grid.shape')}: required for 2D problems (the slice size, [y, x])"
        )
    if len(shape) != 2 or any(s % GRID_MULTIPLE for s in shape):
        raise ConfigError(
            f"{_key(name, 'grid.shape')}: {shape} must be two multiples of {GRID_MULTIPLE} (the "
            "networks pool four times)"
        )


def check_candidate_mask(config: dict, name: str, problem: dict) -> None:
    """Candidates from a mask need a phantom source to name that mask."""
    source = problem["source"]
    if "mask" in problem["candidates"] and "synthetic" in source:
        if "candidate_mask" not in source:
            raise ConfigError(
                f"{_key(name, 'source.candidate_mask')}: needed because candidates come from a mask"
            )


def check_rule_baseline(config: dict, name: str, problem: dict) -> None:
    """With ``rule`` among ``evaluation.baselines``, each problem names its rule; ``agatston``
    only on 3D problems."""
    if "rule" not in config["evaluation"].get("baselines", []):
        return
    chosen = problem.get("baselines", {}).get("rule")
    if chosen is None:
        raise ConfigError(
            f"{_key(name, 'baselines.rule')}: needed because evaluation.baselines lists 'rule' "
            "(region, agatston or threshold)"
        )
    if chosen == "agatston" and problem["spatial_dims"] != 3:
        raise ConfigError(
            f"{_key(name, 'baselines.rule')}: 'agatston' scores 3D volumes; the problem is 2D"
        )


def check_sample_size(config: dict) -> None:
    """The sweep's problems are configured problems."""
    for name in config.get("sample_size", {}).get("problems", []):
        if name not in config["problems"]:
            raise ConfigError(
                f"config key 'sample_size.problems': '{name}' is not a configured problem"
            )


def check_repeats(config: dict) -> None:
    """``evaluation.repeats.models`` are models of some problem."""
    configured = {m for p in config["problems"].values() for m in p["models"]}
    for model in config["evaluation"].get("repeats", {}).get("models", []):
        if model not in configured:
            raise ConfigError(
                f"config key 'evaluation.repeats.models': '{model}' is not a model of any problem"
            )


#: Checks of one problem, in the order they run: (config, name, block) -> None.
PROBLEM_CHECKS: tuple[Callable[[dict, str, dict], None], ...] = (
    check_hu_ranges,
    check_split,
    check_phantom_source,
    check_model_training,
    check_output_bias_starts,
    check_agatston_dims,
    check_roi,
    check_grid,
    check_candidate_mask,
)
#: Checks of the config as a whole, run after PROBLEM_CHECKS: (config) -> None.
CONFIG_CHECKS: tuple[Callable[[dict], None], ...] = (
    check_sample_size,
    check_repeats,
)


def check_semantics(config: dict) -> None:
    """Every check the schema cannot express (a schema-valid config); ConfigError naming the
    key of the first that fails."""
    check_phantom_ranges(config)
    check_infer(config)
    for name, problem in config["problems"].items():
        for check in PROBLEM_CHECKS:
            check(config, name, problem)
    for name, problem in config["problems"].items():
        check_rule_baseline(config, name, problem)
    for check in CONFIG_CHECKS:
        check(config)
