# The paper's figures (Figs. 2, 3, 5, 6, 8-13): one rule per kind, one target per figure.
# Every figure is {name}.pdf + {name}.png + {name}.json (the numbers drawn) from one job whose
# inputs are only the files it draws and its figure module (so an edited module reruns exactly
# the figures that use it). Target lists: get_figure_outputs() in common.smk.


rule figure_bland_altman:
    input:
        predictions="results/predictions/{problem}/{model}/nall_r0/predictions.tsv",
        code=stage_code("figure-bland-altman"),
    output:
        **figure_outputs(
            "bland_altman/{problem}_{model}", "bland_altman", "Bland-Altman"
        ),
    log:
        figure_log("bland_altman/{problem}_{model}"),
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        biomarker=lambda w: biomarker_json(w.problem),
    shell:
        figure_shell("figure-bland-altman")


rule figure_correlation:
    input:
        predictions="results/predictions/{problem}/{model}/nall_r0/predictions.tsv",
        code=stage_code("figure-correlation"),
    output:
        **figure_outputs("correlation/{problem}_{model}", "correlation", "Correlation"),
    log:
        figure_log("correlation/{problem}_{model}"),
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        biomarker=lambda w: biomarker_json(w.problem),
    shell:
        figure_shell("figure-correlation")


rule figure_confusion:
    input:
        predictions="results/predictions/{problem}/{model}/nall_r0/predictions.tsv",
        code=stage_code("figure-confusion"),
    output:
        **figure_outputs(
            "confusion/{problem}_{model}", "confusion", "Risk-group confusion"
        ),
    log:
        figure_log("confusion/{problem}_{model}"),
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        biomarker=lambda w: biomarker_json(w.problem),
        risk_scheme=config["evaluation"]["risk_scheme"],
    shell:
        figure_shell("figure-confusion")


rule figure_overlays:
    input:
        predictions="results/predictions/{problem}/{model}/nall_r0/predictions.tsv",
        localization="results/predictions/{problem}/{model}/nall_r0/localization.npy",
        prepared=lambda w: get_prepared(w.problem),
        code=stage_code("figure-overlays"),
    output:
        **figure_outputs("overlays/{problem}_{model}", "overlays", "Localization"),
    log:
        figure_log("overlays/{problem}_{model}"),
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        biomarker=lambda w: biomarker_json(w.problem),
    shell:
        figure_shell("figure-overlays", prepared=PREPARED)


rule figure_comparison:
    input:
        predictions=lambda w: comparison_files(w.problem, "predictions.tsv"),
        localization=lambda w: comparison_files(w.problem, "localization.npy"),
        prepared=lambda w: get_prepared(w.problem),
        code=stage_code("figure-comparison"),
    output:
        **figure_outputs(
            "comparison/{problem}",
            "comparison",
            "Localization",
            model=" vs ".join(COMPARISON),
        ),
    log:
        figure_log("comparison/{problem}"),
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        biomarker=lambda w: biomarker_json(w.problem),
        models=COMPARISON,
    shell:
        figure_shell("figure-comparison", prepared=PREPARED)


rule figure_abs_error:
    input:
        predictions=lambda w: get_main_predictions(w.problem),
        code=stage_code("figure-abs-error"),
    output:
        **figure_outputs(
            "abs_error/{problem}", "abs_error", "Absolute error", model="all"
        ),
    log:
        figure_log("abs_error/{problem}"),
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        biomarker=lambda w: biomarker_json(w.problem),
        models=lambda w: get_main_models(w.problem),
    shell:
        figure_shell("figure-abs-error")


rule figure_sample_size:
    input:
        table="results/tables/sample_size.tsv",
        code=stage_code("figure-sample-size"),
    output:
        **figure_outputs(
            "sample_size/{problem}",
            "sample_size",
            "Sample size",
            model="sample-size sweep",
        ),
    log:
        figure_log("sample_size/{problem}"),
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        biomarker=lambda w: biomarker_json(w.problem),
    shell:
        figure_shell("figure-sample-size")


rule figure_distribution:
    input:
        split="results/data/{problem}/split.tsv",
        manifest="results/data/{problem}/manifest.tsv",
        code=stage_code("figure-distribution"),
    output:
        **figure_outputs("distribution/{problem}", "distribution", "Data", model="data"),
    log:
        figure_log("distribution/{problem}"),
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        biomarker=lambda w: biomarker_json(w.problem),
    shell:
        figure_shell("figure-distribution")


rule figure_risk_groups:
    input:
        split="results/data/{problem}/split.tsv",
        manifest="results/data/{problem}/manifest.tsv",
        code=stage_code("figure-risk-groups"),
    output:
        **figure_outputs("risk_groups/{problem}", "risk_groups", "Data", model="data"),
    log:
        figure_log("risk_groups/{problem}"),
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        biomarker=lambda w: biomarker_json(w.problem),
        risk_scheme=config["evaluation"]["risk_scheme"],
    shell:
        figure_shell("figure-risk-groups")


rule figures:
    input:
        get_figure_outputs(),
