# Models: train every configured model x problem (and the sample-size sweep), then predict;
# the baselines without learning write predictions of the same layout from the prepared data.


rule train:
    input:
        prepared=lambda w: get_prepared(w.problem),
        code=stage_code("train"),
    output:
        model="results/models/{problem}/{model}/n{n}_r{rep}/model.pt",
        log_tsv="results/models/{problem}/{model}/n{n}_r{rep}/log.tsv",
        run="results/models/{problem}/{model}/n{n}_r{rep}/run.json",
    log:
        "results/logs/train/{problem}/{model}/n{n}_r{rep}.log",
    benchmark:
        "results/benchmarks/train/{problem}/{model}/n{n}_r{rep}.tsv"
    priority: get_train_priority_callable()
    conda:
        "../../envs/torch.yaml"
    threads: get_train_threads_callable()
    resources:
        **get_train_resources_callables(),
    params:
        settings=lambda w: as_json(training_settings(config, w.problem, w.n, w.model)),
        seed=config["seed"],
        device=config["device"],
        checkpoints="results/checkpoints/{problem}/{model}/n{n}_r{rep}",
    shell:
        # Snakemake deletes {log} before every job, so each run appends to a history beside
        # its checkpoint (kept across failed and resumed jobs) and {log} is that history;
        # the same lines go to the console (stderr) as they happen.
        "mkdir -p {params.checkpoints} && touch {params.checkpoints}/train.log"
        " && cp {params.checkpoints}/train.log {log} && "
        "python -m rlnet train --prepared results/prepared/{wildcards.problem}"
        " --problem {wildcards.problem} --model {wildcards.model} --n {wildcards.n}"
        " --rep {wildcards.rep} --seed {params.seed} --settings {params.settings:q}"
        " --device {params.device} --threads {threads}"
        " --out-dir results/models/{wildcards.problem}/{wildcards.model}/n{wildcards.n}_r{wildcards.rep}"
        " --checkpoint-dir {params.checkpoints}"
        " 2>&1 | tee -a {params.checkpoints}/train.log | tee -a {log} >&2"


rule predict:
    input:
        prepared=lambda w: get_prepared(w.problem),
        model="results/models/{problem}/{model}/{run}/model.pt",
        code=stage_code("predict"),
    output:
        table="results/predictions/{problem}/{model}/{run}/predictions.tsv",
        localization="results/predictions/{problem}/{model}/{run}/localization.npy",
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
        device=config["device"],
        agatston=as_json(config["evaluation"]["agatston"]),
        scheme=config["evaluation"]["risk_scheme"],
        localization=config["evaluation"]["localization"],
        batch_size=lambda w: training_settings(config, w.problem, model=w.model)[
            "batch_size"
        ],
    shell:
        "python -m rlnet predict --model-file {input.model} --prepared results/prepared/{wildcards.problem}"
        " --problem {wildcards.problem} --model {wildcards.model} --device {params.device}"
        " --batch-size {params.batch_size} --agatston {params.agatston:q}"
        " --risk-scheme {params.scheme} --localization {params.localization}"
        " --out-dir results/predictions/{wildcards.problem}/{wildcards.model}/{wildcards.run}"
        " 2> {log}"


rule baseline:
    input:
        prepared=lambda w: get_prepared(w.problem),
        code=stage_code("baseline"),
    output:
        table="results/predictions/{problem}/{baseline}/nall_r0/predictions.tsv",
        localization="results/predictions/{problem}/{baseline}/nall_r0/localization.npy",
        run="results/predictions/{problem}/{baseline}/nall_r0/run.json",
    log:
        "results/logs/baseline/{problem}/{baseline}.log",
    wildcard_constraints:
        baseline="|".join(BASELINES) or "none",
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        rule=get_baseline_rule,
        agatston=as_json(config["evaluation"]["agatston"]),
        scheme=config["evaluation"]["risk_scheme"],
    shell:
        "python -m rlnet baseline --prepared results/prepared/{wildcards.problem}"
        " --problem {wildcards.problem} --baseline {wildcards.baseline} {params.rule}"
        " --agatston {params.agatston:q} --risk-scheme {params.scheme}"
        " --out-dir results/predictions/{wildcards.problem}/{wildcards.baseline}/nall_r0"
        " 2> {log}"


rule infer:
    input:
        model="results/models/{problem}/{model}/nall_r0/model.pt",
        scans=get_infer_inputs,
        code=stage_code("infer"),
    output:
        "results/infer/{problem}/{model}/predictions.tsv",
    log:
        "results/logs/infer/{problem}/{model}.log",
    wildcard_constraints:
        model="|".join(TRAINED_MODELS),
    conda:
        "../../envs/torch.yaml"
    resources:
        **get_default_resources(),
    params:
        settings=lambda w: as_json(config["problems"][w.problem]),
        scans=lambda w: config["infer"][w.problem]["scans"],
        device=config["device"],
        agatston=as_json(config["evaluation"]["agatston"]),
        scheme=config["evaluation"]["risk_scheme"],
        localization=config["evaluation"]["localization"],
    shell:
        "python -m rlnet infer --model-file {input.model} --problem {wildcards.problem}"
        " --model {wildcards.model} --settings {params.settings:q} --scans {params.scans:q}"
        " --device {params.device} --agatston {params.agatston:q} --risk-scheme {params.scheme}"
        " --localization {params.localization}"
        " --out-dir results/infer/{wildcards.problem}/{wildcards.model} 2> {log}"
