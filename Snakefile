# RL-Net: biomarker regression and localization from CT without training masks.
# The table of contents of the workflow; rules live in workflow/rules/, logic in workflow/rlnet/.
from snakemake.utils import min_version

min_version("9.0")


# The package on the path (common.smk imports from it): a YAML error in the default config names
# its line and column (Snakemake's own loader says only "not valid JSON or YAML").
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, f"{workflow.basedir}/workflow")
from rlnet.config import ConfigError, read_yaml  # noqa: E402

# The embedded default, unless --configfile names a complete config of its own (then it is not
# merged over the default: a config file describes the whole study). A --configfile is parsed by
# Snakemake before this file runs; check its syntax with `python -m rlnet.config FILE`.
if not workflow.overwrite_configfiles:
    if Path("config/config.yaml").exists():
        try:
            read_yaml("config/config.yaml")
        except ConfigError as err:
            raise WorkflowError(str(err)) from None

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
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
