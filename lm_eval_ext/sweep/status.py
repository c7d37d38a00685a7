"""``lm-eval-ext status OUT`` for a sweep: cells done / running / errored / missing.

A sharded sweep also lists each group's merge (after its shard cells) with the same states.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lm_eval_ext.sweep.cells import CellState, cell_state
from lm_eval_ext.sweep.manifest import MANIFEST_FILE, Cell, load_manifest
from lm_eval_ext.sweep.metrics import format_metrics
from lm_eval_ext.sweep.shards import ShardGroup, group_state, shard_groups
from lm_eval_ext.sweep.slurm import job_states, submitted_jobs

__all__ = ["STATES", "format_sweep_status", "is_sweep", "sweep_status"]

STATES = ("done", "running", "errored", "missing")


def is_sweep(out: Path) -> bool:
    """Whether ``out`` holds a sweep manifest."""
    return (Path(out) / MANIFEST_FILE).is_file()


def sweep_status(out: Path) -> list[tuple[Cell | ShardGroup, CellState]]:
    """Every cell of the manifest with its state, in manifest order, each group merged from
    shards after its last shard cell."""
    manifest = load_manifest(out)
    groups = {g.cells[-1].index: g for g in shard_groups(manifest)}
    rows: list[tuple[Cell | ShardGroup, CellState]] = []
    for cell in manifest.cells:
        rows.append((cell, _shard_aware_state(out, cell)))
        if cell.index in groups:
            rows.append((groups[cell.index], group_state(out, groups[cell.index])))
    return rows


def _shard_aware_state(out: Path, cell: Cell) -> CellState:
    state = cell_state(Path(out) / cell.dir)
    if cell.shard is None or state.state == "done":
        return state
    merged = cell_state(Path(out) / cell.group_dir)
    return merged if merged.state == "done" else state  # the shard folder may be gone


def format_sweep_status(out: Path) -> str:
    """A count line, the Slurm jobs' states (when ``squeue`` answers), then a line per cell."""
    rows = sweep_status(out)
    cells = [(c, s) for c, s in rows if isinstance(c, Cell)]
    counts = Counter(state.state for _, state in cells)
    resumable = sum(state.resumable for _, state in cells)
    head = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATES)
    note = f" ({resumable} resumable from a journal)" if resumable else ""
    merges = [(g, state.state) for g, state in rows if isinstance(g, ShardGroup)]
    if merges:
        by_state = Counter(state for _, state in merges)
        groups = ", ".join(f"{by_state.get(s, 0)} {s}" for s in STATES)
        shards = len(merges[0][0].cells)
        note += f"; merges of {len(merges)} groups ({shards} shards each): {groups}"
    lines = [f"sweep {out}: {len(cells)} cells: {head}{note}"]
    jobs = submitted_jobs(out)
    states = job_states(jobs)
    if states is not None:
        queued = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none queued"
        lines.append(f"slurm jobs {', '.join(jobs)}: {queued}")
    for row, state in rows:
        label = f"[{row.index}]" if isinstance(row, Cell) else row.label
        lines.append(f"  {label} {state.state:8s} {row.name}  {_detail(row, state)}".rstrip())
    return "\n".join(lines)


def _detail(row: Cell | ShardGroup, state: CellState) -> str:
    if state.state == "done":
        seconds = f"{state.detail.get('seconds', 0):.1f} s"
        if isinstance(row, Cell) and row.shard is not None:
            return f"shard {row.shard}/{row.shards}  {seconds}"  # its metrics are partial
        merged = f"  ({len(row.cells)} shards merged)" if isinstance(row, ShardGroup) else ""
        return f"{format_metrics(state.detail.get('metrics', []))}  {seconds}{merged}"
    if state.state == "errored":
        text = str(state.detail.get("reason", ""))
    elif state.state == "missing" and isinstance(row, ShardGroup):
        text = state.detail["reason"]
    elif state.resumable:
        text = "(journal: resumes where it stopped)"
    else:
        text = ""
    if isinstance(row, Cell) and row.shard is not None:
        return f"shard {row.shard}/{row.shards}  {text}"
    return text
