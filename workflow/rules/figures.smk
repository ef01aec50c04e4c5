# The paper's figures (Figs. 2, 3, 5, 6, 8-13): one rule per kind, one target per figure.
# Every figure is {name}.pdf + {name}.png + {name}.json (the numbers drawn) from one job whose
# inputs are only the files it draws and its figure module (so an edited module reruns exactly
# the figures that use it). Target lists: get_figure_outputs() in common.smk.


rule figure_bland_altman:
    input:
        predictions="results/predictions/{problem}/{model}/nall_r0/predictions.tsv",
        code=stage_code("figure-bland-altman"),
    output:
        pdf="results/figures/bland_altman/{problem}_{model}.pdf",
        png=report(
            "results/figures/bland_altman/{problem}_{model}.png",
            caption="../report/bland_altman.rst",
            category="{problem}",
            subcategory="Bland-Altman",
            labels={"problem": "{problem}", "model": "{model}"},
        ),
        json="results/figures/bland_altman/{problem}_{model}.json",
    log:
        "results/logs/figures/bland_altman/{problem}_{model}.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    shell:
        "python -m rlnet figure-bland-altman --predictions {input.predictions}"
        " --problem {wildcards.problem} --model {wildcards.model} --out {output.pdf} 2> {log}"


rule figure_correlation:
    input:
        predictions="results/predictions/{problem}/{model}/nall_r0/predictions.tsv",
        code=stage_code("figure-correlation"),
    output:
        pdf="results/figures/correlation/{problem}_{model}.pdf",
        png=report(
            "results/figures/correlation/{problem}_{model}.png",
            caption="../report/correlation.rst",
            category="{problem}",
            subcategory="Correlation",
            labels={"problem": "{problem}", "model": "{model}"},
        ),
        json="results/figures/correlation/{problem}_{model}.json",
    log:
        "results/logs/figures/correlation/{problem}_{model}.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    shell:
        "python -m rlnet figure-correlation --predictions {input.predictions}"
        " --problem {wildcards.problem} --model {wildcards.model} --out {output.pdf} 2> {log}"


rule figure_confusion:
    input:
        predictions="results/predictions/cac/{model}/nall_r0/predictions.tsv",
        code=stage_code("figure-confusion"),
    output:
        pdf="results/figures/confusion/cac_{model}.pdf",
        png=report(
            "results/figures/confusion/cac_{model}.png",
            caption="../report/confusion.rst",
            category="cac",
            subcategory="Risk-group confusion",
            labels={"problem": "cac", "model": "{model}"},
        ),
        json="results/figures/confusion/cac_{model}.json",
    log:
        "results/logs/figures/confusion/cac_{model}.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        scheme=config["evaluation"]["risk_scheme"],
    shell:
        "python -m rlnet figure-confusion --predictions {input.predictions} --model {wildcards.model}"
        " --risk-scheme {params.scheme} --out {output.pdf} 2> {log}"


rule figure_overlays:
    input:
        predictions="results/predictions/{problem}/{model}/nall_r0/predictions.tsv",
        localization="results/predictions/{problem}/{model}/nall_r0/localization.npy",
        prepared=lambda w: get_prepared(w.problem),
        code=stage_code("figure-overlays"),
    output:
        pdf="results/figures/overlays/{problem}_{model}.pdf",
        png=report(
            "results/figures/overlays/{problem}_{model}.png",
            caption="../report/overlays.rst",
            category="{problem}",
            subcategory="Localization",
            labels={"problem": "{problem}", "model": "{model}"},
        ),
        json="results/figures/overlays/{problem}_{model}.json",
    log:
        "results/logs/figures/overlays/{problem}_{model}.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    shell:
        "python -m rlnet figure-overlays --predictions {input.predictions}"
        " --localization {input.localization} --prepared results/prepared/{wildcards.problem}"
        " --problem {wildcards.problem} --model {wildcards.model} --out {output.pdf} 2> {log}"


rule figure_liver_comparison:
    input:
        predictions=expand(
            "results/predictions/liver/{model}/nall_r0/predictions.tsv",
            model=LIVER_COMPARISON,
        ),
        localization=expand(
            "results/predictions/liver/{model}/nall_r0/localization.npy",
            model=LIVER_COMPARISON,
        ),
        prepared=get_prepared("liver"),
        code=stage_code("figure-liver-comparison"),
    output:
        pdf="results/figures/liver_comparison.pdf",
        png=report(
            "results/figures/liver_comparison.png",
            caption="../report/liver_comparison.rst",
            category="liver",
            subcategory="Localization",
            labels={"problem": "liver", "model": "rl-unet vs seg-unet"},
        ),
        json="results/figures/liver_comparison.json",
    log:
        "results/logs/figures/liver_comparison.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        models=" ".join(LIVER_COMPARISON),
    shell:
        "python -m rlnet figure-liver-comparison --models {params.models}"
        " --predictions {input.predictions} --localization {input.localization}"
        " --prepared results/prepared/liver --out {output.pdf} 2> {log}"


rule figure_abs_error:
    input:
        predictions=lambda w: get_main_predictions(w.problem),
        code=stage_code("figure-abs-error"),
    output:
        pdf="results/figures/abs_error/{problem}.pdf",
        png=report(
            "results/figures/abs_error/{problem}.png",
            caption="../report/abs_error.rst",
            category="{problem}",
            subcategory="Absolute error",
            labels={"problem": "{problem}", "model": "all"},
        ),
        json="results/figures/abs_error/{problem}.json",
    log:
        "results/logs/figures/abs_error/{problem}.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    shell:
        "python -m rlnet figure-abs-error --problem {wildcards.problem}"
        " --predictions {input.predictions} --out {output.pdf} 2> {log}"


rule figure_sample_size:
    input:
        table="results/tables/sample_size.tsv",
        code=stage_code("figure-sample-size"),
    output:
        pdf="results/figures/sample_size/{problem}.pdf",
        png=report(
            "results/figures/sample_size/{problem}.png",
            caption="../report/sample_size.rst",
            category="{problem}",
            subcategory="Sample size",
            labels={"problem": "{problem}", "model": "sample-size sweep"},
        ),
        json="results/figures/sample_size/{problem}.json",
    log:
        "results/logs/figures/sample_size/{problem}.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    shell:
        "python -m rlnet figure-sample-size --table {input.table} --problem {wildcards.problem}"
        " --out {output.pdf} 2> {log}"


rule figure_distribution:
    input:
        split="results/data/{problem}/split.tsv",
        manifest="results/data/{problem}/manifest.tsv",
        code=stage_code("figure-distribution"),
    output:
        pdf="results/figures/distribution/{problem}.pdf",
        png=report(
            "results/figures/distribution/{problem}.png",
            caption="../report/distribution.rst",
            category="{problem}",
            subcategory="Data",
            labels={"problem": "{problem}", "model": "data"},
        ),
        json="results/figures/distribution/{problem}.json",
    log:
        "results/logs/figures/distribution/{problem}.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    shell:
        "python -m rlnet figure-distribution --split {input.split} --manifest {input.manifest}"
        " --problem {wildcards.problem} --out {output.pdf} 2> {log}"


rule figure_risk_groups:
    input:
        split="results/data/cac/split.tsv",
        manifest="results/data/cac/manifest.tsv",
        code=stage_code("figure-risk-groups"),
    output:
        pdf="results/figures/risk_groups.pdf",
        png=report(
            "results/figures/risk_groups.png",
            caption="../report/risk_groups.rst",
            category="cac",
            subcategory="Data",
            labels={"problem": "cac", "model": "data"},
        ),
        json="results/figures/risk_groups.json",
    log:
        "results/logs/figures/risk_groups.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        scheme=config["evaluation"]["risk_scheme"],
    shell:
        "python -m rlnet figure-risk-groups --split {input.split} --manifest {input.manifest}"
        " --risk-scheme {params.scheme} --out {output.pdf} 2> {log}"


rule figures:
    input:
        get_figure_outputs(),
