"""Reading and writing what ``lm_eval --output_path OUT --log_samples`` leaves on disk.

lm-eval writes ``OUT/<model>/results_<date>.json`` and one ``samples_<task>_<date>.jsonl`` per
task with the same ``<date>``. New files are written with lm-eval's own ``EvaluationTracker`` so
they have exactly its format (stringified responses, sanitised arguments, task hashes).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext._compat.lm_eval_outputs import RUN_FIELDS
from lm_eval_ext.errors import LmEvalExtError

RESULTS_PREFIX = "results_"
#: Key of a samples row whose doc is excluded from the metrics; its value says why.
ERROR_FIELD = "lm_eval_ext_error"


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
        return self.results_path.stem[len(RESULTS_PREFIX) :]


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
        raise RunOutputError(
            f"{out}: no results_*.json found (was the run finished with "
            "--output_path and --log_samples?)"
        )
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
            raise RunOutputError(
                f"{path}: missing; the run must use --log_samples (needed for task {task})"
            )
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


def write_run_output(
    out_dir: Path,
    results: dict[str, Any],
    key_order: dict[str, Any],
    date_id: str | None = None,
    rows_as_read: bool = False,
) -> Path:
    """Write ``results`` (with its ``samples``) as lm-eval would, into ``out_dir``.

    ``results`` must be a complete results dict: every run-level field lm-eval wrote (model
    name and source, system instruction, chat template, few-shot as multi-turn, timings...)
    plus the recomputed ones. The file goes to ``out_dir/<model_name_sanitized>/``, as lm-eval
    lays it out; keys keep ``key_order``'s order (the original file's) and ``task_hashes`` is
    recomputed from the samples. Samples rows fresh from an evaluation go through lm-eval's own
    serialiser; rows as read from a samples file (``rows_as_read``) are written back as they
    are. Returns the new results path (samples next to it).
    """
    from lm_eval_ext._compat.lm_eval_outputs import (
        new_date_id,
        results_json_text,
        task_hashes,
        write_samples_file,
    )

    results = dict(results)
    samples = results.pop("samples", None) or {}
    missing = [k for k in RUN_FIELDS if k not in results]
    if missing:
        raise RunOutputError(
            f"results to write lack the run's fields {missing}: refusing to "
            "write a file that would lose the run's settings"
        )
    folder = Path(out_dir) / str(results["model_name_sanitized"])
    folder.mkdir(parents=True, exist_ok=True)
    date_id = date_id or new_date_id()
    for task, rows in samples.items():
        if rows_as_read:
            _write_jsonl(folder / f"samples_{task}_{date_id}.jsonl", rows)
        else:
            write_samples_file(folder, task, rows, date_id)
    if samples:
        results["task_hashes"] = task_hashes(samples)
    ordered = {k: results[k] for k in key_order if k in results}
    ordered.update(results)
    path = folder / f"{RESULTS_PREFIX}{date_id}.json"
    path.write_text(results_json_text(ordered), encoding="utf-8")
    return path


def replace_run_output(run: RunOutput, results: dict[str, Any], rows_as_read: bool = False) -> Path:
    """Write ``results`` over ``run``'s own files (same names), each replaced atomically."""
    with tempfile.TemporaryDirectory(dir=run.results_path.parent) as tmp:
        written = write_run_output(
            Path(tmp), results, run.results, date_id=run.date_id, rows_as_read=rows_as_read
        )
        for path in written.parent.iterdir():
            os.replace(path, run.results_path.parent / path.name)
    return run.results_path


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


# ---- accessors of a run's recorded settings ------------------------------------------------


def model_args_dict(results: dict[str, Any]) -> dict[str, Any]:
    """The run's ``--model_args`` as a dict (lm-eval records a string or a dict)."""
    from lm_eval.utils import simple_parse_args_string

    args = (results.get("config") or {}).get("model_args") or {}
    return dict(simple_parse_args_string(args) if isinstance(args, str) else args)


def run_metadata(results: dict[str, Any]) -> dict[str, Any]:
    """The metadata the run's tasks were built with: its model args and ``--metadata``.

    lm-eval records no ``--metadata``, but merges it (with the model args) into every task's
    ``configs[task].metadata`` over the YAML's own; so the keys on which every task of the run
    agrees hold all of it (plus YAML values that happen to agree, which are then the run's).
    """
    recorded = [dict(cfg.get("metadata") or {}) for cfg in results["configs"].values()]
    agreed = dict(recorded[0]) if recorded else {}
    for meta in recorded[1:]:
        agreed = {k: v for k, v in agreed.items() if k in meta and meta[k] == v}
    agreed.pop("config_source", None)
    return {**model_args_dict(results), **agreed}


def recorded_doc_ids(run: RunOutput) -> dict[str, list[int]]:
    """Per task, the sorted doc ids its samples file holds."""
    return {task: sorted({int(r["doc_id"]) for r in rows}) for task, rows in run.samples.items()}


def run_journal(results: dict[str, Any], results_path: Path) -> Path | None:
    """The journal directory named by the run's ``journal=`` model arg, if it exists."""
    value = model_args_dict(results).get("journal")
    if not value:
        return None
    path = Path(str(value)).expanduser()
    candidates = [path] if path.is_absolute() else [path, results_path.parent.parent / path]
    return next((p for p in candidates if p.is_dir()), None)


def journal_model_hash(results: dict[str, Any], journal: Path) -> str:
    """The model hash of the run: recorded by our wrapper, else the journal's only model."""
    recorded = ((results.get("config") or {}).get("lm_eval_ext") or {}).get("model_hash")
    if recorded:
        return str(recorded)
    models = sorted(p.stem[len("model-") :] for p in journal.glob("model-*.json"))
    if len(models) != 1:
        raise RunOutputError(
            f"{journal}: holds {len(models)} models and the results do not "
            "say which one this run was"
        )
    return models[0]


def run_is_shard(results: dict[str, Any]) -> bool:
    """Whether the results come from a ``journal_shard=K/N`` run (before any merge)."""
    info = (results.get("config") or {}).get("lm_eval_ext") or {}
    return bool(info.get("shard"))


def results_written_for(journal_root: Path, since: float) -> list[Path]:
    """Results files under the journal's parent, written since ``since``, of runs using it."""
    found = []
    for path in find_results_files(journal_root.parent):
        if path.stat().st_mtime < since:
            continue
        try:
            results = read_results_json(path)
        except RunOutputError:  # not an lm-eval results file: not ours to fix
            continue
        journal = run_journal(results, path)
        if journal is not None and journal.resolve() == journal_root:
            found.append(path)
    return found
