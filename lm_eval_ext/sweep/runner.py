"""Running cells: one ``lm_eval`` subprocess per cell (a fresh CUDA context each), claimed first.

A finished cell is skipped, an interrupted one resumes from its journal (rerunning its
command is all it takes), and a cell claimed by another live process is left to it. Locally
cells run one at a time, or one per device with ``devices=["0", "1", ...]``
(``CUDA_VISIBLE_DEVICES`` set per cell).
"""

from __future__ import annotations

import os
import subprocess
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
    read_done,
    write_marker,
)
from lm_eval_ext.sweep.commands import cell_command
from lm_eval_ext.sweep.manifest import Cell, Manifest
from lm_eval_ext.sweep.metrics import format_metrics, main_metrics

__all__ = ["CellOutcome", "format_outcome", "run_cell", "run_sweep"]

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


def _claim(claim: CellClaim) -> bool:
    if claim.try_acquire():
        return True
    time.sleep(0.2)  # one retry: `lm-eval-ext status` probes claims by taking them for a moment
    return claim.try_acquire()


def run_cell(
    out: Path,
    manifest: Manifest,
    cell: Cell,
    *,
    device: str | None = None,
    lm_eval_cmd: list[str] | None = None,
) -> CellOutcome:
    """Run one cell unless it is done or claimed; its output goes to ``OUT/<cell dir>/``."""
    cell_dir = Path(out) / cell.dir
    claim = CellClaim(cell_dir)
    if not _claim(claim):
        return CellOutcome(cell, "running", message="claimed by another process")
    with claim:
        done = read_done(cell_dir)
        if done is not None:
            return CellOutcome(cell, "skipped", done.get("seconds", 0.0), done.get("metrics", []))
        command = cell_command(out, manifest, cell, lm_eval_cmd)
        env = dict(os.environ)
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        start = time.time()
        returncode, tail = _execute(command, env, cell_dir / LOG_FILE, claim)
        return _conclude(cell_dir, cell, returncode, start, time.time() - start, tail)


def _execute(command: list[str], env: dict, log_path: Path, claim: CellClaim) -> tuple[int, str]:
    """Run ``command`` with its output appended to the cell's log; (exit status, log tail)."""
    with log_path.open("ab") as log:
        offset = log.tell()
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {command}\n".encode())
        log.flush()
        proc = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            pass_fds=(claim.fd,),  # the child keeps the cell claimed if we die first
            check=False,
        )
    with log_path.open("rb") as log:
        log.seek(offset)
        tail = log.read()[-4000:].decode(errors="replace")
    return proc.returncode, tail


def _conclude(
    cell_dir: Path, cell: Cell, returncode: int, start: float, seconds: float, tail: str
) -> CellOutcome:
    """Mark the cell done only when its output is complete; else record why not."""
    from lm_eval_ext.resume import RunOutputError, latest_results_file, run_incomplete

    if returncode != 0:
        if _LOCKED in tail:
            return CellOutcome(cell, "running", seconds, message=_last_line(tail, _LOCKED))
        return _failed(cell_dir, cell, seconds, f"lm_eval exited {returncode}", tail, returncode)
    try:
        results = latest_results_file(cell_dir)
    except RunOutputError:
        results = None
    if results is None or results.stat().st_mtime < start - 1:
        return _failed(cell_dir, cell, seconds, "lm_eval exited 0 but wrote no results file", tail)
    if run_incomplete(cell_dir):
        reason = f"some docs errored or are missing (lm-eval-ext status {cell_dir})"
        return _failed(cell_dir, cell, seconds, reason, tail)
    metrics = main_metrics(results)
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
    last = _last_line(tail, "Error") or _last_line(tail, "")
    message = f"{reason}: {last} (log: {cell_dir / LOG_FILE})"
    return CellOutcome(cell, "errored", seconds, message=message)


def _last_line(text: str, containing: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and containing in ln]
    return lines[-1][:300] if lines else ""


def format_outcome(outcome: CellOutcome) -> str:
    """One summary line: state, cell, main metric per task, time."""
    label = {"done": "done", "skipped": "skip", "running": "busy", "errored": "ERROR"}
    head = f"{label[outcome.state]:5s} [{outcome.cell.index}] {outcome.cell.name}"
    if outcome.state in ("done", "skipped"):
        note = "  (done before)" if outcome.state == "skipped" else ""
        return f"{head}  {format_metrics(outcome.metrics)}  {outcome.seconds:.1f} s{note}"
    return f"{head}  {outcome.message}"


def run_sweep(
    out: Path,
    manifest: Manifest,
    *,
    cells: list[Cell] | None = None,
    devices: list[str] | None = None,
    lm_eval_cmd: list[str] | None = None,
    progress: bool | None = None,
) -> list[CellOutcome]:
    """Run ``cells`` (default: all), one at a time or one per device; a line per cell.

    ``progress=None`` shows the bar on a terminal only.
    """
    todo = list(manifest.cells if cells is None else cells)
    queue: SimpleQueue[Cell] = SimpleQueue()
    for cell in todo:
        queue.put(cell)
    outcomes: list[CellOutcome] = []
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
            outcome = run_cell(out, manifest, cell, device=device, lm_eval_cmd=lm_eval_cmd)
            with lock:
                outcomes.append(outcome)
                bar.update(1)
                tqdm.write(format_outcome(outcome), file=sys.stdout)

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
