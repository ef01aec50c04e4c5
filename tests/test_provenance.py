"""Provenance sidecars and the audit: a record per output, mismatches found and named."""

import json
from pathlib import Path

import pytest

from conftest import ROOT, biomarker, write_toy_dataset
from rlnet import atomic, cli, codebase, provenance, tsv

#: The real function, before the fixture below replaces it.
GIT_STATE = provenance.git_state


@pytest.fixture(autouse=True)
def clean_checkout(monkeypatch):
    """Records made here come from a committed checkout (the developer's tree may be dirty)."""
    monkeypatch.setattr(
        provenance, "git_state", lambda: {"git_commit": "0" * 40, "git_dirty": False}
    )


@pytest.fixture
def chain(tmp_path):
    """manifest (raw) -> split stage (through the CLI) -> split.tsv with a sidecar."""
    manifest = write_toy_dataset(tmp_path / "raw", n=12)
    tsv.write_table(tmp_path / "manifest.tsv", manifest)
    argv = [
        "split",
        "--manifest",
        str(tmp_path / "manifest.tsv"),
        "--biomarker",
        biomarker("pma").to_json(),
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
    """Both outputs of the split stage have a record: their own hash and the manifest's, the
    stage, its arguments and the source of every module it ran (hashed here with hashlib)."""
    import hashlib

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def source(module: str) -> Path:
        path = ROOT / "workflow" / Path(*module.split("."))
        return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")

    manifest = {"path": str(chain / "manifest.tsv"), "sha256": digest(chain / "manifest.tsv")}
    for name in ("split.tsv", "counts.tsv"):
        record = json.loads(provenance.sidecar(chain / name).read_text())
        assert record["file"] == str(chain / name)
        assert record["stage"] == "split"
        assert record["sha256"] == digest(chain / name)
        assert record["inputs"] == [manifest]
        assert record["arguments"][:1] == ["split"] and "--seed" in record["arguments"]
        modules = record["code"]["modules"]
        assert {"rlnet.split", "rlnet.cli", "rlnet.io"} <= set(modules)
        assert modules == {module: digest(source(module)) for module in modules}
    records = sorted(p.name for p in chain.glob(f"*{provenance.SUFFIX}"))
    assert records == ["counts.tsv.prov.json", "split.tsv.prov.json"]


def test_records_of_one_run_are_the_json_of_their_own_fields(tmp_path):
    """The template-filled records equal each record encoded on its own (hashlib hashes)."""
    import hashlib

    odd = tmp_path / 'we"ird\\name ü.txt'
    inputs, outputs = [tmp_path / "in.txt"], [tmp_path / "a.txt", odd]
    for path, text in zip([*inputs, *outputs], ["x", "a", "b"], strict=True):
        path.write_text(text)
    provenance.write_records("split", ["split", "--seed", '"1"'], inputs, outputs)
    for path, text in zip(outputs, ["a", "b"], strict=True):
        raw = provenance.sidecar(path).read_text(encoding="utf-8")
        record = json.loads(raw)
        assert raw == atomic.json_text(record)
        assert record["file"] == str(path)
        assert record["sha256"] == hashlib.sha256(text.encode()).hexdigest()
        assert record["inputs"] == [
            {"path": str(inputs[0]), "sha256": hashlib.sha256(b"x").hexdigest()}
        ]
        assert record["arguments"] == ["split", "--seed", '"1"']


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
    provenance.write_records("prepare", [], [toy_prepared], [out])
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
        "heart.npy",
        "images.npy",
        "masks.npy",
        "meta.json",
    }


def test_records_hold_the_hash_of_every_module_the_stage_runs(chain):
    import hashlib

    code = json.loads(provenance.sidecar(chain / "split.tsv").read_text())["code"]
    split_source = ROOT / "workflow" / "rlnet" / "split.py"
    assert code["modules"]["rlnet.split"] == hashlib.sha256(split_source.read_bytes()).hexdigest()
    # split runs no training code: an edit there must not invalidate it
    assert {"rlnet", "rlnet.cli", "rlnet.io", "rlnet.split"} <= set(code["modules"])
    assert not any(m.startswith("rlnet.training") for m in code["modules"])
    # beside each module's bytes, the behaviour hash the rule's code param is made of
    assert set(code["behaviour"]) == set(code["modules"])
    assert code["behaviour"] == codebase.stage_behaviours("split")


def _git(root, *args):
    import subprocess

    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_git_state_sees_edits_of_code_not_of_docs(tmp_path):
    root = tmp_path / "repo"
    (root / "workflow").mkdir(parents=True)
    (root / "workflow" / "m.py").write_text("x = 1\n")
    (root / "README.md").write_text("docs\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    assert GIT_STATE(root)["git_dirty"] is False
    (root / "README.md").write_text("edited docs\n")
    assert GIT_STATE(root)["git_dirty"] is False
    (root / "workflow" / "m.py").write_text("x = 2\n")
    state = GIT_STATE(root)
    assert state["git_dirty"] is True and len(state["git_commit"]) == 40
    assert GIT_STATE(tmp_path)["git_commit"] is None  # not a checkout


@pytest.fixture
def shard(tmp_path, monkeypatch):
    """One synthesis shard of 3 chest cases, made by the CLI stage in ``tmp_path``."""
    from rlnet.config import read_yaml

    monkeypatch.chdir(tmp_path)
    config = read_yaml(ROOT / "config" / "test.yaml")
    settings = {**config["phantoms"]["chest"], "n_cases": 3}
    argv = ["synthesize", "--phantom", "chest", "--settings", json.dumps(settings)]
    argv += ["--seed", "1", "--shard", "0", "--shard-size", "3"]
    argv += ["--out-dir", "results/chest", "--table", "results/chest/shard0.tsv"]
    assert cli.main(argv) == 0
    return Path("results/chest")


def test_listed_files_share_one_record_per_folder(shard):
    """The images and masks a shard table lists get one record per folder, holding each
    file's hash (hashlib here); load_record gives each the fields of a sidecar."""
    import hashlib

    table = tsv.read_table(shard / "shard0.tsv")
    images = [Path(p) for p in table["image"]]
    assert len(images) == 3
    for folder in {p.parent for p in images} | {Path(table["mask_pectoralis"][0]).parent}:
        assert sorted(p.name for p in folder.glob(f"*{provenance.SUFFIX}")) == [
            f".shard0.tsv{provenance.SUFFIX}"
        ]
    assert provenance.sidecar(shard / "shard0.tsv").exists()
    for image in images:
        record = provenance.load_record(image)
        assert record["file"] == str(image) and record["stage"] == "synthesize"
        assert record["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
        assert record["arguments"][:3] == ["synthesize", "--phantom", "chest"]


def test_audit_reaches_listed_files_and_names_an_edited_one(shard):
    """A file made from the listed images audits through their shared record; an edited image
    is named, and so is one whose shared record was deleted."""
    images = [Path(p) for p in tsv.read_table(shard / "shard0.tsv")["image"]]
    (shard / "stack.txt").write_text("made from the images\n")
    provenance.write_records("prepare", ["prepare"], images, [shard / "stack.txt"])
    report = provenance.audit(shard / "stack.txt", "results")
    assert report.problems == [] and sorted(report.checked) == sorted(
        [str(shard / "stack.txt"), *map(str, images)]
    )
    data = images[1].read_bytes()
    images[1].write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    assert provenance.audit(shard / "stack.txt", "results").problems == [
        f"{shard / 'stack.txt'}: input {images[1]} changed after {shard / 'stack.txt'} "
        f"was made from it"
    ]
    provenance.shared_record(images[0].parent, shard / "shard0.tsv").unlink()
    problems = provenance.audit(shard / "stack.txt", "results").problems
    assert f"{shard / 'stack.txt'}: input {images[0]} is inside results but has no " in problems[0]


def test_a_rerun_shard_replaces_its_shared_records(shard):
    """Before a shard runs again its shared records go (a failed rerun leaves none)."""
    record = provenance.shared_record(shard / "images", shard / "shard0.tsv")
    assert record.exists()
    argv = ["synthesize", "--phantom", "chest", "--settings", "{}", "--seed", "1"]
    argv += ["--shard", "0", "--shard-size", "3", "--out-dir", str(shard)]
    assert cli.main([*argv, "--table", str(shard / "shard0.tsv")]) == 1
    assert not record.exists()
