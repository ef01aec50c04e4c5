"""Config files validate; bad configs fail with a message naming the key."""

import copy
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from rlnet import config as cfg

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "paper.yaml"])
def test_shipped_configs_validate(name):
    cfg.load(ROOT / "config" / name)


@pytest.fixture
def default():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def expect_error(config, *fragments):
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(config)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_unknown_key_is_named(default):
    default["training"]["learning_rate"] = 1e-3
    expect_error(default, "training", "learning_rate")


def test_wrong_type_is_named(default):
    default["training"]["batch_size"] = "sixteen"
    expect_error(default, "training.batch_size")


def test_out_of_range_is_named(default):
    default["problems"]["pma"]["split"]["train"] = 1.5
    expect_error(default, "problems.pma.split.train")


def test_no_bootstrap_resamples_is_refused_at_start(default):
    """0 resamples used to pass validation and crash every metrics job (bootstrap_replicates needs
    n_boot >= 1); now the config is refused before any job, naming the key."""
    default["evaluation"]["bootstrap"] = 0
    expect_error(default, "evaluation.bootstrap")
    default["evaluation"]["bootstrap"] = 1
    cfg.validate(default)


def test_a_problem_of_ones_own_is_accepted(default):
    """Any lower-case name declares a problem (test_biomarker: its traits)."""
    default["problems"]["lungs"] = copy.deepcopy(default["problems"]["pma"])
    cfg.validate(default)


def test_unknown_model_is_named(default):
    default["problems"]["pma"]["models"].append("rl-resnet")
    expect_error(default, "problems.pma.models", "rl-resnet")


def test_split_fractions_must_sum_to_one(default):
    default["problems"]["sfa"]["split"]["test"] = 0.3
    expect_error(default, "problems.sfa.split", "must be 1")


def test_target_must_be_a_mask_of_the_phantom(default):
    default["problems"]["pma"]["source"]["target"] = "heart"
    expect_error(default, "problems.pma.source.target", "pectoralis")


def test_dimensionality_must_match_the_phantom(default):
    default["problems"]["cac"]["spatial_dims"] = 2
    expect_error(default, "problems.cac.spatial_dims")


def test_roi_must_fit_the_networks(default):
    default["problems"]["cac"]["roi"]["size"] = [30, 48, 48]
    expect_error(default, "problems.cac.roi.size", "multiples of 16")


def test_roi_on_a_2d_problem_is_refused(default):
    default["problems"]["pma"]["roi"] = default["problems"]["cac"]["roi"]
    expect_error(default, "problems.pma.roi", "only 3D")


def test_a_users_source_needs_a_grid(default):
    default["problems"]["pma"]["source"] = {"manifest": "m.tsv"}
    expect_error(
        default,
        "config key 'problems.pma.grid': required for your own data",
        "e.g. grid: {spacing: [0.8, 0.8], shape: [448, 448]}",
    )
    default["problems"]["pma"]["grid"] = {"spacing": [0.8, 0.8], "shape": [448, 448]}
    cfg.validate(default)


@pytest.mark.parametrize(
    "problem, grid, fragment",
    [
        (
            "pma",
            {"spacing": [1.0, 1.0, 1.0], "shape": [64, 64]},
            "grid.spacing': [1.0, 1.0, 1.0] has 3",
        ),
        (
            "pma",
            {"spacing": [1.0, 1.0], "shape": [100, 100]},
            "grid.shape': [100, 100] must be two multiples of 16",
        ),
        ("pma", {"spacing": [1.0, 1.0]}, "grid.shape': required for 2D problems"),
        (
            "cac",
            {"spacing": [3.0, 2.0, 2.0], "shape": [64, 64]},
            "grid.shape': 3D problems crop the ROI",
        ),
    ],
)
def test_a_bad_grid_is_named(default, problem, grid, fragment):
    default["problems"][problem]["grid"] = grid
    expect_error(default, f"config key 'problems.{problem}.{fragment}")


def test_a_phantoms_grid_is_its_own_spacing_and_shape(default):
    """The default's problems: the chest slices 96 x 96 at 3.6 mm, the heart volumes' 3 x 2 x 2
    mm; a phantom slice of 100 x 90 pixels meets a grid of 112 x 96 (multiples of 16)."""
    assert cfg.problem_grid(default, "pma") == {"spacing": [3.6, 3.6], "shape": [96, 96]}
    assert cfg.problem_grid(default, "cac") == {"spacing": [3.0, 2.0, 2.0]}
    default["phantoms"]["chest"]["shape"] = [100, 90]
    assert cfg.problem_grid(default, "sfa")["shape"] == [112, 96]
    assert cfg.prepare_settings(default, "sfa")["grid"]["shape"] == [112, 96]


def test_problem_training_overrides_merge(default):
    merged = cfg.training_settings(default, "cac")
    assert merged.batch_size == default["problems"]["cac"]["training"]["batch_size"]
    assert dataclasses.asdict(merged.lr) == default["training"]["lr"]


def test_model_training_overrides_one_model_of_one_problem(default):
    default["problems"]["cac"]["model_training"] = {
        "rl-senet": {"max_epochs": 3, "lr": {"rl": 0.5}}
    }
    cfg.validate(default)
    merged = cfg.training_settings(default, "cac", model="rl-senet")
    assert merged.max_epochs == 3 and merged.lr.rl == 0.5
    assert merged.lr.enc == default["training"]["lr"]["enc"]
    assert merged.batch_size == default["problems"]["cac"]["training"]["batch_size"]
    other = cfg.training_settings(default, "cac", model="rl-unet")
    assert other.max_epochs == default["training"]["max_epochs"] != 3


def test_model_training_of_a_model_the_problem_lacks_is_refused(default):
    default["problems"]["liver"]["model_training"] = {"rl-sdnet": {"max_epochs": 3}}
    expect_error(default, "problems.liver.model_training.rl-sdnet", "not one of the problem's")


def test_only_subset_runs_get_the_sweeps_equal_steps(default):
    default["sample_size"]["equal_steps"] = True
    assert cfg.training_settings(default, "pma", "all").equal_steps is False
    assert cfg.training_settings(default, "pma", "40").equal_steps is True
    default["sample_size"]["equal_steps"] = False
    assert cfg.training_settings(default, "pma", "40").equal_steps is False


def _schema_paths(schema: dict) -> set[str]:
    """Dotted paths of the schema's leaf keys (``*`` for a name the user chooses, as a problem).

    A definition reached through ``$ref`` holding keys of its own (``training``, ``resources``)
    is expanded at its shortest use path only (``training.max_epochs``); its other uses are
    leaves (``problems.*.training``), documented by a row of their own."""
    uses: dict[str, list[str]] = {}

    def walk(node: dict, path: str, out: set[str], expand: str | None) -> None:
        if "$ref" in node:
            name = node["$ref"].split("/")[-1]
            node = schema["definitions"][name]
            if "properties" in node and name != expand:
                uses.setdefault(name, []).append(path)
                out.add(path)
                return
        children: list[tuple[str, dict]] = list(node.get("properties", {}).items())
        if isinstance(node.get("additionalProperties"), dict):
            children.append(("*", node["additionalProperties"]))
        for name, child in children:
            walk(child, f"{path}.{name}" if path else name, out, None)
        for sub in node.get("allOf", []) + node.get("oneOf", []):
            walk(sub, path, out, None)
        if path and not any(key.startswith(f"{path}.") for key in out):
            out.add(path)

    paths: set[str] = set()
    walk(schema, "", paths, None)
    for name, at in list(uses.items()):
        canonical = min(at, key=lambda p: (p.count("."), at.index(p)))
        paths.discard(canonical)
        walk({"$ref": f"#/definitions/{name}"}, canonical, paths, name)
    return paths


def _documented_paths(readme: str) -> list[str]:
    """The key paths config/README.md documents: each code span in the first cell of a table row
    under a ``## `` heading, prefixed with the heading's first code span (``## `phantoms```
    makes ``chest.n_cases`` ``phantoms.chest.n_cases``), and also as written (a full path).
    Rows under ``### `` headings (manifest columns, baseline names) are not keys. ``<name>``
    placeholders become ``*``."""
    documented: list[str] = []
    prefix: str | None = None
    for line in readme.splitlines():
        if line.startswith("## "):
            spans = re.findall(r"`([^`]+)`", line)
            prefix = spans[0] if spans else ""
        elif line.startswith("### "):
            prefix = None
        elif line.startswith("| `") and prefix is not None:
            for span in re.findall(r"`([^`]+)`", line.split("|")[1]):
                documented += [f"{prefix}.{span}" if prefix else span, span]
    return [re.sub(r"<[^>]+>", "*", key) for key in documented]


def _undocumented(schema_paths: set[str], documented: list[str]) -> list[str]:
    """Schema paths that no documented path names; a ``*`` of the README (``<block>``) stands
    for any one key, a ``*`` of the schema only for a ``<name>`` of the README."""

    def names(doc: str, path: str) -> bool:
        d, p = doc.split("."), path.split(".")
        return len(d) == len(p) and all(a in (b, "*") for a, b in zip(d, p, strict=True))

    return sorted(p for p in schema_paths if not any(names(d, p) for d in documented))


def test_config_readme_documents_every_key():
    """Every key the schema accepts has a README table row naming its full dotted path, or its
    path inside the section it belongs to."""
    schema = yaml.safe_load(cfg.SCHEMA_PATH.read_text())
    paths = _schema_paths(schema)
    readme = (ROOT / "config" / "README.md").read_text()
    missing = _undocumented(paths, _documented_paths(readme))
    assert not missing, f"config/README.md has no row for {missing}"
    # the check can fail: the chest's noise row does not document the heart's, nor a row under
    # `## training` a key of `sample_size` with the same name
    assert {"phantoms.heart.noise_hu", "training.lr.rl", "sample_size.repeats"} <= paths
    row = next(line for line in readme.splitlines() if line.startswith("| `heart.noise_hu`"))
    assert _undocumented(paths, _documented_paths(readme.replace(row, ""))) == [
        "phantoms.heart.noise_hu"
    ]
    moved = readme.replace("| `repeats` | int | repeats per size", "| `bootstrap` | int | x")
    moved = moved.replace("| `max_epochs`, `patience` |", "| `max_epochs`, `patience`, `repeats` |")
    assert _undocumented(paths, _documented_paths(moved)) == ["sample_size.repeats"]


def _undescribed_keys(node: dict, path: str = "") -> list[str]:
    """Paths of the property nodes under ``node`` that lack a non-empty string description:
    ``properties`` recursively, inside ``definitions``, ``allOf``/``oneOf`` entries and
    dict-valued ``additionalProperties`` (written ``*``)."""
    missing: list[str] = []
    for name, child in node.get("definitions", {}).items():
        missing += _undescribed_keys(child, f"#/definitions/{name}")
    for sub in node.get("allOf", []) + node.get("oneOf", []):
        missing += _undescribed_keys(sub, path)
    if isinstance(node.get("additionalProperties"), dict):
        missing += _undescribed_keys(node["additionalProperties"], f"{path}.*" if path else "*")
    for name, child in node.get("properties", {}).items():
        key = f"{path}.{name}" if path else name
        description = child.get("description")
        if not (isinstance(description, str) and description.strip()):
            missing.append(key)
        missing += _undescribed_keys(child, key)
    return missing


def test_every_schema_key_has_a_description():
    """Every property of the config schema, nested and in definitions, has a description."""
    schema = yaml.safe_load(cfg.SCHEMA_PATH.read_text())
    missing = _undescribed_keys(schema)
    assert not missing, f"config schema keys without a description: {missing}"
    del schema["properties"]["training"]["description"]  # the check can fail
    del schema["definitions"]["training"]["properties"]["lr"]["properties"]["rl"]["description"]
    assert sorted(_undescribed_keys(schema)) == ["#/definitions/training.lr.rl", "training"]


@pytest.mark.parametrize(
    ("baseline", "dims", "score", "candidates", "applies"),
    [
        ("heart-rule", 3, "agatston", {"hu": [130, 3000]}, True),
        ("heart-rule", 2, "measure", {"hu": [-140, -70]}, False),
        ("skin-rule", 2, "measure", {"hu": [-140, -70]}, True),
        ("skin-rule", 2, "measure", {"mask": "candidate_mask"}, False),
        ("skin-rule", 2, "measure", {"mask": "candidate_mask", "hu": [-100, 60]}, False),
        ("skin-rule", 3, "agatston", {"hu": [130, 3000]}, False),
        ("candidates", 2, "measure", {"mask": "candidate_mask"}, True),
        ("rule", 3, "agatston", {"hu": [130, 3000]}, True),
    ],
)
def test_which_baselines_apply_to_a_problem(baseline, dims, score, candidates, applies):
    """heart-rule on Agatston problems only; skin-rule on 2D problems whose candidates are an HU
    range without a given mask (a mask with an HU range, as liver's, is not skin-bound fat)."""
    problem = {"spatial_dims": dims, "biomarker": {"score": score}, "candidates": candidates}
    assert cfg.baseline_applies(baseline, problem) is applies
