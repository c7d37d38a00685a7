"""lm-eval's ``ConfigurableTask`` internals: its metric list and its request order.

Checked on lm-eval 0.4.13: a task's metrics live in the private ``_metric_fn_list`` /
``_metric_fn_kwargs``; a multiple-choice task issues one request per choice, then (with
``acc_mutual_info``) one unconditional request per choice, in that order; the MMLU subject
table lives in the private generator module ``lm_eval.tasks.mmlu._generate_configs``; the
leaderboard and BLiMP task files keep their layout under ``lm_eval/tasks/``.
"""

from __future__ import annotations

from typing import Any

from lm_eval_ext._compat._seam import Seam, expect_assignments


def metric_names(task: Any) -> set[str]:
    """The names of the metrics a task computes (its ``metric_list``, after lm-eval's parsing)."""
    return set(task._metric_fn_list)


def metric_kwargs(task: Any, name: str) -> dict[str, Any]:
    """The keyword arguments a task's ``metric_list`` entry gives metric ``name``."""
    return dict(task._metric_fn_kwargs.get(name, {}))


def mmlu_subject_table() -> dict[str, str]:
    """lm-eval's ``{subject: category}`` table of the 57 MMLU subjects."""
    from lm_eval.tasks.mmlu._generate_configs import SUBJECTS

    return dict(SUBJECTS)


def builtin_task_files(subdir: str) -> dict[str, dict[str, Any]]:
    """``{file name: YAML dict}`` of lm-eval's task files under ``lm_eval/tasks/SUBDIR``.

    Task files end in ``.yaml`` (keyed by stem); shared templates end in ``_yaml`` (keyed by
    their full name, e.g. ``_template_yaml``).

    ``!function`` tags are read as None (only literal fields are used: names, choices, n-shot).
    """
    from pathlib import Path

    import lm_eval.tasks
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    root = Path(lm_eval.tasks.__file__).parent / subdir
    paths = sorted(root.glob("*.yaml")) + sorted(root.glob("*_yaml"))
    return {
        (p.stem if p.suffix == ".yaml" else p.name): yaml.load(
            p.read_text(encoding="utf-8"), Loader=_Loader
        )
        or {}
        for p in paths
    }


def _check_builtin_task_files() -> None:
    bbh = builtin_task_files("leaderboard/bbh_mc")
    assert len([k for k in bbh if not k.startswith("_")]) == 24, "leaderboard BBH changed"
    assert len(bbh["object_counting"]["doc_to_choice"]) == 19
    gpqa = builtin_task_files("leaderboard/gpqa")
    assert len(gpqa["_template_yaml"]["doc_to_choice"]) == 4, "GPQA's choices changed"
    blimp = [k for k in builtin_task_files("blimp") if not k.startswith("_")]
    assert len(blimp) == 67, f"lm-eval ships {len(blimp)} BLiMP tasks, not 67"


def _check_mmlu_table() -> None:
    table = mmlu_subject_table()
    assert len(table) == 57 and table.get("abstract_algebra") == "stem", (
        f"lm-eval's MMLU subject table changed: {len(table)} subjects"
    )


def _check_metric_attributes() -> None:
    from lm_eval.api.task import ConfigurableTask

    expect_assignments(ConfigurableTask, "__init__", ["_metric_fn_list", "_metric_fn_kwargs"])


def _check_request_order() -> None:
    import datasets
    from lm_eval.api.task import ConfigurableTask

    docs = [{"q": "2+2?", "choices": ["3", "4"], "label": 1}]
    task = ConfigurableTask(
        config={
            "task": "seam_check_mc",
            "custom_dataset": lambda **_: datasets.DatasetDict(
                {"test": datasets.Dataset.from_list(docs)}
            ),
            "test_split": "test",
            "output_type": "multiple_choice",
            "doc_to_text": "{{q}}",
            "doc_to_choice": "{{choices}}",
            "doc_to_target": "label",
            "metric_list": [{"metric": "acc"}, {"metric": "acc_mutual_info"}],
        }
    )
    requests = task.construct_requests(docs[0], "2+2?", metadata=("t", 0, 1))
    contexts = [r.arguments[0] for r in requests]
    assert contexts == ["2+2?", "2+2?", "", ""], (
        f"multiple-choice requests are no longer conditional-then-unconditional: {contexts}"
    )
    assert [r.idx for r in requests] == [0, 1, 2, 3]


SEAMS = [
    Seam(
        "ConfigurableTask._metric_fn_list / _metric_fn_kwargs",
        "which of our normalised metrics a task computes (scoring.mc_task)",
        _check_metric_attributes,
    ),
    Seam(
        "ConfigurableTask.construct_requests order for multiple_choice",
        "splitting a doc's results into lm-eval's and ours (scoring.mc_task)",
        _check_request_order,
    ),
    Seam(
        "lm_eval.tasks.mmlu._generate_configs.SUBJECTS",
        "generating our MMLU *_mcnorm task YAMLs (scoring.mmlu_tasks)",
        _check_mmlu_table,
    ),
]
