"""Running a cell's or a merge's subprocess with its output appended to a log file."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from lm_eval_ext.sweep.cells import CellClaim

__all__ = ["last_line", "run_logged"]


def run_logged(
    command: list[str], env: dict[str, str], log_path: Path, claim: CellClaim
) -> tuple[int, str]:
    """Run ``command`` with its output appended to ``log_path``; (exit status, log tail).

    The child inherits the claim's descriptor, so what it works on stays claimed if we die first.
    """
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
            pass_fds=(claim.fd,) if claim.fd is not None else (),
            check=False,
        )
    with log_path.open("rb") as log:
        log.seek(offset)
        tail = log.read()[-4000:].decode(errors="replace")
    return proc.returncode, tail


def last_line(text: str, containing: str) -> str:
    """The last non-blank line of ``text`` containing ``containing`` (at most 300 characters)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and containing in ln]
    return lines[-1][:300] if lines else ""
