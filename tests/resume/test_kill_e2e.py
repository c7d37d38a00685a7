"""SIGKILL an ``lm_eval`` run at several points; the identical rerun must equal a clean run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lm_eval_ext.resume.storage.journal import load_entries
from lm_eval_ext.resume.storage.writer import KILL_ENV
from tests.support.journals import journaled_key_counts
from tests.support.lm_eval_runs import SAMPLE_TASKS as TASKS
from tests.support.lm_eval_runs import journaled_cli_args as _args
from tests.support.lm_eval_runs import read_results, read_samples, run_lm_eval

pytestmark = pytest.mark.e2e


def _killed_run(args: list[str], cwd: Path, point: str) -> None:
    os.environ[KILL_ENV] = point
    try:
        proc = run_lm_eval(args, cwd=cwd, check=False)
    finally:
        del os.environ[KILL_ENV]
    assert proc.returncode == -9, f"expected SIGKILL at {point}, got {proc.returncode}"


def test_kill_anywhere_then_rerun_equals_clean_run(tiny_world, tasks_dir, tmp_path, clean_cli_run):
    clean, resumed = clean_cli_run, tmp_path / "resumed"
    args = _args(tiny_world, tasks_dir, resumed)

    _killed_run(args, tmp_path, "load")  # lock taken, model loading: nothing journaled
    entries, _ = load_entries(resumed / "journal")
    assert not entries
    _killed_run(args, tmp_path, "torn:30")  # plan line + 28 records + half of the next
    assert (resumed / "journal" / "main.jsonl").read_bytes()[-1:] != b"\n"
    assert len(load_entries(resumed / "journal")[0]) == 28
    # each response is its own write: the rerun finishes the torn chunk (4 requests), the
    # next two chunks of 8, and dies after record 20 (the plan line is the first)
    _killed_run(args, tmp_path, "record:20")
    after_write = len(load_entries(resumed / "journal")[0])
    assert after_write == 28 + 19
    # mid-computation: call 1 finishes the chunk cut short (its 1 missing request), call 2
    # dies at its first response, before journaling it
    _killed_run(args, tmp_path, "call:2")
    assert len(load_entries(resumed / "journal")[0]) == after_write + 1
    assert not list(resumed.rglob("results_*.json"))

    run_lm_eval(args, cwd=tmp_path)
    entries, _ = load_entries(resumed / "journal")
    assert len(entries) == 100
    counts = journaled_key_counts(resumed / "journal")
    assert max(counts.values()) == 1, "a request was computed twice"
    assert read_results(resumed)["results"] == read_results(clean)["results"]
    for task in TASKS:
        assert read_samples(resumed, task) == read_samples(clean, task)
