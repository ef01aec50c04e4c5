"""Provenance sidecars and the audit: a record per output, mismatches found and named."""

import json

import pytest

from conftest import write_toy_dataset
from rlnet import cli, io, provenance


@pytest.fixture
def chain(tmp_path):
    """manifest (raw) -> split stage (through the CLI) -> split.tsv with a sidecar."""
    manifest = write_toy_dataset(tmp_path / "raw", n=12)
    io.write_table(tmp_path / "manifest.tsv", manifest)
    argv = [
        "split",
        "--manifest",
        str(tmp_path / "manifest.tsv"),
        "--problem",
        "pma",
        "--split",
        json.dumps({"train": 0.5, "val": 0.25, "test": 0.25, "strata": 1}),
        "--seed",
        "1",
        "--out",
        str(tmp_path / "split.tsv"),
        "--report",
        str(tmp_path / "counts.tsv"),
    ]
    assert cli.main(argv) == 0
    return tmp_path


def test_every_output_gets_a_record_of_its_inputs(chain):
    record = json.loads(provenance.sidecar(chain / "split.tsv").read_text())
    assert record["stage"] == "split"
    assert record["sha256"] == provenance.sha256(chain / "split.tsv")
    assert record["inputs"] == [
        {"path": str(chain / "manifest.tsv"), "sha256": provenance.sha256(chain / "manifest.tsv")}
    ]
    assert "--seed" in record["arguments"] and record["code"]["rlnet"]
    assert provenance.sidecar(chain / "counts.tsv").exists()


def test_audit_passes_and_lists_raw_inputs(chain):
    report = provenance.audit(chain / "split.tsv")
    assert report.problems == [] and report.leaves == [str(chain / "manifest.tsv")]


def test_audit_names_a_changed_input(chain):
    (chain / "manifest.tsv").write_text((chain / "manifest.tsv").read_text() + "\n")
    report = provenance.audit(chain / "split.tsv")
    assert report.problems == [
        f"{chain / 'split.tsv'}: input {chain / 'manifest.tsv'} changed after "
        f"{chain / 'split.tsv'} was made from it"
    ]
    assert cli.main(["audit", str(chain / "split.tsv")]) == 1


def test_audit_names_an_edited_output(chain):
    (chain / "split.tsv").write_text("edited by hand\n")
    assert "content changed" in provenance.audit(chain / "split.tsv").problems[0]


def test_audit_of_a_file_without_record_is_an_error(tmp_path):
    (tmp_path / "x.tsv").write_text("a\n")
    with pytest.raises(provenance.AuditError, match="no provenance record"):
        provenance.audit(tmp_path / "x.tsv")


def test_a_folder_output_records_each_file(toy_prepared, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.tsv").write_text("1\n")
    (out / "b.npy").write_bytes(b"2")
    provenance.write_records("demo", [], [toy_prepared], [out])
    assert sorted(p.name for p in out.iterdir()) == [
        "a.tsv",
        "a.tsv.prov.json",
        "b.npy",
        "b.npy.prov.json",
    ]
    inputs = json.loads(provenance.sidecar(out / "a.tsv").read_text())["inputs"]
    assert {e["path"].rsplit("/", 1)[1] for e in inputs} == {
        "cases.tsv",
        "candidates.npy",
        "images.npy",
        "masks.npy",
        "meta.json",
    }
