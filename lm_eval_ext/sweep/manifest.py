"""A sweep's manifest: its lm-eval options and its cells (checkpoint x task group), in ``OUT``.

``OUT/sweep.json`` is written once; a later ``lm-eval-ext sweep OUT`` with the same options may
append cells (new checkpoints of a run still training) but never reorders, rewrites or drops
one, so a cell's index (a Slurm array index) keeps meaning the same cell. Each cell's folder
``OUT/<run>/<checkpoint>/<group>/`` also gets a ``cell.json`` with the cell's identity, which
``lm-eval-ext report`` reads.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from lm_eval_ext.checkpoints.naming import safe_name
from lm_eval_ext.errors import SweepError
from lm_eval_ext.sweep.sources import CheckpointSpec

__all__ = [
    "CELL_FILE",
    "MANIFEST_FILE",
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
    """One ``lm_eval`` run: one checkpoint, one task group."""

    index: int
    checkpoint: CheckpointSpec
    group: str
    tasks: list[str]

    @property
    def dir(self) -> PurePosixPath:
        """The cell's folder relative to ``OUT`` (lm_eval's ``--output_path``)."""
        return PurePosixPath(self.checkpoint.run, self.checkpoint.label, self.group)

    @property
    def name(self) -> str:
        """``run/checkpoint/group``, for messages."""
        return str(self.dir)

    def to_dict(self) -> dict:
        """The manifest's (and ``cell.json``'s) form."""
        return {
            "index": self.index,
            "dir": str(self.dir),
            "group": self.group,
            "tasks": self.tasks,
            **self.checkpoint.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Cell:
        """Inverse of :meth:`to_dict`."""
        names = CheckpointSpec.__dataclass_fields__
        spec = CheckpointSpec(**{k: v for k, v in data.items() if k in names})
        return cls(data["index"], spec, data["group"], list(data["tasks"]))


@dataclass
class Manifest:
    """A sweep's spec, its cells and the command its cells run by default."""

    spec: SweepSpec
    cells: list[Cell]
    lm_eval_cmd: list[str]
    created: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        """The JSON written to ``OUT/sweep.json``."""
        return {
            "format": FORMAT,
            "created": self.created,
            "spec": asdict(self.spec),
            "lm_eval_cmd": self.lm_eval_cmd,
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
    spec: SweepSpec, checkpoints: list[CheckpointSpec], lm_eval_cmd: list[str]
) -> Manifest:
    """The manifest of these checkpoints x task groups, in memory (nothing written)."""
    groups = [(group_name(tasks), tasks) for tasks in spec.task_groups]
    if len({g for g, _ in groups}) != len(groups):
        raise SweepError(f"--tasks: two task groups have the same tasks: {spec.task_groups}")
    cells = [
        Cell(i, ckpt, group, tasks)
        for i, (ckpt, (group, tasks)) in enumerate((c, g) for c in checkpoints for g in groups)
    ]
    return Manifest(spec, cells, list(lm_eval_cmd))


def load_manifest(out: Path) -> Manifest:
    """``OUT/sweep.json``; a clear error when there is none or it is unreadable."""
    path = Path(out) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        spec = SweepSpec(**data["spec"])
        cells = [Cell.from_dict(c) for c in data["cells"]]
    except FileNotFoundError:
        raise SweepError(
            f"{path}: no sweep here (start one with its checkpoints and --tasks)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SweepError(f"{path}: not a readable sweep manifest ({exc})") from None
    return Manifest(spec, cells, data.get("lm_eval_cmd", []), data.get("created", 0.0))


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
        if added:
            _write_json(out / MANIFEST_FILE, manifest.to_dict())
    return manifest, len(added)


def _extend(current: Manifest, planned: Manifest, out: Path) -> tuple[Manifest, list[Cell]]:
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
        added.append(Cell(len(current.cells) + len(added), cell.checkpoint, cell.group, cell.tasks))
    return Manifest(
        current.spec, current.cells + added, current.lm_eval_cmd, current.created
    ), added


def _write_json(path: Path, data: dict) -> None:
    """Atomic write (temp file + rename): readers never see half a manifest."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)
