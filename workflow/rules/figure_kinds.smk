# The kinds of the paper's figures (Figs. 2, 3, 5, 6, 8-13), one entry each in FIGURES, and
# which figures of each kind the config allows (the rules: figures.smk). Adding a kind of
# figure: its drawing module (rlnet/figures/), its stage (rlnet/cli/figures.py), one entry here
# and a caption in workflow/report/<kind>.rst.

#: A model's test predictions (repeat 0): what the per-model figures draw.
PREDICTIONS = "results/predictions/{problem}/{model}/nall_r0/predictions.tsv"
#: Each figure is these three files.
FIGURE_SUFFIXES = ("pdf", "png", "json")


def figure_kind(
    stage, name, subcategory, figures, inputs, params=None, model="{model}", **values
):
    """One kind of figure.

    stage: the rlnet stage that draws it; name: the file name under results/figures/<kind>/
    (wildcards: problem, model); subcategory and model: its place and label in the HTML
    report; figures: a function listing every figure of the kind the config allows (names
    with the wildcards filled in); inputs and params: the rule's, besides its code and the
    problem's biomarker; values: arguments of the stage's command not taken from the rule's
    keys of the same name (stage_shell).
    """
    return {
        "stage": stage,
        "name": name,
        "subcategory": subcategory,
        "figures": figures,
        "inputs": inputs,
        "params": params or {},
        "model": model,
        "values": values,
    }


def localizes(model):
    """Whether a model outputs a localization map (rlnet.model_registry: RL-Nets, the
    segmentation U-Net, every baseline)."""
    return model_registry.model(model).localizes


def per_model(keep=lambda problem, model: True):
    """``{problem}_{model}`` of every problem's models and baselines that ``keep`` accepts."""
    return [f"{p}_{m}" for p in PROBLEMS for m in get_main_models(p) if keep(p, m)]


def get_main_predictions(problem):
    """predictions.tsv of every configured model (repeat 0) and baseline of ``problem``."""
    return [
        f"results/predictions/{problem}/{m}/nall_r0/predictions.tsv"
        for m in get_main_models(problem)
    ]


def sample_size_problems():
    """The problems of the sample-size sweep, when it runs."""
    return config["sample_size"]["problems"] if get_sample_size_metrics() else []


def prepared_input(wildcards):
    """The prepared files of the job's problem."""
    return get_prepared(wildcards.problem)


DATA_INPUTS = {
    "split": "results/data/{problem}/split.tsv",
    "manifest": "results/data/{problem}/manifest.tsv",
}
RISK_SCHEME = {"risk_scheme": config["evaluation"]["risk_scheme"]}

FIGURES = {
    "bland_altman": figure_kind(
        "figure-bland-altman",
        "{problem}_{model}",
        "Bland-Altman",
        per_model,
        {"predictions": PREDICTIONS},
    ),
    "correlation": figure_kind(
        "figure-correlation",
        "{problem}_{model}",
        "Correlation",
        per_model,
        {"predictions": PREDICTIONS},
    ),
    "confusion": figure_kind(
        "figure-confusion",
        "{problem}_{model}",
        "Risk-group confusion",
        lambda: per_model(lambda p, m: BIOMARKERS[p].risk_groups),
        {"predictions": PREDICTIONS},
        RISK_SCHEME,
    ),
    "overlays": figure_kind(
        "figure-overlays",
        "{problem}_{model}",
        "Localization",
        lambda: per_model(lambda p, m: localizes(m)),
        {
            "predictions": PREDICTIONS,
            "localization": PREDICTIONS.replace("predictions.tsv", "localization.npy"),
            "prepared": prepared_input,
        },
        prepared=PREPARED,
    ),
    "comparison": figure_kind(
        "figure-comparison",
        "{problem}",
        "Localization",
        compared_problems,
        {
            "predictions": lambda w: comparison_files(w.problem, "predictions.tsv"),
            "localization": lambda w: comparison_files(w.problem, "localization.npy"),
            "prepared": prepared_input,
        },
        {"models": lambda w: comparison_pair(w.problem)},
        model="RL vs segmentation",
        prepared=PREPARED,
    ),
    "abs_error": figure_kind(
        "figure-abs-error",
        "{problem}",
        "Absolute error",
        lambda: list(PROBLEMS),
        {"predictions": lambda w: get_main_predictions(w.problem)},
        {"models": lambda w: get_main_models(w.problem)},
        model="all",
    ),
    "sample_size": figure_kind(
        "figure-sample-size",
        "{problem}",
        "Sample size",
        sample_size_problems,
        {"table": "results/tables/sample_size.tsv"},
        model="sample-size sweep",
    ),
    "distribution": figure_kind(
        "figure-distribution",
        "{problem}",
        "Data",
        lambda: list(PROBLEMS),
        DATA_INPUTS,
        model="data",
    ),
    "risk_groups": figure_kind(
        "figure-risk-groups",
        "{problem}",
        "Data",
        risk_problems,
        DATA_INPUTS,
        RISK_SCHEME,
        model="data",
    ),
}


def figure_outputs(kind):
    """The outputs of a ``kind`` figure job: its PDF, JSON, and PNG shown in the HTML report
    (caption workflow/report/<kind>.rst, under the problem / the kind's subcategory)."""
    entry = FIGURES[kind]
    stem = f"results/figures/{kind}/{entry['name']}"
    png = report(
        f"{stem}.png",
        caption=f"../report/{kind}.rst",
        category="{problem}",
        subcategory=entry["subcategory"],
        labels={"problem": "{problem}", "model": entry["model"]},
    )
    return {"pdf": f"{stem}.pdf", "png": png, "json": f"{stem}.json"}


def figure_arguments(kind):
    """The arguments of a ``kind`` figure job's command (its stage's declaration rendered with
    the job's files, wildcards and settings), as a function for the rule's params: a rule
    defined in a loop cannot take its command from loop variables (Snakemake evaluates a
    shell command again when the job runs, after the loop has moved on)."""
    entry = FIGURES[kind]
    stage = STAGES[entry["stage"]]

    def arguments(wildcards, input, output):
        settings = {"biomarker": biomarker_json(wildcards.problem), **entry["params"]}
        values = {}
        for arg in stage.args:
            if arg.dest in entry["values"]:
                values[arg.dest] = entry["values"][arg.dest].format(wildcards=wildcards)
            elif arg.role == "input":
                values[arg.dest] = getattr(input, arg.dest)
            elif arg.role == "output":
                values[arg.dest] = output.pdf
            elif arg.role == "wildcard":
                values[arg.dest] = getattr(wildcards, arg.dest)
            elif arg.role == "param":
                value = settings[arg.dest]
                values[arg.dest] = value(wildcards) if callable(value) else value
        return stage.render(values)

    return arguments


def get_figure_outputs():
    """What the `figures` target builds: every figure's PDF, PNG and JSON."""
    return [
        f"results/figures/{kind}/{name}.{suffix}"
        for kind, entry in FIGURES.items()
        for name in entry["figures"]()
        for suffix in FIGURE_SUFFIXES
    ]
