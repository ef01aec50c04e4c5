"""The commands README.md and docs/ print run exactly as printed.

Every fenced ``bash`` block of README.md and docs/*.md is read; the commands that apply a
model to new scans (``results/infer/...``) or audit a file are run as written in a copy of the
session's tiny study (conftest ``test_study``), its embedded default made the tiny config, with
a PATH that does not hold the project's virtual environment: the rules must find the
interpreter of the Snakemake that runs them. A comment ``# my.yaml holds only:  <yaml>`` before
a command is the file it reads, its scans ``/data/new-ct`` a folder of real CT here.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REAL_CT, ROOT
from rlnet import io, tsv
from user_data import write_dicom_slice

#: Folders of the system's tools, none of them the venv's.
PLAIN_PATH = os.pathsep.join(
    p
    for p in ("/usr/local/bin", "/usr/bin", "/bin")
    if Path(p).resolve() != Path(sys.executable).parent.resolve()
)
#: The scans folder the docs' examples name.
PRINTED_SCANS = "/data/new-ct"
HOLDS = re.compile(r"#\s*(\S+) holds only:\s+(.+)$")


def fenced_bash(path: Path) -> list[str]:
    """The lines of every ```bash block of a Markdown file, continuation lines joined."""
    blocks = re.findall(r"^```bash\n(.*?)^```", path.read_text(), re.M | re.S)
    return [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]


def printed_commands() -> list[tuple[str, str, dict[str, str]]]:
    """(document, command, {file: its printed content}) of every infer or audit command."""
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        files: dict[str, str] = {}
        for line in fenced_bash(doc):
            holds = HOLDS.search(line)
            if holds:
                files[holds[1]] = holds[2]
            command = line.split(" #")[0].strip()
            if (
                command
                and not command.startswith("#")
                and ("results/infer/" in command or "rlnet audit" in command)
            ):
                found.append((doc.name, command, dict(files)))
    return found


def test_the_docs_print_infer_and_audit_commands():
    """The extraction finds the README's infer and audit commands (so the test below runs)."""
    commands = [c for _, c, _ in printed_commands()]
    assert any("results/infer/cac/" in c for c in commands)
    assert any(c.startswith("PYTHONPATH=workflow") and "rlnet audit" in c for c in commands)


def real_scans(folder: Path) -> Path:
    """The real abdominal CT twice: as NIfTI, and as a DICOM series nested as PACS exports it
    (patient/series/files without suffix)."""
    ct, geometry = io.read_image(REAL_CT / "example_ct_sm.nii.gz")
    shutil.copy(REAL_CT / "example_ct_sm.nii.gz", folder / "abdomen.nii.gz")
    for z in range(ct.shape[0]):
        path = folder / "patient1" / "series1" / f"IM{z:04d}.dcm"
        write_dicom_slice(path, ct[z], geometry.shifted((z, 0, 0)))
        path.rename(path.with_suffix(""))
    return folder


@pytest.fixture
def docs_study(test_study, tmp_path):
    """The tiny study as the docs' commands find a user's checkout: .venv/ (the venv running
    the tests), profiles/, and config/config.yaml the tiny config (merged over itself it is
    itself, so nothing built reruns); config.yaml restored afterwards."""
    default = test_study / "config" / "config.yaml"
    saved = default.read_bytes()
    venv = test_study / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.executable).parent.parent)
    shutil.copytree(ROOT / "profiles", test_study / "profiles", dirs_exist_ok=True)
    # the worked example's scans TSVs and the real CTs they list (docs/your-data.md)
    shutil.copytree(
        ROOT / "docs" / "examples", test_study / "docs" / "examples", dirs_exist_ok=True
    )
    shutil.copytree(REAL_CT, test_study / "tests" / "data" / "real-ct", dirs_exist_ok=True)
    shutil.copy(test_study / "config" / "test.yaml", default)
    (tmp_path / "scans").mkdir()
    real_scans(tmp_path / "scans")
    yield test_study, tmp_path / "scans"
    default.write_bytes(saved)
    shutil.rmtree(test_study / "results" / "infer", ignore_errors=True)
    shutil.rmtree(test_study / "results" / "logs" / "infer", ignore_errors=True)
    shutil.rmtree(test_study / "docs", ignore_errors=True)
    shutil.rmtree(test_study / "tests", ignore_errors=True)


def test_printed_infer_and_audit_commands_run_as_written(docs_study):
    """Each command, as printed, exits 0 without the venv on PATH (before: the target read as
    a config file, then "No module named 'pandas'"); each map infer writes has a record."""
    study, scans = docs_study
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = PLAIN_PATH
    cases = {}  # scans folder or TSV -> the case ids of the cac predictions made from it
    for doc, command, files in printed_commands():
        for name, text in files.items():
            (study / name).write_text(text.replace(PRINTED_SCANS, str(scans)) + "\n")
        result = subprocess.run(
            ["bash", "-c", command], cwd=study, env=env, capture_output=True, text=True
        )
        output = result.stdout[-3000:] + result.stderr[-3000:]
        assert result.returncode == 0, f"{doc}: {command}\n{output}"
        if command.startswith(".venv/bin/snakemake results/infer/cac/rl-unet"):
            source = yaml.safe_load((study / "my.yaml").read_text())["infer"]["cac"]["scans"]
            table = tsv.read_table(study / "results/infer/cac/rl-unet/predictions.tsv")
            cases[source] = table
    maps = sorted((study / "results" / "infer").rglob("maps/**/*.nii.gz"))
    assert {m.relative_to(study).parts[2] for m in maps} >= {"cac"}
    for path in maps:
        audit = subprocess.run(
            ["bash", "-c", f"PYTHONPATH=workflow .venv/bin/python -m rlnet audit {path}"],
            cwd=study,
            env=env,
            capture_output=True,
            text=True,
        )
        assert audit.returncode == 0, audit.stdout[-2000:] + audit.stderr[-2000:]
    table = cases[str(scans)]
    assert table["case_id"].tolist() == ["abdomen", "patient1/series1"]
    # the worked example (docs/your-data.md): both real chest CTs, each heart box trusted
    chest = cases["docs/examples/chest-ct.tsv"]
    assert chest["case_id"].tolist() == ["lung1", "lung2"]
    assert (chest["roi_flag"].astype("string").fillna("") == "").all(), chest
    np.testing.assert_allclose(table["prediction"].iloc[0], table["prediction"].iloc[1])
    # a failed rerun (a file that is no scan joins the folder): the previous folder stays
    out = study / "results" / "infer" / "cac" / "rl-unet"
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (scans / "notes.txt").write_text("not a scan\n")
    (study / "my.yaml").write_text(f"infer: {{cac: {{scans: {scans}, models: [rl-unet]}}}}\n")
    command = ".venv/bin/snakemake results/infer/cac/rl-unet --profile profiles/local"
    result = subprocess.run(
        ["bash", "-c", f"{command} --configfile my.yaml"],
        cwd=study,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "notes.txt: not a scan" in result.stderr + result.stdout
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["rl-unet"]


def yaml_blocks(path: Path) -> list[str]:
    """The text of every ```yaml block of a Markdown file."""
    return re.findall(r"^```yaml\n(.*?)^```", path.read_text(), re.M | re.S)


@pytest.mark.parametrize("doc", ["docs/your-data.md", "config/README.md"])
def test_printed_config_snippets_are_valid_overrides(doc, tmp_path):
    """Each config snippet, saved as a file and merged over the default as --configfile does,
    validates (before: your-data.md's LiTS block named two sources, synthetic and lits)."""
    from rlnet.config import load

    blocks = yaml_blocks(ROOT / doc)
    assert blocks
    for k, text in enumerate(blocks):
        path = tmp_path / f"snippet{k}.yaml"
        path.write_text(text)
        load(path)
