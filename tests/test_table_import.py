"""Table importers: slices_table (pma, sfa) and cac_table (cac), in the layout a user has.

Fixtures write what a user would: a CSV of 2D slices and 3D scans with a slice index, or of CT
scans with Agatston scores and either a calcium volume or a calcium mask. Expected values are
worked out here from the written arrays.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, files_under, toy_case
from rlnet import cli, io
from rlnet.biomarkers import agatston
from rlnet.datasets.tables import TableError, import_cac_table, import_slices_table
from rlnet.phantoms import heart


def slices_folder(folder: Path, n: int = 12) -> Path:
    """``n`` toy cases: even ones as 2D NIfTI, odd ones as slice 1 of a 3-slice scan (the
    other slices noise), each with its mask; areas.csv lists them."""
    rng = np.random.default_rng(3)
    rows = []
    for k in range(n):
        image, mask = toy_case(rng)
        if k % 2:
            stack = np.stack([image - 7, image, image + 9])
            masks = np.stack([np.zeros_like(mask), mask, np.zeros_like(mask)])
            io.write_image(folder / f"scan{k}.nii.gz", stack, (5.0, 2.0, 1.5))
            io.write_image(folder / f"scan{k}_mask.nii.gz", masks, (5.0, 2.0, 1.5))
            rows.append({"image": f"scan{k}.nii.gz", "slice": "1", "mask": f"scan{k}_mask.nii.gz"})
        else:
            io.write_image(folder / f"img{k}.nii.gz", image, (2.0, 1.5))
            io.write_image(folder / f"img{k}_mask.nii.gz", mask, (2.0, 1.5))
            rows.append({"image": f"img{k}.nii.gz", "slice": "", "mask": f"img{k}_mask.nii.gz"})
        rows[-1] |= {"case_id": f"c{k}", "value": float(mask.sum() * 3.0)}
    table = pd.DataFrame(rows)[["case_id", "image", "slice", "value", "mask"]]
    table.to_csv(folder / "areas.csv", index=False)
    return folder / "areas.csv"


def test_slices_and_scan_slices_become_2d_cases(tmp_path):
    source = slices_folder(tmp_path / "user", n=4)
    table = import_slices_table(source, tmp_path / "out")
    assert table["case_id"].tolist() == ["c0", "c1", "c2", "c3"]
    assert table["subject_id"].tolist() == ["c0", "c1", "c2", "c3"]  # default: the case
    for row in table.itertuples():
        image, geometry = io.read_image(row.image)
        mask, _ = io.read_image(row.mask, kind="mask")
        assert image.shape == (30, 30) and geometry.spacing == pytest.approx((2.0, 1.5))
        assert row.value == pytest.approx(mask.sum() * 3.0)  # the area: pixels x 2 x 1.5 mm^2
    scan, _ = io.read_image(tmp_path / "user" / "scan1.nii.gz")
    assert np.array_equal(io.read_image(table.loc[1, "image"])[0], scan[1])
    assert table.loc[1, "slice_index"] == 1 and table.loc[0, "slice_index"] == ""


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (
            lambda t: t.assign(slice=t["slice"].where(t.index != 1, "3")),
            r"line 3 \(case c1\): slice 3 is not in image",
        ),
        (
            lambda t: t.assign(slice=""),
            r"line 3 \(case c1\): image .*scan1.nii.gz has 3 axes; a 3D scan needs a 'slice'",
        ),
        (
            lambda t: t.assign(value=t["value"].astype(str).where(t.index != 2, "n/a")),
            r"line 4 \(case c2\): value 'n/a' is no number >= 0",
        ),
        (
            lambda t: t.assign(image=t["image"].where(t.index != 0, "gone.nii.gz")),
            r"line 2 \(case c0\): image .*gone.nii.gz not found",
        ),
        (lambda t: t.assign(area=1), r"unknown column\(s\) \['area'\]"),
        (lambda t: t.drop(columns="value"), r"missing column\(s\) \['value'\]"),
    ],
)
def test_bad_slices_tables_name_line_and_case(tmp_path, caplog, edit, fragment):
    source = slices_folder(tmp_path / "user", n=4)
    edit(pd.read_csv(source, dtype=str, keep_default_na=False)).to_csv(source, index=False)
    argv = ["import-slices-table", "--source", str(source), "--out-dir", str(tmp_path / "out")]
    assert cli.main([*argv, "--table", str(tmp_path / "out" / "t.tsv")]) == 1
    assert any(re.search(fragment, r.getMessage()) for r in caplog.records), caplog.text
    assert files_under(tmp_path / "out") == set()  # nothing half-written


def cac_folder(folder: Path, n: int) -> Path:
    """``n`` phantom chest CTs; even cases give a calcium mask, odd ones the volume (mm^3)."""
    rows = []
    for k in range(n):
        case = heart.generate(5, k, shape=(32, 64, 64), spacing=(3.0, 2.5, 2.5))
        io.write_image(folder / f"ct{k}.nii.gz", case.image, case.spacing)
        score = agatston(case.image, case.masks["cac"], case.spacing)
        row = {"case_id": f"p{k}", "image": f"ct{k}.nii.gz", "agatston": score}
        if k % 2:
            row["volume"] = float(case.masks["cac"].sum() * np.prod(case.spacing))
        else:
            io.write_image(folder / f"ca{k}.nii.gz", case.masks["cac"], case.spacing)
            row["calcium_mask"] = f"ca{k}.nii.gz"
        rows.append(row)
    table = pd.DataFrame(rows).astype(object).fillna("")
    table.to_csv(folder / "scores.csv", index=False)
    return folder / "scores.csv"


def test_cac_volumes_from_the_table_or_counted_in_the_mask(tmp_path):
    source = cac_folder(tmp_path, 4)
    table = import_cac_table(source)
    for k, row in enumerate(table.itertuples()):
        case = heart.generate(5, k, shape=(32, 64, 64), spacing=(3.0, 2.5, 2.5))
        assert row.value == pytest.approx(case.masks["cac"].sum() * 3.0 * 2.5 * 2.5)
        assert row.agatston == pytest.approx(agatston(case.image, case.masks["cac"], case.spacing))
        assert row.image == str(tmp_path / f"ct{k}.nii.gz")
        assert row.mask == ("" if k % 2 else str(tmp_path / f"ca{k}.nii.gz"))


def test_a_cac_row_without_volume_or_mask_is_named(tmp_path):
    source = cac_folder(tmp_path, 2)
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    table.loc[1, "volume"] = ""
    table.to_csv(source, index=False)
    with pytest.raises(TableError, match=r"line 3 \(case p1\): no calcium volume"):
        import_cac_table(source)


def run_study(study: Path, config: dict, *targets: str) -> None:
    (study / "study.yaml").write_text(yaml.safe_dump(config))
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(bin_dir / "snakemake"), "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    result = subprocess.run(
        # targets first: --configfile takes a list; a whole study, not merged over the default
        [*command, *targets, "--replace-workflow-config", "--configfile", "study.yaml"],
        cwd=study,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def tiny_config(problem: str, source: dict, models: list[str]) -> dict:
    """config/test.yaml with ``problem`` alone, from ``source``."""
    config = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    block = config["problems"][problem] | {"source": source, "models": models}
    config["problems"] = {problem: block}
    config["sample_size"]["problems"] = []
    config["evaluation"].pop("repeats")
    config.pop("phantoms")
    return config


def test_the_tiny_study_runs_on_a_slices_table(tmp_path):
    slices_folder(tmp_path / "user", n=20)
    run_study(
        tmp_path,
        tiny_config("pma", {"slices_table": "user/areas.csv"}, ["rl-unet"]),
        "results/tables/table2.tsv",
    )
    manifest = io.read_table(tmp_path / "results/data/pma/manifest.tsv")
    assert len(manifest) == 20
    assert "rl-unet" in set(io.read_table(tmp_path / "results/tables/table2.tsv")["model"])


def test_the_tiny_study_runs_on_a_cac_table(tmp_path):
    cac_folder(tmp_path / "user", 30)
    run_study(
        tmp_path,
        tiny_config("cac", {"cac_table": "user/scores.csv"}, ["rl-unet"]),
        "results/tables/table2.tsv",
        "results/qc/cac/roi.tsv",
    )
    manifest = io.read_table(tmp_path / "results/data/cac/manifest.tsv")
    assert len(manifest) == 30 and manifest["image"].str.endswith(".nii.gz").all()
    qc = io.read_table(tmp_path / "results/qc/cac/roi.tsv")
    assert len(qc) == 30 and set(qc["roi_source"]) == {"search"}
    assert "rl-unet" in set(io.read_table(tmp_path / "results/tables/table2.tsv")["model"])
