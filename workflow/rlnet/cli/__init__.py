"""Command-line front for every pipeline stage: ``python -m rlnet <stage> ...``.

Each Snakemake rule calls exactly one stage; the stage's declaration (rlnet.cli.declare) gives
its arguments, the rule's command line and its provenance. Settings arrive as JSON strings of
the relevant config block (the rule's ``params``), so a changed setting reruns the affected
jobs. Stages by concern: ``data``, ``models``, ``evaluate``, ``figures``, ``audit``.
"""

import argparse
import logging
import sys

from rlnet import __version__
from rlnet.cli import audit, data, evaluate, figures, models, records  # noqa: F401 (registers)
from rlnet.cli.declare import STAGES

log = logging.getLogger("rlnet")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage."""
    parser = argparse.ArgumentParser(
        prog="rlnet",
        description="RL-Net pipeline stages (each Snakemake rule calls one).",
    )
    parser.add_argument("--version", action="version", version=f"rlnet {__version__}")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, declared in STAGES.items():
        declared.add_to(sub.add_parser(name, help=declared.help, description=declared.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one stage; errors print one clear line and exit with status 1 (130 on Ctrl-C)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    declared = STAGES[args.stage]
    try:
        if declared.records:
            records.clear(declared, args)
        args.execute(args)
        if declared.records:
            records.write(declared, args, argv)
    except (ValueError, OSError, RuntimeError) as err:
        log.error("%s failed: %s", args.stage, err)
        return 1
    except KeyboardInterrupt:
        log.error("%s interrupted (Ctrl-C): its outputs were not written", args.stage)
        return 130
    return 0
