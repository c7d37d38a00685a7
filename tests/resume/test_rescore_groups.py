"""``rescore`` on a group of our ``*_mcnorm`` tasks: our metrics and size-weighted groups."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from lm_eval_ext.resume.offline.rescore import rescore_run
from lm_eval_ext.resume.online.options import FAIL_ENV
from lm_eval_ext.resume.storage.outputs import latest_results_file
from tests.scoring._fixture_tasks import write_fixture_tasks
from tests.support.lm_eval_runs import evaluate_and_save

SUBTASKS = ["fx_arc_easy_mcnorm", "fx_mmlu_anatomy_mcnorm"]
GROUP = {
    "group": "fx_group",
    "task": SUBTASKS,
    "aggregate_metric_list": [
        {"metric": "acc", "weight_by_size": True},
        {"metric": "acc_norm_token", "weight_by_size": True},
    ],
    "metadata": {"version": 1},
}


@pytest.fixture()
def group_run(tiny_world, tmp_path, monkeypatch):
    include = tmp_path / "tasks"
    write_fixture_tasks(include, tmp_path / "hf_cache")
    (include / "fx_group.yaml").write_text(yaml.safe_dump(GROUP, sort_keys=False))
    args = {"pretrained": str(tiny_world.model_dir), "journal": str(tmp_path / "out" / "journal")}
    monkeypatch.setenv(FAIL_ENV, "fx_arc_easy_mcnorm:0,1")
    evaluate_and_save(args, ["fx_group"], include, tmp_path / "out", bootstrap_iters=0)
    monkeypatch.delenv(FAIL_ENV)
    return tmp_path / "out"


def _mean(rows: list[dict], metric: str, skip: set[int]) -> tuple[float, int]:
    values = [row[metric] for row in rows if row["doc_id"] not in skip]
    return float(np.mean(values)), len(values)


def test_group_and_our_metrics_exclude_errored_docs(group_run):
    run, redone = rescore_run(latest_results_file(group_run))
    assert {t: sorted(d) for t, d in redone.excluded.items()} == {"fx_arc_easy_mcnorm": [0, 1]}
    res = redone.results
    expected = {}
    for task in SUBTASKS:
        skip = {0, 1} if task == "fx_arc_easy_mcnorm" else set()
        for metric in ("acc", "acc_norm_token", "acc_norm_byte"):
            value, n = _mean(run.samples[task], metric, skip)  # the run's per-doc values
            assert res["results"][task][f"{metric},none"] == pytest.approx(value)
            expected.setdefault(metric, []).append((value, n))
    assert res["n-samples"]["fx_arc_easy_mcnorm"]["errored"] == 2
    for metric in ("acc", "acc_norm_token"):
        pairs = expected[metric]
        weighted = sum(v * n for v, n in pairs) / sum(n for _, n in pairs)
        assert res["results"]["fx_group"][f"{metric},none"] == pytest.approx(weighted)
        assert res["groups"]["fx_group"][f"{metric},none"] == pytest.approx(weighted)


def test_unchanged_group_run_rescores_identically(tiny_world, tmp_path):
    include = tmp_path / "tasks"
    write_fixture_tasks(include, tmp_path / "hf_cache")
    (include / "fx_group.yaml").write_text(yaml.safe_dump(GROUP, sort_keys=False))
    args = {"pretrained": str(tiny_world.model_dir), "journal": str(tmp_path / "out" / "journal")}
    original = evaluate_and_save(args, ["fx_group"], include, tmp_path / "out")
    _, redone = rescore_run(latest_results_file(tmp_path / "out"))
    assert redone.excluded == {}
    for key in ("results", "groups", "n-samples", "group_subtasks"):
        assert redone.results[key] == original[key]
