"""Leaderboard normalisation checked on a hand-worked table, and the shipped suites' numbers."""

from __future__ import annotations

import pytest

from lm_eval_ext.submission.scores import read_scores_csv, score_run, scores_csv
from lm_eval_ext.submission.suite_files import SUITES, render
from lm_eval_ext.submission.suites import SUITES_DIR, load_suite, suite_from_text

MINI = """
name: mini_open_llm
normalization: random_baseline
benchmarks:
  - name: BBH
    n_shot: 3
    metric: acc_norm
    tasks:
      leaderboard_bbh_object_counting: {choices: 19}
      leaderboard_bbh_navigate: {choices: 2}
      leaderboard_bbh_date_understanding: {choices: 6}
  - name: IFEval
    n_shot: 0
    metric: [prompt_level_strict_acc, inst_level_strict_acc]
    tasks: {leaderboard_ifeval: {choices: 0}}
  - name: MuSR
    n_shot: 0
    metric: acc_norm
    tasks:
      leaderboard_musr_murder_mysteries: {choices: 2}
      leaderboard_musr_object_placements: {choices: 5}
"""


def _results() -> dict:
    rows = {
        "leaderboard_bbh_object_counting": {"acc_norm,none": 0.30},
        "leaderboard_bbh_navigate": {"acc_norm,none": 0.60},
        "leaderboard_bbh_date_understanding": {"acc_norm,none": 0.50},
        "leaderboard_ifeval": {
            "prompt_level_strict_acc,none": 0.40,
            "inst_level_strict_acc,none": 0.50,
        },
        "leaderboard_musr_murder_mysteries": {"acc_norm,none": 0.45},  # below chance (0.5)
        "leaderboard_musr_object_placements": {"acc_norm,none": 0.36},
    }
    sizes = {
        "leaderboard_bbh_object_counting": 250,
        "leaderboard_bbh_navigate": 250,
        "leaderboard_bbh_date_understanding": 187,
        "leaderboard_ifeval": 541,
        "leaderboard_musr_murder_mysteries": 250,
        "leaderboard_musr_object_placements": 256,
    }
    return {
        "results": rows,
        "n-samples": {t: {"original": n, "effective": n} for t, n in sizes.items()},
    }


def test_hand_worked_normalisation():
    run = score_run("m", _results(), suite_from_text(MINI))
    by_task = {t.task: t.normalized for t in run.tasks}
    # object_counting: 19 choices, b = 1/19;  (0.30 - 1/19) / (18/19) = 4.7/18 = 0.26111...
    assert by_task["leaderboard_bbh_object_counting"] == pytest.approx(26.111111111)
    assert by_task["leaderboard_bbh_navigate"] == pytest.approx(20.0)  # (0.6 - 0.5) / 0.5
    assert by_task["leaderboard_bbh_date_understanding"] == pytest.approx(40.0)  # (0.5-1/6)/(5/6)
    assert by_task["leaderboard_ifeval"] == pytest.approx(45.0)  # mean(0.4, 0.5), b = 0
    assert by_task["leaderboard_musr_murder_mysteries"] == 0.0  # max(0, below chance)
    assert by_task["leaderboard_musr_object_placements"] == pytest.approx(20.0)  # (0.36-.2)/.8
    bbh = (26.111111111 + 20.0 + 40.0) / 3  # subtasks averaged unweighted = 28.7037...
    assert run.benchmarks == pytest.approx({"BBH": bbh, "IFEval": 45.0, "MuSR": 10.0})
    assert run.overall == pytest.approx((bbh + 45.0 + 10.0) / 3)
    # lm-eval's leaderboard_bbh row is the size-weighted *raw* mean, never normalised:
    lm_eval_group = (0.30 * 250 + 0.60 * 250 + 0.50 * 187) / 687
    assert lm_eval_group == pytest.approx(0.46361, abs=1e-5)
    assert lm_eval_group * 100 != pytest.approx(bbh, abs=1)


def test_weighted_benchmarks_and_missing_tasks():
    suite = suite_from_text(
        MINI.replace("  - name: BBH\n", "  - name: BBH\n    aggregate: weighted\n")
    )
    run = score_run("m", _results(), suite)
    weighted = (26.111111111 * 250 + 20.0 * 250 + 40.0 * 187) / 687
    assert run.benchmarks["BBH"] == pytest.approx(weighted)
    results = _results()
    del results["results"]["leaderboard_bbh_navigate"]
    partial = score_run("m", results, suite)
    assert partial.benchmarks["BBH"] is None and partial.overall is None


def test_scores_csv_round_trip():
    run = score_run("m", _results(), suite_from_text(MINI))
    table = read_scores_csv(scores_csv([run]))
    assert table[("m", "BBH", "leaderboard_bbh_object_counting")] == pytest.approx(26.111111111)
    assert table[("m", "overall", "")] == pytest.approx(run.overall)


def test_shipped_suites_are_the_generated_ones():
    for name in SUITES:
        assert (SUITES_DIR / f"{name}.yaml").read_text() == render(name), (
            f"run `python -m lm_eval_ext.submission.suite_files` ({name} is stale)"
        )


def test_open_llm_v2_numbers():
    suite = load_suite("open_llm_v2")
    choices = {t.name: t.choices for t in suite.tasks}
    assert [b.name for b in suite.benchmarks] == [
        "IFEval",
        "BBH",
        "MATH Lvl 5",
        "GPQA",
        "MuSR",
        "MMLU-PRO",
    ]
    bbh = [t for b in suite.benchmarks if b.name == "BBH" for t in b.tasks]
    assert len(bbh) == 24 and {t.n_shot for t in bbh} == {3}
    assert choices["leaderboard_bbh_object_counting"] == 19
    assert choices["leaderboard_bbh_reasoning_about_colored_objects"] == 18
    assert choices["leaderboard_bbh_geometric_shapes"] == 11
    assert choices["leaderboard_bbh_navigate"] == 2
    assert [
        choices[f"leaderboard_musr_{s}"]
        for s in ("murder_mysteries", "object_placements", "team_allocation")
    ] == [2, 5, 3]
    assert choices["leaderboard_mmlu_pro"] == 10
    assert {choices[f"leaderboard_gpqa_{s}"] for s in ("diamond", "extended", "main")} == {4}
    math = [t for b in suite.benchmarks if b.name == "MATH Lvl 5" for t in b.tasks]
    assert len(math) == 7 and {t.choices for t in math} == {0} and {t.n_shot for t in math} == {4}
    ifeval = next(t for t in suite.tasks if t.name == "leaderboard_ifeval")
    assert ifeval.metrics == ("prompt_level_strict_acc", "inst_level_strict_acc")
    assert suite.hub_model and all(b.aggregate == "unweighted" for b in suite.benchmarks)


def test_babylm_and_mc_norm_suites():
    babylm = load_suite("babylm")
    assert babylm.checkpoints[:3] == ("chck_1M", "chck_2M", "chck_3M")
    assert babylm.checkpoints[-2:] == ("chck_90M", "chck_100M") and len(babylm.checkpoints) == 19
    assert len(babylm.tasks) == 67 and {t.docs for t in babylm.tasks} == {1000}
    assert babylm.normalization == "none"
    mc = load_suite("mc_norm")
    mmlu = next(b for b in mc.benchmarks if b.name == "mmlu")
    assert len(mmlu.tasks) == 57 and mmlu.aggregate == "weighted"
    assert len(mc.benchmarks) == 8


def test_bad_suites_are_named(tmp_path):
    from lm_eval_ext.submission.suites import SuiteError

    with pytest.raises(SuiteError, match="not one of the shipped suites"):
        load_suite("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nbenchmarks:\n  - name: B\n    n_shot: 0\n    metric: acc\n"
        "    tasks: {t: {choises: 2}}\n"
    )
    with pytest.raises(
        SuiteError, match=r"bad.yaml: not a valid suite .*unknown keys \['choises'\]"
    ):
        load_suite(bad)
