"""docs/architecture.md's table of the package stays true: it names every module and
subpackage of workflow/rlnet, and nothing that is not one."""

import re

from conftest import ROOT

PACKAGE = ROOT / "workflow" / "rlnet"


def table_names() -> set[str]:
    """The first-column names of the rows of the section 'The package' (``x.py``, ``x/``)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## The package", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| ([^|]+) \|", section, flags=re.M)
    return {name for cell in cells for name in re.findall(r"`([\w./]+)`", cell)}


def test_the_module_table_names_every_module_and_only_those():
    modules = {p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    packages = {f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert table_names() == modules | packages
