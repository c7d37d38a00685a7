"""Checks of one packaged run: complete, no errors or duplicates, the suite's tasks, recomputes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lm_eval_ext.checkpoints.hub import is_commit_sha
from lm_eval_ext.resume import ERROR_FIELD, RunOutput, read_run_output, rescore_run
from lm_eval_ext.submission.scores import scored_docs, task_raw
from lm_eval_ext.submission.suites import Suite

Report = Callable[[str, str], None]  # (defect code, message)


def check_run(
    entry: dict[str, Any],
    root: Path,
    suite: Suite | None,
    include_path: list[str] | None,
    report: Report,
) -> dict[str, Any] | None:
    """Report every defect of the run ``entry`` (files under ``root``); its results if readable."""
    label = entry.get("label")
    try:
        run = read_run_output(root / entry["results"])
    except Exception as exc:  # noqa: BLE001 - any unreadable run is one defect
        report("unreadable", f"run {label}: {exc}")
        return None
    _check_complete(label, run, report)
    if suite is not None:
        _check_suite_tasks(label, run.results, suite, report)
        if suite.hub_model:
            _check_model(label, entry, report)
    _check_recomputes(label, run, include_path, report)
    return run.results


def _check_complete(label: str, run: RunOutput, report: Report) -> None:
    limit = (run.results.get("config") or {}).get("limit")
    if limit is not None:
        report("limit", f"run {label}: evaluated with --limit {limit}")
    for task, counts in sorted((run.results.get("n-samples") or {}).items()):
        effective, original = counts.get("effective"), counts.get("original")
        errored = int(counts.get("errored") or 0)  # excluded docs are reported as errored
        if effective is not None and original is not None and effective + errored < original:
            report("incomplete", f"run {label}: task {task} scored {effective} of {original} docs")
        if counts.get("errored"):
            report("errored", f"run {label}: task {task} has {counts['errored']} errored docs")
    for task, rows in sorted(run.samples.items()):
        marked = [r["doc_id"] for r in rows if r.get(ERROR_FIELD)]
        if marked and not (run.results.get("n-samples") or {}).get(task, {}).get("errored"):
            report(
                "errored",
                f"run {label}: task {task} has {len(marked)} samples marked "
                f"{ERROR_FIELD} (e.g. doc {marked[0]})",
            )
        seen = Counter((r["doc_id"], r.get("filter")) for r in rows)
        for (doc, filt), n in sorted(seen.items(), key=str):
            if n > 1:
                report(
                    "duplicate-doc",
                    f"run {label}: task {task} has doc_id {doc} {n} times (filter {filt})",
                )


def _check_suite_tasks(label: str, results: dict[str, Any], suite: Suite, report: Report) -> None:
    for spec in suite.tasks:
        if spec.name not in results.get("configs", {}):
            report(
                "missing-task",
                f"run {label}: task {spec.name} required by suite {suite.name} is missing",
            )
            continue
        n_shot = (results.get("n-shot") or {}).get(spec.name)
        if n_shot != spec.n_shot:
            report(
                "n-shot",
                f"run {label}: task {spec.name} ran {n_shot}-shot, suite "
                f"{suite.name} requires {spec.n_shot}-shot",
            )
        if task_raw(results, spec) is None:
            wanted = ", ".join(f"{m},{spec.filter}" for m in spec.metrics)
            report("missing-metric", f"run {label}: task {spec.name} lacks {wanted}")
        docs = scored_docs(results, spec.name)
        if spec.docs is not None and docs != spec.docs:
            report(
                "doc-count",
                f"run {label}: task {spec.name} scored {docs} docs, suite "
                f"{suite.name} requires exactly {spec.docs}",
            )


def _check_model(label: str, entry: dict[str, Any], report: Report) -> None:
    model_id = str(entry.get("model_id") or "")
    if model_id.startswith("<local>") or model_id.count("/") != 1:
        report(
            "model-id",
            f"run {label}: model id {model_id!r} is not a hub id with an owner "
            "namespace (owner/name)",
        )
    if not is_commit_sha(entry.get("commit_sha")):
        report(
            "revision",
            f"run {label}: revision {entry.get('revision')!r} is not resolved "
            f"to a commit sha (got {entry.get('commit_sha')!r})",
        )


def _check_recomputes(
    label: str, run: RunOutput, include_path: list[str] | None, report: Report
) -> None:
    try:
        _, redone = rescore_run(run.results_path, include_path, use_journal=False)
    except Exception as exc:  # noqa: BLE001 - a run we cannot replay is a defect, named
        report(
            "recompute",
            f"run {label}: results cannot be recomputed from the samples "
            f"({type(exc).__name__}: {exc}); pass --include_path with the tasks",
        )
        return
    for key in ("results", "groups"):
        got, want = run.results.get(key) or {}, redone.results.get(key) or {}
        for task in sorted(set(got) | set(want)):
            a, b = got.get(task) or {}, want.get(task) or {}
            diff = sorted(m for m in set(a) | set(b) if a.get(m) != b.get(m))
            if diff:
                m = diff[0]
                report(
                    "recompute",
                    f"run {label}: {task} {m} is {a.get(m)} in the results, "
                    f"{b.get(m)} recomputed from the samples",
                )
