"""Shards (``journal_shard=K/N``) + ``merge`` ≡ one journaled run; bad shard sets are refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from lm_eval_ext.cli.main import main
from lm_eval_ext.errors import ModelArgsError
from lm_eval_ext.resume.offline import merge as merge_module
from lm_eval_ext.resume.offline.merge import IncompleteMergeError, merge_shards
from lm_eval_ext.resume.offline.status import format_status, journal_status
from lm_eval_ext.resume.online.options import parse_shard
from lm_eval_ext.resume.storage.journal import load_entries
from lm_eval_ext.resume.storage.outputs import RunOutputError, model_args_dict
from lm_eval_ext.resume.storage.records import scan_file
from tests.support.lm_eval_runs import evaluate_and_save, read_results, read_samples

TASKS = ["ext_sample_mc", "ext_sample_gen"]  # 80 loglikelihood + 20 generate_until requests


def _args(world, journal: Path, **extra) -> dict:
    return {
        "pretrained": str(world.model_dir),
        "lora": str(world.lora_dir),
        "journal": str(journal),
        "journal_chunk": 8,
        **extra,
    }


@pytest.fixture(scope="module")
def runs(tiny_world, tasks_dir, tmp_path_factory) -> Path:
    """A single journaled run and four shard runs of the same evaluation."""
    root = tmp_path_factory.mktemp("shards")
    include = tasks_dir / "sample"
    evaluate_and_save(
        _args(tiny_world, root / "single" / "journal"), TASKS, include, root / "single"
    )
    for k in range(4):
        out = root / f"shard{k}"
        evaluate_and_save(
            _args(tiny_world, out / "journal", journal_shard=f"{k}/4"), TASKS, include, out
        )
    return root


def test_each_shard_computes_a_disjoint_quarter(runs):
    keys = Counter()
    for k in range(4):
        entries, _ = load_entries(runs / f"shard{k}" / "journal")
        assert 0 < len(entries) < 50
        keys.update(entries.keys())
    assert len(keys) == 100 and max(keys.values()) == 1  # all requests, each computed once


def test_merge_of_all_shards_equals_the_single_run(runs):
    _, redone, missing = merge_shards([runs / f"shard{k}" for k in (2, 0, 3, 1)], runs / "merged")
    assert missing == [] and redone.excluded == {} and redone.answered == 100
    single, merged = read_results(runs / "single"), read_results(runs / "merged")
    assert merged["results"] == single["results"]
    assert merged["n-samples"] == single["n-samples"]
    assert merged["configs"].keys() == single["configs"].keys()
    for task in TASKS:
        assert read_samples(runs / "merged", task) == read_samples(runs / "single", task)
    merged_journal = runs / "merged" / "journal"
    assert sum(len(scan_file(p).records) > 0 for p in merged_journal.glob("*.jsonl")) == 4
    assert "shard 1/4: the other shards' docs count as missing" in format_status(runs / "shard1")
    status = journal_status(merged_journal)
    assert {
        (t, st.done, st.errored, st.missing)
        for st_by_task in status.values()
        for t, st in st_by_task.items()
    } == {(t, 20, 0, 0) for t in TASKS}
    args = model_args_dict(merged)  # a later rescore of the merged run uses the merged journal
    assert args["journal"] == str(merged_journal) and "journal_shard" not in args


def test_missing_shard_docs_are_excluded_not_scored(runs, tmp_path):
    _, redone, missing = merge_shards([runs / f"shard{k}" for k in (0, 1, 2)], tmp_path / "m")
    assert missing == [3]
    excluded = redone.excluded
    assert excluded and all("not computed" in why for d in excluded.values() for why in d.values())
    n = redone.results["n-samples"]
    for task in TASKS:
        counts = n[task]
        assert counts["effective"] + counts["errored"] == counts["original"] == 20


def test_a_complete_merge_writes_nothing_without_a_shard(runs, tmp_path, capsys):
    three = [runs / f"shard{k}" for k in (0, 1, 2)]
    with pytest.raises(IncompleteMergeError, match=r"shard\(s\) \[3\] of 4 missing; no partial"):
        merge_shards(three, tmp_path / "m", complete=True)
    assert not (tmp_path / "m").exists()
    assert main(["merge", "--complete", *map(str, three), "-o", str(tmp_path / "m")]) == 2
    assert "shard(s) [3] of 4 missing" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_complete_merge_writes_no_results_when_a_doc_has_no_answer(runs, tmp_path, monkeypatch):
    replay = merge_module.reevaluate

    def losing_one_doc(*args, **kwargs):  # as when a shard journaled an error for doc 3
        redone = replay(*args, **kwargs)
        redone.excluded = {"ext_sample_mc": {3: "RuntimeError: CUDA out of memory"}}
        return redone

    monkeypatch.setattr(merge_module, "reevaluate", losing_one_doc)
    monkeypatch.setattr(merge_module, "check_no_lost_answers", lambda *args: None)
    shards = [runs / f"shard{k}" for k in range(4)]
    with pytest.raises(IncompleteMergeError, match=r"(?s)no answer.*doc 3: RuntimeError: CUDA"):
        merge_shards(shards, tmp_path / "m", complete=True)
    assert not list((tmp_path / "m").rglob("results_*.json"))
    assert not list((tmp_path / "m").rglob("samples_*.jsonl"))
    path, redone, _ = merge_shards(shards, tmp_path / "m")  # without --complete: excluded
    assert redone.excluded and path.is_file()


def test_merge_refuses_shards_of_different_evaluations(runs, tmp_path):
    with pytest.raises(RunOutputError, match="given more than once"):
        merge_shards([runs / "shard0", runs / "shard0"], tmp_path / "m")
    with pytest.raises(RunOutputError, match="not a shard run"):
        merge_shards([runs / "single", runs / "shard0"], tmp_path / "m")


def test_shard_argument_is_validated():
    assert parse_shard("1/4") == (1, 4) and parse_shard(None) is None
    for bad in ("4/4", "x/2", "3", "-1/2"):
        with pytest.raises(ModelArgsError, match="journal_shard"):
            parse_shard(bad)
