# Data stage: synthesis (or import) -> manifest -> split -> prepare.


rule synthesize:
    input:
        code=lambda w: stage_code("synthesize", w.phantom),
    output:
        "results/data/synthetic/{phantom}/shard{shard}.tsv",
    log:
        "results/logs/synthesize/{phantom}_shard{shard}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        settings=lambda w: as_json(config["phantoms"][w.phantom]),
        agatston=as_json(config["evaluation"]["agatston"]),
        shard_size=config.get("phantoms", {}).get("shard_size", 1),
        seed=config["seed"],
    shell:
        "python -m rlnet synthesize --phantom {wildcards.phantom} --settings {params.settings:q}"
        " --agatston {params.agatston:q} --seed {params.seed} --shard {wildcards.shard}"
        " --shard-size {params.shard_size} --out-dir results/data/synthetic/{wildcards.phantom}"
        " --table {output} 2> {log}"


rule import_lits:
    input:
        volumes=lambda w: lits_files(w.problem, "volume"),
        segmentations=lambda w: lits_files(w.problem, "segmentation"),
        code=stage_code("import-lits"),
    output:
        "results/data/{problem}/import/lits.tsv",
    log:
        "results/logs/import_lits/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    shell:
        "python -m rlnet import-lits --volumes {input.volumes:q}"
        " --segmentations {input.segmentations:q}"
        " --out-dir results/data/{wildcards.problem}/import --table {output} 2> {log}"


rule import_slices_table:
    input:
        sources=get_table_source,
        code=stage_code("import-slices-table"),
    output:
        "results/data/{problem}/import/slices_table.tsv",
    log:
        "results/logs/import_slices_table/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        source=lambda w: config["problems"][w.problem]["source"]["slices_table"],
    shell:
        "python -m rlnet import-slices-table --source {params.source:q}"
        " --out-dir results/data/{wildcards.problem}/import --table {output} 2> {log}"


rule import_cac_table:
    input:
        sources=get_table_source,
        code=stage_code("import-cac-table"),
    output:
        "results/data/{problem}/import/cac_table.tsv",
    log:
        "results/logs/import_cac_table/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        source=lambda w: config["problems"][w.problem]["source"]["cac_table"],
    shell:
        "python -m rlnet import-cac-table --source {params.source:q} --table {output} 2> {log}"


rule manifest:
    input:
        sources=get_manifest_inputs,
        code=stage_code("manifest"),
    output:
        "results/data/{problem}/manifest.tsv",
    log:
        "results/logs/manifest/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        source=lambda w: as_json(manifest_source(w.problem)),
        shards=lambda w, input: (
            input.sources
            if "synthetic" in config["problems"][w.problem]["source"]
            else []
        ),
        dims=lambda w: config["problems"][w.problem]["spatial_dims"],
        masks=lambda w: "--needs-masks" if needs_masks(config, w.problem) else "",
    shell:
        "python -m rlnet manifest --source {params.source:q} --shards {params.shards}"
        " --spatial-dims {params.dims} {params.masks} --out {output} 2> {log}"


rule split:
    input:
        manifest="results/data/{problem}/manifest.tsv",
        code=stage_code("split"),
    output:
        split="results/data/{problem}/split.tsv",
        report="results/data/{problem}/split_counts.tsv",
    log:
        "results/logs/split/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        split=lambda w: as_json(config["problems"][w.problem]["split"]),
        biomarker=lambda w: biomarker_json(w.problem),
        seed=config["seed"],
        scheme=config["evaluation"]["risk_scheme"],
        source_name=lambda w, input: source_name(w.problem, input.manifest),
    shell:
        "python -m rlnet split --manifest {input.manifest} --biomarker {params.biomarker:q}"
        " --split {params.split:q} --seed {params.seed} --risk-scheme {params.scheme}"
        " --source-name {params.source_name:q} --out {output.split} --report {output.report}"
        " 2> {log}"


rule prepare:
    input:
        manifest="results/data/{problem}/manifest.tsv",
        split="results/data/{problem}/split.tsv",
        code=stage_code("prepare"),
    output:
        images="results/prepared/{problem}/images.npy",
        candidates="results/prepared/{problem}/candidates.npy",
        masks="results/prepared/{problem}/masks.npy",
        cases="results/prepared/{problem}/cases.tsv",
        meta="results/prepared/{problem}/meta.json",
    log:
        "results/logs/prepare/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        settings=lambda w: as_json(prepare_settings(config, w.problem)),
    shell:
        "python -m rlnet prepare --manifest {input.manifest} --split {input.split}"
        " --problem-settings {params.settings:q} --out-dir results/prepared/{wildcards.problem}"
        " 2> {log}"


rule roi_qc:
    input:
        prepared=lambda w: get_prepared(w.problem),
        code=stage_code("roi-qc"),
    output:
        table="results/qc/{problem}/roi.tsv",
        montage="results/qc/{problem}/roi.png",
    log:
        "results/logs/roi_qc/{problem}.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    shell:
        "python -m rlnet roi-qc --prepared results/prepared/{wildcards.problem}"
        " --table {output.table} --montage {output.montage} 2> {log}"
