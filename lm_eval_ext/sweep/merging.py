"""Merging a sharded group once all its shards are done: once, by whoever gets there first.

After each shard cell (run now or done before) the sweep process tries its group's merge. It
takes the group's claim (``<group>/.claim``, the same non-blocking ``flock`` as a cell's,
inherited by the merge subprocess) and under it merges only if the group is not done and every
shard is: of two workers finishing the last shards together one merges and the other leaves it
to that one, and a process that died between the last shard and the merge leaves the merge to
the next ``lm-eval-ext sweep`` (which skips the shards, then merges). The merge is
``lm-eval-ext merge --complete``: a missing shard or doc makes it fail without writing results,
and the group is then errored with the merge's message, never done with partial results.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from lm_eval_ext.sweep.cells import (
    DONE_FILE,
    FAILED_FILE,
    CellClaim,
    claim_now,
    read_done,
    write_marker,
)
from lm_eval_ext.sweep.commands import merge_command
from lm_eval_ext.sweep.manifest import SHARDS_DIR, Manifest
from lm_eval_ext.sweep.metrics import format_metrics, main_metrics
from lm_eval_ext.sweep.processes import last_line, run_logged
from lm_eval_ext.sweep.shards import ShardGroup, shards_done

__all__ = ["MERGE_LOG", "MergeOutcome", "format_merge", "group_results", "merge_group"]

MERGE_LOG = "merge.log"


@dataclass
class MergeOutcome:
    """What happened to a group's merge in this process."""

    group: ShardGroup
    # "done" | "skipped" (merged before) | "running" (elsewhere) | "errored" | "waiting" (shards)
    state: str
    seconds: float = 0.0
    metrics: list[dict] = field(default_factory=list)
    message: str = ""


def group_results(group_dir: Path) -> list[Path]:
    """The group's own results files (never its shards'), oldest first."""
    from lm_eval_ext.resume import find_results_files

    return [
        p for p in find_results_files(group_dir) if p.relative_to(group_dir).parts[0] != SHARDS_DIR
    ]


def merge_group(
    out: Path, manifest: Manifest, group: ShardGroup, merge_cmd: list[str] | None = None
) -> MergeOutcome:
    """Merge the group's shards into its folder unless it is merged, claimed or not ready."""
    folder = Path(out) / group.dir
    claim = CellClaim(folder)
    if not claim_now(claim):
        return MergeOutcome(group, "running", message="merging in another process")
    with claim:
        done = read_done(folder)
        if done is not None:
            return MergeOutcome(group, "skipped", done.get("seconds", 0.0), done.get("metrics", []))
        ready = shards_done(out, group)
        if len(ready) < len(group.cells):
            message = f"{len(ready)} of {len(group.cells)} shards done"
            return MergeOutcome(group, "waiting", message=message)
        command = merge_command(out, manifest, list(group.cells), merge_cmd)
        start = time.time()
        returncode, tail = run_logged(command, dict(os.environ), folder / MERGE_LOG, claim)
        return _conclude(folder, group, returncode, start, tail)


def _conclude(
    folder: Path, group: ShardGroup, returncode: int, start: float, tail: str
) -> MergeOutcome:
    """Mark the group done only when the merge wrote complete results; else record why not."""
    from lm_eval_ext.resume import run_incomplete

    seconds = time.time() - start
    if returncode != 0:
        return _failed(folder, group, seconds, f"lm-eval-ext merge exited {returncode}", tail)
    results = group_results(folder)
    if not results or results[-1].stat().st_mtime < start - 1:
        reason = "lm-eval-ext merge exited 0 but wrote no results file"
        return _failed(folder, group, seconds, reason, tail)
    if run_incomplete(folder / "journal"):
        reason = f"the merged journal has errored or missing docs (lm-eval-ext status {folder})"
        return _failed(folder, group, seconds, reason, tail)
    metrics = main_metrics(results[-1])
    marker = {
        "cells": [c.index for c in group.cells],
        "shards": len(group.cells),
        "results": str(results[-1].relative_to(folder)),
        "finished": time.time(),
        "seconds": round(seconds, 3),
        "metrics": metrics,
    }
    write_marker(folder, DONE_FILE, marker)
    return MergeOutcome(group, "done", seconds, metrics)


def _failed(
    folder: Path, group: ShardGroup, seconds: float, reason: str, tail: str
) -> MergeOutcome:
    marker = {"cells": [c.index for c in group.cells], "reason": reason, "log_tail": tail}
    write_marker(folder, FAILED_FILE, {**marker, "finished": time.time()})
    last = last_line(tail, "error:") or last_line(tail, "Error") or last_line(tail, "")
    message = f"merge failed: {reason}: {last} (log: {folder / MERGE_LOG})"
    return MergeOutcome(group, "errored", seconds, message=message)


def format_merge(outcome: MergeOutcome) -> str:
    """One summary line for a group's merge: state, group, main metric per task, time."""
    label = {"done": "merge", "skipped": "skip", "running": "busy", "errored": "ERROR"}
    head = f"{label.get(outcome.state, 'wait'):5s} {outcome.group.label} {outcome.group.name}"
    n = len(outcome.group.cells)
    if outcome.state in ("done", "skipped"):
        note = f"{n} shards, merged before" if outcome.state == "skipped" else f"{n} shards merged"
        return f"{head}  {format_metrics(outcome.metrics)}  {outcome.seconds:.1f} s  ({note})"
    return f"{head}  {outcome.message}"
