"""Manifests: the user's own scans (a TSV) and the synthetic shard tables. Every error names the
file and, where there is one, the case."""

import numpy as np
import pandas as pd
import pytest

from conftest import write_toy_dataset
from rlnet import tsv
from rlnet.datasets import manifest, synthesis, synthetic
from rlnet.datasets.manifest import ManifestError

CHEST = {"n_cases": 2, "shape": [64, 64], "spacing": [4.0, 4.0], "noise_hu": [5, 15]}


@pytest.fixture
def user_manifest(tmp_path):
    """A manifest TSV with paths relative to its own folder and no spacing column."""
    table = write_toy_dataset(tmp_path / "scans", n=4)
    for column in ("image", "mask"):
        table[column] = [str(p).removeprefix(str(tmp_path) + "/") for p in table[column]]
    path = tmp_path / "manifest.tsv"
    table.drop(columns=["spacing"]).to_csv(path, sep="\t", index=False)
    return path


def rewrite(path, edit):
    """Replace the TSV at ``path`` by ``edit(table)``."""
    edit(pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)).to_csv(
        path, sep="\t", index=False
    )


def with_cell(row: int, column: str, value: str):
    """An edit that sets one cell."""

    def edit(table: pd.DataFrame) -> pd.DataFrame:
        table = table.copy()
        table.loc[row, column] = value
        return table

    return edit


def test_relative_paths_and_missing_spacing_come_from_the_manifest_folder(user_manifest):
    table = manifest.import_user_manifest(user_manifest, 2)
    assert table["image"][0] == str(user_manifest.parent / "scans" / "img00.nii.gz")
    assert table["spacing"].tolist() == ["2 2"] * 4  # read from the NIfTI headers
    assert table["value"].dtype == float and list(table.columns) == list(manifest.COLUMNS)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.drop(columns=["value"]), r"missing column\(s\) \['value'\]"),
        (lambda t: t.iloc[:0], "manifest has no rows"),
        (with_cell(1, "case_id", "c00"), r"duplicate case id\(s\) \['c00'\] \(line\(s\) \[3\]\)"),
        (with_cell(2, "value", "-3"), r"case\(s\) \['c02'\] \(line\(s\) \[4\]\) have a missing"),
        (with_cell(3, "value", "n/a"), r"case\(s\) \['c03'\] \(line\(s\) \[5\]\) have a missing"),
        (with_cell(1, "mask", "gone.nii.gz"), r"line 3 \(case c01\): mask file .*gone"),
    ],
)
def test_bad_manifest_names_the_file_and_case(user_manifest, edit, message):
    rewrite(user_manifest, edit)
    with pytest.raises(ManifestError, match=message) as err:
        manifest.import_user_manifest(user_manifest, 2)
    assert str(user_manifest) in str(err.value)


def test_unreadable_image_header_names_the_image(user_manifest):
    (user_manifest.parent / "scans" / "img02.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(ManifestError, match=r"img02.nii.gz: cannot read image header"):
        manifest.import_user_manifest(user_manifest, 2)


def test_missing_manifest_file_is_named(tmp_path):
    with pytest.raises(ManifestError, match=r"nothere.tsv: cannot read manifest"):
        manifest.import_user_manifest(tmp_path / "nothere.tsv", 2)


@pytest.fixture(scope="module")
def chest_shard(tmp_path_factory):
    root = tmp_path_factory.mktemp("shard")
    table = synthesis.write_shard("chest", CHEST, 3, range(CHEST["n_cases"]), root / "raw")
    tsv.write_table(root / "shard0.tsv", table)
    return root / "shard0.tsv"


def test_shards_become_the_problem_manifest(chest_shard):
    source = {"target": "subcutaneous_fat"}
    table = synthetic.manifest_from_shards([synthetic.read_shard(chest_shard, source)], source, "x")
    shard = tsv.read_table(chest_shard)
    assert table["case_id"].tolist() == shard["case_id"].tolist()
    np.testing.assert_allclose(table["value"], shard["value_subcutaneous_fat"])
    assert table["mask"].tolist() == shard["mask_subcutaneous_fat"].tolist()


def test_empty_shard_is_named(chest_shard, tmp_path):
    empty = tmp_path / "shard1.tsv"
    tsv.read_table(chest_shard).iloc[:0].to_csv(empty, sep="\t", index=False)
    with pytest.raises(ManifestError, match=r"shard1.tsv: shard table has no cases"):
        synthetic.read_shard(empty, {"target": "pectoralis"})


def test_shard_without_the_target_mask_lists_the_masks_it_has(chest_shard):
    with pytest.raises(ManifestError, match=r"shard0.tsv: no mask 'liver' .*'pectoralis'"):
        synthetic.read_shard(chest_shard, {"target": "liver"})
    with pytest.raises(ManifestError, match=r"no mask 'tumour'"):
        synthetic.read_shard(chest_shard, {"target": "pectoralis", "candidate_mask": "tumour"})


def test_a_heart_shard_gives_its_pericardium_as_the_heart_region(tmp_path):
    """The heart phantom's `heart` mask becomes heart_region (the heart-rule baseline's region),
    not heart_mask (which would centre the ROI instead of the search); a chest shard has none."""
    files = {}
    for name in ("image", "cac", "heart"):
        files[name] = tmp_path / f"h0_{name}.nii.gz"
        files[name].write_bytes(b"")
    shard = pd.DataFrame(
        {
            "case_id": ["h0", "h1"],
            "subject_id": ["h0", "h1"],
            "image": str(files["image"]),
            "spacing": "3 2 2",
            "value_cac": [4.0, 0.0],
            "mask_cac": str(files["cac"]),
            "agatston_cac": [12.0, 0.0],
            "mask_heart": str(files["heart"]),
        }
    )
    table = synthetic.manifest_from_shards([shard], {"target": "cac"}, "x")
    assert table["heart_region"].tolist() == [str(files["heart"])] * 2
    assert table["heart_mask"].tolist() == ["", ""]


def test_a_chest_shard_has_no_heart_region(chest_shard):
    source = {"target": "pectoralis"}
    table = synthetic.manifest_from_shards([synthetic.read_shard(chest_shard, source)], source, "x")
    assert (table["heart_region"] == "").all()
