# Targets: what each stage of the study produces, and `all`.


def get_data_outputs():
    """Everything the data stage of the DAG produces."""
    outputs = []
    for problem in PROBLEMS:
        outputs += get_prepared(problem)
        outputs.append(f"results/data/{problem}/split_counts.tsv")
    return outputs


def get_main_metrics(wildcards=None):
    """Metrics JSONs of the main study (every configured model, every repeat, whole training
    split; and the baselines): Table II."""
    return [
        f"results/metrics/{p}/{m}/{run}.json"
        for p in PROBLEMS
        for m, run in get_main_runs(p)
    ]


def get_sample_size_metrics(wildcards=None):
    """Metrics JSONs of the sample-size sweep."""
    sweep = config.get("sample_size")
    if not sweep:
        return []
    return [
        f"results/metrics/{p}/{sweep['model']}/n{size}_r{rep}.json"
        for p in sweep["problems"]
        for size in sweep["sizes"]
        for rep in range(sweep["repeats"])
    ]


def get_table_outputs():
    """The paper's tables that the configured problems and models allow."""
    models = {p: set(get_main_models(p)) for p in PROBLEMS}
    outputs = ["results/tables/table2.tsv"]
    outputs += [
        f"results/tables/table3_{p}.tsv" for p in PROBLEMS if len(models[p]) > 1
    ]
    outputs += [
        f"results/tables/table4_{p}.tsv" for p in risk_problems() if len(models[p]) > 1
    ]
    outputs += [f"results/tables/supplementary_{p}.tsv" for p in compared_problems()]
    if get_sample_size_metrics():
        outputs.append("results/tables/sample_size.tsv")
    return outputs


def get_infer_outputs():
    """The output folder (predictions.tsv, maps/, ...) of every model the ``infer`` block
    names on new scans."""
    return [
        f"results/infer/{problem}/{model}"
        for problem, block in config.get("infer", {}).items()
        for model in block["models"]
    ]


def get_qc_outputs():
    """The heart-ROI QC of every 3D problem."""
    return [
        f"results/qc/{problem}/{name}"
        for problem in PROBLEMS
        if config["problems"][problem]["spatial_dims"] == 3
        for name in ("roi.tsv", "roi.png")
    ]


def get_final_outputs():
    """What `all` builds."""
    return (
        get_data_outputs()
        + get_qc_outputs()
        + get_table_outputs()
        + get_figure_outputs()
        + get_infer_outputs()
    )
