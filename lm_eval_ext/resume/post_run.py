"""After an ``lm_eval`` run with failed (or other shards') requests: fix its results files.

lm-eval scores every doc and writes its results + samples only when the whole evaluation is
over, after the model's last call. So the journaled model schedules, at interpreter exit, a
rescore of the results files this process wrote (found under the journal's parent directory,
i.e. ``OUT`` for the documented ``journal=OUT/journal``): the docs without a successful journal
entry are excluded from every metric, counted in ``n-samples``, and listed; the files are
rewritten in place and the corrected table is printed.
"""

from __future__ import annotations

import atexit
import logging
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEDULED: dict[Path, float] = {}  # journal root -> when this process started using it
_STARTED = time.time()


def launched_by_lm_eval_cli() -> bool:
    """Whether this process is the ``lm_eval`` CLI (``lm_eval ...`` or ``python -m lm_eval``)."""
    script = Path(sys.argv[0] if sys.argv else "")
    return script.name in ("lm_eval", "lm-eval") or (
        script.name == "__main__.py" and script.parent.name == "lm_eval")


def schedule_exclusion(journal_root: Path) -> None:
    """Rescore, at exit, the results this process writes for ``journal_root`` (once).

    Only the ``lm_eval`` CLI writes results files; in-process callers of ``simple_evaluate``
    get the errored docs in ``results["config"]["lm_eval_ext"]`` and use ``rescore`` on what
    they write.
    """
    root = Path(journal_root).resolve()
    if root in _SCHEDULED or not launched_by_lm_eval_cli():
        return
    _SCHEDULED[root] = _STARTED
    atexit.register(_exclude_at_exit, root)


def results_written_for(journal_root: Path, since: float) -> list[Path]:
    """Results files under the journal's parent, written since ``since``, of runs using it."""
    from lm_eval_ext.resume.outputs import RunOutputError, find_results_files, read_results_json
    from lm_eval_ext.resume.rescore import run_journal

    found = []
    for path in find_results_files(journal_root.parent):
        if path.stat().st_mtime < since:
            continue
        try:
            results = read_results_json(path)
        except RunOutputError:  # not an lm-eval results file: not ours to fix
            continue
        journal = run_journal(results, path)
        if journal is not None and journal.resolve() == journal_root:
            found.append(path)
    return found


def _exclude_at_exit(journal_root: Path) -> None:
    paths = results_written_for(journal_root, _SCHEDULED[journal_root])
    if not paths:
        log.error("journal %s: some docs have no answer, but no results file of this run was "
                  "found under %s; run `lm-eval-ext rescore OUT` on the run's --output_path to "
                  "exclude them from the metrics", journal_root, journal_root.parent)
        return
    for path in paths:
        # A fresh interpreter: this one is shutting down and refuses new threads / futures,
        # which loading the tasks again needs.
        command = [sys.executable, "-m", "lm_eval_ext.cli.main", "rescore", str(path),
                   "--in_place"]
        print(f"\nlm_eval_ext: some docs have no answer; excluding them from the metrics of "
              f"{path}", file=sys.stderr, flush=True)
        code = subprocess.run(command, check=False).returncode
        if code == 0:
            print(f"lm_eval_ext: results rewritten in {path}: docs without an answer are "
                  "excluded from every metric (the table above is the corrected one)",
                  file=sys.stderr, flush=True)
        else:
            log.error("journal: could not exclude unanswered docs from %s (exit %d); run "
                      "`lm-eval-ext rescore --in_place %s`", path, code, path)
