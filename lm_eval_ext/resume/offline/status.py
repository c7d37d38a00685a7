"""Progress of a journaled run, read from the journal alone (no model, no tasks loaded)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from lm_eval_ext.resume.storage.journal import load_entries
from lm_eval_ext.resume.storage.records import PlanRecord, ResponseRecord


@dataclass
class TaskStatus:
    """Per-task doc counts for one model in one journal."""

    done: int = 0
    errored: int = 0
    missing: int = 0
    errors: dict[int, str] = field(default_factory=dict)  # doc id -> first error message


@dataclass
class RequestStatus:
    """Request counts for one model in one journal (what an API run has paid for, and not)."""

    done: int = 0
    errored: int = 0
    remaining: int = 0
    kinds: Counter = field(default_factory=Counter)  # error kind -> errored requests

    def line(self) -> str:
        """``requests: D done, E errored (kind N, ...), R remaining``."""
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.kinds.items()))
        return (
            f"  requests: {self.done} done, {self.errored} errored"
            + (f" ({kinds})" if kinds else "")
            + f", {self.remaining} remaining"
        )


def journal_dirs(out: Path) -> list[Path]:
    """Every journal directory under ``out`` (one holding ``model-*.json``), or ``out`` itself."""
    out = Path(out)
    return sorted({p.parent for p in out.rglob("model-*.json")})


def _planned(plans: list[PlanRecord]) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
    """(model, request type) -> task -> doc id -> requests, from each writer's latest plan."""
    # the latest plan of each writer: the ranks of a multi-process run plan their own docs
    latest: dict[tuple[str, str, str], PlanRecord] = {}
    for plan in sorted(plans, key=lambda p: p.time):
        latest[(plan.model, plan.reqtype, plan.writer)] = plan
    planned: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(dict)
    for (model, reqtype, _), plan in latest.items():
        for task, docs in plan.tasks.items():
            merged = planned[(model, reqtype)].setdefault(task, {})
            for doc, n_requests in docs.items():
                merged[doc] = max(merged.get(doc, 0), n_requests)
    return planned


def _outcomes_by_doc(entries: dict[str, ResponseRecord]) -> dict[tuple, list[ResponseRecord]]:
    by_doc: dict[tuple, list[ResponseRecord]] = defaultdict(list)
    for record in entries.values():
        by_doc[(record.model, record.reqtype, record.task, record.doc)].append(record)
    return by_doc


def journal_status(root: Path) -> dict[str, dict[str, TaskStatus]]:
    """model hash -> task -> :class:`TaskStatus`, from the latest plan of each request type."""
    entries, plans = load_entries(root)
    by_doc = _outcomes_by_doc(entries)
    report: dict[str, dict[str, TaskStatus]] = defaultdict(dict)
    for (model, reqtype), tasks in _planned(plans).items():
        for task, docs in tasks.items():
            status = report[model].setdefault(task, TaskStatus())
            for doc, n_requests in docs.items():
                outcomes = by_doc.get((model, reqtype, task, int(doc)), [])
                errors = [r.err for r in outcomes if not r.ok]
                if errors:
                    status.errored += 1
                    status.errors[int(doc)] = errors[0]
                elif len(outcomes) >= n_requests:
                    status.done += 1
                else:
                    status.missing += 1
    return dict(report)


def request_status(root: Path) -> dict[str, RequestStatus]:
    """model hash -> :class:`RequestStatus` over the requests of the latest plans."""
    entries, plans = load_entries(root)
    by_doc = _outcomes_by_doc(entries)
    report: dict[str, RequestStatus] = defaultdict(RequestStatus)
    for (model, reqtype), tasks in _planned(plans).items():
        status = report[model]
        for task, docs in tasks.items():
            for doc, n_requests in docs.items():
                outcomes = by_doc.get((model, reqtype, task, int(doc)), [])
                done = min(n_requests, sum(r.ok for r in outcomes))
                errored = min(n_requests - done, sum(not r.ok for r in outcomes))
                status.kinds.update(r.kind or "error" for r in outcomes if not r.ok)
                status.done += done
                status.errored += errored
                status.remaining += n_requests - done - errored
    return dict(report)


def journal_shards(root: Path) -> set[str]:
    """The ``K/N`` shards whose plans are in the journal (empty for unsharded runs)."""
    _, plans = load_entries(root)
    return {f"{p.shard[0]}/{p.shard[1]}" for p in plans if p.shard}


def format_status(out: Path) -> str:
    """Human-readable status of every journal under ``out``."""
    lines = []
    for root in journal_dirs(out):
        shards = journal_shards(root)
        if len(shards) == 1 and not any(p.name.startswith("shard") for p in root.glob("*.jsonl")):
            lines.append(
                f"{root}: shard {shards.pop()}: the other shards' docs count as missing "
                "(run status on the output of `lm-eval-ext merge`)"
            )
        requests = request_status(root)
        for model, tasks in journal_status(root).items():
            identity = json.loads((root / f"model-{model}.json").read_text())
            api = identity.get("api")
            lines.append(f"{root}  model {model}  {json.dumps(identity.get('args', {}))}")
            if api:
                lines.append(
                    f"  API {api.get('backend')}  {api.get('model')} at {api.get('base_url')}"
                )
            lines.append(requests.get(model, RequestStatus()).line())
            lines.append(f"  {'task':32s} {'done':>6s} {'errored':>8s} {'missing':>8s}")
            for task, st in sorted(tasks.items()):
                lines.append(f"  {task:32s} {st.done:6d} {st.errored:8d} {st.missing:8d}")
                for doc, message in sorted(st.errors.items()):
                    lines.append(f"    doc {doc}: {message}")
    return "\n".join(lines) if lines else f"no resume journal under {out}"


def run_incomplete(out: Path) -> bool:
    """Whether any journal under ``out`` has errored or missing docs."""
    return any(
        st.errored or st.missing
        for root in journal_dirs(out)
        for tasks in journal_status(root).values()
        for st in tasks.values()
    )


def run_errored(out: Path) -> bool:
    """Whether any journal under ``out`` has errored docs.

    The completeness test of a shard run, whose journal counts the other shards' docs as
    missing: a shard that exited 0 computed all of its own docs, errored or not.
    """
    return any(
        st.errored
        for root in journal_dirs(out)
        for tasks in journal_status(root).values()
        for st in tasks.values()
    )
