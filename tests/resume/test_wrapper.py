"""The journaling wrapper through ``lm_eval.simple_evaluate`` (in-process, tiny model)."""

from __future__ import annotations

import math

import lm_eval
import pytest
from lm_eval.tasks import TaskManager

from lm_eval_ext.errors import RequestsFailedError
from lm_eval_ext.resume.online.options import FAIL_ENV
from lm_eval_ext.resume.storage.journal import load_entries

TASK = "ext_sample_mc"


def _evaluate(tasks_dir, model_args: dict) -> dict:
    manager = TaskManager(
        include_path=str(tasks_dir / "sample"), include_defaults=False, metadata=dict(model_args)
    )
    return lm_eval.simple_evaluate(
        model="mgm_lora",
        model_args=model_args,
        tasks=[TASK],
        task_manager=manager,
        log_samples=True,
        batch_size=4,
        device="cpu",
        bootstrap_iters=0,
    )


def _resps(result: dict) -> list:
    return [s["resps"] for s in sorted(result["samples"][TASK], key=lambda s: s["doc_id"])]


@pytest.fixture()
def lora_args(tiny_world, tmp_path) -> dict:
    return {
        "pretrained": str(tiny_world.model_dir),
        "lora": str(tiny_world.lora_dir),
        "journal": str(tmp_path / "journal"),
        "journal_chunk": 16,
    }


def test_rerun_recomputes_nothing_and_other_model_reuses_nothing(
    tiny_world, tasks_dir, lora_args, monkeypatch
):
    first = _evaluate(tasks_dir, lora_args)
    # Every request would now raise: the rerun can only succeed from the journal.
    monkeypatch.setenv(FAIL_ENV, f"{TASK}:" + ",".join(map(str, range(20))))
    again = _evaluate(tasks_dir, lora_args)
    assert again["results"] == first["results"] and _resps(again) == _resps(first)
    monkeypatch.delenv(FAIL_ENV)

    base_args = {k: v for k, v in lora_args.items() if k != "lora"}
    base = _evaluate(tasks_dir, base_args)  # same journal dir, another model
    fresh = _evaluate(tasks_dir, {**base_args, "journal": str(tmp_path_of(lora_args)) + "2"})
    assert _resps(base) == _resps(fresh) != _resps(first)
    models = {r.model for r in load_entries(tmp_path_of(lora_args))[0].values()}
    assert len(models) == 2


def tmp_path_of(args: dict):
    from pathlib import Path

    return Path(args["journal"])


def test_failures_are_journaled_retried_alone_and_fixed_by_rerun(tasks_dir, lora_args, monkeypatch):
    monkeypatch.setenv(FAIL_ENV, f"{TASK}:3,5")
    with pytest.raises(RequestsFailedError, match="8 loglikelihood request"):
        _evaluate(tasks_dir, {**lora_args, "journal_strict": "true"})  # opt-in: never scores
    entries, _ = load_entries(tmp_path_of(lora_args))
    errors = [r for r in entries.values() if r.err]
    assert sorted({r.doc for r in errors}) == [3, 5] and len(errors) == 8
    assert all("OutOfMemoryError" in r.err for r in errors)
    assert len(entries) == 80  # every other request succeeded despite sharing batches

    # default: the run goes on; the errored docs are reported with the results (lm-eval puts
    # get_model_info() under config) and get a -inf placeholder, never a computed response
    lenient = _evaluate(tasks_dir, lora_args)
    assert lenient["config"]["lm_eval_ext"]["errored_docs"] == {TASK: 2}
    docs = {s["doc_id"]: s for s in lenient["samples"][TASK]}
    assert docs[3]["resps"][0][0][0] == -math.inf

    monkeypatch.delenv(FAIL_ENV)
    fixed = _evaluate(tasks_dir, lora_args)
    clean = _evaluate(tasks_dir, {**lora_args, "journal": str(tmp_path_of(lora_args)) + "2"})
    assert fixed["results"] == clean["results"]
    assert fixed["config"]["lm_eval_ext"]["errored_docs"] == {}
    assert not [r for r in load_entries(tmp_path_of(lora_args))[0].values() if r.err]


def test_a_second_run_on_a_journal_in_use_refuses_before_loading(tasks_dir, lora_args):
    """Another process holds the journal (a first run): ours stops at once, nothing touched."""
    import subprocess
    import sys
    from pathlib import Path

    from lm_eval_ext.errors import JournalLockedError
    from lm_eval_ext.resume.storage.journal import close_open_journals

    journal = Path(lora_args["journal"])
    _evaluate(tasks_dir, lora_args)  # some entries already there
    close_open_journals()  # this process is done with it
    before = (journal / "main.jsonl").read_bytes()
    hold = (
        "import sys, time; from pathlib import Path; "
        "from lm_eval_ext.resume.storage.lock import JournalLock; "
        "JournalLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); "
        "time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(journal / "main.lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(JournalLockedError, match=f"pid {holder.pid}"):
            _evaluate(tasks_dir, lora_args)
    finally:
        holder.kill()
        holder.wait()
    assert (journal / "main.jsonl").read_bytes() == before
