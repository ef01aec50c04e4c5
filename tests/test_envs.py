"""The conda environments of the rules (envs/*.yaml), checked without conda.

Data-driven, so it keeps working as rules and stages are added:

  rule --(its `conda:`)--> env file
  rule --(its shell command `python -m rlnet <stage>`)--> stage of rlnet.cli
  stage --(the rlnet imports inside the stage's function, followed transitively)--> modules
  modules --(their third-party imports, mapped by IMPORT_TO_CONDA)--> conda packages

and every such package must be listed in the rule's env. Versions must equal pyproject's pins.
"""

import ast
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

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
#: Rules whose command is not `python -m rlnet <stage>`: rule -> rlnet modules it needs.
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
            stage = re.search(r"python -m rlnet\s+([\w-]+)", body)
            action = re.search(r"^    (shell|script|run|notebook|wrapper):", body, re.M)
            rules[name] = {
                "file": path,
                "conda": conda and (path.parent / conda.group(1)).resolve(),
                "stage": stage and stage.group(1),
                "action": action and action.group(1),
            }
    return rules


def test_rules_are_found():
    rules = parse_rules()
    assert {"synthesize", "manifest", "split", "prepare"} <= set(rules)


@pytest.mark.parametrize("name", sorted(parse_rules()))
def test_rule_has_an_existing_env(name):
    rule = parse_rules()[name]
    if rule["action"] is None:
        pytest.skip(f"{name} runs nothing (aggregation rule)")
    assert rule["conda"] is not None, f"rule {name} ({rule['file'].name}) has no conda: env"
    assert rule["conda"].is_file(), f"rule {name}: env {rule['conda']} does not exist"
    assert rule["conda"].parent == ENVS.resolve(), f"rule {name}: env outside envs/"


# --- imports ---------------------------------------------------------------------------------


def module_file(module: str) -> Path | None:
    """File of an rlnet module (``rlnet.a.b``), None when it is not a module."""
    base = ROOT / "workflow" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _guarded(node: ast.AST, parents: dict) -> bool:
    """Inside ``try: ... except ImportError`` (optional) or ``if TYPE_CHECKING:``."""
    while node in parents:
        child, node = node, parents[node]
        if isinstance(node, ast.Try) and child in node.body:
            for handler in node.handlers:
                names = ast.unparse(handler.type) if handler.type else ""
                if "ImportError" in names or "ModuleNotFoundError" in names:
                    return True
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_in(nodes: list[ast.AST], module: str, tree: ast.AST) -> set[str]:
    """Absolute names imported anywhere under ``nodes`` (rlnet submodules resolved)."""
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    package = module if module_file(module).name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for top in nodes:
        for node in ast.walk(top):
            if not isinstance(node, ast.Import | ast.ImportFrom) or _guarded(node, parents):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            for alias in node.names:
                if module_file(f"{base}.{alias.name}"):
                    found.add(f"{base}.{alias.name}")
    return found


@cache
def parsed(module: str) -> ast.Module:
    return ast.parse(module_file(module).read_text())


def closure(modules: set[str]) -> set[str]:
    """rlnet modules reachable from ``modules`` (with their parent packages), plus every
    third-party import name they use, as top-level names."""
    seen: set[str] = set()
    third_party: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        if module.split(".")[0] != "rlnet":
            if module.split(".")[0] not in sys.stdlib_module_names:
                third_party.add(module.split(".")[0])
            continue
        seen.add(module)
        if module == "rlnet.cli":
            # Its stages import their modules inside the stage (see stage_modules); following
            # them all here would make every stage need every package.
            continue
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        for name in imports_in([parsed(module)], module, parsed(module)):
            top = name.split(".")[0]
            if top == "rlnet":
                todo += [name] if module_file(name) else []
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    return seen | third_party


def stage_modules() -> dict[str, set[str]]:
    """stage name of rlnet.cli -> rlnet modules its function (and cli helpers it calls) import.

    The cli imports each stage's modules inside the stage, so that one stage does not need the
    others' packages (the data env has no torch). Module-level imports of cli count for all.
    """
    tree = parsed("rlnet.cli")
    helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    common = imports_in(
        [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)], "rlnet.cli", tree
    )
    stages = {}
    for func in helpers.values():
        for deco in func.decorator_list:
            if (
                isinstance(deco, ast.Call)
                and getattr(deco.func, "id", None) == "stage"
                and isinstance(deco.args[0], ast.Constant)
            ):
                bodies, todo = [], [func]
                while todo:
                    fn = todo.pop()
                    if fn in bodies:
                        continue
                    bodies.append(fn)
                    called = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
                    todo += [helpers[c] for c in called if c in helpers and c != fn.name]
                names = imports_in(bodies, "rlnet.cli", tree) | common
                stages[deco.args[0].value] = (
                    {"rlnet.cli"}
                    | {n for n in names if n.split(".")[0] == "rlnet" and module_file(n)}
                    | {n for n in names if n.split(".")[0] != "rlnet"}
                )
    return stages


def rule_requirements(name: str) -> set[str]:
    """Conda packages that rule ``name`` needs, from the imports of what it runs."""
    rule = parse_rules()[name]
    if name in RULE_MODULES:
        modules = set(RULE_MODULES[name])
    else:
        stages = stage_modules()
        assert rule["stage"], (
            f"rule {name}: cannot tell what it runs (no `python -m rlnet <stage>`); "
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
