"""The audit: a result file and its whole chain of inputs checked against their records."""

import argparse
from pathlib import Path

from rlnet.cli.declare import option, stage


@stage(
    "audit",
    "check a result file and its whole chain of inputs against their records",
    option("file", type=Path, help="any file the pipeline wrote, e.g. a table"),
    option("--results", type=Path, default=Path("results"), help="the pipeline's output folder"),
    option("--full", action="store_true", help="hash every file (ignore the cache)"),
    option(
        "--allow-dirty",
        action="store_true",
        help="accept files made from a checkout with uncommitted edits (warn instead)",
    ),
    option(
        "--allow-comment-edits",
        action="store_true",
        help="accept modules changed only in comments or docstrings since (warn instead)",
    ),
    option("--list", action="store_true", help="print every file checked"),
    records=False,
)
def audit(a: argparse.Namespace) -> None:
    from collections import Counter

    from rlnet import provenance

    report = provenance.audit(a.file, a.results, a.allow_dirty, a.full, a.allow_comment_edits)
    stages = Counter(record["stage"] for record in report.checked.values())
    if a.list:
        for path, record in report.checked.items():
            commit = record["code"].get("git_commit") or "no git"
            print(f"made  {path}  by '{record['stage']}' ({commit})")
        for path in report.leaves:
            print(f"raw   {path}")
    for warning in report.warnings:
        print(f"WARN  {warning}")
    for problem in report.problems:
        print(f"FAIL  {problem}")
    if report.problems:
        raise provenance.AuditError(
            f"{a.file}: {len(report.problems)} provenance problem(s), listed above"
        )
    by_stage = ", ".join(f"{n} by '{stage}'" for stage, n in sorted(stages.items()))
    print(
        f"ok: {len(report.checked)} file(s) made by the pipeline ({by_stage}), "
        f"{len(report.leaves)} raw input(s)"
    )
