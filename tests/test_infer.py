"""Scans for inference: a folder or a TSV read as cases; bad ones named."""

import numpy as np
import pytest

from rlnet import io
from rlnet.infer import ScansError, scan_table

PLANE = np.arange(64, dtype=np.int16).reshape(8, 8)


def test_a_folder_lists_image_files_and_dicom_folders(tmp_path):
    io.write_image(tmp_path / "b.nii.gz", PLANE, (1.0, 1.0))
    io.write_image(tmp_path / "a.nrrd", PLANE, (1.0, 1.0))
    io.write_image(tmp_path / "c" / "1.dcm", PLANE[None], (1.0, 1.0, 1.0))
    (tmp_path / "notes.txt").write_text("not a scan\n")
    (tmp_path / "empty").mkdir()
    table = scan_table(tmp_path)
    assert table["case_id"].tolist() == ["a", "b", "c"]
    assert table["image"].tolist() == [str(tmp_path / n) for n in ("a.nrrd", "b.nii.gz", "c")]
    assert (table["candidate_mask"] == "").all() and (table["spacing"] == "").all()


def test_a_tsv_resolves_relative_paths_from_its_folder(tmp_path):
    (tmp_path / "scans.tsv").write_text("case_id\timage\tcandidate_mask\nx\tin/x.nii.gz\tm.nii\n")
    table = scan_table(tmp_path / "scans.tsv")
    assert table.loc[0, "image"] == str(tmp_path / "in" / "x.nii.gz")
    assert table.loc[0, "candidate_mask"] == str(tmp_path / "m.nii")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("case_id\timage\tvalue\nx\tx.nii\t3\n", r"unknown column\(s\) \['value'\]"),
        ("case_id\timage\nx\tx.nii\nx\ty.nii\n", r"case ids \['x'\] appear twice"),
        ("case_id\timage\n", "no scan"),
    ],
)
def test_bad_scans_tables_are_named(tmp_path, text, fragment):
    (tmp_path / "scans.tsv").write_text(text)
    with pytest.raises(ScansError, match=f"scans.tsv: {fragment}"):
        scan_table(tmp_path / "scans.tsv")


def test_a_missing_scans_path_is_named(tmp_path):
    with pytest.raises(ScansError, match="nowhere: no such folder or scans TSV"):
        scan_table(tmp_path / "nowhere")
