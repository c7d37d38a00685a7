"""Reading and writing what ``lm_eval --output_path OUT --log_samples`` leaves on disk.

lm-eval writes ``OUT/<model>/results_<date>.json`` and one ``samples_<task>_<date>.jsonl`` per
task with the same ``<date>``. New files are written with lm-eval's own ``EvaluationTracker`` so
they have exactly its format (stringified responses, sanitised arguments, task hashes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext.errors import LmEvalExtError

RESULTS_PREFIX = "results_"
_TIMING_FIELDS = ("start_time", "end_time", "total_evaluation_time_seconds")


class RunOutputError(LmEvalExtError):
    """An output directory or file is not a readable lm-eval ``--log_samples`` output."""


@dataclass
class RunOutput:
    """One results file of an lm-eval run and its samples files."""

    results_path: Path
    results: dict[str, Any]
    samples: dict[str, list[dict]]  # task -> rows in file order

    @property
    def date_id(self) -> str:
        """The ``<date>`` shared by the results and samples file names."""
        return self.results_path.stem[len(RESULTS_PREFIX):]


def find_results_files(out: Path) -> list[Path]:
    """Every lm-eval results file under ``out`` (or ``out`` itself if it is one), oldest first."""
    out = Path(out)
    if out.is_file():
        return [out]
    if not out.is_dir():
        raise RunOutputError(f"{out}: no such file or directory")
    return sorted(out.rglob(f"{RESULTS_PREFIX}*.json"), key=lambda p: p.stem)


def latest_results_file(out: Path) -> Path:
    """The newest results file under ``out``; a clear error when there is none."""
    found = find_results_files(out)
    if not found:
        raise RunOutputError(f"{out}: no results_*.json found (was the run finished with "
                             "--output_path and --log_samples?)")
    return found[-1]


def read_results_json(results_path: Path) -> dict[str, Any]:
    """An lm-eval results JSON; a clear error when it is not one."""
    try:
        results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunOutputError(f"{results_path}: not a readable results JSON ({exc})") from None
    if not isinstance(results, dict) or "configs" not in results:
        raise RunOutputError(f"{results_path}: not an lm-eval results file (no 'configs')")
    return results


def read_run_output(results_path: Path) -> RunOutput:
    """The results JSON at ``results_path`` and its samples files (required for every task)."""
    results_path = Path(results_path)
    run = RunOutput(results_path, read_results_json(results_path), {})
    for task in run.results["configs"]:
        path = results_path.with_name(f"samples_{task}_{run.date_id}.jsonl")
        if not path.is_file():
            raise RunOutputError(f"{path}: missing; the run must use --log_samples "
                                 f"(needed for task {task})")
        run.samples[task] = _read_jsonl(path)
    return run


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise RunOutputError(f"{path}:{number}: not valid JSON ({exc})") from None
    return rows


def write_run_output(out_dir: Path, results: dict[str, Any], template: dict[str, Any]) -> Path:
    """Write ``results`` (with its ``samples``) like lm-eval would, into ``out_dir``.

    ``template`` is the original results JSON: its run-level fields (model name, chat template,
    timings...) are carried over so the new file describes the same run. Returns the new
    results path (``out_dir/results_<new date>.json``, samples next to it).
    """
    from lm_eval.loggers import EvaluationTracker

    from lm_eval.utils import handle_non_serializable

    samples = results.pop("samples", None) or {}
    tracker = EvaluationTracker(output_path=str(out_dir))
    general = tracker.general_config_tracker
    for name in vars(general):
        if name in template and name not in _TIMING_FIELDS:
            setattr(general, name, template[name])
    tracker.save_results_aggregated(results=results, samples=samples)
    for task, rows in samples.items():
        tracker.save_results_samples(task_name=task, samples=rows)
    written = Path(out_dir) / str(general.model_name_sanitized) / f"results_{tracker.date_id}.json"
    if not written.is_file():
        raise RunOutputError(f"{written}: lm-eval's EvaluationTracker did not write it")
    # the replay's own timings are meaningless: keep the original run's
    results.update({k: template[k] for k in _TIMING_FIELDS if k in template})
    written.write_text(json.dumps(results, indent=2, default=handle_non_serializable,
                                  ensure_ascii=False), encoding="utf-8")
    return written
