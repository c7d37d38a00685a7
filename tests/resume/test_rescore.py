"""``rescore``: metrics recomputed from samples files equal the run's; errored docs excluded."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lm_eval_ext.resume.offline.rescore import rescore_run, write_rescored
from lm_eval_ext.resume.online.options import FAIL_ENV
from lm_eval_ext.resume.storage.outputs import RunOutputError, latest_results_file, read_run_output
from tests.support.lm_eval_runs import evaluate_and_save
from tests.support.mc_accuracy import acc_by_hand

TASKS = ["ext_sample_mc", "ext_sample_gen"]


@pytest.fixture()
def model_args(tiny_world, tmp_path) -> dict:
    return {
        "pretrained": str(tiny_world.model_dir),
        "lora": str(tiny_world.lora_dir),
        "journal": str(tmp_path / "out" / "journal"),
        "journal_chunk": 16,
    }


def test_rescore_of_an_unchanged_run_is_identical(tasks_dir, tmp_path, model_args):
    out = tmp_path / "out"
    original = evaluate_and_save(model_args, TASKS, tasks_dir / "sample", out)
    run, redone = rescore_run(latest_results_file(out))
    assert redone.excluded == {} and redone.answered == 100
    assert redone.results["results"] == original["results"]
    assert redone.results["n-samples"] == original["n-samples"]
    new_path = write_rescored(run, redone)
    assert new_path != run.results_path
    again = read_run_output(new_path)
    assert again.results["results"] == original["results"]
    assert again.samples == run.samples  # same rows, same stringified responses


def test_rescore_applies_a_metric_added_to_the_task(tasks_dir, tmp_path, model_args):
    include = tmp_path / "tasks"
    shutil.copytree(tasks_dir / "sample", include)
    out = tmp_path / "out"
    evaluate_and_save(model_args, ["ext_sample_mc"], include, out)
    yaml_path = include / "ext_sample_mc.yaml"
    text = yaml_path.read_text()
    yaml_path.write_text(text.replace("metadata:", "  - metric: brier_score\nmetadata:", 1))
    run, redone = rescore_run(latest_results_file(out))
    metrics = redone.results["results"]["ext_sample_mc"]
    rows = run.samples["ext_sample_mc"]
    assert metrics["acc,none"] == pytest.approx(acc_by_hand(rows, set()))
    # brier score by hand: mean over docs of sum_i (onehot_i - softmax(lls)_i)^2
    briers = []
    for row in rows:
        lls = np.array([float(r[0]) for r in row["filtered_resps"]])
        probs = np.exp(lls - lls.max()) / np.exp(lls - lls.max()).sum()
        onehot = np.eye(len(lls))[int(row["target"])]
        briers.append(((onehot - probs) ** 2).sum())
    assert metrics["brier_score,none"] == pytest.approx(float(np.mean(briers)))


def test_errored_docs_are_excluded_counted_and_marked(tasks_dir, tmp_path, model_args, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv(FAIL_ENV, "ext_sample_mc:3,5")
    evaluate_and_save(model_args, TASKS, tasks_dir / "sample", out)
    monkeypatch.delenv(FAIL_ENV)
    run, redone = rescore_run(latest_results_file(out))
    assert sorted(redone.excluded["ext_sample_mc"]) == [3, 5]
    assert "OutOfMemoryError" in redone.excluded["ext_sample_mc"][3]
    res = redone.results
    assert res["n-samples"]["ext_sample_mc"] == {"original": 20, "effective": 18, "errored": 2}
    assert res["n-samples"]["ext_sample_gen"]["errored"] == 0
    expected = acc_by_hand(run.samples["ext_sample_mc"], {3, 5})
    assert res["results"]["ext_sample_mc"]["acc,none"] == pytest.approx(expected)
    assert res["results"]["ext_sample_mc"]["sample_len"] == 18
    assert set(res["lm_eval_ext"]["excluded_docs"]["ext_sample_mc"]) == {"3", "5"}

    write_rescored(run, redone, in_place=True)
    rewritten = read_run_output(run.results_path)
    rows = {r["doc_id"]: r for r in rewritten.samples["ext_sample_mc"]}
    assert rows[3]["lm_eval_ext_error"].startswith("OutOfMemoryError") and rows[3]["acc"] is None
    assert rows[4]["acc"] in (0.0, 1.0) and "lm_eval_ext_error" not in rows[4]
    # rescoring the rewritten run keeps them excluded (its samples say why)
    _, again = rescore_run(run.results_path, use_journal=False)
    assert again.results["results"] == res["results"]


def test_rescore_errors_are_clear(tmp_path):
    with pytest.raises(RunOutputError, match="no results_"):
        latest_results_file(tmp_path)
    bad = tmp_path / "m" / "results_2026.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    with pytest.raises(RunOutputError, match="results_2026.json: not a readable results JSON"):
        read_run_output(bad)
    bad.write_text('{"configs": {"t": {}}}')
    with pytest.raises(RunOutputError, match="samples_t_2026.jsonl: missing"):
        read_run_output(bad)
