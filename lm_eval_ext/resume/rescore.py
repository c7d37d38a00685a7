"""``lm-eval-ext rescore``: recompute a run's metrics from its samples files, no model needed.

The responses recorded in ``samples_<task>_<date>.jsonl`` are replayed through lm-eval (see
:mod:`reevaluate`), so metric changes in the task definitions (a metric added to a YAML, one of
ours computed differently) apply, and an unchanged run gives exactly its original numbers. When
the run was journaled (``journal=DIR`` in its model args), a doc only counts if the journal holds
a successful response for every one of its requests: errored docs stay excluded.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from lm_eval_ext.resume.journal import load_entries
from lm_eval_ext.resume.lost_answers import (
    answered_docs, check_no_lost_answers, journal_doc_states, run_is_shard,
)
from lm_eval_ext.resume.outputs import (
    RunOutput, RunOutputError, read_run_output, write_run_output,
)
from lm_eval_ext.resume.reevaluate import Reevaluated, model_args_dict, reevaluate
from lm_eval_ext.resume.replay import AnswerFn, journal_answers, samples_answers

log = logging.getLogger(__name__)


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
    models = sorted(p.stem[len("model-"):] for p in journal.glob("model-*.json"))
    if len(models) != 1:
        raise RunOutputError(f"{journal}: holds {len(models)} models and the results do not "
                             "say which one this run was")
    return models[0]


def checked_by_journal(answer: AnswerFn, entries: dict[str, dict], model_hash: str) -> AnswerFn:
    """``answer``, but a request without a successful journal entry counts as unanswered."""
    check = journal_answers(entries, model_hash)

    def combined(reqtype: str, req: Any, occurrence: int) -> tuple[Any, str | None]:
        _, why = check(reqtype, req, occurrence)
        return (None, why) if why is not None else answer(reqtype, req, occurrence)

    return combined


def rescore_run(results_path: Path, include_path: list[str] | None = None,
                use_journal: bool = True) -> tuple[RunOutput, Reevaluated]:
    """Replay the run of ``results_path``; returns (the original run, the re-evaluation).

    Raises:
        LostAnswersError: the replay would exclude docs the run had answered (nothing written).
    """
    run = read_run_output(results_path)
    doc_ids = recorded_doc_ids(run)
    answer = samples_answers(run.samples, doc_ids)
    journal = run_journal(run.results, run.results_path) if use_journal else None
    entries = load_entries(journal)[0] if journal is not None else {}
    states = None
    if entries:
        model_hash = journal_model_hash(run.results, journal)
        answer = checked_by_journal(answer, entries, model_hash)
        states = journal_doc_states(entries, model_hash)
        log.info("rescore: docs count only with a successful entry in %s", journal)
    redone = reevaluate(run.results, answer, doc_ids, include_path)
    answered = answered_docs(run, states, shard=run_is_shard(run.results))
    check_no_lost_answers(f"rescore of {run.results_path}", redone.excluded, answered)
    return run, redone


def write_rescored(run: RunOutput, redone: Reevaluated, in_place: bool = False) -> Path:
    """Write the re-evaluation next to the run (new date), or over its files when ``in_place``."""
    out_root = run.results_path.parent.parent
    if not in_place:
        return write_run_output(out_root, dict(redone.results), run.results)
    with tempfile.TemporaryDirectory(dir=run.results_path.parent) as tmp:
        written = write_run_output(Path(tmp), dict(redone.results), run.results,
                                   date_id=run.date_id)
        for path in written.parent.iterdir():
            os.replace(path, run.results_path.parent / path.name)
    return run.results_path


def summary(redone: Reevaluated) -> str:
    """A short human-readable account of what was excluded."""
    lines = []
    for task, docs in sorted(redone.excluded.items()):
        lines.append(f"{task}: {len(docs)} doc(s) excluded from the metrics")
        for doc, why in sorted(docs.items())[:5]:
            lines.append(f"  doc {doc}: {why}")
        if len(docs) > 5:
            lines.append(f"  ... and {len(docs) - 5} more (listed under lm_eval_ext in the JSON)")
    return "\n".join(lines)


def results_table(results: dict[str, Any]) -> str:
    """lm-eval's own markdown table(s) for ``results``."""
    from lm_eval.utils import make_table

    table = make_table(results)
    if results.get("groups"):
        table += "\n" + make_table(results, "groups")
    return table

