"""Which docs of a recorded run have an answer, from its samples and its journal.

A doc has no answer when its samples row is marked excluded, when one of its requests errored
(the journal keeps the error), or, in a shard run, when the shard never computed it (no journal
record at all: lm-eval scored a placeholder for it). Every other doc was answered and scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lm_eval_ext.resume.storage.outputs import ERROR_FIELD, RunOutput
from lm_eval_ext.resume.storage.records import ResponseRecord

DocRef = tuple[str, int]  # (task, doc id)
#: Why a doc without any journal record has no answer.
NOT_COMPUTED = "not computed (no journal entry)"


@dataclass
class JournalDocs:
    """Per doc, what one model's journal says: the first error of its requests, if any."""

    errors: dict[DocRef, str] = field(default_factory=dict)
    seen: set[DocRef] = field(default_factory=set)  # docs with any record


def journal_docs(entries: dict[str, ResponseRecord], model_hash: str) -> JournalDocs:
    """The doc outcomes of ``model_hash`` in journal ``entries`` (:func:`load_entries`)."""
    docs = JournalDocs()
    for record in entries.values():
        if record.model != model_hash:
            continue
        ref = (record.task, record.doc)
        docs.seen.add(ref)
        if not record.ok:
            docs.errors.setdefault(ref, str(record.err))
    return docs


def unanswered_docs(
    run: RunOutput, journal: JournalDocs | None, shard: bool
) -> dict[str, dict[int, str]]:
    """Per task, the docs of ``run`` without an answer, and why."""
    journal = journal or JournalDocs()
    out: dict[str, dict[int, str]] = {}
    for task, rows in run.samples.items():
        for row in rows:
            ref = (task, int(row["doc_id"]))
            why = row.get(ERROR_FIELD) or journal.errors.get(ref)
            if not why and shard and ref not in journal.seen:
                why = NOT_COMPUTED
            if why:
                out.setdefault(task, {})[ref[1]] = why
    return out


def answered_docs(run: RunOutput, journal: JournalDocs | None, shard: bool) -> set[DocRef]:
    """The docs ``run`` really answered and scored (every other doc of its samples)."""
    missing = unanswered_docs(run, journal, shard)
    return {
        (task, int(row["doc_id"]))
        for task, rows in run.samples.items()
        for row in rows
        if int(row["doc_id"]) not in missing.get(task, {})
    }
