"""The shard dimension of a sweep: a group's shard cells, their state, what is left to run.

With ``--shards N`` every checkpoint x task group is N shard cells (``journal_shard=k/N``, each in
``<group>/shards/<k>-of-<N>/``). The group is done when the merge of its shards wrote the
group's results into ``<group>/`` and ``<group>/done.json``; from then on its shard cells count
as done as well (their folders may even be deleted: the merge copied their journals). Without
shards every cell is its own group and none of this applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lm_eval_ext.sweep.cells import FAILED_FILE, CellState, is_claimed, read_done
from lm_eval_ext.sweep.commands import cell_command, merge_command
from lm_eval_ext.sweep.manifest import Cell, Manifest

__all__ = [
    "ShardGroup",
    "cell_finished",
    "group_of",
    "group_state",
    "pending_cells",
    "planned_commands",
    "shard_groups",
    "shards_done",
]


@dataclass(frozen=True)
class ShardGroup:
    """One checkpoint x task group of a sharded sweep: its shard cells, by shard number."""

    cells: tuple[Cell, ...]

    @property
    def dir(self) -> PurePosixPath:
        """The group's folder relative to ``OUT``: the merge's ``--output_path``."""
        return self.cells[0].group_dir

    @property
    def name(self) -> str:
        """``run/checkpoint/group``, for messages."""
        return str(self.dir)

    @property
    def label(self) -> str:
        """``[first-last]``: the indices of the shard cells."""
        return f"[{self.cells[0].index}-{self.cells[-1].index}]"


def shard_groups(manifest: Manifest, cells: list[Cell] | None = None) -> list[ShardGroup]:
    """The groups of the shard cells among ``cells`` (default: all), each with all its shards."""
    members: dict[PurePosixPath, list[Cell]] = {}
    for cell in manifest.cells:
        if cell.shard is not None:
            members.setdefault(cell.group_dir, []).append(cell)
    wanted = dict.fromkeys(c.group_dir for c in (manifest.cells if cells is None else cells))
    return [
        ShardGroup(tuple(sorted(members[d], key=lambda c: c.shard or 0)))
        for d in wanted
        if d in members
    ]


def group_of(manifest: Manifest, cell: Cell) -> ShardGroup:
    """The group of shard cell ``cell``."""
    return shard_groups(manifest, [cell])[0]


def shards_done(out: Path, group: ShardGroup) -> list[int]:
    """The shard numbers whose cell has a valid done marker."""
    return [c.shard for c in group.cells if read_done(Path(out) / c.dir) is not None]


def cell_finished(out: Path, cell: Cell) -> dict | None:
    """The done marker that makes ``cell`` need no run: its own or, for a shard, its group's."""
    if cell.shard is not None:
        merged = read_done(Path(out) / cell.group_dir)
        if merged is not None:
            return merged
    return read_done(Path(out) / cell.dir)


def _merge_pending(out: Path, group: ShardGroup) -> bool:
    """Every shard is done and the group is not merged (a merge that never ran, or failed)."""
    all_done = len(shards_done(out, group)) == len(group.cells)
    return all_done and read_done(Path(out) / group.dir) is None


def pending_cells(out: Path, manifest: Manifest, cells: list[Cell]) -> list[Cell]:
    """The cells of ``cells`` a run has to start (for ``--dry-run`` and Slurm arrays).

    Those not done, and for each group whose shards are all done but not merged, its first
    shard cell among ``cells``: running that cell skips the shard and merges.
    """
    out = Path(out)
    pending = {c.index: c for c in cells if cell_finished(out, c) is None}
    for group in shard_groups(manifest, cells):
        if _merge_pending(out, group):
            first = next(c for c in cells if c.group_dir == group.dir)
            pending.setdefault(first.index, first)
    return [pending[i] for i in sorted(pending)]


def planned_commands(
    out: Path,
    manifest: Manifest,
    cells: list[Cell],
    lm_eval_cmd: list[str] | None = None,
    merge_cmd: list[str] | None = None,
) -> list[list[str]]:
    """What running ``cells`` would start, in order: each pending cell's ``lm_eval`` command and,
    after a group's last shard among ``cells``, the group's merge unless it is merged."""
    out = Path(out)
    last = {c.group_dir: c.index for c in cells if c.shard is not None}
    commands = []
    for cell in cells:
        if cell_finished(out, cell) is None:
            commands.append(cell_command(out, manifest, cell, lm_eval_cmd))
        if last.get(cell.group_dir) == cell.index and read_done(out / cell.group_dir) is None:
            group = group_of(manifest, cell)
            commands.append(merge_command(out, manifest, list(group.cells), merge_cmd))
    return commands


def group_state(out: Path, group: ShardGroup) -> CellState:
    """The merge's state: running (claimed), done, errored (the last merge failed) or missing
    (``detail`` says how many shards are done)."""
    folder = Path(out) / group.dir
    if is_claimed(folder):
        return CellState("running")
    done = read_done(folder)
    if done is not None:
        return CellState("done", done)
    try:
        return CellState("errored", json.loads((folder / FAILED_FILE).read_text("utf-8")))
    except (OSError, ValueError):
        pass
    done_shards = shards_done(out, group)
    n = len(group.cells)
    waiting = "merge pending" if len(done_shards) == n else "merged when all are done"
    return CellState("missing", {"reason": f"{len(done_shards)} of {n} shards done: {waiting}"})
