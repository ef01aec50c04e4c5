"""Cluster resources of the jobs (workflow/rlnet/resources.py and its wrappers in resources.smk)."""

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rlnet import resources as res

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def load(name: str = "test") -> dict:
    return yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text())


def with_resources(config: dict, **changes) -> dict:
    config = copy.deepcopy(config)
    for key, value in changes.items():
        if isinstance(value, dict):
            config["resources"][key].update(value)
        else:
            config["resources"][key] = value
    return config


def test_attempt_scales_memory_and_time_only():
    config = with_resources(load("paper"), train_3d={"gpu": 2})
    first = res.train_resources(config, "cac")
    assert res.for_attempt(first, 3) == {**first, "mem_mb": 3 * 64000, "runtime": 3 * 2880}
    assert res.train_resource(config, "cac", "gpu", attempt=3) == 2
    assert res.default_resources(config, attempt=2) == {"mem_mb": 2 * 8000, "runtime": 2 * 120}
    with pytest.raises(res.ResourceError, match="attempt 0"):
        res.for_attempt(first, 0)


def test_cpu_training_asks_for_memory_and_time_only():
    config = load("test")
    assert res.train_resources(config, "pma") == {"mem_mb": 2000, "runtime": 20}
    assert res.train_resources(config, "cac") == {"mem_mb": 2000, "runtime": 20}
    assert res.train_threads(config, "pma") == 1
    assert res.train_resource_names(config) == ["mem_mb", "runtime"]


def test_the_longest_training_runs_are_scheduled_first(tmp_path):
    """Priority = training cases x voxels per case x epochs / 1e6, by hand for the default
    (40 epochs for every problem): pma 400 slices x 0.6 x 96 x 96 x 40 = 88.5; cac 120 x 0.6 x
    (36 x 38 x 38 with the ROI margins) x 40 = 149.7; liver 120 subjects x 5.5 slices x 0.7 x
    96 x 96 x 40 = 170.3; a pma subset of 100 cases x 96 x 96 x 40 = 36.9. The data stage's
    jobs (here: prepare) come before any of them."""
    config = load("config")
    assert res.train_priority(config, "pma", "all", "rl-unet") == 88
    assert res.train_priority(config, "cac", "all", "rl-unet") == 150
    assert res.train_priority(config, "cac", "all", "rl-senet") == 150
    assert res.train_priority(config, "liver", "all", "seg-unet") == 170
    assert res.train_priority(config, "pma", "100", "rl-unet") == 37
    result = subprocess.run(
        [SNAKEMAKE, "-n", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
        + ["--configfile", str(ROOT / "config" / "config.yaml"), "--cores", "2"]
        + [f"results/models/{p}/rl-unet/nall_r0/model.pt" for p in ("cac", "pma", "liver")],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(SNAKEMAKE).parent}{os.pathsep}{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    chunks = (result.stdout + result.stderr).split("rule train:")[1:]
    jobs = [re.split(r"\n\[|\nJob stats", chunk)[0] for chunk in chunks]
    priority = {
        re.search(r"problem=(\w+)", job)[1]: int(re.search(r"priority: (\d+)", job)[1])
        for job in jobs
    }
    assert priority == {"cac": 150, "pma": 88, "liver": 170}
    prepare = (result.stdout + result.stderr).split("rule prepare:")[1:]
    assert len(prepare) == 3 and all("priority: 1000000" in job for job in prepare)


def test_a_manifest_problem_counts_its_rows(tmp_path):
    """A user's 2D manifest of 10 rows, split 0.6 train, 512 x 512 slices, 40 epochs."""
    config = load("config")
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("case_id\tvalue\n" + "".join(f"c{k}\t1\n" for k in range(10)))
    config["problems"]["pma"]["source"] = {"manifest": str(manifest)}
    config["problems"]["pma"]["grid"] = {"spacing": [0.7, 0.7], "shape": [512, 512]}
    assert res.expected_cases(config, "pma") == 10
    assert res.train_priority(config, "pma") == round(10 * 0.6 * 512 * 512 * 40 / 1e6)


def test_block_follows_spatial_dims():
    config = load("paper")
    assert res.train_resources(config, "pma") == {"mem_mb": 32000, "runtime": 720, "gpu": 1}
    assert res.train_resources(config, "cac") == {"mem_mb": 64000, "runtime": 2880, "gpu": 1}
    assert res.train_threads(config, "liver") == 8


@pytest.mark.parametrize(
    ("mode", "model", "gpus", "expected"),
    [
        ("gpu", None, 1, {"gpu": 1}),
        ("gpu", "a100", 2, {"gpu": 2, "gpu_model": "a100"}),
        ("gres", None, 1, {"gres": "gpu:1"}),
        ("gres", "a100", 4, {"gres": "gpu:a100:4"}),
        ("gres", "a100", 0, {}),
        ("gpu", "a100", 0, {}),
    ],
)
def test_gpu_request_modes(mode, model, gpus, expected):
    config = with_resources(
        load("paper"), gpu_request=mode, gpu_model=model, train_3d={"gpu": gpus}
    )
    got = res.train_resources(config, "cac")
    assert {k: v for k, v in got.items() if k not in ("mem_mb", "runtime")} == expected


def test_mixed_problems_share_one_set_of_names():
    """2D on CPU, 3D on GPU: one rule declares gres; the 2D jobs get an empty (no) request."""
    config = with_resources(
        load("paper"), gpu_request="gres", gpu_model="h100", train_2d={"gpu": 0}
    )
    assert res.train_resource_names(config) == ["gres", "mem_mb", "runtime"]
    assert res.train_resource(config, "cac", "gres") == "gpu:h100:1"
    assert res.train_resource(config, "pma", "gres") == ""
    config = with_resources(config, gpu_request="gpu")
    assert res.train_resource_names(config) == ["gpu", "gpu_model", "mem_mb", "runtime"]
    assert res.train_resource(config, "pma", "gpu") == 0
    assert res.train_resource(config, "pma", "gpu_model") == ""


def test_cpu_rules_never_ask_for_gpus():
    for name in ("config", "test", "paper"):
        got = res.default_resources(load(name))
        assert set(got) == {"mem_mb", "runtime"}


def test_errors_name_the_problem_and_the_key():
    config = load("test")
    with pytest.raises(res.ResourceError, match="nope"):
        res.train_resources(config, "nope")
    with pytest.raises(res.ResourceError, match="gpu_request"):
        res.gpu_request(1, "mig")
    with pytest.raises(res.ResourceError, match="foo"):
        res.train_resource(config, "pma", "foo")


# --- The Snakemake side: the wrappers in resources.smk, as a rule with {problem} sees them -----

PROBE = """
configfile: "{config}"


include: "{root}/workflow/rules/config.smk"
include: "{root}/workflow/rules/resources.smk"


rule probe_all:
    input:
        expand("out/{{problem}}.txt", problem=PROBLEMS),


rule probe:
    output:
        "out/{{problem}}.txt",
    threads: get_train_threads_callable()
    resources:
        **get_train_resources_callables(),
    shell:
        "touch {{output}}"
"""


def dry_run_resources(tmp_path: Path, config: dict) -> dict[str, dict[str, str]]:
    """Dry-run a probe rule built like the train rule; resources per problem as printed."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "Snakefile").write_text(PROBE.format(config=tmp_path / "config.yaml", root=ROOT))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    proc = subprocess.run(
        [
            SNAKEMAKE,
            "-n",
            "--cores",
            "8",
            "--directory",
            str(tmp_path),
            "-s",
            str(tmp_path / "Snakefile"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs: dict[str, dict[str, str]] = {}
    for block in proc.stdout.split("rule probe:")[1:]:
        problem = re.search(r"wildcards: problem=(\w+)", block)
        if not problem:
            continue
        fields = dict(re.findall(r"(\w+)=([^,\s]*)", block.split("resources:")[1]))
        threads = re.search(r"threads: (\d+)", block)
        fields["threads"] = threads.group(1) if threads else "1"
        jobs[problem.group(1)] = fields
    return jobs


RETRY_PROBE = """
configfile: "{config}"


include: "{root}/workflow/rules/config.smk"
include: "{root}/workflow/rules/resources.smk"


rule retry_all:
    input:
        "out/cpu.txt",
        "out/train_pma.txt",


rule cpu:
    output:
        "out/cpu.txt",
    resources:
        **get_default_resources(),
    shell:
        "echo {{resources.mem_mb}} {{resources.runtime}} >> cpu.attempts; "
        "if [ ! -e cpu.failed ]; then touch cpu.failed; exit 1; fi; touch {{output}}"


rule train_probe:
    output:
        "out/train_{{problem}}.txt",
    resources:
        **get_train_resources_callables(),
    shell:
        "echo {{resources.mem_mb}} {{resources.runtime}} >> {{wildcards.problem}}.attempts; "
        "if [ ! -e {{wildcards.problem}}.failed ]; then touch {{wildcards.problem}}.failed; "
        "exit 1; fi; touch {{output}}"
"""


def test_a_retried_job_asks_for_twice_the_memory_and_time(tmp_path):
    """A job that fails once (say, killed for memory) is retried with attempt x the
    configured mem_mb and runtime: test.yaml's default 1000 MB / 10 min and train_2d's
    2000 MB / 20 min, doubled on the retry."""
    config = load("test")
    assert config["resources"]["default"] == {"mem_mb": 1000, "runtime": 10}
    assert config["resources"]["train_2d"]["mem_mb"] == 2000
    assert config["resources"]["train_2d"]["runtime"] == 20
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(RETRY_PROBE.format(config=tmp_path / "config.yaml", root=ROOT))
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "1", "--retries", "1", "-s", str(snakefile)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "cpu.attempts").read_text().split("\n")[:2] == ["1000 10", "2000 20"]
    assert (tmp_path / "pma.attempts").read_text().split("\n")[:2] == ["2000 20", "4000 40"]


def test_rule_with_problem_wildcard_gets_the_right_resources(tmp_path):
    config = with_resources(
        load("test"),
        gpu_request="gres",
        gpu_model="a100",
        train_3d={"gpu": 1, "threads": 2, "mem_mb": 3000},
    )
    jobs = dry_run_resources(tmp_path, config)
    assert set(jobs) == set(config["problems"])
    assert jobs["cac"]["gres"] == "gpu:a100:1"
    assert jobs["cac"]["mem_mb"] == "3000"
    assert jobs["cac"]["threads"] == "2"
    assert jobs["pma"].get("gres", "") == ""
    assert jobs["pma"]["mem_mb"] == "2000"
    assert jobs["pma"]["runtime"] == "20"
    assert jobs["pma"]["threads"] == "1"


# --- Every job of the workflow takes its resources from the config -------------------------------

DEFAULT_PROBE = {"mem_mb": "1357", "runtime": "13"}


def rule_blocks(text: str) -> dict[str, str]:
    """Rule name -> its block (to the next top-level statement) in a .smk file's text."""
    starts = list(re.finditer(r"^rule (\w+):\n", text, re.M))
    ends = [m.start() for m in re.finditer(r"^\S", text, re.M)]
    return {
        m.group(1): text[m.end() : next((e for e in ends if e > m.start()), len(text))]
        for m in starts
    }


def test_every_rule_with_a_command_declares_the_configured_resources():
    """Statically: each rule that runs a command (also those a tiny study's DAG never plans:
    the importers, inference) names the configured resources."""
    blocks = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        blocks.update(rule_blocks(smk.read_text()))
    commands = {name: block for name, block in blocks.items() if "shell:" in block}
    assert {"synthesize", "import_lits", "import_cac_table", "infer", "train"} <= set(commands)
    for name, block in commands.items():
        wanted = (
            "**get_train_resources_callables()" if name == "train" else "**get_default_resources()"
        )
        assert wanted in block, f"rule {name} does not declare {wanted}"


def test_every_planned_job_takes_resources_default_from_the_config(tmp_path):
    """A dry run of the tiny study with ``resources.default`` changed in an override file: every
    job but training (and the target rule ``all``) asks for exactly the changed values, the
    figure rules defined in a loop included; training asks for its own block's."""
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"resources": {"default": {"mem_mb": 1357, "runtime": 13}}}))
    proc = subprocess.run(
        [SNAKEMAKE, "-n", "--forceall", "all", "-s", str(ROOT / "Snakefile")]
        + [
            "--directory",
            str(tmp_path),
            "--configfile",
            str(ROOT / "config/test.yaml"),
            str(override),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    train = load("test")["resources"]["train_2d"]
    seen = set()
    for block in re.split(r"^rule ", proc.stdout, flags=re.M)[1:]:
        name = block.split(":", 1)[0]
        if name == "all":
            continue
        seen.add(name)
        fields = dict(re.findall(r"(\w+)=([^,\s]*)", block.split("resources:")[1].split("\n")[0]))
        if name == "train":
            assert int(fields["mem_mb"]) >= train["mem_mb"], block[:300]
        else:
            assert {k: fields.get(k) for k in DEFAULT_PROBE} == DEFAULT_PROBE, f"{name}: {fields}"
    assert {"synthesize", "prepare", "train", "predict", "metrics", "figure_overlays"} <= seen
