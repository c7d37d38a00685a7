"""Resumable lm-eval runs: a crash-safe request journal behind the ``journal=DIR`` model arg.

The public face of the resume layer; everything else in the package is its implementation.
Names are imported on first use, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it
_EXPORTS = {
    "build_lm": "lm_eval_ext.resume.switch",
    "JOURNAL_ARGS": "lm_eval_ext.resume.switch",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
