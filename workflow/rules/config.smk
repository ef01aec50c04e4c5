# The config: validated once (the JSON schema through snakemake.utils.validate, its defaults
# filled in, then the semantic checks of rlnet.config_checks), and what the rules derive from
# it: the problems, models, phantoms, each problem's biomarker, each run's starts, and the
# settings the stages read (rlnet.settings), as JSON params. The Snakefile has put the package
# (workflow/) on sys.path.
import json
import re

from snakemake.exceptions import WorkflowError

from rlnet import model_registry
from rlnet import settings as rlnet_settings
from rlnet.biomarker import of_problem
from rlnet.config import ConfigError, agatston_settings, drop_nulls, needs_masks
from rlnet.config import prepare_settings, problem_baselines, problem_settings
from rlnet.config import training_settings
from rlnet.config import validate as validate_config
from rlnet.training import starts

# A key set to null by a --configfile or --config merged over the default is left out
# (`problems: {sfa: null}`: config/README.md), so where the schema has a default for it, the
# default applies. Then the config is validated once: the JSON schema (workflow/schemas, by
# snakemake.utils.validate, which fills in its defaults) and the semantic checks, with
# messages that name the offending key ("config key 'training.lr.rl': ...").
drop_nulls(config)
try:
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None


PROBLEMS = list(config["problems"])
#: Models that train (the main study's and the sample-size sweep's).
TRAINED_MODELS = sorted(
    {m for p in config["problems"].values() for m in p["models"]}
    | {config.get("sample_size", {}).get("model", "rl-unet")}
)
#: Baselines without learning (rlnet.baselines): rule `baseline` writes their predictions.
BASELINES = list(config["evaluation"].get("baselines", []))
#: The {model} wildcard: trained models and baselines.
MODELS = TRAINED_MODELS + BASELINES
PHANTOMS = list(config.get("phantoms", {}).keys() - {"shard_size"})
#: What each problem measures (rlnet.biomarker): name, units, score, risk groups.
BIOMARKERS = {p: of_problem(config, p) for p in PROBLEMS}


def run_starts(problem, model):
    """The starts (shifts of the automatic output bias) a run of ``model`` on ``problem``
    trains from (rlnet.training.starts.shifts); one for all but RL models with several.
    """
    return starts.shifts(training_settings(config, problem, model=model), model)


def problems_followed_by(models_of):
    """A regex for the {problem} wildcard of a path .../{problem}/{model}/...: each problem,
    only where the model after it is one of ``models_of(problem)`` (a lookahead), "none" when
    no pair qualifies. It tells which rule writes a run folder when that depends on the pair.
    """
    alternatives = [
        f"{re.escape(p)}(?=/(?:{'|'.join(map(re.escape, models_of(p)))})/)"
        for p in PROBLEMS
        if models_of(p)
    ]
    return "|".join(alternatives) or "none"


#: {problem} of the runs trained in one job (rule train) and of those trained from several
#: starts (rules train_start and select_start).
RUN_OF_ONE_START = problems_followed_by(
    lambda p: [m for m in TRAINED_MODELS if len(run_starts(p, m)) == 1]
)
RUN_OF_STARTS = problems_followed_by(
    lambda p: [m for m in TRAINED_MODELS if len(run_starts(p, m)) > 1]
)
#: The {start} wildcard: the folder names of every configured start (``+0``, ``+2``).
START_NAMES = "|".join(
    sorted(
        {
            re.escape(starts.start_name(d).removeprefix("start"))
            for p in PROBLEMS
            for m in TRAINED_MODELS
            for d in run_starts(p, m)
        }
    )
)


def as_json(value):
    """A config block as a compact JSON string for a CLI argument."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def training_json(problem, model, n="all"):
    """A run's training settings (rlnet.config.training_settings) as the JSON of their
    identity (rlnet.settings: an option at its default left out), for the train rule's params
    and the stage's --settings."""
    return rlnet_settings.to_json(training_settings(config, problem, n, model))


def run_batch_size(problem, model):
    """The batch size of ``model``'s runs on ``problem`` (prediction batches alike)."""
    return training_settings(config, problem, model=model).batch_size


#: evaluation.agatston as the JSON of its identity (rlnet.settings.AgatstonSettings).
AGATSTON = rlnet_settings.to_json(agatston_settings(config))


def biomarker_json(problem):
    """The biomarker of ``problem`` as a CLI argument (rlnet.biomarker.Biomarker.to_json)."""
    return BIOMARKERS[problem].to_json()


def risk_problems():
    """The problems whose biomarker has Agatston risk groups."""
    return [p for p in PROBLEMS if BIOMARKERS[p].risk_groups]


def comparison_pair(problem):
    """The RL model and the segmentation model on one backbone that ``problem`` trains (the
    paper's liver comparison: a supplementary table and Fig. 12; rlnet.model_registry), or
    [] where it trains no such pair."""
    pairs = model_registry.comparison(config["problems"][problem]["models"])
    return list(pairs[0]) if pairs else []


def compared_problems():
    """The problems that train a comparison pair (comparison_pair)."""
    return [p for p in PROBLEMS if comparison_pair(p)]
