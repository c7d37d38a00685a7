"""Scale-out on Slurm: one job array whose tasks each run one cell of the manifest.

Each array task runs ``lm-eval-ext sweep OUT --cell $SLURM_ARRAY_TASK_ID``: the same claim /
skip / resume logic as a local sweep, so a requeued or pre-empted task resumes its cell from
the journal, and a resubmitted array skips what is done. Only cells not yet done are listed in
``#SBATCH --array`` (``%K``: at most K at a time). With shards, each task tries its group's
merge after its shard (the one finishing the last shard merges); a group whose shards are done
but not merged is listed by its first shard cell.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from lm_eval_ext.errors import SweepError
from lm_eval_ext.sweep.manifest import Manifest

__all__ = ["array_spec", "job_states", "slurm_script", "submit_script", "write_slurm_script"]

SLURM_DIR = "slurm"
_SHARD_NOTE = [
    "# shard cells: after its shard, a task merges its group's shards if they are all done",
    "# (once: under the group's claim, and only while the group has no done.json).",
]
JOBS_FILE = "jobs.jsonl"


def array_spec(indices: list[int], parallelism: int | None = None) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``0-2,5,7-8`` (plus ``%K``)."""
    if not indices:
        raise SweepError("no cell left to submit: every cell is done")
    ranges, ordered = [], sorted(set(indices))
    start = prev = ordered[0]
    for i in [*ordered[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        ranges.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    limit = f"%{parallelism}" if parallelism else ""
    return ",".join(ranges) + limit


def slurm_script(
    out: Path,
    manifest: Manifest,
    indices: list[int],
    *,
    parallelism: int | None = None,
    options: list[str] | None = None,
    job_name: str = "lm-eval-sweep",
    lm_eval_cmd: list[str] | None = None,
    merge_cmd: list[str] | None = None,
) -> str:
    """The ``sbatch`` script of a job array over the cells ``indices``."""
    out = Path(out).resolve()
    logs = out / SLURM_DIR / "logs"
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --array={array_spec(indices, parallelism)}",
        f"#SBATCH --output={logs}/%A_%a.log",
        "#SBATCH --open-mode=append",
        "#SBATCH --requeue",
        *(f"#SBATCH {opt}" for opt in options or []),
        f"# lm-eval-ext sweep: array task i runs cell i of {out / 'sweep.json'};",
        "# a requeued task resumes its cell from the cell's journal.",
        *(_SHARD_NOTE if manifest.shards > 1 else []),
        "#   index  cell",
        *(f"#   {i:<6d} {manifest.cell(i).name}" for i in sorted(set(indices))),
        "set -euo pipefail",
        f"cd {shlex.quote(str(Path.cwd()))}",
    ]
    command = [sys.executable, "-m", "lm_eval_ext.cli.main", "sweep", str(out)]
    if lm_eval_cmd:
        command += ["--lm_eval_cmd", shlex.join(lm_eval_cmd)]
    if merge_cmd:
        command += ["--merge_cmd", shlex.join(merge_cmd)]
    lines.append(f'exec {shlex.join(command)} --cell "$SLURM_ARRAY_TASK_ID"')
    return "\n".join(lines) + "\n"


def write_slurm_script(out: Path, script: str) -> Path:
    """Write the script to ``OUT/slurm/sweep-<time>.sbatch`` (and create the log folder)."""
    folder = Path(out) / SLURM_DIR
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    path = folder / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}.sbatch"
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)
    return path


def submit_script(out: Path, script_path: Path, indices: list[int]) -> str:
    """``sbatch --parsable SCRIPT``; returns the job id and records it in ``OUT/slurm``."""
    if shutil.which("sbatch") is None:
        raise SweepError(f"sbatch not found on PATH; submit {script_path} on a Slurm login node")
    proc = subprocess.run(
        ["sbatch", "--parsable", str(script_path)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SweepError(f"sbatch {script_path} failed ({proc.returncode}): {proc.stderr.strip()}")
    job_id = proc.stdout.strip().split(";")[0]
    record = {"job_id": job_id, "script": str(script_path), "cells": sorted(indices)}
    with (Path(out) / SLURM_DIR / JOBS_FILE).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({**record, "submitted": time.time()}) + "\n")
    return job_id


def submitted_jobs(out: Path) -> list[str]:
    """Job ids submitted for this sweep (``OUT/slurm/jobs.jsonl``)."""
    path = Path(out) / SLURM_DIR / JOBS_FILE
    if not path.is_file():
        return []
    return [json.loads(line)["job_id"] for line in path.read_text().splitlines() if line.strip()]


def job_states(job_ids: list[str]) -> Counter | None:
    """Array-task states (``PENDING``, ``RUNNING``, ...) from ``squeue``; None without it."""
    if not job_ids or shutil.which("squeue") is None:
        return None
    proc = subprocess.run(
        ["squeue", "--noheader", "--array", f"--jobs={','.join(job_ids)}", "--format=%i|%T"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    return Counter(
        line.split("|", 1)[1].strip() for line in proc.stdout.splitlines() if "|" in line
    )
