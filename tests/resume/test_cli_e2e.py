"""The resume layer through the real ``lm_eval`` and ``lm-eval-ext`` command lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lm_eval_ext.resume.online.options import FAIL_ENV
from tests.support.lm_eval_runs import (
    OFFLINE_ENV,
    SAMPLE_TASKS,
    read_results,
    read_samples,
    run_lm_eval,
)
from tests.support.lm_eval_runs import journaled_cli_args as _args
from tests.support.mc_accuracy import acc_by_hand

pytestmark = pytest.mark.e2e


def _ext(*args: str) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("lm-eval-ext"))
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=600, env={**os.environ, **OFFLINE_ENV}
    )


@pytest.fixture()
def clean(clean_cli_run) -> Path:
    return clean_cli_run


def test_failed_docs_are_excluded_from_the_results_json(tiny_world, tasks_dir, tmp_path, clean):
    out = tmp_path / "out"
    os.environ[FAIL_ENV] = "ext_sample_mc:3"
    try:
        proc = run_lm_eval(_args(tiny_world, tasks_dir, out), cwd=tmp_path)
    finally:
        del os.environ[FAIL_ENV]
    assert "excluded from every metric" in proc.stderr
    res = read_results(out)
    assert res["n-samples"]["ext_sample_mc"] == {"original": 20, "effective": 19, "errored": 1}
    assert res["config"]["lm_eval_ext"]["errored_docs"] == {"ext_sample_mc": 1}
    assert "OutOfMemoryError" in res["lm_eval_ext"]["excluded_docs"]["ext_sample_mc"]["3"]
    expected = acc_by_hand(read_samples(clean, "ext_sample_mc"), {3})  # the clean run minus doc 3
    assert res["results"]["ext_sample_mc"]["acc,none"] == pytest.approx(expected)
    rows = read_samples(out, "ext_sample_mc")
    assert rows[3]["lm_eval_ext_error"] and rows[3]["acc"] is None

    status = _ext("status", str(out))
    assert status.returncode == 1 and "doc 3: OutOfMemoryError" in status.stdout

    rescored = _ext("rescore", str(out))
    assert rescored.returncode == 0, rescored.stderr
    files = sorted(out.rglob("results_*.json"))
    assert len(files) == 2
    new = json.loads(files[-1].read_text())
    assert new["results"] == res["results"] and new["n-samples"] == res["n-samples"]


def test_cli_shards_merge_into_the_single_run(tiny_world, tasks_dir, tmp_path):
    """Shards + merge (+ rescores) through the CLIs, with prompt-shaping settings on: the
    merged files equal a single journaled run's, field by field."""
    from types import SimpleNamespace

    from tests.resume.test_run_settings import MERGE_CHANGES
    from tests.support.chat_world import model_with_chat_template
    from tests.support.results_diff import json_differences

    world = SimpleNamespace(
        model_dir=model_with_chat_template(tiny_world.model_dir, tmp_path / "chat-model"),
        lora_dir=tiny_world.lora_dir,
    )
    settings = [
        "--apply_chat_template",
        "--system_instruction",
        "Read carefully.",
        "--num_fewshot",
        "2",
        "--limit",
        "10",
    ]
    for out, extra in (
        ("single", ""),
        ("shard0", ",journal_shard=0/2"),
        ("shard1", ",journal_shard=1/2"),
    ):
        run_lm_eval(_args(world, tasks_dir, tmp_path / out, extra) + settings, cwd=tmp_path)
        if extra:  # a shard's own results cover the docs it computed, the rest is excluded
            counts = read_results(tmp_path / out)["n-samples"]["ext_sample_mc"]
            assert 0 < counts["effective"] < 10 and counts["errored"] == 10 - counts["effective"]
    single = read_results(tmp_path / "single")
    assert single["system_instruction"] == "Read carefully." and single["chat_template"]
    merged_out = tmp_path / "merged"
    proc = _ext("merge", str(tmp_path / "shard0"), str(tmp_path / "shard1"), "-o", str(merged_out))
    assert proc.returncode == 0, proc.stderr
    merged = read_results(merged_out)
    assert set(json_differences(merged, single)) == MERGE_CHANGES
    for task in SAMPLE_TASKS:
        assert read_samples(merged_out, task) == read_samples(tmp_path / "single", task)
    for _ in range(2):  # rescore of the merge, then of that rescore
        proc = _ext("rescore", str(merged_out))
        assert proc.returncode == 0, proc.stderr
    newest = sorted(merged_out.rglob("results_*.json"))
    assert len(newest) == 3 and newest[0].parent == newest[-1].parent
    assert json_differences(json.loads(newest[-1].read_text()), merged) == []
