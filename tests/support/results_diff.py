"""Field-by-field comparison of two lm-eval results files (or any JSON values)."""

from __future__ import annotations

import re
from typing import Any

#: lm-eval writes some task hooks as ``repr(function)``, memory address included, so two
#: identical runs differ there; compare them without the address.
_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


def json_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths (``/key/key``) where ``a`` and ``b`` differ; a key present on one side only counts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                out.append(f"{path}/{key}")
            else:
                out.extend(json_differences(a[key], b[key], f"{path}/{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in json_differences(x, y, f"{path}/{i}")
        ]
    if isinstance(a, str) and isinstance(b, str):
        a, b = _ADDRESS.sub(">", a), _ADDRESS.sub(">", b)
    return [] if a == b else [path]
