# The paper's figures: one rule per kind of figure_kinds.smk (figure_<kind>), one target per
# figure: results/figures/<kind>/<name>.pdf + .png + .json (the numbers drawn), from one job
# whose inputs are only the files it draws, and whose code param is the behaviour hash of the
# modules its stage runs (so a behaviour edit of a module reruns exactly the figures that use
# it).


for kind, entry in FIGURES.items():

    rule:
        name:
            f"figure_{kind}"
        input:
            **entry["inputs"],
        output:
            **recorded(**figure_outputs(kind)),
        log:
            f"results/logs/figures/{kind}/{entry['name']}.log",
        conda:
            "../../envs/figures.yaml"
        resources:
            **get_default_resources(),
        params:
            code=stage_code(entry["stage"]),
            stage=entry["stage"],
            arguments=figure_arguments(kind),
        shell:
            "python -m rlnet {params.stage} {params.arguments} 2> {log}"


rule figures:
    input:
        get_figure_outputs(),
