"""Resumable lm-eval runs: a crash-safe request journal behind the ``journal=DIR`` model arg.

The public face of the resume layer (the CLI imports only this); the sub-packages are its
layers, each importing only those below it: ``storage`` (records, journal files, locks, keys,
run outputs) <- ``online`` (options, the ``build_lm`` seam, the journaled LM, the exit hook) <-
``offline`` (replay, rescore, merge, finalize, status). Names are imported on first use, so
importing this package costs nothing.
"""

from __future__ import annotations

from lm_eval_ext._lazy import lazy_exports

#: public name -> module that defines it
_EXPORTS = {
    # during a run
    "build_lm": "lm_eval_ext.resume.online.seam",
    "JOURNAL_ARGS": "lm_eval_ext.resume.online.options",
    "wants_journal": "lm_eval_ext.resume.online.options",
    "close_open_journals": "lm_eval_ext.resume.storage.journal",
    # reading a run's output
    "ERROR_FIELD": "lm_eval_ext.resume.storage.outputs",
    "RunOutput": "lm_eval_ext.resume.storage.outputs",
    "RunOutputError": "lm_eval_ext.resume.storage.outputs",
    "find_results_files": "lm_eval_ext.resume.storage.outputs",
    "latest_results_file": "lm_eval_ext.resume.storage.outputs",
    "model_args_dict": "lm_eval_ext.resume.storage.outputs",
    "read_run_output": "lm_eval_ext.resume.storage.outputs",
    "run_is_shard": "lm_eval_ext.resume.storage.outputs",
    # after a run, without a model
    "finalize_run": "lm_eval_ext.resume.offline.finalize",
    "write_finalized": "lm_eval_ext.resume.offline.finalize",
    "rescore_run": "lm_eval_ext.resume.offline.rescore",
    "write_rescored": "lm_eval_ext.resume.offline.rescore",
    "results_table": "lm_eval_ext.resume.offline.rescore",
    "summary": "lm_eval_ext.resume.offline.rescore",
    "LostAnswersError": "lm_eval_ext.resume.offline.lost_answers",
    "IncompleteMergeError": "lm_eval_ext.resume.offline.merge",
    "merge_shards": "lm_eval_ext.resume.offline.merge",
    "format_status": "lm_eval_ext.resume.offline.status",
    "run_errored": "lm_eval_ext.resume.offline.status",
    "run_incomplete": "lm_eval_ext.resume.offline.status",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
