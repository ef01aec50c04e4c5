"""The package's own source as data: which rlnet modules each CLI stage runs, and their hashes.

Read statically (``ast``, standard library only) at parse time. Two hashes per module:

- the *behaviour* hash, SHA-256 of the module's syntax tree with comments, docstrings (every
  bare string statement) and ``__version__`` assignments left out (``behaviour_hash``). A
  stage's hash over its modules' (``stage_behaviour``) is a param of its rule, so Snakemake's
  params trigger reruns exactly the jobs whose code changed in what it does, and a comment or
  docstring edit reruns nothing;
- the *bytes* hash, SHA-256 of the source file (``module_hash``), which the provenance records
  keep beside the behaviour hash: the audit fails on any edit and says whether it touched only
  comments and docstrings.

A stage's modules are ``rlnet.cli``, the cli module declaring it (with its module-level
imports), the imports inside the stage's own function and the helpers of that module it calls,
followed transitively through rlnet.
"""

import ast
import hashlib
import sys
from functools import cache
from pathlib import Path

#: Folder holding the ``rlnet`` package (``workflow/`` of the repository).
SOURCE_ROOT = Path(__file__).resolve().parents[1]
#: Phantom modules: a synthesis job runs only its own phantom's module.
PHANTOM_PACKAGE = "rlnet.phantoms"
#: The module that draws phantoms, importing each by name from the registry.
SYNTHESIS = "rlnet.datasets.synthesis"
#: The command-line package: one module per concern declares its stages (``@stage``).
CLI_PACKAGE = "rlnet.cli"
#: Modules of CLI_PACKAGE that declare no stage but every stage runs.
CLI_SHARED = ("rlnet.cli.declare", "rlnet.cli.records")


@cache
def module_file(module: str) -> Path | None:
    """File of an rlnet module (``rlnet.a.b``), None when it is not a module."""
    base = SOURCE_ROOT / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _optional(node: ast.AST) -> bool:
    """A block whose imports are optional: ``try: ... except ImportError`` or
    ``if TYPE_CHECKING:`` (their imports are not dependencies)."""
    if isinstance(node, ast.Try):
        names = [ast.unparse(h.type) if h.type else "" for h in node.handlers]
        return any("ImportError" in n or "ModuleNotFoundError" in n for n in names)
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _import_nodes(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements under ``node``, skipping the bodies of optional blocks."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [node]
    found = []
    skip = node.body if _optional(node) else ()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt | ast.mod | ast.excepthandler) and child not in skip:
            found += _import_nodes(child)
    return found


def imports_in(nodes: list[ast.AST], module: str) -> set[str]:
    """Absolute names imported anywhere under ``nodes`` of ``module`` (rlnet submodules
    resolved: ``from rlnet import io`` gives ``rlnet`` and ``rlnet.io``)."""
    package = module if module_file(module).name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for top in nodes:
        for node in _import_nodes(top):
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
    """The syntax tree of an rlnet module."""
    return ast.parse(module_file(module).read_bytes())


@cache
def module_imports(module: str) -> frozenset[str]:
    """Every name an rlnet module imports, anywhere in it."""
    return frozenset(imports_in([parsed(module)], module))


def closure(modules: set[str], exclude: frozenset[str] = frozenset()) -> set[str]:
    """rlnet modules reachable from ``modules`` (with their parent packages), plus every
    third-party import name they use, as top-level names. ``exclude``: rlnet modules not
    followed (another phantom's module in a synthesis job)."""
    seen: set[str] = set()
    third_party: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen or module in exclude:
            continue
        if module.split(".")[0] != "rlnet":
            if module.split(".")[0] not in sys.stdlib_module_names:
                third_party.add(module.split(".")[0])
            continue
        seen.add(module)
        if module.split(".")[:2] == CLI_PACKAGE.split(".") and module != CLI_SHARED[0]:
            # Stages import their modules inside the stage (see stage_imports); following
            # a cli module's imports would make every stage depend on every module.
            continue
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        for name in module_imports(module):
            top = name.split(".")[0]
            if top == "rlnet":
                todo += [name] if module_file(name) else []
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    return seen | third_party


def _stage_name(func: ast.FunctionDef) -> str | None:
    """The stage a cli function registers with ``@stage("name", ...)``, if any."""
    for deco in func.decorator_list:
        if (
            isinstance(deco, ast.Call)
            and getattr(deco.func, "id", None) == "stage"
            and deco.args
            and isinstance(deco.args[0], ast.Constant)
        ):
            return deco.args[0].value
    return None


def cli_modules() -> list[str]:
    """The modules of CLI_PACKAGE that declare stages."""
    folder = module_file(CLI_PACKAGE).parent
    names = (f"{CLI_PACKAGE}.{p.stem}" for p in sorted(folder.glob("*.py")))
    return [n for n in names if n != f"{CLI_PACKAGE}.__init__" and n not in CLI_SHARED]


@cache
def stage_imports() -> dict[str, frozenset[str]]:
    """Stage name -> names its function (and the helpers of its module it calls) import, with
    ``rlnet.cli``, its module and that module's module-level imports."""
    stages = {}
    for module in cli_modules():
        tree = parsed(module)
        helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        common = imports_in(top, module) | {CLI_PACKAGE, module, *CLI_SHARED}
        for func in helpers.values():
            name = _stage_name(func)
            if name is None:
                continue
            bodies, todo = [], [func]
            while todo:
                fn = todo.pop()
                if fn in bodies:
                    continue
                bodies.append(fn)
                called = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
                todo += [helpers[c] for c in called if c in helpers and c != fn.name]
            names = imports_in(bodies, module) | common
            stages[name] = frozenset(
                n for n in names if n.split(".")[0] != "rlnet" or module_file(n)
            )
    return stages


def _phantoms_drawn(phantom_module: str | None) -> set[str]:
    """The phantom modules a synthesis job may import by name: ``phantom_module``, or every
    phantom of the registry when none is named."""
    from rlnet.phantom_registry import PHANTOMS

    modules = [phantom_module] if phantom_module else [p.module for p in PHANTOMS.values()]
    return {f"{PHANTOM_PACKAGE}.{m}" for m in modules}


def _other_phantoms(phantom_module: str | None) -> frozenset[str]:
    """The registry's phantom modules other than ``phantom_module`` (a module name under
    rlnet.phantoms); the modules the phantoms share (e.g. their geometry) stay in."""
    if phantom_module is None:
        return frozenset()
    from rlnet.phantom_registry import PHANTOMS

    names = {f"{PHANTOM_PACKAGE}.{p.module}" for p in PHANTOMS.values()}
    return frozenset(names - {f"{PHANTOM_PACKAGE}.{phantom_module}"})


@cache
def stage_modules(stage: str, phantom_module: str | None = None) -> tuple[str, ...]:
    """Sorted rlnet modules that ``stage`` runs; for ``synthesize``, ``phantom_module`` (e.g.
    ``liver``) leaves the other phantoms' modules out. KeyError for an unknown stage."""
    names = set(stage_imports()[stage])
    found = closure(names, _other_phantoms(phantom_module))
    if SYNTHESIS in found:  # it imports its phantom by name (rlnet.phantom_registry)
        found = closure(names | _phantoms_drawn(phantom_module), _other_phantoms(phantom_module))
    return tuple(sorted(m for m in found if m.split(".")[0] == "rlnet"))


def module_hash(module: str) -> str | None:
    """SHA-256 of a module's source file; None when the module no longer exists."""
    path = module_file(module)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path else None


def stage_hashes(stage: str, phantom_module: str | None = None) -> dict[str, str]:
    """{module: SHA-256 of its source} for every module ``stage`` runs."""
    return {m: module_hash(m) for m in stage_modules(stage, phantom_module)}


def _inert(node: ast.stmt) -> bool:
    """A statement that does nothing a run can see: a bare string (a docstring) or an
    assignment of ``__version__``."""
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign):
        targets = [node.target]
    else:
        return False
    return any(isinstance(t, ast.Name) and t.id == "__version__" for t in targets)


@cache
def source_behaviour(source: bytes) -> str:
    """SHA-256 of the syntax tree of Python ``source`` without its inert statements
    (``_inert``); comments and line numbers never enter a syntax tree's dump."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, name, [child for child in value if not _inert(child)])
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def behaviour_hash(module: str) -> str | None:
    """SHA-256 of what a module does (its syntax tree without comments, docstrings and
    ``__version__``); None when the module no longer exists."""
    path = module_file(module)
    return source_behaviour(path.read_bytes()) if path else None


def stage_behaviours(stage: str, phantom_module: str | None = None) -> dict[str, str]:
    """{module: behaviour hash} for every module ``stage`` runs."""
    return {m: behaviour_hash(m) for m in stage_modules(stage, phantom_module)}


def stage_behaviour(stage: str, phantom_module: str | None = None) -> str:
    """One SHA-256 over the names and behaviour hashes of the modules ``stage`` runs: the
    rule's ``code`` param (a changed value reruns the job)."""
    lines = (f"{m} {h}\n" for m, h in stage_behaviours(stage, phantom_module).items())
    return hashlib.sha256("".join(lines).encode()).hexdigest()
