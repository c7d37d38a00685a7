"""Leaderboard submissions: package runs into a deterministic zip, validate a zip as a leaderboard.

The public face (the CLI imports only this); names are imported on first use. Suites (what a
leaderboard requires and how it scores) are data: ``suites/*.yaml`` and user files.
"""

from __future__ import annotations

from lm_eval_ext._lazy import lazy_exports

_EXPORTS = {
    "Limits": "lm_eval_ext.submission.archive",
    "package_runs": "lm_eval_ext.submission.package",
    "validate_zip": "lm_eval_ext.submission.validate",
    "Defect": "lm_eval_ext.submission.validate",
    "load_suite": "lm_eval_ext.submission.suites",
    "builtin_suites": "lm_eval_ext.submission.suites",
    "SuiteError": "lm_eval_ext.submission.suites",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
