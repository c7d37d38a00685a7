"""The real thing, sharded: ``--shards 2 --devices 0,1`` through ``lm_eval`` and ``lm-eval-ext
merge``, against an unsharded sweep of the same checkpoint run at the same time.

The merged results file must be the unsharded cell's, field by field (only the run's moment and
the journal's folder differ), every request must be computed exactly once across the two shard
journals, and rerunning the sweep must do nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lm_eval_ext.cli.main import main
from lm_eval_ext.report.collect import find_entries
from lm_eval_ext.submission.runs import find_runs
from lm_eval_ext.sweep import load_manifest
from tests.support.journals import journaled_key_counts
from tests.support.lm_eval_runs import OFFLINE_ENV
from tests.support.results_diff import RUN_MOMENT_FIELDS, json_differences

pytestmark = pytest.mark.e2e

DOCS, CHOICES = 40, 4  # --limit 40 of demo_kind, 4-way multiple choice


def _start_sweep(out: Path, checkpoint: Path, tasks_dir: Path, *extra: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "lm_eval_ext.cli.main",
        "sweep",
        str(out),
        "--model_args",
        "dtype=float32,journal_chunk=8",
        "--checkpoints",
        str(checkpoint),
        "--tasks",
        "demo_kind",
        "--include_path",
        str(tasks_dir / "demo"),
        "--device",
        "cpu",
        "--batch_size",
        "4",
        "--limit",
        str(DOCS),
        *extra,
    ]
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("LM_EVAL_EXT_FINALIZE", None)  # shards finalise at exit, as for users
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen) -> str:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout[-2000:] + stderr[-3000:]
    return stdout


def _only_results(group: Path) -> Path:
    """The group's own results file (its shards' lie under ``shards/``)."""
    found = [p for p in group.rglob("results_*.json") if "shards" not in p.relative_to(group).parts]
    assert len(found) == 1, found
    return found[0]


def _normalised(path: Path, journal: Path) -> dict:
    """The results file with its journal's folder (the one path in it that differs) named alike."""
    return json.loads(path.read_text().replace(str(journal), "<journal>"))


def _samples(results: Path) -> list[dict]:
    date_id = results.stem.removeprefix("results_")
    rows = results.with_name(f"samples_demo_kind_{date_id}.jsonl").read_text().splitlines()
    return sorted(map(json.loads, rows), key=lambda r: r["doc_id"])


def test_sharded_sweep_merges_into_the_unsharded_results_once(trained_world, tasks_dir, tmp_path):
    checkpoint = trained_world.checkpoints[-1]
    out, single = tmp_path / "sharded", tmp_path / "single"
    sharded_run = _start_sweep(out, checkpoint, tasks_dir, "--shards", "2", "--devices", "0,1")
    single_run = _start_sweep(single, checkpoint, tasks_dir)
    printed = _finish(sharded_run)
    _finish(single_run)

    manifest = load_manifest(out)
    assert [(c.shard, c.shards) for c in manifest.cells] == [(0, 2), (1, 2)]
    group = out / manifest.cells[0].group_dir
    assert f"merge [0-1] {manifest.cells[0].group_dir}  demo_kind acc=" in printed
    assert "2 done, 0 skipped, 0 running, 0 errored; groups: 1 merged" in printed

    # the merged results are the unsharded cell's, field by field; the samples row by row
    merged_path = _only_results(group)
    single_path = _only_results(single / load_manifest(single).cells[0].dir)
    assert (
        merged_path.relative_to(group).parts[:-1]
        == single_path.relative_to(single / load_manifest(single).cells[0].dir).parts[:-1]
    )  # <group>/<model_name_sanitized>/results_*.json
    merged = _normalised(merged_path, group / "journal")
    reference = _normalised(single_path, single_path.parents[1] / "journal")
    assert set(json_differences(merged, reference)) - RUN_MOMENT_FIELDS == set()
    assert list(merged) == list(reference)
    assert json_differences(_samples(merged_path), _samples(single_path)) == []
    assert merged["n-samples"]["demo_kind"]["effective"] == DOCS
    done = json.loads((group / "done.json").read_text())
    assert done["results"] == merged_path.relative_to(group).as_posix()

    # every request computed once, by one of the two shards
    shard_keys = [journaled_key_counts(out / cell.dir / "journal") for cell in manifest.cells]
    assert all(keys for keys in shard_keys)  # both shards did part of the work
    computed = sum(shard_keys, Counter())
    assert set(computed.values()) == {1} and len(computed) == DOCS * CHOICES
    assert set(computed) == set(journaled_key_counts(single_path.parents[1] / "journal"))
    assert main(["status", str(out)]) == 0

    # report and package see the merged group, never a shard's partial results
    assert [e.path for e in find_entries([out])] == [merged_path]
    assert [r.results_path for r in find_runs([out])] == [merged_path]

    # a rerun starts nothing: neither lm_eval nor the merge
    logs = {p: p.read_bytes() for p in out.rglob("*.log")}
    rerun = _finish(_start_sweep(out, checkpoint, tasks_dir, "--shards", "2", "--devices", "0,1"))
    assert "0 done, 2 skipped, 0 running, 0 errored; groups: 0 merged, 1 merged before" in rerun
    assert {p: p.read_bytes() for p in out.rglob("*.log")} == logs
    assert len(logs) == 3  # two shards' lm_eval.log and the group's merge.log
    assert _only_results(group) == merged_path
