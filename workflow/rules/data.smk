# Data stage: synthesis (or import) -> manifest -> split -> prepare.


rule synthesize:
    output:
        **recorded(
            table="results/data/synthetic/{phantom}/shard{shard}.tsv",
            folder=directory("results/data/synthetic/{phantom}/shard{shard}"),
        ),
    log:
        "results/logs/synthesize/{phantom}_shard{shard}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        code=lambda w: stage_code("synthesize", w.phantom),
        settings=lambda w: as_json(config["phantoms"][w.phantom]),
        agatston=AGATSTON,
        shard_size=config.get("phantoms", {}).get("shard_size", 1),
        seed=config["seed"],
        out_dir="results/data/synthetic/{phantom}/shard{shard}",
    shell:
        stage_shell("synthesize")


rule import_lits:
    input:
        volumes=lambda w: lits_files(w.problem, "volume"),
        segmentations=lambda w: lits_files(w.problem, "segmentation"),
    output:
        **recorded(
            table="results/data/{problem}/import/lits.tsv",
            folder=directory("results/data/{problem}/import/lits"),
        ),
    log:
        "results/logs/import_lits/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("import-lits"),
        out_dir="results/data/{problem}/import/lits",
    shell:
        stage_shell("import-lits")


rule import_slices_table:
    input:
        source=get_table,
        files=get_table_files,
    output:
        **recorded(
            table="results/data/{problem}/import/slices_table.tsv",
            folder=directory("results/data/{problem}/import/slices_table"),
        ),
    log:
        "results/logs/import_slices_table/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("import-slices-table"),
        out_dir="results/data/{problem}/import/slices_table",
    shell:
        stage_shell("import-slices-table")


rule import_cac_table:
    input:
        source=get_table,
        files=get_table_files,
    output:
        **recorded(
            table="results/data/{problem}/import/cac_table.tsv",
        ),
    log:
        "results/logs/import_cac_table/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("import-cac-table"),
    shell:
        stage_shell("import-cac-table")


rule manifest:
    input:
        shards=get_manifest_shards,
        user=get_manifest_user_files,
    output:
        **recorded(
            out="results/data/{problem}/manifest.tsv",
        ),
    log:
        "results/logs/manifest/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("manifest"),
        source=lambda w: as_json(manifest_source(w.problem)),
        spatial_dims=lambda w: config["problems"][w.problem]["spatial_dims"],
        needs_masks=lambda w: str(needs_masks(config, w.problem)).lower(),
    shell:
        stage_shell("manifest")


rule split:
    input:
        manifest="results/data/{problem}/manifest.tsv",
    output:
        **recorded(
            out="results/data/{problem}/split.tsv",
            report="results/data/{problem}/split_counts.tsv",
        ),
    log:
        "results/logs/split/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("split"),
        split=lambda w: as_json(config["problems"][w.problem]["split"]),
        biomarker=lambda w: biomarker_json(w.problem),
        seed=config["seed"],
        risk_scheme=config["evaluation"]["risk_scheme"],
        source_name=lambda w, input: source_name(w.problem, input.manifest),
    shell:
        stage_shell("split")


rule prepare:
    input:
        manifest="results/data/{problem}/manifest.tsv",
        split="results/data/{problem}/split.tsv",
    output:
        **recorded(
            images="results/prepared/{problem}/images.npy",
            candidates="results/prepared/{problem}/candidates.npy",
            masks="results/prepared/{problem}/masks.npy",
            cases="results/prepared/{problem}/cases.tsv",
            meta="results/prepared/{problem}/meta.json",
            heart="results/prepared/{problem}/heart.npy",
        ),
    log:
        "results/logs/prepare/{problem}.log",
    priority: DATA_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("prepare"),
        problem_settings=lambda w: as_json(prepare_settings(config, w.problem)),
    shell:
        stage_shell("prepare", out_dir=PREPARED)


rule roi_qc:
    input:
        prepared=lambda w: get_prepared(w.problem),
    output:
        **recorded(
            table="results/qc/{problem}/roi.tsv",
            montage="results/qc/{problem}/roi.png",
        ),
    log:
        "results/logs/roi_qc/{problem}.log",
    conda:
        "../../envs/figures.yaml"
    resources:
        **get_default_resources(),
    params:
        code=stage_code("roi-qc"),
    shell:
        stage_shell("roi-qc", prepared=PREPARED)
