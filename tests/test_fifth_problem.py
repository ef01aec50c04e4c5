"""A fifth problem by config alone: the tiny study's cac block under another name and label.

No stage reads a problem's name (rlnet.biomarker): if one did, a problem called ``calcium``
would lose what the paper's cac gets (risk-stratified split, Agatston predictions, Table IV,
risk-group figures). The expected outputs below are listed by hand from the paper's tables
and figures, not computed by the workflow's target functions.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import ROOT
from rlnet import tsv
from rlnet.biomarkers import risk_group

MODELS = ("rl-unet", "candidates")  # one trained model and one baseline: seconds


def expected_outputs() -> set[str]:
    """Every file `all` makes for the new Agatston problem ``calcium``."""
    files = {
        "results/tables/table3_calcium.tsv",
        "results/tables/table4_calcium.tsv",
        "results/qc/calcium/roi.tsv",
        "results/qc/calcium/roi.png",
        "results/data/calcium/split_counts.tsv",
    }
    files |= {
        f"results/prepared/calcium/{name}"
        for name in ("images.npy", "candidates.npy", "masks.npy", "cases.tsv", "meta.json")
    }
    figures = ["distribution/calcium", "risk_groups/calcium", "abs_error/calcium"]
    for model in MODELS:
        figures += [f"{kind}/calcium_{model}" for kind in ("bland_altman", "correlation")]
        figures += [f"{kind}/calcium_{model}" for kind in ("overlays", "confusion")]
    files |= {f"results/figures/{name}.{ext}" for name in figures for ext in ("pdf", "png", "json")}
    return files


def snakemake(study: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(bin_dir / "snakemake"), "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    command += [*args, "--configfile", "study.yaml"]  # targets first: --configfile takes a list
    result = subprocess.run(command, cwd=study, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """The tiny config plus ``calcium``; only the new problem's outputs are built."""
    folder = tmp_path_factory.mktemp("fifth")
    config = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    calcium = dict(config["problems"]["cac"])
    calcium["biomarker"] = {
        "name": "Coronary calcium score",
        "short": "Calcium",
        "score": "agatston",
    }
    calcium["models"] = ["rl-unet"]
    config["problems"]["calcium"] = calcium
    config["evaluation"]["baselines"] = ["candidates"]
    (folder / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    planned = snakemake(folder, "-n", "all").stdout
    final = ("results/tables/", "results/figures/", "results/qc/")  # not intermediate files
    outputs = {
        path
        for block in re.findall(r"output: ([^\n]+)", planned)
        for path in block.split(", ")
        if "calcium" in path and path.startswith(final) and not path.endswith(".prov.json")
    }
    assert outputs == {path for path in expected_outputs() if path.startswith(final)}
    snakemake(folder, *sorted(expected_outputs()))
    return folder


def test_every_expected_output_is_made(study):
    assert all((study / path).is_file() for path in expected_outputs())


def test_the_split_is_stratified_by_risk_group(study):
    """Each subject's stratum is its reference Agatston risk group (groups 2-4 merged: the
    tiny config's ``strata: 3``)."""
    split = tsv.read_table(study / "results/data/calcium/split.tsv")
    manifest = tsv.read_table(study / "results/data/calcium/manifest.tsv")
    table = split.merge(manifest[["case_id", "agatston"]], on="case_id")
    groups = np.minimum(risk_group(table["agatston"].astype(float).to_numpy()), 2)
    assert (table["stratum"].astype(int).to_numpy() == groups).all()


def test_predictions_tables_and_figures_are_agatston(study):
    predictions = tsv.read_table(
        study / "results/predictions/calcium/rl-unet/nall_r0/predictions.tsv"
    )
    assert {"reference_agatston", "predicted_agatston", "predicted_group"} <= set(predictions)
    np.testing.assert_allclose(
        predictions["reference"].astype(float), predictions["reference_agatston"].astype(float)
    )
    pairs = tsv.read_table(study / "results/tables/table4_calcium.tsv")
    assert len(pairs) == 1  # the pair of the two models
    numbers = yaml.safe_load(
        (study / "results/figures/correlation/calcium_rl-unet.json").read_text()
    )
    assert numbers["problem"] == "calcium"
    risk = yaml.safe_load((study / "results/figures/risk_groups/calcium.json").read_text())
    split = tsv.read_table(study / "results/data/calcium/split.tsv")
    assert sum(s["n"] for s in risk["splits"].values()) == len(split)
