"""A cell command for the sweep kill test: ``lm_eval`` itself, except for one cell.

Logs every call (``$SWEEP_WRAPPER_LOG``: pid, output path). For the cell whose output path
contains ``$SWEEP_WRAPPER_KILL`` it runs lm_eval with the journal's kill hook
(``LM_EVAL_EXT_RESUME_KILL=record:20``: SIGKILL right after the write holding the 20th record)
and then SIGKILLs its whole process group: the sweep and every other cell, as a node
pre-emption would. The cell whose output path contains ``$SWEEP_WRAPPER_HOLD`` runs lm_eval and
then waits to be killed, so it is never marked done whichever cell the scheduler ran first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from lm_eval_ext.resume.storage.writer import KILL_ENV

LM_EVAL = str(Path(sys.executable).with_name("lm_eval"))


def main(argv: list[str]) -> int:
    output = argv[argv.index("--output_path") + 1]
    with open(os.environ["SWEEP_WRAPPER_LOG"], "a") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "output_path": output}) + "\n")
    hold = os.environ.get("SWEEP_WRAPPER_HOLD")
    if hold and hold in output:
        subprocess.run([LM_EVAL, *argv], check=False)
        while True:  # pre-empted after lm_eval wrote, before the sweep marked the cell done
            signal.pause()
    target = os.environ.get("SWEEP_WRAPPER_KILL")
    if not target or target not in output:
        os.execv(LM_EVAL, [LM_EVAL, *argv])
    subprocess.run([LM_EVAL, *argv], env={**os.environ, KILL_ENV: "record:20"}, check=False)
    os.killpg(os.getpgrp(), signal.SIGKILL)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
