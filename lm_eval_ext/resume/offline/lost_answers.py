"""Refusing a rescore or merge that would drop answers its input had scored.

A replay excludes a doc when it finds no recorded answer for one of the doc's requests. That is
right for docs whose requests errored (the journal says so) or that a shard never computed, and
wrong for every other doc: then the requests rebuilt now differ from the run's (a run setting
lost, a task's prompt changed) and the metrics would silently shrink. :func:`check_no_lost_answers`
tells the two apart and refuses the second, naming the docs, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable

from lm_eval_ext.resume.offline.doc_outcomes import DocRef
from lm_eval_ext.resume.storage.outputs import RunOutputError


class LostAnswersError(RunOutputError):
    """A rescore or merge would exclude docs that its input had answered and scored."""


def check_no_lost_answers(
    what: str, excluded: dict[str, dict[int, str]], answered: Iterable[DocRef]
) -> None:
    """Raise :class:`LostAnswersError` when ``excluded`` holds docs that were ``answered``."""
    answered = set(answered)
    lost = sorted(
        (task, doc, why)
        for task, docs in excluded.items()
        for doc, why in docs.items()
        if (task, doc) in answered
    )
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
