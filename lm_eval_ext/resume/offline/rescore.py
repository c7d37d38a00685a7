"""``lm-eval-ext rescore``: recompute a run's metrics from its samples files, no model needed.

The responses recorded in ``samples_<task>_<date>.jsonl`` are replayed through lm-eval (see
:mod:`reevaluate`), so metric changes in the task definitions (a metric added to a YAML, one of
ours computed differently) apply, and an unchanged run gives exactly its original numbers. When
the run was journaled (``journal=DIR`` in its model args), a doc only counts if the journal holds
a successful response for every one of its requests: errored docs stay excluded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lm_eval_ext.resume.offline.doc_outcomes import answered_docs, journal_docs
from lm_eval_ext.resume.offline.lost_answers import check_no_lost_answers
from lm_eval_ext.resume.offline.reevaluate import Reevaluated, reevaluate
from lm_eval_ext.resume.offline.replay import AnswerFn, journal_answers, samples_answers
from lm_eval_ext.resume.storage.journal import load_entries
from lm_eval_ext.resume.storage.outputs import (
    RunOutput,
    journal_model_hash,
    read_run_output,
    recorded_doc_ids,
    replace_run_output,
    run_is_shard,
    run_journal,
    write_run_output,
)

log = logging.getLogger(__name__)


def checked_by_journal(answer: AnswerFn, entries: dict[str, dict], model_hash: str) -> AnswerFn:
    """``answer``, but a request without a successful journal entry counts as unanswered."""
    check = journal_answers(entries, model_hash)

    def combined(reqtype: str, req: Any, occurrence: int) -> tuple[Any, str | None]:
        _, why = check(reqtype, req, occurrence)
        return (None, why) if why is not None else answer(reqtype, req, occurrence)

    return combined


def rescore_run(
    results_path: Path, include_path: list[str] | None = None, use_journal: bool = True
) -> tuple[RunOutput, Reevaluated]:
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
        states = journal_docs(entries, model_hash)
        log.info("rescore: docs count only with a successful entry in %s", journal)
    redone = reevaluate(run.results, answer, doc_ids, include_path)
    answered = answered_docs(run, states, shard=run_is_shard(run.results))
    check_no_lost_answers(f"rescore of {run.results_path}", redone.excluded, answered)
    return run, redone


def write_rescored(run: RunOutput, redone: Reevaluated, in_place: bool = False) -> Path:
    """Write the re-evaluation next to the run (new date), or over its files when ``in_place``."""
    if in_place:
        return replace_run_output(run, redone.results)
    return write_run_output(run.results_path.parent.parent, redone.results, run.results)


def summary(excluded: dict[str, dict[int, str]]) -> str:
    """A short human-readable account of the ``excluded`` docs (task -> doc -> why)."""
    lines = []
    for task, docs in sorted(excluded.items()):
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
