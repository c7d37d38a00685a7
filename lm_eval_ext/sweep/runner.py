"""Running cells: one ``lm_eval`` subprocess per cell (a fresh CUDA context each), claimed first.

A finished cell is skipped, an interrupted one resumes from its journal (rerunning its
command is all it takes), and a cell claimed by another live process is left to it. Locally
cells run one at a time, or one per device with ``devices=["0", "1", ...]``
(``CUDA_VISIBLE_DEVICES`` set per cell). After a shard cell its group's merge is tried
(:mod:`lm_eval_ext.sweep.merging`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, SimpleQueue

from tqdm.auto import tqdm

from lm_eval_ext.sweep.cells import (
    DONE_FILE,
    FAILED_FILE,
    LOG_FILE,
    CellClaim,
    claim_now,
    write_marker,
)
from lm_eval_ext.sweep.commands import cell_command
from lm_eval_ext.sweep.manifest import Cell, Manifest
from lm_eval_ext.sweep.merging import MergeOutcome, format_merge, merge_group
from lm_eval_ext.sweep.metrics import format_metrics, main_metrics
from lm_eval_ext.sweep.processes import last_line, run_logged
from lm_eval_ext.sweep.shards import cell_finished, group_of

__all__ = ["CellOutcome", "format_outcome", "group_outcomes", "run_cell", "run_sweep"]

#: what lm_eval prints when the journal's lock is held (lm_eval_ext.errors.JournalLockedError)
_LOCKED = "journal is in use by pid"


@dataclass
class CellOutcome:
    """What happened to one cell in this process."""

    cell: Cell
    state: str  # "done" | "skipped" (done before) | "running" (elsewhere) | "errored"
    seconds: float = 0.0
    metrics: list[dict] = field(default_factory=list)
    message: str = ""
    merged: MergeOutcome | None = None  # a shard cell's try at its group's merge


def run_cell(
    out: Path,
    manifest: Manifest,
    cell: Cell,
    *,
    device: str | None = None,
    lm_eval_cmd: list[str] | None = None,
    merge_cmd: list[str] | None = None,
) -> CellOutcome:
    """Run one cell unless it is done or claimed; its output goes to ``OUT/<cell dir>/``.

    A shard cell that is done (now or before) then tries its group's merge.
    """
    outcome = _run_claimed(out, manifest, cell, device, lm_eval_cmd)
    if cell.shard is not None and outcome.state in ("done", "skipped"):
        outcome.merged = merge_group(out, manifest, group_of(manifest, cell), merge_cmd)
    return outcome


def _run_claimed(
    out: Path, manifest: Manifest, cell: Cell, device: str | None, lm_eval_cmd: list[str] | None
) -> CellOutcome:
    cell_dir = Path(out) / cell.dir
    claim = CellClaim(cell_dir)
    if not claim_now(claim):
        return CellOutcome(cell, "running", message="claimed by another process")
    with claim:
        done = cell_finished(out, cell)
        if done is not None:
            return CellOutcome(cell, "skipped", done.get("seconds", 0.0), done.get("metrics", []))
        command = cell_command(out, manifest, cell, lm_eval_cmd)
        env = dict(os.environ)
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        start = time.time()
        returncode, tail = run_logged(command, env, cell_dir / LOG_FILE, claim)
        return _conclude(cell_dir, cell, returncode, start, time.time() - start, tail)


def _conclude(
    cell_dir: Path, cell: Cell, returncode: int, start: float, seconds: float, tail: str
) -> CellOutcome:
    """Mark the cell done only when its output is complete; else record why not.

    A shard's journal counts the other shards' docs as missing, so a shard is complete when
    none of its docs errored; its partial metrics are not recorded (its group's merge has them).
    """
    from lm_eval_ext.resume import (
        RunOutputError,
        latest_results_file,
        run_errored,
        run_incomplete,
    )

    if returncode != 0:
        if _LOCKED in tail:
            return CellOutcome(cell, "running", seconds, message=last_line(tail, _LOCKED))
        return _failed(cell_dir, cell, seconds, f"lm_eval exited {returncode}", tail, returncode)
    try:
        results = latest_results_file(cell_dir)
    except RunOutputError:
        results = None
    if results is None or results.stat().st_mtime < start - 1:
        return _failed(cell_dir, cell, seconds, "lm_eval exited 0 but wrote no results file", tail)
    if cell.shard is not None and run_errored(cell_dir):
        reason = f"some docs of the shard errored (lm-eval-ext status {cell_dir})"
        return _failed(cell_dir, cell, seconds, reason, tail)
    if cell.shard is None and run_incomplete(cell_dir):
        reason = f"some docs errored or are missing (lm-eval-ext status {cell_dir})"
        return _failed(cell_dir, cell, seconds, reason, tail)
    metrics = main_metrics(results) if cell.shard is None else []
    marker = {
        "cell": cell.index,
        "results": str(results.relative_to(cell_dir)),
        "finished": time.time(),
        "seconds": round(seconds, 3),
        "metrics": metrics,
    }
    write_marker(cell_dir, DONE_FILE, marker)
    return CellOutcome(cell, "done", seconds, metrics)


def _failed(
    cell_dir: Path, cell: Cell, seconds: float, reason: str, tail: str, returncode: int = 0
) -> CellOutcome:
    marker = {"cell": cell.index, "reason": reason, "returncode": returncode, "log_tail": tail}
    write_marker(cell_dir, FAILED_FILE, {**marker, "finished": time.time()})
    last = last_line(tail, "Error") or last_line(tail, "")
    message = f"{reason}: {last} (log: {cell_dir / LOG_FILE})"
    return CellOutcome(cell, "errored", seconds, message=message)


def format_outcome(outcome: CellOutcome) -> str:
    """One summary line: state, cell, main metric per task (not for a shard), time."""
    label = {"done": "done", "skipped": "skip", "running": "busy", "errored": "ERROR"}
    cell = outcome.cell
    head = f"{label[outcome.state]:5s} [{cell.index}] {cell.name}"
    if outcome.state in ("done", "skipped"):
        note = "  (done before)" if outcome.state == "skipped" else ""
        what = (
            format_metrics(outcome.metrics)
            if cell.shard is None
            else f"shard {cell.shard}/{cell.shards}"
        )
        return f"{head}  {what}  {outcome.seconds:.1f} s{note}"
    return f"{head}  {outcome.message}"


#: which of a group's merge outcomes in one process tells what happened to it
_TELLING = ("done", "errored", "running", "skipped", "waiting")


def group_outcomes(outcomes: list[CellOutcome]) -> list[MergeOutcome]:
    """One merge outcome per group among the shard cells' outcomes: the most telling one."""
    best: dict[str, MergeOutcome] = {}
    for merged in (o.merged for o in outcomes if o.merged is not None):
        held = best.get(merged.group.name)
        if held is None or _TELLING.index(merged.state) < _TELLING.index(held.state):
            best[merged.group.name] = merged
    return list(best.values())


def _merge_lines(outcome: CellOutcome, shown: set[str]) -> list[str]:
    """The merge's line after a shard's, once per group unless the merge ran (or failed) here."""
    merged = outcome.merged
    if merged is None or merged.state == "waiting":
        return []
    if merged.state not in ("done", "errored") and merged.group.name in shown:
        return []
    shown.add(merged.group.name)
    return [format_merge(merged)]


def run_sweep(
    out: Path,
    manifest: Manifest,
    *,
    cells: list[Cell] | None = None,
    devices: list[str] | None = None,
    lm_eval_cmd: list[str] | None = None,
    merge_cmd: list[str] | None = None,
    progress: bool | None = None,
) -> list[CellOutcome]:
    """Run ``cells`` (default: all), one at a time or one per device; a line per cell (and per
    group merged from shards).

    ``progress=None`` shows the bar on a terminal only.
    """
    todo = list(manifest.cells if cells is None else cells)
    queue: SimpleQueue[Cell] = SimpleQueue()
    for cell in todo:
        queue.put(cell)
    outcomes: list[CellOutcome] = []
    shown: set[str] = set()
    lock, stop = threading.Lock(), threading.Event()
    bar = tqdm(
        total=len(todo),
        unit="cell",
        desc="sweep",
        disable=None if progress is None else not progress,
    )

    def worker(device: str | None) -> None:
        while not stop.is_set():
            try:
                cell = queue.get_nowait()
            except Empty:
                return
            outcome = run_cell(
                out, manifest, cell, device=device, lm_eval_cmd=lm_eval_cmd, merge_cmd=merge_cmd
            )
            with lock:
                outcomes.append(outcome)
                bar.update(1)
                for line in [format_outcome(outcome), *_merge_lines(outcome, shown)]:
                    tqdm.write(line, file=sys.stdout)

    slots = list(devices) if devices else [None]
    with bar, ThreadPoolExecutor(max_workers=len(slots)) as pool:
        futures = [pool.submit(worker, d) for d in slots]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()  # Ctrl-C (or an error): start no further cell
            raise
    return sorted(outcomes, key=lambda o: o.cell.index)
