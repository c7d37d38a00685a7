"""Launching a sweep's cells from Python with submitit (``pip install lm-eval-ext[slurm]``).

Each submitit job runs one cell exactly as ``lm-eval-ext sweep OUT --cell I`` does (claim,
skip if done, resume from the journal, and after a shard its group's merge), so jobs can be
requeued or resubmitted freely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lm_eval_ext.errors import SweepError
from lm_eval_ext.sweep.manifest import load_manifest
from lm_eval_ext.sweep.runner import CellOutcome, run_cell
from lm_eval_ext.sweep.shards import pending_cells

__all__ = ["run_manifest_cell", "submit_with_submitit"]


def run_manifest_cell(out: str, index: int) -> CellOutcome:
    """Run cell ``index`` of the sweep in ``out`` (what each submitit job calls)."""
    manifest = load_manifest(Path(out))
    return run_cell(Path(out), manifest, manifest.cell(index))


def submit_with_submitit(
    out: Path, *, folder: Path | None = None, cluster: str | None = None, **parameters: Any
) -> list[Any]:
    """Submit one job per cell not yet done, as a submitit job array; returns the jobs.

    ``parameters`` go to ``AutoExecutor.update_parameters`` (``slurm_partition``,
    ``gpus_per_node``, ``timeout_min``, ``slurm_array_parallelism``, ...); ``cluster="local"``
    or ``"debug"`` runs without Slurm.
    """
    try:
        import submitit
    except ImportError:
        raise SweepError("submitit is not installed: pip install 'lm-eval-ext[slurm]'") from None
    out = Path(out).resolve()
    manifest = load_manifest(out)
    pending = [c.index for c in pending_cells(out, manifest, manifest.cells)]
    if not pending:
        return []
    executor = submitit.AutoExecutor(folder=folder or out / "submitit", cluster=cluster)
    executor.update_parameters(**parameters)
    return executor.map_array(run_manifest_cell, [str(out)] * len(pending), pending)
