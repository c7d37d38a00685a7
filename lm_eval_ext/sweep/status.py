"""``lm-eval-ext status OUT`` for a sweep: cells done / running / errored / missing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lm_eval_ext.sweep.cells import CellState, cell_state
from lm_eval_ext.sweep.manifest import MANIFEST_FILE, Cell, load_manifest
from lm_eval_ext.sweep.metrics import format_metrics
from lm_eval_ext.sweep.slurm import job_states, submitted_jobs

__all__ = ["STATES", "format_sweep_status", "is_sweep", "sweep_status"]

STATES = ("done", "running", "errored", "missing")


def is_sweep(out: Path) -> bool:
    """Whether ``out`` holds a sweep manifest."""
    return (Path(out) / MANIFEST_FILE).is_file()


def sweep_status(out: Path) -> list[tuple[Cell, CellState]]:
    """Every cell of the manifest with its state, in manifest order."""
    manifest = load_manifest(out)
    return [(cell, cell_state(Path(out) / cell.dir)) for cell in manifest.cells]


def format_sweep_status(out: Path) -> str:
    """A count line, the Slurm jobs' states (when ``squeue`` answers), then a line per cell."""
    cells = sweep_status(out)
    counts = Counter(state.state for _, state in cells)
    resumable = sum(state.resumable for _, state in cells)
    head = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATES)
    note = f" ({resumable} resumable from a journal)" if resumable else ""
    lines = [f"sweep {out}: {len(cells)} cells: {head}{note}"]
    jobs = submitted_jobs(out)
    states = job_states(jobs)
    if states is not None:
        queued = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none queued"
        lines.append(f"slurm jobs {', '.join(jobs)}: {queued}")
    for cell, state in cells:
        lines.append(f"  [{cell.index}] {state.state:8s} {cell.name}  {_detail(state)}".rstrip())
    return "\n".join(lines)


def _detail(state: CellState) -> str:
    if state.state == "done":
        seconds = state.detail.get("seconds", 0)
        return f"{format_metrics(state.detail.get('metrics', []))}  {seconds:.1f} s"
    if state.state == "errored":
        return str(state.detail.get("reason", ""))
    if state.resumable:
        return "(journal: resumes where it stopped)"
    return ""
