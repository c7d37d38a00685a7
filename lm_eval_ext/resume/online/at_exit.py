"""At interpreter exit, finalise the results files this process wrote for a journal.

lm-eval scores every doc (a failed request's placeholder counts as a wrong answer, another
shard's doc too) and writes its results and samples only when the evaluation is over, after the
model's last call, so the fix-up can only run at exit. When the journaled model ended with such
docs, this hook runs the explicit command ``lm-eval-ext finalize RESULTS`` (a fresh interpreter:
this one is shutting down and refuses the threads that loading tasks needs) on every results
file that names the journal and was written since this process started, found under the
journal's parent (``OUT`` for the documented ``journal=OUT/journal``). So a plain ``lm_eval``
run prints lm-eval's table first and the corrected one after it.

``LM_EVAL_EXT_FINALIZE=0`` switches the hook off (a process that runs many evaluations in-process
and finalises explicitly, like our test suite).
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from lm_eval_ext.resume.storage.outputs import results_written_for

log = logging.getLogger(__name__)

#: Set to ``0`` to leave results files as lm-eval wrote them at exit.
FINALIZE_ENV = "LM_EVAL_EXT_FINALIZE"
_SCHEDULED: dict[Path, float] = {}  # journal root -> when this process started using it
_STARTED = time.time()


def finalize_at_exit(journal_root: Path) -> None:
    """Finalise, at exit, the results this process writes for ``journal_root`` (once)."""
    root = Path(journal_root).resolve()
    if root in _SCHEDULED or os.environ.get(FINALIZE_ENV, "1").strip() in ("0", "false", "no"):
        return
    _SCHEDULED[root] = _STARTED
    atexit.register(_finalize, root)


def finalize_command(results_path: Path) -> list[str]:
    """The ``lm-eval-ext finalize`` command line for one results file."""
    return [sys.executable, "-m", "lm_eval_ext.cli.main", "finalize", str(results_path)]


def _finalize(journal_root: Path) -> None:
    paths = results_written_for(journal_root, _SCHEDULED[journal_root])
    if not paths:
        log.warning(
            "journal %s: some docs have no answer, and no results file of this run was "
            "found under %s. Where this run's results were written (if anywhere), run "
            "`lm-eval-ext finalize OUT` to exclude those docs from the metrics",
            journal_root,
            journal_root.parent,
        )
        return
    for path in paths:
        print(
            f"\nlm_eval_ext: some docs have no answer; finalizing {path}",
            file=sys.stderr,
            flush=True,
        )
        code = subprocess.run(finalize_command(path), check=False).returncode
        if code != 0:
            log.error(
                "journal: could not finalize %s (exit %d); run `lm-eval-ext finalize %s`",
                path,
                code,
                path,
            )
