"""lm-eval's results and samples files, and its re-aggregation of per-doc metrics.

Checked on lm-eval 0.4.13: ``EvaluationTracker`` (how it names, serialises and hashes),
``GeneralConfigTracker``'s fields, and ``evaluator_utils._process_results`` /
``EvalAcc._to_eval_results`` (private: lm-eval's aggregation of per-doc metric values into task
and group results, stderr included).
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

from lm_eval_ext._compat._seam import Seam, expect_params

#: Run-level fields of every results file (``GeneralConfigTracker``'s): they describe the run
#: and shape its prompts, so a results file we rewrite must carry them unchanged.
RUN_FIELDS = (
    "model_source",
    "model_name",
    "model_name_sanitized",
    "system_instruction",
    "system_instruction_sha",
    "fewshot_as_multiturn",
    "chat_template",
    "chat_template_sha",
)


def write_samples_file(folder: Path, task: str, rows: list[dict], date_id: str) -> Path:
    """Write ``samples_<task>_<date_id>.jsonl`` into ``folder`` with lm-eval's own serialiser.

    Seam: ``EvaluationTracker.save_results_samples`` reads the folder name from
    ``general_config_tracker.model_name_sanitized`` and the date from ``date_id`` (an attribute
    it normally sets in ``save_results_aggregated``), and it swallows every error, so the file's
    existence is checked here.
    """
    from lm_eval.loggers import EvaluationTracker

    folder = Path(folder)
    tracker = EvaluationTracker(output_path=str(folder.parent))
    tracker.general_config_tracker.model_name_sanitized = folder.name
    tracker.date_id = date_id
    tracker.save_results_samples(task_name=task, samples=rows)
    path = folder / f"samples_{task}_{date_id}.jsonl"
    if not path.is_file():
        raise OSError(f"{path}: lm-eval's EvaluationTracker did not write it")
    return path


def task_hashes(samples: dict[str, list[dict]]) -> dict[str, str]:
    """``task_hashes`` of a results file, computed as ``save_results_aggregated`` does."""
    from lm_eval.utils import hash_string

    return {
        task: hash_string(
            "".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in rows)
        )
        for task, rows in samples.items()
    }


def results_json_text(results: dict[str, Any]) -> str:
    """A results dict serialised exactly as lm-eval writes ``results_*.json``."""
    import json

    from lm_eval.utils import handle_non_serializable

    return json.dumps(results, indent=2, default=handle_non_serializable, ensure_ascii=False)


def new_date_id() -> str:
    """The ``<date>`` of new results/samples file names, formed as lm-eval forms it."""
    from datetime import datetime

    return datetime.now().isoformat().replace(":", "-")


def reaggregate(
    per_task: dict[str, dict[str, Any]],
    groups: dict[str, Any],
    bootstrap_iters: int | None,
    samples: dict[str, list[dict]],
) -> dict[str, Any]:
    """lm-eval's results (``results``, ``groups``, ``n-samples``, ...) from per-doc values.

    ``per_task[name]`` is ``{"task": Task, "raw_metrics": {(metric, filter): [values]},
    "logged_samples": rows}``, as lm-eval's evaluator accumulates them.
    """
    from lm_eval.evaluator_utils import _process_results

    return dict(
        _process_results(per_task, groups, bootstrap_iters)._to_eval_results(samples=samples)
    )


def _check_tracker() -> None:
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.loggers.evaluation_tracker import GeneralConfigTracker

    expect_params(
        EvaluationTracker.save_results_samples,
        ["task_name", "samples"],
        "EvaluationTracker.save_results_samples",
    )
    source = inspect.getsource(EvaluationTracker)
    for needle in (
        "self.general_config_tracker.model_name_sanitized",
        "self.date_id",
        's["doc_hash"] + s["prompt_hash"] + s["target_hash"]',
        'sanitize_list(sample["resps"])',
    ):
        assert needle in source, f"EvaluationTracker no longer uses {needle}"
    fields = {f.name for f in dataclasses.fields(GeneralConfigTracker)}
    assert set(RUN_FIELDS) <= fields, f"GeneralConfigTracker lost {set(RUN_FIELDS) - fields}"


def _check_aggregation() -> None:
    from lm_eval.evaluator_utils import EvalAcc, _process_results

    expect_params(
        _process_results,
        ["eval_results_acc", "groups", "bootstrap_iters"],
        "evaluator_utils._process_results",
    )
    expect_params(EvalAcc._to_eval_results, ["samples"], "EvalAcc._to_eval_results")


SEAMS = [
    Seam(
        "lm_eval.loggers.EvaluationTracker (samples files, task hashes, run fields)",
        "writing results/samples files exactly as lm-eval does (resume.storage.outputs)",
        _check_tracker,
    ),
    Seam(
        "lm_eval.evaluator_utils._process_results + EvalAcc._to_eval_results",
        "re-aggregating metrics without excluded docs (resume.offline.exclusion)",
        _check_aggregation,
    ),
]
