"""``package``: a run or a sweep as a deterministic zip whose manifest describes it exactly."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile

import pytest

from lm_eval_ext.cli.main import main
from lm_eval_ext.demo.fake_results import fake_task_rows, write_fake_run
from lm_eval_ext.resume import RunOutputError
from lm_eval_ext.submission import load_suite, package_runs, validate_zip
from tests.submission.conftest import REPO, write_suite


def _zip(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def test_a_sweep_packages_validates_and_the_manifest_is_exact(hub, sweep_out, tmp_path):
    suite = load_suite(write_suite(tmp_path / "suite.yaml", checkpoints=["step-1", "step-2"]))
    packaged = package_runs([sweep_out], tmp_path / "sub.zip", suite)
    assert validate_zip(packaged.path) == []  # the suite is the one the manifest names
    members = _zip(packaged.path)
    manifest = json.loads(members.pop("manifest.json"))
    assert manifest["suite"] == "tiny_suite" and manifest["format"].startswith("lm-eval-ext")
    assert set(manifest["members"]) == set(members)
    for name, data in members.items():
        assert manifest["members"][name] == {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
    assert [r["label"] for r in manifest["runs"]] == [
        "step-1/org__tiny-llama",
        "step-2/org__tiny-llama",
    ]
    for entry, ref in zip(manifest["runs"], ("step-1", "step-2"), strict=True):
        assert (entry["model_id"], entry["revision"]) == (REPO, ref)
        assert entry["commit_sha"] == hub[ref] and entry["dtype"] == "torch.float32"
        results = json.loads(members[entry["results"]])
        for task, info in entry["tasks"].items():
            assert info == {
                "version": results["versions"][task],
                "n_shot": results["n-shot"][task],
                "task_hash": results["task_hashes"][task],
                "n_samples": results["n-samples"][task],
            }
        samples = [
            n
            for n in members
            if n.startswith(entry["results"].rsplit("/", 1)[0]) and "/samples_" in n
        ]
        assert len(samples) == 2
    assert str(sweep_out) not in json.dumps(manifest)  # no local absolute paths
    assert manifest["created"] and manifest["lm_eval"] and manifest["lm_eval_ext"]


def test_packaging_twice_gives_identical_bytes(hub, sweep_out, tmp_path):
    suite = load_suite(write_suite(tmp_path / "suite.yaml"))
    first = package_runs([sweep_out], tmp_path / "a.zip", suite).path.read_bytes()
    second = package_runs([sweep_out], tmp_path / "b.zip", suite).path.read_bytes()
    assert first == second


def test_cli_package_then_validate(hub, sweep_out, tmp_path, capsys):
    suite = write_suite(tmp_path / "suite.yaml", checkpoints=["step-1", "step-2"])
    assert (
        main(["package", str(sweep_out), "-o", str(tmp_path / "s.zip"), "--suite", str(suite)]) == 0
    )
    out = capsys.readouterr().out
    assert "| step-1/org__tiny-llama" in out and "packaged 2 run(s)" in out
    assert main(["validate", str(tmp_path / "s.zip")]) == 0
    assert capsys.readouterr().out.strip().endswith(": valid")


def test_shard_runs_are_not_packaged(hub, sweep_out, tmp_path):
    suite = load_suite(write_suite(tmp_path / "suite.yaml", checkpoints=["step-1", "step-2"]))
    out = shutil.copytree(sweep_out, tmp_path / "out")
    shard = out / "step-1" / "shards" / "0-of-2"  # a shard run's partial results in a run folder
    results = json.loads(next((out / "step-1").rglob("results_*.json")).read_text())
    args = {**results["config"]["model_args"], "journal_shard": "0/2"}
    rows = {"ext_sample_mc": fake_task_rows("ext_sample_mc", 20, 0.5)}
    write_fake_run(shard, args, rows, lm_eval_ext={"journal": "j", "shard": "0/2"})
    packaged = package_runs([out], tmp_path / "sub.zip", suite)
    with zipfile.ZipFile(packaged.path) as zf:
        runs = json.loads(zf.read("manifest.json"))["runs"]
    assert [r["label"] for r in runs] == ["step-1/org__tiny-llama", "step-2/org__tiny-llama"]
    with pytest.raises(RunOutputError, match="only partial results of shard runs"):
        package_runs([shard], tmp_path / "shard.zip", suite)
