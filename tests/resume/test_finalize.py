"""``finalize``: lm-eval's own results of a journaled run, minus the docs without an answer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lm_eval_ext.cli.main import main
from lm_eval_ext.resume import finalize_run, latest_results_file, rescore_run, write_finalized
from lm_eval_ext.resume.online.options import FAIL_ENV
from lm_eval_ext.resume.storage.journal import load_entries
from lm_eval_ext.resume.storage.outputs import ERROR_FIELD, read_run_output
from tests.support.lm_eval_runs import evaluate_and_save
from tests.support.mc_accuracy import acc_by_hand
from tests.support.results_diff import json_differences

TASKS = ["ext_sample_mc", "ext_sample_gen"]


def _args(world, out, **extra) -> dict:
    return {
        "pretrained": str(world.model_dir),
        "lora": str(world.lora_dir),
        "journal": str(out / "journal"),
        "journal_chunk": 8,
        **extra,
    }


@pytest.fixture(scope="module")
def errored_run(tiny_world, tasks_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("finalize_errored")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(FAIL_ENV, "ext_sample_mc:3,5;ext_sample_gen:7")
        evaluate_and_save(_args(tiny_world, out), TASKS, tasks_dir / "sample", out)
    return out


def test_finalize_excludes_errored_docs_from_lm_evals_own_numbers(errored_run, capsys):
    path = latest_results_file(errored_run)
    raw = read_run_output(path)
    assert main(["finalize", str(errored_run)]) == 0
    assert "excluded from every metric" in capsys.readouterr().err
    done = read_run_output(path)
    res = done.results
    assert res["n-samples"]["ext_sample_mc"] == {"original": 20, "effective": 18, "errored": 2}
    assert res["n-samples"]["ext_sample_gen"] == {"original": 20, "effective": 19, "errored": 1}
    assert res["config"]["lm_eval_ext"]["errored_docs"] == {"ext_sample_gen": 1, "ext_sample_mc": 2}
    assert res["results"]["ext_sample_mc"]["acc,none"] == pytest.approx(
        acc_by_hand(raw.samples["ext_sample_mc"], {3, 5})
    )
    gen = [r["exact_match"] for r in raw.samples["ext_sample_gen"] if r["doc_id"] != 7]
    assert res["results"]["ext_sample_gen"]["exact_match,clean"] == pytest.approx(np.mean(gen))
    marked = {
        t: sorted(r["doc_id"] for r in rows if r.get(ERROR_FIELD))
        for t, rows in done.samples.items()
    }
    assert marked == {"ext_sample_mc": [3, 5], "ext_sample_gen": [7]}
    # everything else is lm-eval's file as it was
    changed = {d.split("/")[1] for d in json_differences(res, raw.results)}
    assert changed <= {"results", "n-samples", "config", "lm_eval_ext"}
    assert json.loads(json.dumps(res["configs"])) == raw.results["configs"]

    before = path.read_bytes(), sorted(p.read_bytes() for p in path.parent.glob("samples_*"))
    run, again = finalize_run(path)  # finalising a finalised run changes nothing
    write_finalized(run, again)
    assert (
        path.read_bytes(),
        sorted(p.read_bytes() for p in path.parent.glob("samples_*")),
    ) == before
    # and a replay of the finalised run (rescore) agrees with it
    _, redone = rescore_run(path)
    assert redone.results["results"] == res["results"]
    assert redone.results["n-samples"] == res["n-samples"]


def test_finalize_of_a_shard_excludes_the_other_shards_docs(tiny_world, tasks_dir, tmp_path):
    out = tmp_path / "shard"
    evaluate_and_save(_args(tiny_world, out, journal_shard="1/2"), TASKS, tasks_dir / "sample", out)
    _, finalized = finalize_run(latest_results_file(out))
    entries = load_entries(out / "journal").entries
    computed = {r.doc for r in entries.values() if r.task == "ext_sample_mc"}
    excluded = finalized.excluded["ext_sample_mc"]
    assert 0 < len(computed) < 20 and set(excluded) == set(range(20)) - computed
    assert all(why == "not computed (no journal entry)" for why in excluded.values())
    assert finalized.results["n-samples"]["ext_sample_mc"]["effective"] == len(computed)


def test_finalize_refuses_a_run_without_journal(tiny_world, tasks_dir, tmp_path, capsys):
    args = {"pretrained": str(tiny_world.model_dir)}
    evaluate_and_save(args, ["ext_sample_mc"], tasks_dir / "sample", tmp_path, limit=2)
    assert main(["finalize", str(tmp_path)]) == 2
    assert "not a journaled run" in capsys.readouterr().err
