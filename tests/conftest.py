"""Shared fixtures: a small hand-made 2D problem, prepared exactly as the pipeline does."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from rlnet import atomic, io, tsv
from rlnet.biomarker import Biomarker, of_problem
from rlnet.config import load
from rlnet.split import make_split

ROOT = Path(__file__).resolve().parents[1]
#: Real CT scans (TotalSegmentator's test files, Apache-2.0; see its README).
REAL_CT = ROOT / "tests" / "data" / "real-ct"

#: A 2D problem as config.yaml describes one (muscle candidates, 32x32 slices).
PROBLEM_2D = {
    "source": {"manifest": "unused"},
    "spatial_dims": 2,
    "grid": {"spacing": [2.0, 2.0], "shape": [32, 32]},  # the toy cases' pixels, padded
    "candidates": {"hu": [-20, 100]},
    "input_window": [-250, 250],
    "split": {"train": 0.5, "val": 0.25, "test": 0.25, "strata": 2},
    "models": ["rl-unet"],
}

#: Training settings small enough for a test (seconds on a CPU).
TRAINING = {
    "max_epochs": 3,
    "patience": 3,
    "batch_size": 4,
    "base_width": 4,
    "output_bias": -2.0,
    "output_bias_starts": [0],
    "target_transform": "none",
    "direct_loss": "mae",
    "lr": {"rl": 1e-3, "enc": 3e-4, "seg": 1e-3},
    "augment": {"rotation_deg": 10.0, "translation_mm": 4.0, "displacement_mm": 2.0},
    "amp": "none",
    "num_workers": 0,
    "score": "measure",
}


def biomarker(problem: str) -> Biomarker:
    """The biomarker of one of the default config's problems."""
    return of_problem(load(ROOT / "config" / "config.yaml"), problem)


def toy_case(rng: np.random.Generator, shape=(30, 30)) -> tuple[np.ndarray, np.ndarray]:
    """A slice with a muscle-like target rectangle and a distractor blob in the same HU range."""
    image = np.full(shape, -1000, np.int16)
    image[3:-3, 3:-3] = -100  # body (fat)
    h, w = rng.integers(3, 9, size=2)
    y, x = rng.integers(4, 12, size=2)
    mask = np.zeros(shape, np.uint8)
    mask[y : y + h, x : x + w] = 1
    image[mask > 0] = 45
    image[20:26, 18:26] = 40  # distractor: in the candidate range, never the target
    image += rng.normal(0, 5, shape).astype(np.int16)
    return image, mask


def band(mask: np.ndarray, spacing, half_width: float) -> np.ndarray:
    """Pixels within ``half_width`` mm of a pixel of the other label (``spacing``: the mask's,
    mm): where a mask resampled by nearest neighbour may differ from its source
    (tests/test_grid.py derives the widths)."""
    inside = ndimage.distance_transform_edt(mask > 0, sampling=spacing)
    outside = ndimage.distance_transform_edt(mask == 0, sampling=spacing)
    return np.where(mask > 0, inside, outside) <= half_width


def write_toy_dataset(folder: Path, n: int = 24, seed: int = 0) -> pd.DataFrame:
    """NIfTI images and masks of ``n`` toy cases plus their manifest table."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        image, mask = toy_case(rng)
        spacing = (2.0, 2.0)
        io.write_image(folder / f"img{k:02d}.nii.gz", image, spacing)
        io.write_image(folder / f"msk{k:02d}.nii.gz", mask, spacing)
        rows.append(
            {
                "case_id": f"c{k:02d}",
                "subject_id": f"s{k:02d}",
                "image": str(folder / f"img{k:02d}.nii.gz"),
                "spacing": "2 2",
                "value": float(mask.sum() * 4.0),
                "mask": str(folder / f"msk{k:02d}.nii.gz"),
                "candidate_mask": "",
                "agatston": "",
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def toy_prepared(tmp_path_factory) -> Path:
    """A prepared 2D problem folder (images.npy, candidates.npy, masks.npy, cases.tsv, ...)."""
    from rlnet.prepare import prepare

    root = tmp_path_factory.mktemp("toy")
    manifest = write_toy_dataset(root / "raw")
    split = make_split(manifest, (0.5, 0.25, 0.25), seed=1, n_strata=2)
    prepare(manifest, split, PROBLEM_2D, root / "prepared")
    return root / "prepared"


@pytest.fixture(scope="session")
def test_study(tmp_path_factory) -> Path:
    """A copy of the workflow (Snakefile, workflow/, config/, envs/) in a temporary folder with
    the whole tiny study (`all` on config/test.yaml) run once per session: minutes. Shared by the
    end-to-end tests; a test that changes files in it restores them (or their mtimes)."""
    import os
    import shutil
    import subprocess
    import sys

    study = tmp_path_factory.mktemp("study")
    shutil.copy2(ROOT / "Snakefile", study / "Snakefile")
    for folder in ("workflow", "config", "envs"):
        shutil.copytree(ROOT / folder, study / folder, ignore=shutil.ignore_patterns("__pycache__"))
    bin_dir = Path(sys.executable).parent  # the venv: `python -m rlnet` and snakemake
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(bin_dir / "snakemake"), "all", "--cores", "2", "--configfile", "config/test.yaml"],
        cwd=study,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return study


def run_snakemake(study: Path, *targets: str, config: str = "study.yaml") -> None:
    """The repository's Snakefile on ``targets`` with ``study`` as the working folder and its
    ``config`` file as the whole study (--replace-workflow-config: not merged over the
    default), 2 cores; asserts that it succeeds."""
    import os
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(bin_dir / "snakemake"), "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    command += [*targets, "--replace-workflow-config", "--configfile", config]  # a list: last
    result = subprocess.run(command, cwd=study, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="session")
def user_data_study(tmp_path_factory) -> Path:
    """The tiny study on a user's own data, one problem per importer, built to Table II, cac's
    ROI QC and liver's inference in one Snakemake run: pma from a slices table of 20 cases
    (user-slices/), cac from a table of 30 CT scans (user-cac/), liver from a LiTS folder of 12
    volumes, two stored flipped (lits/), its rl-unet applied to three slices of a real CT
    (new-scans/scans.tsv). rl-unet only, one epoch, no baselines: the tests check the chain
    from each importer's input to its outputs, not learning. Config: study.yaml."""
    import yaml

    from user_data import cac_folder, slices_folder, write_lits_folder, write_scans

    study = tmp_path_factory.mktemp("user-data-study")
    slices_folder(study / "user-slices", n=20)
    cac_folder(study / "user-cac", 30)
    write_lits_folder(study / "lits", 12, flipped=(1, 4))
    scans = write_scans(study)
    config = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    sources = {
        "pma": {"slices_table": "user-slices/areas.csv"},
        "cac": {"cac_table": "user-cac/scores.csv"},
        "liver": {"lits": "lits"},
    }
    grids = {  # the data's own pixels: the slices', the phantom chests', the toy LiTS volumes'
        "pma": {"spacing": [2.0, 1.5], "shape": [32, 32]},
        "cac": {"spacing": [3.0, 2.5, 2.5]},
        "liver": {"spacing": [0.7, 0.8], "shape": [48, 48]},
    }
    config["problems"] = {
        problem: config["problems"][problem]
        | {"source": source, "models": ["rl-unet"], "grid": grids[problem]}
        for problem, source in sources.items()
    }
    config["sample_size"]["problems"] = []
    config["evaluation"].pop("repeats")
    config["evaluation"]["baselines"] = []
    config["training"]["max_epochs"] = 1
    config.pop("phantoms")
    config["infer"] = {"liver": {"scans": str(scans.relative_to(study)), "models": ["rl-unet"]}}
    (study / "study.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/tables/table2.tsv", "results/qc/cac/roi.tsv"]
    run_snakemake(study, *targets, "results/infer/liver/rl-unet")
    return study


def user_study(folder: Path, n: int = 16) -> Path:
    """A user's 2D study of ``n`` toy cases in ``folder/raw`` with its manifest.tsv (absolute
    paths); returns ``folder``."""
    table = write_toy_dataset(folder / "raw", n=n)
    table.to_csv(folder / "raw" / "manifest.tsv", sep="\t", index=False)
    return folder


def files_under(folder: Path) -> set[Path]:
    """Every file below ``folder`` (hidden temporary files included)."""
    return {p for p in Path(folder).rglob("*") if p.is_file()} if Path(folder).exists() else set()


def assert_nothing_half_written(folder: Path, before: set[Path]) -> None:
    """A failed stage left no new file below ``folder``: no output, no temporary file.

    ``before`` is ``files_under(folder)`` taken before the stage ran.
    """
    new = sorted(str(p) for p in files_under(folder) - before)
    assert not new, f"left behind after a failure: {new}"


def write_prepared(
    folder: Path,
    images: np.ndarray,
    candidates: np.ndarray,
    masks: np.ndarray,
    cases: pd.DataFrame,
    roi: dict | None = None,
) -> Path:
    """A hand-made prepared folder as rlnet.prepare writes one: arrays (N, *shape), cases.tsv
    (``index`` added) and meta.json; ``roi`` ({size, margin}, 3D) makes the window a centre
    crop. Returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", images.astype(np.int16))
    np.save(folder / "candidates.npy", candidates.astype(np.uint8))
    np.save(folder / "masks.npy", masks.astype(np.uint8))
    tsv.write_table(folder / "cases.tsv", cases.assign(index=np.arange(len(cases))))
    meta = {"spatial_dims": images.ndim - 1, "shape": list(images.shape[1:]), "roi": roi}
    atomic.write_json(folder / "meta.json", meta)
    return folder
