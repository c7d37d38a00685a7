"""Which files code opens through Python (``open``, ``io.open``, ``Path.open``, ``os.open``)."""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable
from typing import Any

import pytest


def _spy(real: Callable[..., Any], opened: set[str]) -> Callable[..., Any]:
    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, bytes, os.PathLike)):
            opened.add(os.path.abspath(os.fsdecode(file)))
        return real(file, *args, **kwargs)

    return spy


def record_opens(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """From now until the test ends: the absolute paths of every file opened, as a live set."""
    opened: set[str] = set()
    monkeypatch.setattr(builtins, "open", _spy(builtins.open, opened))
    monkeypatch.setattr(io, "open", _spy(io.open, opened))
    monkeypatch.setattr(os, "open", _spy(os.open, opened))
    return opened
