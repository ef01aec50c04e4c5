# Config validation and every input/target function, in one place.
import json
import sys

from snakemake.utils import validate

sys.path.insert(0, f"{workflow.basedir}/workflow")

from rlnet.config import ConfigError, check_semantics  # noqa: E402
from rlnet.datasets import synthetic  # noqa: E402

validate(config, schema="../schemas/config.schema.yaml")
try:
    check_semantics(config)
except ConfigError as err:
    raise ValueError(str(err)) from None

RLNET = f"PYTHONPATH={workflow.basedir}/workflow python -m rlnet"
PROBLEMS = list(config["problems"])
PHANTOMS = list(config.get("phantoms", {}).keys() - {"shard_size"})


wildcard_constraints:
    problem="|".join(PROBLEMS) or "none",
    phantom="|".join(PHANTOMS) or "none",
    shard=r"\d+",


def as_json(value):
    """A config block as a compact JSON string for a CLI argument."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def get_shards(phantom):
    """Shard tables of one phantom."""
    settings = config["phantoms"][phantom]
    n = synthetic.n_shards(settings, config["phantoms"]["shard_size"])
    return [f"results/data/synthetic/{phantom}/shard{k}.tsv" for k in range(n)]


def get_manifest_inputs(wildcards):
    """Shard tables for a synthetic problem; the user's manifest file otherwise."""
    source = config["problems"][wildcards.problem]["source"]
    if "synthetic" in source:
        return get_shards(source["synthetic"])
    return [source["manifest"]]


def get_prepared(problem):
    """The prepared files of one problem."""
    folder = f"results/prepared/{problem}"
    names = ("images.npy", "candidates.npy", "masks.npy", "cases.tsv", "meta.json")
    return [f"{folder}/{name}" for name in names]


def get_data_outputs():
    """Everything the data stage of the DAG produces."""
    outputs = []
    for problem in PROBLEMS:
        outputs += get_prepared(problem)
        outputs.append(f"results/data/{problem}/split_counts.tsv")
    return outputs


def get_final_outputs():
    """What `all` builds."""
    return get_data_outputs()
