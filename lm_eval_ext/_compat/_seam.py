"""What a seam is: a named upstream internal we use, with a check of its shape."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: The upstream releases every seam here was checked on (``pyproject.toml`` pins these series).
CHECKED_ON = {"lm-eval": "0.4.13", "transformers": "5.24"}


@dataclass(frozen=True)
class Seam:
    """One upstream internal: where it is, what we use it for, and how to check its shape.

    ``check()`` raises ``AssertionError`` with a message naming what moved.
    """

    name: str
    used_for: str
    check: Callable[[], None]


def expect_params(func: Callable, names: Iterable[str], where: str) -> None:
    """Assert that ``func`` takes the parameters ``names`` (in that order, others may follow)."""
    params = [p for p in inspect.signature(func).parameters if p != "self"]
    names = list(names)
    assert params[: len(names)] == names, f"{where}: expected parameters {names}, found {params}"


def expect_assignments(cls: type, method: str, attributes: Iterable[str]) -> None:
    """Assert that ``cls.method`` assigns every ``self.<attribute>`` (read from its source)."""
    source = inspect.getsource(getattr(cls, method))
    missing = [a for a in attributes if f"self.{a} =" not in source and f"self.{a}:" not in source]
    assert not missing, f"{cls.__name__}.{method} no longer sets {missing}"
