"""Table importers: slices_table (pma, sfa) and cac_table (cac), in the layout a user has.

tests/user_data.py writes what a user would: a CSV of 2D slices and 3D scans with a slice
index, or of CT scans with Agatston scores and either a calcium volume or a calcium mask.
Expected values are worked out here from the written arrays. The end-to-end tests read the
session's study on a user's data (conftest ``user_data_study``).
"""

import re

import numpy as np
import pandas as pd
import pytest

from conftest import REAL_CT, band, files_under
from rlnet import cli, io, tsv
from rlnet.biomarkers import agatston
from rlnet.datasets.manifest import validate
from rlnet.datasets.tables import TableError, import_cac_table, import_slices_table
from rlnet.phantoms import heart
from rlnet.prepare import Prepared, prepare
from user_data import cac_folder, slices_folder


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


#: Bad cells of a CAC table's line 3 (case p1): (column, value, image written as bad.nii.gz
#: (array, spacing) or None, the error's fragment).
BAD_CAC_CELLS = {
    "heart mask on another grid": (
        "heart_mask", "bad.nii.gz", (np.ones((32, 64, 60), np.uint8), (3.0, 2.5, 2.5)),
        r"heart_mask .*bad.nii.gz has shape \(32, 64, 60\), the image \(32, 64, 64\)",
    ),
    "a 2D slice as the scan": (
        "image", "bad.nii.gz", (np.full((8, 8), -1000, np.int16), (2.5, 2.5)),
        r"image .*bad.nii.gz has 2 dimensions",
    ),
    "roi_center outside": ("roi_center", "40 1 1", None, r"roi_center 40 1 1 lies outside"),
}  # fmt: skip


@pytest.mark.parametrize("bad", BAD_CAC_CELLS)
def test_cac_header_errors_name_the_users_table_and_line(tmp_path, bad):
    """The header checks run on the user's CAC table, so their errors name it and its line
    (before: the import passed, and the manifest stage named the pipeline's copy,
    results/data/cac/import/cac_table.tsv)."""
    column, value, image, fragment = BAD_CAC_CELLS[bad]
    source = cac_folder(tmp_path, 2)
    if image is not None:
        io.write_image(tmp_path / "bad.nii.gz", *image)
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    table[column] = table.get(column, "")
    table.loc[1, column] = value
    table.to_csv(source, index=False)
    with pytest.raises(TableError, match=r"scores.csv: line 3 \(case p1\): " + fragment):
        import_cac_table(source)


def test_a_slices_table_mixes_slice_sizes_on_the_grid(tmp_path):
    """A real 512 x 512 DICOM slice (0.977 mm, its body > -500 HU as the reference) listed
    first, then 30 x 30 toy slices at 2 x 1.5 mm (which were padded to 512^2 beside it): every
    case reaches the 256 x 256 grid at 2 mm, and each reference mask measures its listed area
    within the band bound of tests/test_grid.py (pixels within 2 d_s + d_g of the other
    label)."""
    source = slices_folder(tmp_path / "user", n=4)
    ct, geometry = io.read_image(REAL_CT / "dicom-abdomen")
    body = (ct > -500).astype(np.uint8)
    io.write_image(tmp_path / "user" / "body.nii.gz", body, geometry)
    s = geometry.spacing[1]
    first = {
        "case_id": "dicom",
        "image": str(REAL_CT / "dicom-abdomen"),
        "slice": "10",
        "value": float(body[10].sum()) * s * s,
        "mask": "body.nii.gz",
    }
    table = pd.concat([pd.DataFrame([first]), pd.read_csv(source, dtype=str)], ignore_index=True)
    table.fillna("").to_csv(source, index=False)
    manifest = validate(import_slices_table(source, tmp_path / "out"), source)
    split = pd.DataFrame({"case_id": manifest["case_id"], "split": "test", "stratum": 0})
    problem = {
        "spatial_dims": 2,
        "candidates": {"hu": [-20, 100]},
        "input_window": [-250, 250],
        "grid": {"spacing": [2.0, 2.0], "shape": [256, 256]},  # 512 mm: the whole body
    }
    prepare(manifest, split, problem, tmp_path / "prepared")
    prepared = Prepared.load(tmp_path / "prepared")
    assert prepared.masks.shape == (5, 256, 256)
    assert (prepared.cases["voxel_size"] == 4.0).all()
    for k, row in manifest.iterrows():
        mask, own = io.read_image(row["mask"], kind="mask")
        d_s, d_g = np.linalg.norm(own.spacing) / 2, np.linalg.norm([2.0, 2.0]) / 2
        pixel = float(np.prod(own.spacing))
        bound = band(mask, own.spacing, 2 * d_s + d_g).sum() * pixel
        area = prepared.masks[k].sum() * 4.0
        assert abs(area - row["value"]) <= bound, (row["case_id"], area, row["value"], bound)


def test_the_tiny_study_runs_on_a_slices_table(user_data_study):
    manifest = tsv.read_table(user_data_study / "results/data/pma/manifest.tsv")
    assert len(manifest) == 20
    table2 = tsv.read_table(user_data_study / "results/tables/table2.tsv")
    assert "rl-unet" in set(table2.loc[table2["problem"] == "pma", "model"])


def test_the_tiny_study_runs_on_a_cac_table(user_data_study):
    manifest = tsv.read_table(user_data_study / "results/data/cac/manifest.tsv")
    assert len(manifest) == 30 and manifest["image"].str.endswith(".nii.gz").all()
    qc = tsv.read_table(user_data_study / "results/qc/cac/roi.tsv")
    assert len(qc) == 30 and set(qc["roi_source"]) == {"search"}
    table2 = tsv.read_table(user_data_study / "results/tables/table2.tsv")
    assert "rl-unet" in set(table2.loc[table2["problem"] == "cac", "model"])
