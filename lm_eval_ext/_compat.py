"""The one place that touches lm-eval internals (checked on lm-eval 0.4.13).

Every function here leans on something lm-eval does not promise to keep; ``tests/test_seams.py``
asserts the shape of each, so an lm-eval upgrade that moves one fails there, by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
        task: hash_string("".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"]
                                  for s in rows))
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
