"""Training steps and tokens seen, read from checkpoint names; run and checkpoint labels.

Schemes recognised (case-insensitive; the last path component of a local path is used):

| scheme | example | step | tokens |
|---|---|---|---|
| SmolLM2 / most hub repos | ``step-125000`` | 125000 | |
| Pythia | ``step143000`` | 143000 | |
| OLMo / OLMo 2 | ``stage1-step20000-tokens84B``, ``step1000-tokens4B`` | 20000 | 84e9 |
| BabyLM (words seen, reported as tokens) | ``chck_10M`` | | 10e6 |
| transformers ``Trainer`` | ``checkpoint-500`` | 500 | |
| DeepSpeed | ``global_step500`` | 500 | |
| Megatron-LM | ``iter_0001000`` | 1000 | |
| generic | ``ckpt-500``, ``ckpt_500`` | 500 | |

Token counts take a ``K``/``M``/``B``/``G``/``T`` suffix (``1.5B``) or none. Anything else
(``main``, ``base``, ``final``) has neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "CheckpointName",
    "checkpoint_label",
    "parse_checkpoint_name",
    "parse_count",
    "run_name",
    "safe_name",
]

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_COUNT = r"(\d+(?:\.\d+)?)([kmbgt]?)"
_STEP_PATTERNS = [
    re.compile(r"(?:^|[-_/])(?:global_)?step[-_]?(\d+)(?=$|[-_])", re.I),
    re.compile(r"(?:^|[-_/])checkpoint[-_](\d+)$", re.I),
    re.compile(r"(?:^|[-_/])iter[-_](\d+)$", re.I),
    re.compile(r"(?:^|[-_/])ckpt[-_](\d+)$", re.I),
]
_TOKEN_PATTERNS = [
    re.compile(r"(?:^|[-_])tokens[-_]?" + _COUNT + r"(?=$|[-_])", re.I),
    re.compile(r"(?:^|[-_])chck[-_]" + _COUNT + r"$", re.I),
]


@dataclass(frozen=True)
class CheckpointName:
    """What a checkpoint's name says about it (``None`` where it says nothing)."""

    step: int | None = None
    tokens: int | None = None


def parse_count(number: str, unit: str = "") -> int:
    """``("84", "B")`` -> 84_000_000_000; ``("1.5", "k")`` -> 1500."""
    return round(float(number) * _UNITS[unit.lower()])


def parse_checkpoint_name(name: str) -> CheckpointName:
    """Step and tokens from a revision or directory name (see the module table)."""
    base = PurePosixPath(str(name).rstrip("/")).name or str(name)
    step = next((int(m.group(1)) for p in _STEP_PATTERNS if (m := p.search(base))), None)
    tokens = next(
        (parse_count(m.group(1), m.group(2)) for p in _TOKEN_PATTERNS if (m := p.search(base))),
        None,
    )
    return CheckpointName(step=step, tokens=tokens)


def safe_name(text: str) -> str:
    """A folder-safe form of a hub id, revision or label: ``/`` -> ``__``, oddities -> ``_``."""
    text = str(text).strip().replace("/", "__")
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", text).strip(".") or "_"


def run_name(pretrained: str, adapter: str | None = None) -> str:
    """The run a checkpoint belongs to, as a folder name.

    A hub id is its own run (``org/name`` -> ``org__name``: its revisions are checkpoints); a
    local directory named like a checkpoint (``runs/a/checkpoint-500``) belongs to its parent
    (``a``), any other local directory is its own run. With an adapter, the run is the base's
    run plus the adapter's run: ``a+lora``.
    """
    base = _path_run(pretrained)
    return base if adapter is None else f"{base}+{_path_run(adapter)}"


def checkpoint_label(
    pretrained: str, revision: str | None = None, adapter: str | None = None
) -> str:
    """The checkpoint's folder name within its run.

    An adapter's own directory name (``checkpoint-40``); else a revision other than ``main``;
    else a checkpoint-like local directory name; else ``main``.
    """
    if adapter is not None:
        return safe_name(PurePosixPath(str(adapter).rstrip("/")).name)
    if revision and revision != "main":
        return safe_name(revision)
    name = PurePosixPath(str(pretrained).rstrip("/")).name
    return safe_name(name) if _looks_local(pretrained) and _is_checkpoint_like(name) else "main"


def _looks_local(path: str) -> bool:
    """A directory on disk, or what cannot be a hub id (``org/name``: exactly one slash)."""
    text = str(path)
    if text.startswith(("/", ".", "~")) or text.count("/") != 1:
        return True
    return Path(text).expanduser().is_dir()


def _is_checkpoint_like(name: str) -> bool:
    parsed = parse_checkpoint_name(name)
    return parsed.step is not None or parsed.tokens is not None


def _path_run(path: str) -> str:
    text = str(path).rstrip("/")
    if not _looks_local(text):
        return safe_name(text)  # a hub id: org/name
    parts = PurePosixPath(text).parts
    name = parts[-1] if parts else text
    if _is_checkpoint_like(name) and len(parts) > 1:
        return safe_name(parts[-2])
    return safe_name(name)
