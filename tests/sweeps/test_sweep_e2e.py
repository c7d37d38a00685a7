"""The real thing: a 4-revision sweep through ``lm_eval``, pre-empted mid-way, rerun, reported.

The revisions ``step-0/40/80/120`` of ``org/tiny-run`` live in an offline hub cache
(``HF_HUB_OFFLINE=1``) and point at the checkpoints of the genuinely trained tiny run, so
``pretrained=org/tiny-run,revision=step-N`` really resolves. Two cells run at a time
(``--devices 0,1``). When the last cell has journaled 20 of its 160 requests, the whole sweep
is SIGKILLed (its process group, as a node pre-emption). The identical rerun must skip the
finished cells, resume the interrupted ones from their journals (no request computed twice)
and end with the results of an uninterrupted run; the report must match the results files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from lm_eval_ext.cli.main import main
from lm_eval_ext.report import build_report
from lm_eval_ext.submission import load_suite, package_runs, validate_zip
from tests.support.hub_cache import use_hub_cache, write_hub_repo
from tests.support.journals import journaled_key_counts
from tests.support.lm_eval_runs import OFFLINE_ENV, evaluate_and_save
from tests.sweeps.test_report import _assert_real_plot

pytestmark = pytest.mark.e2e

WRAPPER = Path(__file__).resolve().parents[1] / "support" / "sweep_kill_wrapper.py"
REPO = "org/tiny-run"
CELLS = [f"org__tiny-run/step-{n}/demo_kind" for n in (0, 40, 80, 120)]


def _sweep(out: Path, tasks_dir: Path, env: dict) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "lm_eval_ext.cli.main",
        "sweep",
        str(out),
        "--model_args",
        f"pretrained={REPO},dtype=float32,journal_chunk=8",
        "--revision_pattern",
        "step-*",
        "--tasks",
        "demo_kind",
        "--include_path",
        str(tasks_dir / "demo"),
        "--device",
        "cpu",
        "--batch_size",
        "4",
        "--limit",
        "40",
        "--devices",
        "0,1",
        "--lm_eval_cmd",
        f"{sys.executable} {WRAPPER}",
    ]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=900, start_new_session=True
    )


def _newest(cell: Path, pattern: str) -> Path:
    """A cell's newest output file (a pre-empted cell may have written one before the kill)."""
    return sorted(cell.rglob(pattern))[-1]


def read_results(cell: Path) -> dict:
    return json.loads(_newest(cell, "results_*.json").read_text())


def read_samples(cell: Path, task: str) -> list[dict]:
    rows = map(json.loads, _newest(cell, f"samples_{task}_*.jsonl").read_text().splitlines())
    return sorted(rows, key=lambda r: r["doc_id"])


def test_sweep_preempted_midway_resumes_and_reports(
    trained_world, tasks_dir, tmp_path, monkeypatch
):
    cache = tmp_path / "hub"
    commits = write_hub_repo(
        cache, REPO, {f"step-{p.name.split('-')[1]}": p for p in trained_world.checkpoints}
    )
    use_hub_cache(monkeypatch, cache)
    out, log = tmp_path / "out", tmp_path / "calls.jsonl"
    env = {
        **os.environ,
        **OFFLINE_ENV,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "SWEEP_WRAPPER_LOG": str(log),
        "SWEEP_WRAPPER_KILL": CELLS[3],
        "SWEEP_WRAPPER_HOLD": CELLS[2],  # not done either, however the two devices interleave
    }
    env.pop("LM_EVAL_EXT_FINALIZE", None)  # the cells finalise at exit, as for users

    killed = _sweep(out, tasks_dir, env)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert all((out / c / "done.json").exists() for c in CELLS[:2])  # they ran first
    interrupted = out / CELLS[3] / "journal"
    before = (interrupted / "main.jsonl").read_bytes()
    assert 0 < sum(journaled_key_counts(interrupted).values()) < 160
    assert not list((out / CELLS[3]).rglob("results_*.json"))

    del env["SWEEP_WRAPPER_KILL"], env["SWEEP_WRAPPER_HOLD"]
    rerun = _sweep(out, tasks_dir, env)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-3000:]
    assert "2 done, 2 skipped, 0 running, 0 errored" in rerun.stdout
    calls = Counter(
        Path(json.loads(line)["output_path"]).relative_to(out).as_posix()
        for line in log.read_text().splitlines()
    )
    assert calls == {CELLS[0]: 1, CELLS[1]: 1, CELLS[2]: 2, CELLS[3]: 2}
    for cell in CELLS[2:]:  # resumed: every request computed once, the first run's kept
        keys = journaled_key_counts(out / cell / "journal")
        assert len(keys) == 160 and set(keys.values()) == {1}
    assert (interrupted / "main.jsonl").read_bytes().startswith(before)
    assert main(["status", str(out)]) == 0

    # identical to an uninterrupted run of that revision
    ref = tmp_path / "ref"
    reference = evaluate_and_save(
        {
            "pretrained": REPO,
            "revision": "step-120",
            "dtype": "float32",
            "journal": str(ref / "journal"),
            "journal_chunk": 8,
        },
        ["demo_kind"],
        tasks_dir / "demo",
        ref,
        limit=40,
    )
    resumed = read_results(out / CELLS[3])
    assert resumed["results"]["demo_kind"] == reference["results"]["demo_kind"]
    for mine, theirs in zip(
        read_samples(out / CELLS[3], "demo_kind"), read_samples(ref, "demo_kind"), strict=True
    ):
        assert (mine["doc_hash"], mine["filtered_resps"], mine["acc"]) == (
            theirs["doc_hash"],
            theirs["filtered_resps"],
            theirs["acc"],
        )

    # the report: the results files' values, a curve rising from chance, scipy's statistics
    report = build_report(
        [out], tmp_path / "rep", compare=[(f"{CELLS[3].split('/')[0]}", "org__tiny-run@step-0")]
    )
    acc = report.table[report.table["metric"] == "acc"].set_index("checkpoint")["value"]
    for cell in CELLS:
        assert (
            acc[cell.split("/")[1]] == read_results(out / cell)["results"]["demo_kind"]["acc,none"]
        )
    assert report.chance["demo_kind"] == 0.25
    assert acc["step-0"] < 0.4 and acc["step-120"] > 0.6
    result = next(r for r in report.comparisons[0].results if r.metric == "acc")
    last = np.array([r["acc"] for r in read_samples(out / CELLS[3], "demo_kind")])
    first = np.array([r["acc"] for r in read_samples(out / CELLS[0], "demo_kind")])
    n10, n01 = int(((last == 1) & (first == 0)).sum()), int(((last == 0) & (first == 1)).sum())
    assert (result.n10, result.n01) == (n10, n01)
    assert result.mcnemar_p == stats.binomtest(n10, n10 + n01).pvalue < 0.001
    for png in (tmp_path / "rep").glob("curves_*.png"):
        _assert_real_plot(png)

    # the sweep as a leaderboard submission: every checkpoint present, resolved to its commit
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: tiny_run_curve\nhub_model: true\n"
        f"checkpoints: {[f'step-{n}' for n in (0, 40, 80, 120)]}\n"
        "benchmarks:\n  - name: kinds\n    n_shot: 0\n    metric: acc\n"
        "    tasks: {demo_kind: {choices: 4}}\n"
    )
    packaged = package_runs([out], tmp_path / "sub.zip", load_suite(suite))
    with zipfile.ZipFile(packaged.path) as zf:
        runs = json.loads(zf.read("manifest.json"))["runs"]
    labels = [
        _newest(out / cell, "results_*.json").parent.relative_to(out).as_posix() for cell in CELLS
    ]
    docs = read_results(out / CELLS[0])["n-samples"]["demo_kind"]["original"]
    assert docs > 40  # the sweep's --limit 40 is the only thing the validator refuses
    assert [(d.code, d.message) for d in validate_zip(packaged.path)] == [
        defect
        for label in sorted(labels)  # runs are checked in the order of their labels
        for defect in (
            ("limit", f"run {label}: evaluated with --limit 40.0"),
            ("incomplete", f"run {label}: task demo_kind scored 40 of {docs} docs"),
        )
    ]
    assert sorted((r["label"], r["revision"], r["commit_sha"]) for r in runs) == sorted(
        (label, cell.split("/")[1], commits[cell.split("/")[1]])
        for label, cell in zip(labels, CELLS, strict=True)
    )
