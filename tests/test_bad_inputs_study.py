"""Bad-input catalogue, studies: manifests, splits and configs that cannot make a study fail at
the start, with one line naming the user's file and row (or the config key).

Manifest and split cases run the stages through ``rlnet.cli`` into a ``results/`` folder, as the
workflow does, and check that nothing half-written is left; config cases call ``rlnet.config``;
two cases run ``snakemake -n`` on a copy of the workflow (parse only).
"""

import copy
import gzip
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from conftest import (
    PROBLEM_2D,
    ROOT,
    assert_nothing_half_written,
    biomarker,
    files_under,
    user_study,
    write_toy_dataset,
)
from rlnet import cli, io, tsv
from rlnet import config as cfg

MANIFEST = "results/data/pma/manifest.tsv"
PMA = biomarker("pma").to_json()


@pytest.fixture
def study(tmp_path, monkeypatch):
    """A user's 16-case 2D study in raw/ with its manifest.tsv; cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    return user_study(tmp_path)


def user_manifest(study: Path) -> Path:
    return study / "raw" / "manifest.tsv"


def read(study: Path) -> pd.DataFrame:
    return pd.read_csv(user_manifest(study), sep="\t", dtype=str, keep_default_na=False)


def write(study: Path, table: pd.DataFrame) -> None:
    table.to_csv(user_manifest(study), sep="\t", index=False)


def run_stage(study: Path, argv: list[str]) -> int:
    """Run one stage; a failure must leave no new file under results/."""
    before = files_under(study / "results")
    status = cli.main(argv)
    if status:
        assert_nothing_half_written(study / "results", before)
    return status


def manifest_argv(study: Path, dims: int = 2, *flags: str) -> list[str]:
    source = json.dumps({"manifest": str(user_manifest(study))})
    return ["manifest", "--source", source, "--spatial-dims", str(dims), *flags, "--out", MANIFEST]


def split_argv(study: Path, fractions=(0.5, 0.25, 0.25)) -> list[str]:
    """The split stage as the workflow runs it for a user's manifest (one stratum)."""
    split = dict(zip(("train", "val", "test"), fractions, strict=True)) | {"strata": 1}
    argv = ["split", "--manifest", MANIFEST, "--biomarker", PMA, "--split", json.dumps(split)]
    argv += ["--seed", "1", "--source-name", str(user_manifest(study))]
    return argv + ["--out", "results/data/pma/split.tsv", "--report", "results/data/pma/c.tsv"]


# --- the manifest stage: every row's table cells and image headers ----------------------------


def image(study: Path, name: str, array: np.ndarray, spacing=(2.0, 2.0)) -> str:
    """Write ``array`` as raw/``name`` with ``spacing`` (array axis order); return the path."""
    path = study / "raw" / name
    written = sitk.GetImageFromArray(array)
    written.SetSpacing(spacing[::-1])
    sitk.WriteImage(written, str(path))
    return str(path)


def toy(study: Path, case: int = 3) -> np.ndarray:
    return io.read_image(study / "raw" / f"img{case:02d}.nii.gz")[0]


def cell(column: str, value, case: int = 3):
    """An edit setting one cell of case ``case`` (``value``: text, or study -> text)."""

    def edit(study: Path, table: pd.DataFrame) -> pd.DataFrame:
        table.loc[case, column] = value(study) if callable(value) else value
        return table

    return edit


def column(name: str, value):
    """An edit setting a whole column."""

    def edit(study: Path, table: pd.DataFrame) -> pd.DataFrame:
        table[name] = value
        return table

    return edit


def negative_header_spacing(study: Path) -> str:
    """A MetaImage whose header says the x spacing is -2 mm (ITK reads it as such)."""
    path = Path(image(study, "neg.mha", toy(study)))
    path.write_bytes(path.read_bytes().replace(b"ElementSpacing = 2 2", b"ElementSpacing = -2 2"))
    return str(path)


def nifti_pixdim(value: float):
    """A cell edit: a NIfTI-1 image whose header stores ``value`` as the x pixdim, patched in
    the bytes (nibabel and ITK would turn 0 or NaN into 1 mm when writing or reading)."""

    def make(study: Path) -> str:
        path = Path(image(study, "pixdim.nii.gz", toy(study)))
        header = bytearray(gzip.decompress(path.read_bytes()))
        header[80:84] = struct.pack("<f", value)  # pixdim[1]: bytes 76 + 4 of the header
        path.write_bytes(gzip.compress(bytes(header)))
        return str(path)

    return cell("image", make)


MANIFEST_CASES = {
    "all values zero": (column("value", "0"), 2, (), "all 16 reference values (column 'value') "
                        "are 0 (all zero: empty reference masks?)"),
    "all values equal": (column("value", "250"), 2, (), "all 16 reference values (column 'value') "
                         "are 250; a constant target leaves nothing to learn"),
    "seg model, masks missing": (cell("mask", ""), 2, ("--needs-masks", "true"),
                                 "case(s) ['c03'] (line(s) [5]) have no mask, but the problem "
                                 "trains a mask-trained model (seg-*)"),
    "3D single slice for a 2D problem": (
        cell("image", lambda s: image(s, "vol.nii.gz", toy(s)[None], (5.0, 2.0, 2.0))), 2, (),
        "line 5 (case c03): image {raw}/vol.nii.gz has 3 dimensions (1, 30, 30), but the "
        "problem's spatial_dims is 2 (a volume of one slice: save the slice as a 2D image)"),
    "2D image for a 3D problem": (lambda s, t: t, 3, (),
                                  "line 2 (case c00): image {raw}/img00.nii.gz has 2 dimensions "
                                  "(30, 30), but the problem's spatial_dims is 3 (a single slice"),
    "one spacing value for 2D": (cell("spacing", "2"), 2, (),
                                 "line 5 (case c03): spacing '2' has 1 value(s); the image has 2 "
                                 "axes and needs one per axis"),
    "zero spacing": (cell("spacing", "0 2"), 2, (), "line 5 (case c03): spacing '0 2' must be "
                     "finite and > 0 (mm)"),
    "NaN spacing": (cell("spacing", "nan 2"), 2, (), "spacing 'nan 2' must be finite and > 0"),
    "text spacing": (cell("spacing", "2mm 2mm"), 2, (), "spacing '2mm 2mm' is not numbers"),
    "spacing differs from header": (cell("spacing", "3 2"), 2, (),
                                    "line 5 (case c03): spacing 3 2 differs from the header's 2 2"),
    "negative header spacing": (cell("image", negative_header_spacing), 2, (),
                                "neg.mha: header spacing (2.0, -2.0) must be finite and > 0"),
    "zero NIfTI pixdim": (nifti_pixdim(0.0), 2, (),
                          "pixdim.nii.gz header spacing (2.0, 0.0) must be finite and > 0"),
    "NaN NIfTI pixdim": (nifti_pixdim(float("nan")), 2, (),
                         "pixdim.nii.gz header spacing (2.0, nan) must be finite and > 0"),
    "mask shape differs": (cell("mask", lambda s: image(s, "m.nii.gz", np.zeros((20, 30)))), 2,
                           (), "line 5 (case c03): mask {raw}/m.nii.gz has shape (20, 30), the "
                           "image (30, 30)"),
    "candidate mask shape differs": (
        cell("candidate_mask", lambda s: image(s, "cm.nii.gz", np.zeros((30, 31)))), 2, (),
        "line 5 (case c03): candidate_mask {raw}/cm.nii.gz has shape (30, 31)"),
    "unreadable image header": (cell("image", lambda s: str(s / "raw" / "manifest.tsv")), 2, (),
                                "line 5 (case c03): image {raw}/manifest.tsv: cannot read image "
                                "header"),
    "missing image file": (cell("image", "gone.nii.gz"), 2, (),
                           "line 5 (case c03): image file {raw}/gone.nii.gz not found"),
    "missing column": (lambda s, t: t.drop(columns=["value"]), 2, (),
                       "missing column(s) ['value']; found ['case_id', 'subject_id', 'image'"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "dims", "flags", "fragment"), MANIFEST_CASES.values(), ids=MANIFEST_CASES.keys()
)
def test_bad_manifest_fails_at_the_manifest_stage(study, caplog, edit, dims, flags, fragment):
    write(study, edit(study, read(study)))
    with caplog.at_level(logging.ERROR):
        assert run_stage(study, manifest_argv(study, dims, *flags)) == 1
    assert f"manifest failed: {user_manifest(study)}: " in caplog.text
    assert fragment.format(raw=study / "raw") in caplog.text
    assert not (study / MANIFEST).exists()


def test_comma_separated_manifest_gets_a_hint(study, caplog):
    read(study).to_csv(user_manifest(study), sep=",", index=False)
    with caplog.at_level(logging.ERROR):
        assert run_stage(study, manifest_argv(study)) == 1
    assert "looks comma-separated; manifests are tab-separated (TSV)" in caplog.text


def test_blank_lines_keep_the_line_numbers_true(study, caplog):
    """A blank line in the TSV is skipped, and later rows keep their real line numbers."""
    lines = user_manifest(study).read_text().splitlines()
    lines.insert(2, "")  # after case c00 (line 2): c03 moves from line 5 to line 6
    lines[5] = lines[5].replace("\t2 2\t", "\t2\t")
    user_manifest(study).write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.ERROR):
        assert run_stage(study, manifest_argv(study)) == 1
    assert "line 6 (case c03): spacing '2' has 1 value(s)" in caplog.text


def test_a_good_manifest_passes_and_masks_satisfy_a_seg_model(study):
    assert run_stage(study, manifest_argv(study, 2, "--needs-masks", "true")) == 0
    table = tsv.read_table(study / MANIFEST)
    assert len(table) == 16 and set(table["spacing"]) == {"2 2"}


# --- the split stage: enough subjects and cases for every split and the metrics ----------------


def keep(study: Path, n_cases: int, cases_per_subject: int = 1) -> None:
    """Keep the first ``n_cases`` cases, ``cases_per_subject`` consecutive cases per subject."""
    table = read(study).iloc[:n_cases].copy()
    table["subject_id"] = [f"s{k // cases_per_subject:02d}" for k in range(n_cases)]
    write(study, table)


SPLIT_CASES = {
    "5 subjects": (5, 1, (0.5, 0.25, 0.25), "5 subject(s) (5 cases): a split needs at least 6 "
                   "subjects (2 in each of train, val, test)"),
    "a split of 1 subject": (6, 1, (0.6, 0.2, 0.2), "of 6 subjects the split gives val 1, test 1; "
                             "every split needs at least 2 subjects"),
    "2 test cases": (8, 1, (0.5, 0.25, 0.25), "the test split gets 2 case(s) of 8; the metrics "
                     "(Pearson, ICC) need at least 3"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("n_cases", "per_subject", "fractions", "fragment"),
    SPLIT_CASES.values(),
    ids=SPLIT_CASES.keys(),
)
def test_too_small_study_fails_at_the_split_naming_the_users_manifest(
    study, caplog, n_cases, per_subject, fractions, fragment
):
    keep(study, n_cases, per_subject)
    assert run_stage(study, manifest_argv(study)) == 0
    with caplog.at_level(logging.ERROR):
        assert run_stage(study, split_argv(study, fractions)) == 1
    assert f"split failed: {user_manifest(study)} (problem pma): {fragment}" in caplog.text
    assert MANIFEST not in caplog.text  # the internal copy is not what the user knows


def test_enough_subjects_split(study):
    keep(study, 12, 2)  # 6 subjects of 2 cases: 2 per split, 4 test cases
    assert run_stage(study, manifest_argv(study)) == 0
    assert run_stage(study, split_argv(study, (1 / 3, 1 / 3, 1 / 3))) == 0
    split = tsv.read_table(study / "results/data/pma/split.tsv")
    assert split.groupby("split")["subject_id"].nunique().to_dict() == {
        "test": 2,
        "train": 2,
        "val": 2,
    }


# --- the config: ranges, YAML syntax ------------------------------------------------------------


@pytest.fixture
def default():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


RANGE_CASES = {
    "reversed candidates.hu": (("problems", "pma", "candidates", "hu"), [100, -20],
                               "config key 'problems.pma.candidates.hu': [100, -20] is not a range "
                               "(low < high)"),
    "empty candidates.hu": (("problems", "sfa", "candidates", "hu"), [-70, -70],
                            "config key 'problems.sfa.candidates.hu': [-70, -70] is not a range"),
    "reversed input_window": (("problems", "cac", "input_window"), [1500, -1000],
                              "config key 'problems.cac.input_window': [1500, -1000] is not a "
                              "range (low < high)"),
    "empty input_window": (("problems", "liver", "input_window"), [0, 0],
                           "config key 'problems.liver.input_window': [0, 0]"),
    "reversed noise_hu": (("phantoms", "chest", "noise_hu"), [15, 5],
                          "config key 'phantoms.chest.noise_hu': [15, 5] is not a range "
                          "(low <= high)"),
    "reversed heart noise_hu": (("phantoms", "heart", "noise_hu"), [40, 20],
                                "config key 'phantoms.heart.noise_hu': [40, 20]"),
    "reversed slices": (("phantoms", "abdomen", "slices"), [8, 3],
                        "config key 'phantoms.abdomen.slices': [8, 3] is not a range"),
}  # fmt: skip


@pytest.mark.parametrize(("key", "value", "fragment"), RANGE_CASES.values(), ids=RANGE_CASES.keys())
def test_reversed_or_empty_range_names_the_key(default, key, value, fragment):
    block = default
    for part in key[:-1]:
        block = block[part]
    block[key[-1]] = value
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(default)
    assert str(err.value).startswith(fragment)


def test_a_fixed_noise_level_is_a_range(default):
    default["phantoms"]["chest"]["noise_hu"] = [10, 10]
    cfg.validate(default)


BROKEN_YAML = "seed: 7\nproblems:\n  pma: {source: [1, 2}\n"
YAML_MESSAGE = "YAML error at line 3, column 22: expected ',' or ']', but got '}'"


def test_yaml_error_names_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BROKEN_YAML)
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load(path)
    assert str(err.value) == f"{path}: {YAML_MESSAGE}"


def test_config_checker_command_names_line_and_column(tmp_path, capsys):
    """`python -m rlnet.config FILE...`: for a --configfile, which Snakemake parses itself."""
    (tmp_path / "bad.yaml").write_text(BROKEN_YAML)
    assert cfg.main([str(ROOT / "config" / "test.yaml"), str(tmp_path / "bad.yaml")]) == 1
    out, err = capsys.readouterr()
    assert out == f"{ROOT / 'config' / 'test.yaml'}: ok\n"
    assert err == f"{tmp_path / 'bad.yaml'}: {YAML_MESSAGE}\n"


def test_needs_masks_follows_the_models_and_the_sweep(default):
    assert cfg.needs_masks(default, "liver")  # seg-unet among its models
    assert not cfg.needs_masks(default, "cac")  # baseline, enc-* and rl-* only
    swept = copy.deepcopy(default)
    swept["sample_size"] |= {"model": "seg-unet", "problems": ["cac"]}
    assert cfg.needs_masks(swept, "cac")


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    """Snakefile, workflow/, config/ and envs/ copied to a temporary folder."""
    folder = tmp_path_factory.mktemp("workflow")
    shutil.copy2(ROOT / "Snakefile", folder / "Snakefile")
    for name in ("workflow", "config", "envs"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def snakemake(folder: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(bin_dir / "snakemake"), *args, "-n", "--cores", "1"]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)


def test_workflow_names_line_and_column_of_a_broken_default_config(workflow_copy):
    config = workflow_copy / "config" / "config.yaml"
    good = config.read_text()
    config.write_text(BROKEN_YAML)
    try:
        result = snakemake(workflow_copy)
    finally:
        config.write_text(good)
    assert result.returncode == 1
    assert f"config/config.yaml: {YAML_MESSAGE}" in result.stdout + result.stderr


def test_workflow_passes_dims_masks_and_the_users_file_to_the_data_stages(workflow_copy):
    table = write_toy_dataset(workflow_copy / "raw", n=16)
    table.to_csv(workflow_copy / "raw" / "manifest.tsv", sep="\t", index=False)
    config = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    config["problems"]["pma"]["source"] = {"manifest": "raw/manifest.tsv"}
    config["problems"]["pma"]["grid"] = PROBLEM_2D["grid"]
    (workflow_copy / "study.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/data/pma/split.tsv", "results/data/liver/manifest.tsv"]
    # a whole study (pma from a manifest), not merged over the default
    args = ("-p", "--replace-workflow-config", "--configfile", "study.yaml")
    result = snakemake(workflow_copy, *targets, *args)
    commands = [line for line in result.stdout.splitlines() if "python -m rlnet" in line]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    manifest = {c.split("--out ")[1].split()[0]: c for c in commands if "rlnet manifest" in c}
    assert "--spatial-dims 2 --needs-masks true" in manifest["results/data/liver/manifest.tsv"]
    assert "--needs-masks false" in manifest["results/data/pma/manifest.tsv"]
    (split,) = [c for c in commands if "rlnet split" in c]
    assert "--source-name raw/manifest.tsv" in split
