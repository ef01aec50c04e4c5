# Models: train every configured model x problem (and the sample-size sweep), then predict;
# the baselines without learning write predictions of the same layout from the prepared data.
# A run of one start (rlnet.training.starts) is one `train` job writing its run folder; an RL
# run of several starts is one `train_start` job per start (its own folder and checkpoint
# under the run's) and a `select_start` job that keeps the best as the run's model. Which rule
# writes a run folder follows from the config (the {problem} constraints of RUN_OF_ONE_START
# and RUN_OF_STARTS).


rule train:
    input:
        prepared=lambda w: get_prepared(w.problem),
    output:
        **recorded(
            model="results/models/{problem}/{model}/n{n}_r{rep}/model.pt",
            log_tsv="results/models/{problem}/{model}/n{n}_r{rep}/log.tsv",
            run="results/models/{problem}/{model}/n{n}_r{rep}/run.json",
        ),
    log:
        "results/logs/train/{problem}/{model}/n{n}_r{rep}.log",
    benchmark:
        "results/benchmarks/train/{problem}/{model}/n{n}_r{rep}.tsv"
    wildcard_constraints:
        problem=RUN_OF_ONE_START,
    priority: get_train_priority_callable()
    conda:
        "../../envs/torch.yaml"
    threads: get_train_threads_callable()
    resources:
        **get_train_resources_callables(),
    params:
        code=stage_code("train"),
        settings=lambda w: training_json(w.problem, w.model, w.n),
        seed=config["seed"],
        device=config["device"],
        start="only",
        out_dir="results/models/{problem}/{model}/n{n}_r{rep}",
        checkpoint_dir="results/checkpoints/{problem}/{model}/n{n}_r{rep}",
    shell:
        # Snakemake deletes {log} before every job, so each run appends to a history beside
        # its checkpoint (kept across failed and resumed jobs) and {log} is that history;
        # the same lines go to the console (stderr) as they happen.
        "mkdir -p {params.checkpoint_dir:q} && touch {params.checkpoint_dir}/train.log"
        " && cp {params.checkpoint_dir}/train.log {log} && "
        + stage_command(
            "train",
            prepared=PREPARED,
            threads="{threads}",
            start="{params.start}",
            out_dir="{params.out_dir:q}",
        )
        + " 2>&1 | tee -a {params.checkpoint_dir}/train.log | tee -a {log} >&2"


use rule train as train_start with:
    output:
        **recorded(
            model="results/models/{problem}/{model}/n{n}_r{rep}/starts/start{start}/model.pt",
            log_tsv="results/models/{problem}/{model}/n{n}_r{rep}/starts/start{start}/log.tsv",
            run="results/models/{problem}/{model}/n{n}_r{rep}/starts/start{start}/run.json",
        ),
    log:
        "results/logs/train/{problem}/{model}/n{n}_r{rep}/start{start}.log",
    benchmark:
        "results/benchmarks/train/{problem}/{model}/n{n}_r{rep}/start{start}.tsv"
    wildcard_constraints:
        problem=RUN_OF_STARTS,
        start=START_NAMES,
    params:
        start="{start}",
        out_dir="results/models/{problem}/{model}/n{n}_r{rep}/starts/start{start}",
        checkpoint_dir="results/checkpoints/{problem}/{model}/n{n}_r{rep}/start{start}",


rule select_start:
    input:
        runs=lambda w: start_files(w, "run.json"),
        models=lambda w: start_files(w, "model.pt"),
        logs=lambda w: start_files(w, "log.tsv"),
    output:
        **recorded(
            model="results/models/{problem}/{model}/n{n}_r{rep}/model.pt",
            log_tsv="results/models/{problem}/{model}/n{n}_r{rep}/log.tsv",
            run="results/models/{problem}/{model}/n{n}_r{rep}/run.json",
        ),
    log:
        "results/logs/select_start/{problem}/{model}/n{n}_r{rep}.log",
    wildcard_constraints:
        problem=RUN_OF_STARTS,
    conda:
        "../../envs/torch.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("select-start"),
    shell:
        stage_shell(
            "select-start",
            out_dir="results/models/{wildcards.problem}/{wildcards.model}/n{wildcards.n}_r{wildcards.rep}",
        )


rule predict:
    input:
        prepared=lambda w: get_prepared(w.problem),
        model_file="results/models/{problem}/{model}/{run}/model.pt",
    output:
        **recorded(
            table="results/predictions/{problem}/{model}/{run}/predictions.tsv",
            localization="results/predictions/{problem}/{model}/{run}/localization.npy",
            localizations="results/predictions/{problem}/{model}/{run}/localizations.npz",
            maps=directory("results/predictions/{problem}/{model}/{run}/maps"),
        ),
    log:
        "results/logs/predict/{problem}/{model}/{run}.log",
    benchmark:
        "results/benchmarks/predict/{problem}/{model}/{run}.tsv"
    wildcard_constraints:
        # baselines write their predictions themselves (rule baseline)
        model="|".join(TRAINED_MODELS),
    conda:
        "../../envs/torch.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("predict"),
        device=config["device"],
        agatston=AGATSTON,
        risk_scheme=config["evaluation"]["risk_scheme"],
        localization=config["evaluation"]["localization"],
        batch_size=lambda w: run_batch_size(w.problem, w.model),
    shell:
        stage_shell(
            "predict",
            prepared=PREPARED,
            out_dir="results/predictions/{wildcards.problem}/{wildcards.model}/{wildcards.run}",
        )


rule baseline:
    input:
        prepared=lambda w: get_prepared(w.problem),
    output:
        **recorded(
            table="results/predictions/{problem}/{baseline}/nall_r0/predictions.tsv",
            localization="results/predictions/{problem}/{baseline}/nall_r0/localization.npy",
            localizations="results/predictions/{problem}/{baseline}/nall_r0/localizations.npz",
            run="results/predictions/{problem}/{baseline}/nall_r0/run.json",
        ),
    log:
        "results/logs/baseline/{problem}/{baseline}.log",
    wildcard_constraints:
        baseline="|".join(BASELINES) or "none",
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("baseline"),
        rule=get_baseline_rule,
        agatston=AGATSTON,
        risk_scheme=config["evaluation"]["risk_scheme"],
    shell:
        stage_shell(
            "baseline",
            prepared=PREPARED,
            out_dir="results/predictions/{wildcards.problem}/{wildcards.baseline}/nall_r0",
        )


rule infer:
    input:
        model_file="results/models/{problem}/{model}/nall_r0/model.pt",
        scans=lambda w: config["infer"][w.problem]["scans"],
        files=get_infer_inputs,
    output:
        # replaced whole by the stage; update: kept until then, and restored if the job fails
        out_dir=update(directory("results/infer/{problem}/{model}")),
    log:
        "results/logs/infer/{problem}/{model}.log",
    wildcard_constraints:
        model="|".join(TRAINED_MODELS),
    conda:
        "../../envs/torch.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("infer"),
        settings=lambda w: as_json(problem_settings(config, w.problem)),
        batch_size=lambda w: run_batch_size(w.problem, w.model),
        device=config["device"],
        agatston=AGATSTON,
        risk_scheme=config["evaluation"]["risk_scheme"],
        localization=config["evaluation"]["localization"],
    shell:
        stage_shell("infer")
