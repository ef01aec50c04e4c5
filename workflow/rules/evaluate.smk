# Evaluation: metrics per trained model and baseline, statistical tests, the paper's tables.


rule metrics:
    input:
        predictions="results/predictions/{problem}/{model}/{run}/predictions.tsv",
        localization="results/predictions/{problem}/{model}/{run}/localization.npy",
        localizations="results/predictions/{problem}/{model}/{run}/localizations.npz",
        run=get_run_json,
        prepared=lambda w: get_prepared(w.problem),
    output:
        **recorded(
            out="results/metrics/{problem}/{model}/{run}.json",
            cases="results/metrics/{problem}/{model}/{run}_cases.tsv",
        ),
    log:
        "results/logs/metrics/{problem}/{model}/{run}.log",
    conda:
        "../../envs/stats.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("metrics"),
        bootstrap=config["evaluation"]["bootstrap"],
        seed=config["seed"],
        localization_rule=config["evaluation"]["localization"],
    shell:
        stage_shell("metrics", prepared=PREPARED)


rule table2:
    input:
        metrics=get_main_metrics,
    output:
        **recorded(
            tsv=report(
                "results/tables/table2.tsv",
                caption="../report/table2.rst",
                category="All problems",
                subcategory="Tables",
            ),
            markdown="results/tables/table2.md",
            latex="results/tables/table2.tex",
        ),
    log:
        "results/logs/tables/table2.log",
    conda:
        "../../envs/stats.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("table2"),
    shell:
        stage_shell("table2")


rule table3:
    input:
        cases=lambda w: get_main_cases(w.problem),
    output:
        **recorded(
            out=report(
                "results/tables/table3_{problem}.tsv",
                caption="../report/table3.rst",
                category="{problem}",
                subcategory="Tables",
            ),
        ),
    log:
        "results/logs/tables/table3_{problem}.log",
    conda:
        "../../envs/stats.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("table3"),
        models=lambda w: get_main_models(w.problem),
        p_adjust=config["evaluation"]["p_adjust"],
        alpha=config["evaluation"]["alpha"],
    shell:
        stage_shell("table3")


rule table4:
    input:
        cases=lambda w: get_main_cases(w.problem),
    output:
        **recorded(
            out=report(
                "results/tables/table4_{problem}.tsv",
                caption="../report/table4.rst",
                category="{problem}",
                subcategory="Tables",
            ),
        ),
    log:
        "results/logs/tables/table4_{problem}.log",
    conda:
        "../../envs/stats.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("table4"),
        models=lambda w: get_main_models(w.problem),
        p_adjust=config["evaluation"]["p_adjust"],
        alpha=config["evaluation"]["alpha"],
    shell:
        stage_shell("table4")


rule comparison:
    input:
        cases=lambda w: get_main_cases(w.problem),
    output:
        **recorded(
            out=report(
                "results/tables/supplementary_{problem}.tsv",
                caption="../report/supplementary_comparison.rst",
                category="{problem}",
                subcategory="Tables",
            ),
        ),
    log:
        "results/logs/tables/supplementary_{problem}.log",
    conda:
        "../../envs/stats.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("comparison"),
        models=lambda w: get_main_models(w.problem),
    shell:
        stage_shell("comparison")


rule sample_size_summary:
    input:
        metrics=get_sample_size_metrics,
    output:
        **recorded(
            out=report(
                "results/tables/sample_size.tsv",
                caption="../report/sample_size_table.rst",
                category="All problems",
                subcategory="Tables",
            ),
        ),
    log:
        "results/logs/tables/sample_size.log",
    conda:
        "../../envs/stats.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("sample-size"),
    shell:
        stage_shell("sample-size")


rule tables:
    input:
        get_table_outputs(),
