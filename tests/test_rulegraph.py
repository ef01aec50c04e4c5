"""docs/rulegraph.svg shows the rules of the default study as they are connected now."""

import html
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

BIN = Path(sys.executable).parent


def svg_edges(svg: str) -> set[tuple[str, str]]:
    """(from rule, to rule) of a graphviz SVG: node titles are ids, their text the rule name."""
    labels = dict(re.findall(r'class="node">\s*<title>(\d+)</title>.*?>([\w-]+)</text>', svg, re.S))
    pairs = re.findall(r'class="edge">\s*<title>(\d+)->(\d+)</title>', html.unescape(svg))
    return {(labels[a], labels[b]) for a, b in pairs}


def dot_edges(dot: str) -> set[tuple[str, str]]:
    """(from rule, to rule) of Snakemake's --rulegraph dot text."""
    labels = dict(re.findall(r'^\s*(\d+)\[label = "([\w-]+)"', dot, re.M))
    pairs = re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M)
    return {(labels[a], labels[b]) for a, b in pairs}


def test_the_rule_graph_picture_is_current(tmp_path):
    result = subprocess.run(
        [str(BIN / "snakemake"), "--rulegraph", "--forceall", "all"]
        + ["-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    current = dot_edges(result.stdout)
    assert ("train", "predict") in current and ("metrics", "table2") in current
    drawn = svg_edges((ROOT / "docs" / "rulegraph.svg").read_text())
    assert drawn == current, "docs/rulegraph.svg is stale: run `make rulegraph`"
