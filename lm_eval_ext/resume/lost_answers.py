"""Refusing a rescore or merge that would drop answers its input had scored.

A replay excludes a doc when it finds no recorded answer for one of the doc's requests. That is
right for docs whose requests errored (the journal says so) or that a shard never computed, and
wrong for every other doc: then the requests rebuilt now differ from the run's (a run setting
lost, a task's prompt changed) and the metrics would silently shrink. :func:`check_no_lost_answers`
tells the two apart and refuses the second, naming the docs, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lm_eval_ext.resume.exclusion import ERROR_FIELD
from lm_eval_ext.resume.outputs import RunOutput, RunOutputError

DocRef = tuple[str, int]  # (task, doc id)


class LostAnswersError(RunOutputError):
    """A rescore or merge would exclude docs that its input had answered and scored."""


def journal_doc_states(entries: dict[str, dict], model_hash: str) -> tuple[set[DocRef], set[DocRef]]:
    """(docs with a request that errored, docs with any record) of one model in a journal."""
    errored: set[DocRef] = set()
    seen: set[DocRef] = set()
    for record in entries.values():
        if record.get("m") != model_hash:
            continue
        doc = (str(record["task"]), int(record["doc"]))
        seen.add(doc)
        if record.get("err") is not None:
            errored.add(doc)
    return errored, seen


def answered_docs(run: RunOutput, journal: tuple[set[DocRef], set[DocRef]] | None,
                  shard: bool) -> set[DocRef]:
    """The docs ``run`` really answered and scored.

    A samples row counts unless it is marked excluded, its doc errored in the run's journal,
    or (for a shard run, whose files score the other shards' docs with placeholders until they
    are finalised) the journal holds no record of it.
    """
    errored, seen = journal or (set(), set())
    docs = set()
    for task, rows in run.samples.items():
        for row in rows:
            doc = (task, int(row["doc_id"]))
            if row.get(ERROR_FIELD) or doc in errored or (shard and doc not in seen):
                continue
            docs.add(doc)
    return docs


def check_no_lost_answers(what: str, excluded: dict[str, dict[int, str]],
                          answered: Iterable[DocRef]) -> None:
    """Raise :class:`LostAnswersError` when ``excluded`` holds docs that were ``answered``."""
    answered = set(answered)
    lost = sorted((task, doc, why) for task, docs in excluded.items()
                  for doc, why in docs.items() if (task, doc) in answered)
    if not lost:
        return
    per_task: dict[str, int] = {}
    for task, _, _ in lost:
        per_task[task] = per_task.get(task, 0) + 1
    counts = ", ".join(f"{task}: {n}" for task, n in sorted(per_task.items()))
    task, doc, why = lost[0]
    raise LostAnswersError(
        f"{what} would exclude {len(lost)} doc(s) that the input had answered and scored "
        f"({counts}; e.g. {task} doc {doc}: {why}). The requests rebuilt now do not match the "
        "recorded ones: a run setting (system instruction, chat template, few-shot, generation "
        "kwargs, metadata) or a task's prompt differs from the run's. Nothing was written."
    )


def run_is_shard(results: dict[str, Any]) -> bool:
    """Whether the results come from a ``journal_shard=K/N`` run (before any merge)."""
    info = (results.get("config") or {}).get("lm_eval_ext") or {}
    return bool(info.get("shard"))
