# Cluster resources and priorities of jobs: the logic is in workflow/rlnet/resources.py (tested
# there). A job with a {problem} wildcard takes callables of its wildcards:
#
#     threads: get_train_threads_callable()
#     resources:
#         **get_train_resources_callables(),
#
# which give every resource name any configured problem needs (0 GPUs / empty gres for a
# problem that needs none: no GPU is requested); one alone: mem_mb=train_resource("mem_mb").
from rlnet import resources as rlnet_resources


def get_train_threads(problem):
    """CPU threads of one training job of ``problem`` (train_2d/train_3d ``threads``)."""
    return rlnet_resources.train_threads(config, problem)


def train_resource(name, wildcard="problem"):
    """The training resource ``name`` as a function of the job's wildcards and attempt
    (a retry asks for ``attempt`` times the memory and time)."""
    return lambda w, attempt: rlnet_resources.train_resource(
        config, getattr(w, wildcard), name, attempt
    )


def get_default_resources():
    """Resources (``resources.default``: mem_mb, runtime) of every job but training, each a
    function of the attempt, so a retry asks for ``attempt`` times the memory and time:
    ``**`` it into a rule's resources."""
    return {
        name: default_resource(name)
        for name in rlnet_resources.default_resources(config)
    }


def default_resource(name):
    """The non-training resource ``name`` as a function of the job's attempt."""
    return lambda w, attempt: rlnet_resources.default_resources(config, attempt)[name]


def get_train_resources_callables(wildcard="problem"):
    """{name: train_resource(name)} for every training resource: ``**`` it into resources."""
    names = rlnet_resources.train_resource_names(config)
    return {name: train_resource(name, wildcard) for name in names}


#: Snakemake priority of the data stage (synthesize, manifest, split, prepare): above any
#: training job's (rlnet.resources.train_priority), so every problem's data is ready first
#: and the longest runs can start first; data jobs are short.
DATA_PRIORITY = 10**6


def get_train_priority_callable():
    """Training priority (the longest runs first: rlnet.resources.train_priority) as a
    function of the job's wildcards, for ``priority:``."""
    return lambda w: rlnet_resources.train_priority(config, w.problem, w.n, w.model)


def get_train_threads_callable(wildcard="problem"):
    """get_train_threads as a function of the job's wildcards, for ``threads:``."""
    return lambda w: get_train_threads(getattr(w, wildcard))
