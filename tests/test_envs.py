"""The conda environments of the rules (envs/*.yaml), checked without conda.

Data-driven, so it keeps working as rules and stages are added:

  rule --(its `conda:`)--> env file
  rule --(its shell command, `stage_shell("<stage>")` or a variant)--> stage of rlnet.cli
  stage --(the rlnet imports inside the stage's function, followed transitively)--> modules
  modules --(their third-party imports, mapped by IMPORT_TO_CONDA)--> conda packages

and every such package must be listed in the rule's env. Versions must equal pyproject's pins.
"""

import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

from rlnet.codebase import closure, stage_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workflow" / "rlnet"
ENVS = ROOT / "envs"
RULE_FILES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))

#: Import name -> conda-forge package. An import missing here fails the test: add it.
IMPORT_TO_CONDA = {
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "SimpleITK": "simpleitk",
    "nibabel": "nibabel",
    "yaml": "pyyaml",
    "jsonschema": "jsonschema",
    "torch": "pytorch",
    "scikit_posthocs": "scikit-posthocs",
    "statsmodels": "statsmodels",
    "matplotlib": "matplotlib",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "PIL": "pillow",
}
#: pyproject dependency name (lower case) -> conda-forge package, where they differ.
PYPI_TO_CONDA = {"torch": "pytorch"}
#: Rules whose command is not a stage's: rule -> rlnet modules it needs.
RULE_MODULES: dict[str, list[str]] = {}


# --- env files -------------------------------------------------------------------------------


def env_files() -> list[Path]:
    return sorted(ENVS.glob("*.yaml"))


@cache
def env_packages(path: Path) -> dict[str, str | None]:
    """conda package -> pinned version spec (None when unpinned) of one env file."""
    spec = yaml.safe_load(path.read_text())
    packages: dict[str, str | None] = {}
    for dep in spec["dependencies"]:
        assert isinstance(dep, str), f"{path.name}: only conda packages expected, got {dep!r}"
        name, _, rest = dep.partition("=")
        packages[name.split("::")[-1].strip()] = rest.split("=")[0] or None
    return packages


def pyproject_pins() -> dict[str, str]:
    """conda package name -> version pinned with == in pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for dep in project["dependencies"]:
        name, sep, version = dep.partition("==")
        if sep:
            name = name.strip().lower()
            pins[PYPI_TO_CONDA.get(name, name)] = version.strip()
    return pins


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_parses_and_uses_conda_forge_only(path):
    spec = yaml.safe_load(path.read_text())
    assert set(spec) <= {"name", "channels", "dependencies"}, path.name
    assert spec["channels"] == ["conda-forge", "nodefaults"], path.name
    assert spec["dependencies"], path.name


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_pins_equal_pyproject(path):
    pins = pyproject_pins()
    packages = env_packages(path)
    for name, version in packages.items():
        if name in ("python", "cuda-version"):
            continue
        assert name in pins, f"{path.name}: {name} is not pinned in pyproject.toml"
        assert version == pins[name], f"{path.name}: {name}={version}, pyproject {pins[name]}"
    python = re.search(
        r">=(\d+\.\d+)",
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"],
    ).group(1)
    assert packages.get("python") == python, f"{path.name}: python must be pinned to {python}"


def test_torch_env_is_a_cuda_build():
    """conda-forge's CUDA build of the pinned PyTorch, not whichever build the solver picks."""
    deps = yaml.safe_load((ENVS / "torch.yaml").read_text())["dependencies"]
    pins = pyproject_pins()
    assert f"pytorch={pins['pytorch']}=cuda*" in deps
    assert any(dep.startswith("cuda-version=") for dep in deps)


# --- rules -----------------------------------------------------------------------------------


def parse_rules() -> dict[str, dict]:
    """rule name -> {file, conda, stage, action} from the snakefmt-formatted rule files."""
    rules = {}
    for path in RULE_FILES:
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^rule (\w+):", text, re.M)]
        ends = [s for s, _ in starts[1:]] + [len(text)]
        for (start, name), end in zip(starts, ends[: len(starts)], strict=True):
            body = text[start:end]
            conda = re.search(r"^    conda:\s*\n\s+\"([^\"]+)\"", body, re.M)
            stage = re.search(r"(?:stage_shell|figure_shell|stage_command)\(\s*\"([\w-]+)\"", body)
            action = re.search(r"^    (shell|script|run|notebook|wrapper):", body, re.M)
            rules[name] = {
                "file": path,
                "conda": conda and (path.parent / conda.group(1)).resolve(),
                "stage": stage and stage.group(1),
                "action": action and action.group(1),
            }
    return rules | figure_rules()


def figure_rules() -> dict[str, dict]:
    """The rules figures.smk defines in a loop (figure_<kind>), one per entry of
    figure_kinds.smk (``"<kind>": figure_kind("<stage>", ...``), all with the loop's env."""
    loop = ROOT / "workflow" / "rules" / "figures.smk"
    conda = re.search(r"^        conda:\s*\n\s+\"([^\"]+)\"", loop.read_text(), re.M)
    kinds = (ROOT / "workflow" / "rules" / "figure_kinds.smk").read_text()
    entries = re.findall(r'^    "(\w+)": figure_kind\(\s*"([\w-]+)"', kinds, re.M)
    assert entries, "figure_kinds.smk: no figure_kind entries found"
    return {
        f"figure_{kind}": {
            "file": loop,
            "conda": conda and (loop.parent / conda.group(1)).resolve(),
            "stage": stage,
            "action": "shell",
        }
        for kind, stage in entries
    }


def test_rules_are_found():
    rules = parse_rules()
    assert {"synthesize", "manifest", "split", "prepare", "figure_overlays"} <= set(rules)


@pytest.mark.parametrize("name", sorted(parse_rules()))
def test_rule_has_an_existing_env(name):
    rule = parse_rules()[name]
    if rule["action"] is None:
        pytest.skip(f"{name} runs nothing (aggregation rule)")
    assert rule["conda"] is not None, f"rule {name} ({rule['file'].name}) has no conda: env"
    assert rule["conda"].is_file(), f"rule {name}: env {rule['conda']} does not exist"
    assert rule["conda"].parent == ENVS.resolve(), f"rule {name}: env outside envs/"


# --- imports ---------------------------------------------------------------------------------


def stage_modules() -> dict[str, set[str]]:
    """stage name of rlnet.cli -> names its function (and the helpers it calls) import."""
    return {name: set(names) for name, names in stage_imports().items()}


def rule_requirements(name: str) -> set[str]:
    """Conda packages that rule ``name`` needs, from the imports of what it runs."""
    rule = parse_rules()[name]
    if name in RULE_MODULES:
        modules = set(RULE_MODULES[name])
    else:
        stages = stage_modules()
        assert rule["stage"], (
            f"rule {name}: cannot tell what it runs (no stage_shell(<stage>)); "
            "declare its modules in RULE_MODULES"
        )
        assert rule["stage"] in stages, f"rule {name}: unknown rlnet stage {rule['stage']!r}"
        modules = stages[rule["stage"]]
    rlnet_modules = {m for m in modules if m.split(".")[0] == "rlnet"}
    names = closure(rlnet_modules) | {m.split(".")[0] for m in modules if m not in rlnet_modules}
    imports = {n for n in names if n.split(".")[0] != "rlnet"}
    missing = sorted(imports - set(IMPORT_TO_CONDA) - set(sys.stdlib_module_names))
    assert not missing, (
        f"rule {name}: map these imports to conda packages in IMPORT_TO_CONDA: {missing}"
    )
    return {IMPORT_TO_CONDA[n] for n in imports if n in IMPORT_TO_CONDA}


def test_stages_are_found():
    stages = stage_modules()
    assert {"synthesize", "manifest", "split", "prepare"} <= set(stages)
    assert "rlnet.split" in stages["split"]


def test_data_stages_need_no_torch():
    """The point of importing inside stages: the data env stays small."""
    for stage in ("synthesize", "manifest", "split", "prepare"):
        assert "torch" not in closure(stage_modules()[stage])


@pytest.mark.parametrize("name", sorted(n for n, r in parse_rules().items() if r["action"]))
def test_rule_env_provides_its_imports(name):
    rule = parse_rules()[name]
    if rule["conda"] is None or not rule["conda"].is_file():
        pytest.skip("no env (test_rule_has_an_existing_env fails)")
    needed = rule_requirements(name)
    missing = sorted(needed - set(env_packages(rule["conda"])))
    assert not missing, f"rule {name}: {rule['conda'].name} lacks {missing}"


def test_import_closure_sees_nested_and_relative_imports(tmp_path):
    """The import walker itself, on rlnet modules with known imports."""
    names = closure({"rlnet.split"})
    assert {"rlnet.split", "rlnet", "numpy", "pandas"} <= names
    assert "torch" not in names
