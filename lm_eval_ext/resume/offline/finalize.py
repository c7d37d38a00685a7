"""``lm-eval-ext finalize``: exclude a journaled run's unanswered docs from lm-eval's own results.

lm-eval scored every doc of the run, including those whose requests failed (their placeholder
responses count as wrong answers) and, in a shard run, the other shards' docs. Finalising takes
lm-eval's per-doc metric values from the samples files as they are, drops the docs without an
answer (:mod:`doc_outcomes`), and re-aggregates the rest with lm-eval's own aggregation (no
replay: no request is rebuilt, no metric recomputed). Everything else in the files stays as
lm-eval wrote it. Finalising a finalised run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext.resume.offline.doc_outcomes import journal_docs, unanswered_docs
from lm_eval_ext.resume.offline.exclusion import exclude_docs
from lm_eval_ext.resume.offline.reevaluate import load_run_tasks, record_errored_counts
from lm_eval_ext.resume.storage.journal import load_entries
from lm_eval_ext.resume.storage.outputs import (
    RunOutput,
    RunOutputError,
    journal_model_hash,
    read_run_output,
    replace_run_output,
    run_is_shard,
    run_journal,
)

#: What lm-eval computed from the run's task definitions; finalising keeps them as recorded.
_RECORDED = ("group_subtasks", "configs", "versions", "n-shot", "higher_is_better")


@dataclass
class Finalized:
    """The finalised results (``samples`` included) and the docs excluded from them."""

    results: dict[str, Any]
    excluded: dict[str, dict[int, str]]  # task -> doc id -> why it has no answer


def finalize_run(
    results_path: Path, include_path: list[str] | None = None
) -> tuple[RunOutput, Finalized]:
    """The run of ``results_path`` without its unanswered docs; nothing is written here."""
    run = read_run_output(results_path)
    journal = run_journal(run.results, run.results_path)
    if journal is None:
        raise RunOutputError(
            f"{run.results_path}: not a journaled run (no journal= in its model "
            "args, or its journal directory is gone): nothing to finalize"
        )
    docs = journal_docs(load_entries(journal).entries, journal_model_hash(run.results, journal))
    excluded = unanswered_docs(run, docs, run_is_shard(run.results))
    results = {**run.results, "samples": run.samples}
    if not excluded:
        return run, Finalized(results, {})
    bootstrap_iters = (run.results.get("config") or {}).get("bootstrap_iters", 100000)
    redone = exclude_docs(
        results, load_run_tasks(run.results, include_path), excluded, bootstrap_iters
    )
    redone.update({k: run.results[k] for k in _RECORDED if k in run.results})
    record_errored_counts(redone, excluded)
    return run, Finalized(redone, excluded)


def write_finalized(run: RunOutput, finalized: Finalized) -> Path:
    """Write the finalised results over the run's own files."""
    return replace_run_output(run, finalized.results, rows_as_read=True)
