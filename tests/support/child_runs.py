"""Evaluations in child interpreters (``tests.support.eval_child``), killed where a test says,
and the same evaluations in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lm_eval_ext.resume.storage.writer import KILL_ENV
from tests.support.lm_eval_runs import OFFLINE_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]


def child_command(
    model: str, model_args: str, tasks: list[str], include_path: Path, out: Path, *extra: str
) -> list[str]:
    """The command line of one ``eval_child`` evaluation."""
    return [
        *(sys.executable, "-m", "tests.support.eval_child", "--model", model),
        *("--model_args", model_args, "--tasks", ",".join(tasks)),
        *("--include_path", str(include_path), "--out", str(out), *extra),
    ]


def run_child(command: list[str], kill: str | None = None) -> subprocess.CompletedProcess:
    """Run an ``eval_child`` command offline; ``kill`` sets ``$LM_EVAL_EXT_RESUME_KILL``.

    Without ``kill`` it must succeed; with it, it must die of SIGKILL.
    """
    env = {**os.environ, **OFFLINE_ENV}
    if kill:
        env[KILL_ENV] = kill
    proc = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    expected = -9 if kill else 0
    assert proc.returncode == expected, (
        f"{' '.join(command)} exited {proc.returncode}, expected {expected}:\n{proc.stderr[-4000:]}"
    )
    return proc


def run_in_process(
    model: str,
    model_args: str,
    tasks: list[str],
    include_path: Path,
    out: Path,
    metadata: dict | None = None,
    batch_size: int = 4,
) -> dict:
    """What ``eval_child`` runs, here (its journal closed afterwards)."""
    from lm_eval_ext.resume.storage.journal import close_open_journals
    from tests.support.lm_eval_runs import evaluate_and_save

    try:
        return evaluate_and_save(
            model_args,
            tasks,
            include_path,
            out,
            model=model,
            batch_size=batch_size,
            metadata=metadata or {},
        )
    finally:
        close_open_journals()
