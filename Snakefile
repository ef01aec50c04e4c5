# RL-Net: biomarker regression and localization from CT without training masks.
# The table of contents of the workflow; rules live in workflow/rules/, logic in workflow/rlnet/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True
