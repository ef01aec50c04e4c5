# RL-Net: biomarker regression and localization from CT without training masks.
# The table of contents of the workflow; rules live in workflow/rules/, logic in workflow/rlnet/.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default, unless --configfile names a complete config of its own (then it is not
# merged over the default: a config file describes the whole study).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


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
