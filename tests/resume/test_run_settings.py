"""Run settings that shape prompts survive rescore and merge, and their files equal lm-eval's.

Each setting (system instruction, chat template, few-shot as multi-turn) is evaluated once as a
single journaled run and once as two shards. ``merge`` of the shards and rescore-of-a-rescore of
the single run must give the single run's *whole* results file (every field, not only metrics)
and samples, except for the fields a merge changes on purpose.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lm_eval_ext.cli.main import main
from lm_eval_ext.resume.offline.lost_answers import LostAnswersError
from lm_eval_ext.resume.offline.merge import merge_shards
from lm_eval_ext.resume.offline.rescore import rescore_run, write_rescored
from lm_eval_ext.resume.storage.outputs import RUN_FIELDS, latest_results_file, read_run_output
from tests.support.chat_world import model_with_chat_template
from tests.support.lm_eval_runs import evaluate_and_save
from tests.support.results_diff import json_differences

TASKS = ["ext_sample_mc", "ext_sample_gen"]
INSTRUCTION = "Read carefully."
SETTINGS = {
    "system_instruction": {"system_instruction": INSTRUCTION},
    "chat_template": {"apply_chat_template": True, "fewshot_as_multiturn": False},
    "fewshot_as_multiturn": {
        "apply_chat_template": True,
        "fewshot_as_multiturn": True,
        "system_instruction": INSTRUCTION,
    },
}
#: What a merge changes on purpose: the journal it replays from, and the run's date/duration.
MERGE_CHANGES = {
    "/date",
    "/total_evaluation_time_seconds",
    "/config/model_args/journal",
    "/config/lm_eval_ext/journal",
} | {f"/configs/{t}/metadata/journal" for t in TASKS}


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def runs(request, tiny_world, tasks_dir, tmp_path_factory) -> tuple[str, Path]:
    """(setting name, root) with ``single/`` and ``shard0/``, ``shard1/`` runs of it."""
    name = request.param
    root = tmp_path_factory.mktemp(f"settings_{name}")
    model = model_with_chat_template(tiny_world.model_dir, root / "chat-model")
    options = {"num_fewshot": 2, "limit": 10, **SETTINGS[name]}
    for out, shard in (("single", None), ("shard0", "0/2"), ("shard1", "1/2")):
        args = {
            "pretrained": str(model),
            "lora": str(tiny_world.lora_dir),
            "journal": str(root / out / "journal"),
            "journal_chunk": 8,
        }
        if shard:
            args["journal_shard"] = shard
        evaluate_and_save(args, TASKS, tasks_dir / "sample", root / out, **options)
    return name, root


def _samples(results_path: Path) -> dict[str, list[dict]]:
    run = read_run_output(results_path)
    return {t: sorted(rows, key=lambda r: r["doc_id"]) for t, rows in run.samples.items()}


def _check_setting_took_effect(name: str, results: dict, samples: dict) -> None:
    prompt = samples["ext_sample_mc"][0]["arguments"]["gen_args_0"]["arg_0"]
    if "system_instruction" in SETTINGS[name]:
        assert results["system_instruction"] == INSTRUCTION and INSTRUCTION in prompt
    if SETTINGS[name].get("apply_chat_template"):
        assert results["chat_template"] and prompt.startswith("<|")
    multiturn = SETTINGS[name].get("fewshot_as_multiturn")
    if multiturn is not None:
        assert results["fewshot_as_multiturn"] is multiturn
        assert (prompt.count("<|assistant|>") > 1) is multiturn  # few-shot answers as turns


def test_rescore_of_a_rescore_is_the_original_run(runs):
    name, root = runs
    original_path = latest_results_file(root / "single")
    original = json.loads(original_path.read_text())
    _check_setting_took_effect(name, original, _samples(original_path))
    path = original_path
    for _ in range(2):  # rescore, then rescore the rescore
        run, redone = rescore_run(path)
        assert redone.excluded == {}
        path = write_rescored(run, redone)
        written = json.loads(path.read_text())
        assert json_differences(written, original) == []
        assert list(written) == list(original)  # same keys in lm-eval's order
        assert path.parent == original_path.parent  # OUT/<model>/, never OUT/None/
        assert _samples(path) == _samples(original_path)
    for field in RUN_FIELDS:  # the fields a class-attribute copy would have lost
        assert written[field] == original[field]
    assert written["model_name_sanitized"] == original_path.parent.name


def test_merge_of_shards_is_the_single_run(runs, tmp_path):
    name, root = runs
    single_path = latest_results_file(root / "single")
    path, redone, missing = merge_shards([root / "shard1", root / "shard0"], tmp_path / "m")
    assert missing == [] and redone.excluded == {}
    merged, single = json.loads(path.read_text()), json.loads(single_path.read_text())
    assert set(json_differences(merged, single)) == MERGE_CHANGES
    assert list(merged) == list(single)
    assert _samples(path) == _samples(single_path)
    _check_setting_took_effect(name, merged, _samples(path))
    # and a rescore of the merged run is the merged run
    run, again = rescore_run(path)
    assert json_differences(json.loads(write_rescored(run, again).read_text()), merged) == []


def _null_settings(results_path: Path) -> None:
    """Null the prompt-shaping fields, as older versions of our rewrite did."""
    results = json.loads(results_path.read_text())
    results.update(dict.fromkeys(RUN_FIELDS[3:]))
    results_path.write_text(json.dumps(results, indent=2))


def test_replays_that_would_lose_answers_refuse_and_write_nothing(runs, tmp_path, capsys):
    _, root = runs
    for name in ("single", "shard0", "shard1"):
        shutil.copytree(root / name, tmp_path / name, ignore=shutil.ignore_patterns("journal"))
        _null_settings(latest_results_file(tmp_path / name))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(LostAnswersError, match=r"would exclude 20 doc\(s\) that the input had"):
        rescore_run(latest_results_file(tmp_path / "single"))
    assert main(["rescore", str(tmp_path / "single")]) == 2  # the CLI says so and exits non-zero
    assert "would exclude 20 doc(s)" in capsys.readouterr().err
    with pytest.raises(LostAnswersError, match=r"merge of 2 shard\(s\).* would exclude 20 doc"):
        merge_shards([tmp_path / "shard0", tmp_path / "shard1"], tmp_path / "m")
    after = sorted(
        p.name for p in tmp_path.rglob("*") if "m" not in p.relative_to(tmp_path).parts[:1]
    )
    assert after == before  # nothing written next to the inputs
    assert not list((tmp_path / "m").rglob("results_*.json"))
