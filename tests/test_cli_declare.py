"""One declaration per stage: the rule's command line, the CLI and the provenance names."""

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from rlnet.cli import STAGES, build_parser
from rlnet.cli.declare import Stage, inp, option, out, param, wildcard


def toy() -> Stage:
    return Stage(
        "toy",
        "a toy stage",
        (
            inp("--table", listed=True),
            param("--settings"),
            wildcard("--model"),
            option("--verbose", action="store_true"),
            out("--out", beside=(".png",)),
        ),
        run=lambda a: None,
    )


def test_the_rule_command_line_by_hand():
    assert toy().command() == (
        "python -m rlnet toy --table {input.table:q} --settings {params.settings:q}"
        " --model {wildcards.model} --out {output.out:q}"
    )
    assert toy().command(out="{output.pdf}").endswith("--out {output.pdf}")
    with pytest.raises(KeyError, match="no argument"):
        toy().command(outdir="x")


def test_a_rendered_command_by_hand():
    """The values quoted for the shell, a list spread; the option (not passed by rules) left out."""
    values = {"table": "a b.tsv", "settings": '{"x": 1}', "model": "rl-unet", "out": ["o.pdf"]}
    assert toy().render(values) == (
        "--table 'a b.tsv' --settings '{\"x\": 1}' --model rl-unet --out o.pdf"
    )
    with pytest.raises(KeyError, match="no value for \\['model'\\]"):
        toy().render({"table": "t", "settings": "s", "out": "o"})


def test_provenance_names_by_hand():
    assert toy().inputs == ("table", "table@files")
    assert toy().outputs == ("out", "out.png")


def test_the_parser_takes_what_the_rule_passes():
    parser = argparse.ArgumentParser()
    toy().add_to(parser)
    args = parser.parse_args(["--table", "t", "--settings", "s", "--model", "m", "--out", "o"])
    assert (str(args.table), args.settings, args.model, args.verbose) == ("t", "s", "m", False)


def planned_commands(*configs: str) -> list[str]:
    """The `python -m rlnet ...` command of every job a dry run of `all` plans (``configs``
    merged in order)."""
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "snakemake"), "-n", "-p", "all", "--configfile", *configs],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    commands = []
    for line in result.stdout.splitlines():
        if "python -m rlnet " in line:
            command = line[line.index("python -m rlnet ") :]
            commands.append(command.split(" 2> ")[0].split(" 2>&1 ")[0])
    return commands


@pytest.mark.parametrize(
    ("config", "two_starts"),
    [("config/test.yaml", False), ("config/config.yaml", False), ("config/config.yaml", True)],
    ids=["test", "default", "default-two-starts"],
)
def test_every_planned_command_parses(config, two_starts, tmp_path):
    """Every rule's command line, as Snakemake formats it for a real job, is accepted by its
    stage's parser, and every stage that records provenance finds its files' arguments (RL
    runs from two starts: the train_start and select_start jobs too)."""
    parser = build_parser()
    starts = tmp_path / "starts.yaml"
    starts.write_text("training: {output_bias_starts: [0, 2]}\n")
    commands = planned_commands(config, *([str(starts)] if two_starts else []))
    stages = set()
    for command in commands:
        argv = shlex.split(command)[3:]
        args = parser.parse_args(argv)
        stages.add(args.stage)
        declared = STAGES[args.stage]
        for name in declared.inputs + declared.outputs:
            assert hasattr(args, name.split(".")[0].split("@")[0].split(":")[0]), (name, command)
    rules_stages = {s for s in STAGES if STAGES[s].records}
    one_start = set() if two_starts else {"select-start"}
    assert stages >= rules_stages - one_start - {
        "import-lits",
        "import-slices-table",
        "import-cac-table",
        "infer",
    }
