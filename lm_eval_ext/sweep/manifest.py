"""A sweep's manifest: its lm-eval options and its cells (checkpoint x task group [x shard]).

``OUT/sweep.json`` is written once; a later ``lm-eval-ext sweep OUT`` with the same options may
append cells (new checkpoints of a run still training) but never reorders, rewrites or drops
one, so a cell's index (a Slurm array index) keeps meaning the same cell. Each cell's folder
``OUT/<run>/<checkpoint>/<group>/`` also gets a ``cell.json`` with the cell's identity, which
``lm-eval-ext report`` reads.

With ``shards=N`` (N > 1) each checkpoint x task group is N shard cells, in
``<group>/shards/<k>-of-<N>/``, whose merge writes the group's results into ``<group>/``; the
group's ``cell.json`` then names its shards instead of one cell index.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath

from lm_eval_ext.checkpoints.naming import safe_name
from lm_eval_ext.errors import SweepError
from lm_eval_ext.sweep.sources import CheckpointSpec

__all__ = [
    "CELL_FILE",
    "MANIFEST_FILE",
    "SHARDS_DIR",
    "Cell",
    "Manifest",
    "SweepSpec",
    "group_name",
    "load_manifest",
    "plan_manifest",
    "write_manifest",
]

MANIFEST_FILE = "sweep.json"
CELL_FILE = "cell.json"
SHARDS_DIR = "shards"  # <group>/shards/<k>-of-<N>/: the shard cells of a group
FORMAT = 1


@dataclass(frozen=True)
class SweepSpec:
    """The lm-eval options every cell shares (what makes two sweeps the same sweep)."""

    model: str
    model_args: str  # the base --model_args, without the checkpoint's own keys
    task_groups: list[list[str]]
    include_path: list[str] = field(default_factory=list)
    lm_eval_args: list[str] = field(default_factory=list)  # the rest, passed through

    @property
    def adapter_arg(self) -> str:
        """The model arg taking an adapter: ``lora`` (merged) for ``mgm_lora``, else ``peft``."""
        return "lora" if self.model == "mgm_lora" else "peft"


@dataclass(frozen=True)
class Cell:
    """One ``lm_eval`` run: one checkpoint, one task group (and one shard of it, if sharded)."""

    index: int
    checkpoint: CheckpointSpec
    group: str
    tasks: list[str]
    shard: int | None = None  # k of ``journal_shard=k/shards``; None: the cell is the group
    shards: int = 1

    @property
    def group_dir(self) -> PurePosixPath:
        """The task group's folder relative to ``OUT``: where its results end up."""
        return PurePosixPath(self.checkpoint.run, self.checkpoint.label, self.group)

    @property
    def dir(self) -> PurePosixPath:
        """The cell's folder relative to ``OUT`` (lm_eval's ``--output_path``)."""
        if self.shard is None:
            return self.group_dir
        return self.group_dir / SHARDS_DIR / f"{self.shard}-of-{self.shards}"

    @property
    def name(self) -> str:
        """``run/checkpoint/group`` (``.../shards/k-of-N`` for a shard), for messages."""
        return str(self.dir)

    def to_dict(self) -> dict:
        """The manifest's (and ``cell.json``'s) form."""
        shard = {} if self.shard is None else {"shard": self.shard, "shards": self.shards}
        return {
            "index": self.index,
            "dir": str(self.dir),
            "group": self.group,
            "tasks": self.tasks,
            **shard,
            **self.checkpoint.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Cell:
        """Inverse of :meth:`to_dict`."""
        names = CheckpointSpec.__dataclass_fields__
        spec = CheckpointSpec(**{k: v for k, v in data.items() if k in names})
        return cls(
            data["index"],
            spec,
            data["group"],
            list(data["tasks"]),
            data.get("shard"),
            int(data.get("shards", 1)),
        )


@dataclass
class Manifest:
    """A sweep's spec, its cells and the commands its cells (and shard merges) run by default."""

    spec: SweepSpec
    cells: list[Cell]
    lm_eval_cmd: list[str]
    created: float = field(default_factory=time.time)
    shards: int = 1
    merge_cmd: list[str] = field(default_factory=list)  # starts `lm-eval-ext merge` (shards > 1)

    def to_dict(self) -> dict:
        """The JSON written to ``OUT/sweep.json`` (an unsharded sweep's has no shard keys)."""
        sharding = {"shards": self.shards, "merge_cmd": self.merge_cmd} if self.shards > 1 else {}
        return {
            "format": FORMAT,
            "created": self.created,
            "spec": asdict(self.spec),
            "lm_eval_cmd": self.lm_eval_cmd,
            **sharding,
            "cells": [c.to_dict() for c in self.cells],
        }

    def cell(self, index: int) -> Cell:
        """The cell with this index, or an error naming the valid range."""
        if not 0 <= index < len(self.cells):
            raise SweepError(f"--cell {index}: the manifest has cells 0..{len(self.cells) - 1}")
        return self.cells[index]


def group_name(tasks: list[str]) -> str:
    """A task group's folder name: the tasks joined by ``+``, shortened with a hash if long."""
    joined = safe_name("+".join(tasks))
    if len(joined) <= 80:
        return joined
    digest = hashlib.sha1("+".join(tasks).encode()).hexdigest()[:8]
    return f"{safe_name(tasks[0])[:40]}+{len(tasks) - 1}-more-{digest}"


def plan_manifest(
    spec: SweepSpec,
    checkpoints: list[CheckpointSpec],
    lm_eval_cmd: list[str],
    *,
    shards: int = 1,
    merge_cmd: list[str] | None = None,
) -> Manifest:
    """The manifest of these checkpoints x task groups [x shards], in memory (nothing written).

    With ``shards`` > 1 the shard cells of one checkpoint and group are consecutive.
    """
    if shards < 1:
        raise SweepError(f"--shards {shards}: give at least 1")
    groups = [(group_name(tasks), tasks) for tasks in spec.task_groups]
    if len({g for g, _ in groups}) != len(groups):
        raise SweepError(f"--tasks: two task groups have the same tasks: {spec.task_groups}")
    ks: list[int | None] = list(range(shards)) if shards > 1 else [None]
    units = [(c, g, k) for c in checkpoints for g in groups for k in ks]
    cells = [
        Cell(i, ckpt, group, tasks, k, shards) for i, (ckpt, (group, tasks), k) in enumerate(units)
    ]
    return Manifest(spec, cells, list(lm_eval_cmd), shards=shards, merge_cmd=list(merge_cmd or []))


def load_manifest(out: Path, shards: int | None = None) -> Manifest:
    """``OUT/sweep.json``; a clear error when there is none, it is unreadable, or (``shards``
    given) it was started with another number of shards."""
    path = Path(out) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        spec = SweepSpec(**data["spec"])
        cells = [Cell.from_dict(c) for c in data["cells"]]
        sharding = int(data.get("shards", 1)), list(data.get("merge_cmd", []))
    except FileNotFoundError:
        raise SweepError(
            f"{path}: no sweep here (start one with its checkpoints and --tasks)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SweepError(f"{path}: not a readable sweep manifest ({exc})") from None
    manifest = Manifest(
        spec, cells, data.get("lm_eval_cmd", []), data.get("created", 0.0), *sharding
    )
    if shards is not None:
        _check_shards(path, manifest.shards, shards)
    return manifest


def _check_shards(path: Path, started: int, asked: int) -> None:
    if started != asked:
        raise SweepError(
            f"{path}: this sweep was started with --shards {started}, not --shards {asked}; "
            "its cells and folders depend on it: use another OUT for another number of shards"
        )


def write_manifest(out: Path, planned: Manifest) -> tuple[Manifest, int]:
    """Write ``planned`` to ``OUT``, or extend the manifest already there.

    Returns the manifest on disk and how many cells were added. Concurrent writers are
    serialised by a lock on ``OUT/.sweep.lock``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".sweep.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (out / MANIFEST_FILE).exists():
            manifest, added = _extend(load_manifest(out), planned, out)
        else:
            manifest, added = planned, list(planned.cells)
        for cell in added:
            cell_dir = out / cell.dir
            cell_dir.mkdir(parents=True, exist_ok=True)
            _write_json(cell_dir / CELL_FILE, cell.to_dict())
        for cell in added:
            if cell.shard == cell.shards - 1:  # the group's last shard: the group is complete
                _write_json(out / cell.group_dir / CELL_FILE, group_identity(manifest, cell))
        if added:
            _write_json(out / MANIFEST_FILE, manifest.to_dict())
    return manifest, len(added)


def group_identity(manifest: Manifest, cell: Cell) -> dict:
    """A sharded group's ``cell.json``: the checkpoint, tasks and the indices of its shards."""
    shards = [c.index for c in manifest.cells if c.group_dir == cell.group_dir]
    return {
        "dir": str(cell.group_dir),
        "group": cell.group,
        "tasks": cell.tasks,
        "shards": cell.shards,
        "shard_cells": shards,
        **cell.checkpoint.to_dict(),
    }


def _extend(current: Manifest, planned: Manifest, out: Path) -> tuple[Manifest, list[Cell]]:
    _check_shards(out / MANIFEST_FILE, current.shards, planned.shards)
    for name in SweepSpec.__dataclass_fields__:
        old, new = getattr(current.spec, name), getattr(planned.spec, name)
        if old != new:
            raise SweepError(
                f"{out / MANIFEST_FILE}: this sweep was started with {name}={old!r}, not "
                f"{new!r}; use another OUT for other options"
            )
    existing = {c.name: c for c in current.cells}
    added = []
    for cell in planned.cells:
        if cell.name in existing:
            if existing[cell.name].checkpoint != cell.checkpoint:
                raise SweepError(
                    f"{out / MANIFEST_FILE}: cell {cell.name} was "
                    f"{existing[cell.name].checkpoint}, now {cell.checkpoint}"
                )
            continue
        added.append(replace(cell, index=len(current.cells) + len(added)))
    return replace(current, cells=current.cells + added), added


def _write_json(path: Path, data: dict) -> None:
    """Atomic write (temp file + rename): readers never see half a manifest."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)
