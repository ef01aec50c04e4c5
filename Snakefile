# RL-Net: biomarker regression and localization from CT without training masks.
# The table of contents of the workflow; rules live in workflow/rules/, logic in workflow/rlnet/.
from snakemake.utils import min_version

min_version("9.0")


import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

#: This checkout: the folder of this Snakefile, also when a wrapper's `module` imports it
#: (workflow.basedir is the wrapper's folder then). The package, the default config and the
#: rules' PYTHONPATH (common.smk) are found from here, never from the working directory.
WORKFLOW_ROOT = Path(workflow.current_basedir)
sys.path.insert(0, str(WORKFLOW_ROOT / "workflow"))
from rlnet.config import ConfigError, read_yaml  # noqa: E402

# The embedded default; --configfile files and --config merge over it (a key set to null in
# them is removed: config/README.md). Its YAML errors name line and column here (Snakemake's
# own loader says only "not valid JSON or YAML"). A module's wrapper gives its own config.
DEFAULT_CONFIG = WORKFLOW_ROOT / "config" / "config.yaml"
try:
    read_yaml(DEFAULT_CONFIG)
except ConfigError as err:
    raise WorkflowError(str(err)) from None


configfile: str(DEFAULT_CONFIG)


include: "workflow/rules/config.smk"
include: "workflow/rules/stages.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/figure_kinds.smk"


wildcard_constraints:
    problem="|".join(PROBLEMS) or "none",
    phantom="|".join(PHANTOMS) or "none",
    shard=r"\d+",
    model="|".join(MODELS),
    n=r"all|\d+",
    rep=r"\d+",
    run=r"n(all|\d+)_r\d+",


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
