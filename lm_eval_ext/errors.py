"""Exceptions with messages that name the file and what is wrong with it."""

from __future__ import annotations


class LmEvalExtError(ValueError):
    """Base class: bad user input that we can explain."""


class ModelArgsError(LmEvalExtError):
    """A ``--model_args`` key or value is invalid."""


class CheckpointError(LmEvalExtError):
    """A model or adapter directory is missing, empty or incomplete."""


class AdapterMismatchError(LmEvalExtError):
    """A LoRA adapter does not fit the base model it is applied to."""


class JournalLockedError(LmEvalExtError):
    """Another live process writes the same resume journal."""


class RequestsFailedError(LmEvalExtError):
    """Strict resume mode: some requests failed even when retried alone (they are journaled)."""


class ImageLoadError(LmEvalExtError):
    """An image named by a task document cannot be read or decoded."""


class PromptImagesError(LmEvalExtError):
    """A prompt's ``<image>`` placeholders do not match the images its request carries."""


class InputTooLongError(LmEvalExtError):
    """A request cannot be made to fit ``max_length`` (e.g. its image tokens alone exceed it)."""


class TableFileError(LmEvalExtError):
    """A table-QA question's table (or image) file is missing, empty or unreadable."""


class SweepError(LmEvalExtError):
    """A sweep's checkpoints, options or output folder (``OUT/sweep.json``) are not usable."""


class ReportError(LmEvalExtError):
    """Results or samples files cannot be read or compared as a report asks."""
