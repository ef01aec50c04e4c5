# How each job runs its stage: the shell prefix of every job, the stage's command line from its
# declaration (rlnet.cli.declare), its code param and its declared provenance records.
import sys
from pathlib import Path

from snakemake.io import is_flagged
from snakemake.settings.types import DeploymentMethod

import rlnet
from rlnet import codebase, phantom_registry, provenance
from rlnet.cli import STAGES

# Rules run `python -m rlnet <stage>` with the package imported here, in any environment (venv,
# conda env, SLURM job; run directly or as a wrapper's module): every shell command starts by
# putting it on PYTHONPATH (a conda env unsets the caller's), in bash's strict mode, which a
# prefix replaces (pipefail: a failed `python ... | tee` fails its job). `python` is the
# interpreter running Snakemake (its folder first on PATH: `.venv/bin/snakemake` works without
# activating the venv), except when jobs run in conda envs (--sdm conda, --use-conda): then
# each job's env provides it. Braces doubled: Snakemake formats the prefix.
PACKAGE_PARENT = Path(rlnet.__file__).resolve().parents[1]
JOBS_IN_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
INTERPRETER_PATH = (
    "" if JOBS_IN_CONDA else f'export PATH="{Path(sys.executable).parent}:$PATH"; '
)
shell.prefix(
    "set -euo pipefail; "
    f'export PYTHONPATH="{PACKAGE_PARENT}${{{{PYTHONPATH:+:$PYTHONPATH}}}}"; '
    + INTERPRETER_PATH
)


#: The prepared folder of a job's problem, for a stage's --prepared or --out-dir.
PREPARED = "results/prepared/{wildcards.problem}"


def stage_command(name, **values):
    """The command line of stage ``name`` from its declaration (rlnet.cli.declare): every
    argument from the rule's input, output, params or wildcards of the same name, or from
    ``values`` (e.g. a folder built from wildcards)."""
    return STAGES[name].command(**values)


def stage_shell(name, **values):
    """stage_command with the stage's log (stderr) to the job's log: a rule's shell."""
    return stage_command(name, **values) + " 2> {log}"


def stage_code(stage, phantom=None):
    """What the rlnet modules a stage runs do, as one hash (rlnet.codebase.stage_behaviour:
    their syntax trees without comments, docstrings and __version__), for a rule's ``code``
    param: Snakemake's params trigger reruns exactly the jobs whose code changed in behaviour,
    and a comment or docstring edit reruns nothing. A synthesis job's ``phantom`` leaves the
    other phantoms' modules out.
    """
    phantom_module = phantom_registry.PHANTOMS[phantom].module if phantom else None
    return codebase.stage_behaviour(stage, phantom_module)


def recorded(**outputs):
    """Named outputs and beside each file its provenance record (``<file>.prov.json``, which
    the stage writes: rlnet.provenance) as ``<name>_record``, so every file a job writes is
    declared. A directory() output holds its files' records itself."""
    records = {
        f"{name}_record": f"{path}{provenance.SUFFIX}"
        for name, path in outputs.items()
        if not is_flagged(path, "directory")
    }
    return {**outputs, **records}
