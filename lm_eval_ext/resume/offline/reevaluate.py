"""Re-run lm-eval's evaluation of a finished run with recorded answers instead of the model.

:func:`reevaluate` rebuilds the run's tasks with lm-eval's ``TaskManager`` (the run's
``--include_path`` directories are found from the ``config_source`` lm-eval records), restores
the settings that shape requests (few-shot count and seed, generation kwargs, chat template,
system instruction, doc selection, seeds) from the results JSON, and calls
``lm_eval.evaluator.evaluate`` with a :class:`ReplayLM`. Docs whose requests have no recorded
answer are excluded from every metric and counted (see :mod:`exclusion`).
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext.errors import LmEvalExtError
from lm_eval_ext.resume.offline.exclusion import exclude_docs
from lm_eval_ext.resume.offline.replay import AnswerFn, ReplayLM
from lm_eval_ext.resume.storage.outputs import model_args_dict, run_metadata

log = logging.getLogger(__name__)


class ReevaluateError(LmEvalExtError):
    """The recorded run cannot be re-evaluated (tasks not found, settings unreadable...)."""


@dataclass
class Reevaluated:
    """The new results (lm-eval's format, ``samples`` included) and the excluded docs."""

    results: dict[str, Any]
    excluded: dict[str, dict[int, str]]  # task -> doc id -> why it has no answer
    answered: int


def task_sources(results: dict[str, Any]) -> tuple[list[str], bool]:
    """(include directories, whether lm-eval's built-in tasks are needed) for the run's tasks."""
    import lm_eval.tasks

    builtin_root = Path(lm_eval.tasks.__file__).resolve().parent
    dirs: list[Path] = []
    needs_builtin = False
    for cfg in results["configs"].values():
        source = (cfg.get("metadata") or {}).get("config_source")
        if not source:
            needs_builtin = True
            continue
        path = Path(source).resolve().parent
        if path.is_relative_to(builtin_root):
            needs_builtin = True
        else:
            dirs.append(path)
    if not dirs:
        return [], needs_builtin
    common = Path(os.path.commonpath([str(d) for d in dirs]))
    return [str(common)], needs_builtin


def top_level_names(results: dict[str, Any]) -> list[str]:
    """The names to load: groups that are nobody's subtask, and tasks in no group."""
    subtasks = results.get("group_subtasks") or {}
    children = {c for kids in subtasks.values() for c in kids}
    ordered = list(results.get("results") or {}) + list(subtasks) + list(results["configs"])
    names: list[str] = []
    for name in ordered:  # the run's own order, so the new files list tasks the same way
        if name not in children and name not in names:
            names.append(name)
    return names


def _load_tasks(results: dict[str, Any], include_path: list[str] | None) -> dict[str, Any]:
    from lm_eval.tasks import TaskManager

    if include_path is None:
        include_path, include_defaults = task_sources(results)
    else:
        include_defaults = True
    metadata = run_metadata(results)
    manager = TaskManager(
        include_path=include_path or None, include_defaults=include_defaults, metadata=metadata
    )
    names = top_level_names(results)
    try:
        loaded = manager.load(names)
    except Exception as exc:
        raise ReevaluateError(
            f"cannot load the run's tasks {names} from {include_path or 'lm-eval built-ins'} "
            f"({type(exc).__name__}: {exc}); pass --include_path with the run's task dirs"
        ) from exc
    missing = sorted(set(results["configs"]) - set(loaded["tasks"]))
    if missing:
        raise ReevaluateError(f"tasks {missing} of the run are not defined any more")
    return loaded


def _restore_task_settings(loaded: dict[str, Any], results: dict[str, Any]) -> None:
    fewshot_seed = (results.get("config") or {}).get("fewshot_seed")
    for name, task in list(loaded["tasks"].items()):
        recorded = results["configs"].get(name)
        if recorded is None:  # a group gained a subtask since the run: not part of it
            raise ReevaluateError(f"task {name} is loaded now but was not part of the run")
        task.set_config("num_fewshot", recorded.get("num_fewshot", 0) or 0)
        if task.get_config("output_type") == "generate_until" and "generation_kwargs" in recorded:
            task.set_config("generation_kwargs", dict(recorded["generation_kwargs"]))
        task.set_fewshot_seed(seed=fewshot_seed)


def load_run_tasks(results: dict[str, Any], include_path: list[str] | None = None) -> dict:
    """The run's tasks (lm-eval's ``{"tasks", "groups"}``) with the run's settings restored."""
    loaded = _load_tasks(results, include_path)
    _restore_task_settings(loaded, results)
    return loaded


def _seed_everything(config: dict[str, Any]) -> None:
    import numpy as np
    from lm_eval.utils import set_torch_seed

    if config.get("random_seed") is not None:
        random.seed(config["random_seed"])
    if config.get("numpy_seed") is not None:
        np.random.seed(config["numpy_seed"])
    if config.get("torch_seed") is not None:
        set_torch_seed(config["torch_seed"])


def _sample_selection(loaded: dict[str, Any], doc_ids: dict[str, list[int]]) -> dict | None:
    selection = {}
    for name, task in loaded["tasks"].items():
        ids = doc_ids.get(name)
        if ids is not None and ids != list(range(len(task.eval_docs))):
            selection[name] = ids
    return selection or None


def make_replay_lm(results: dict[str, Any], answer: AnswerFn) -> ReplayLM:
    """A :class:`ReplayLM` with the run's chat template (tokenizer from its model args)."""
    args = model_args_dict(results)
    chat_args = {"enable_thinking": args["enable_thinking"]} if "enable_thinking" in args else {}
    return ReplayLM(
        answer,
        model_args=args,
        chat_template=results.get("chat_template"),
        chat_template_args=chat_args,
    )


def reevaluate(
    results: dict[str, Any],
    answer: AnswerFn,
    doc_ids: dict[str, list[int]],
    include_path: list[str] | None = None,
) -> Reevaluated:
    """Evaluate the recorded run again with ``answer`` as the model.

    Args:
        results: the run's results JSON (as loaded).
        answer: where responses come from (:func:`replay.samples_answers`,
            :func:`replay.journal_answers`).
        doc_ids: per task, the (sorted) doc ids the run evaluated.
        include_path: task directories; by default those the run's task configs came from.
    """
    from lm_eval.evaluator import evaluate

    loaded = load_run_tasks(results, include_path)
    config = results.get("config") or {}
    _seed_everything(config)
    selection = _sample_selection(loaded, doc_ids)
    lm = make_replay_lm(results, answer)
    bootstrap_iters = config.get("bootstrap_iters", 100000)
    new = evaluate(
        lm=lm,
        task_dict=loaded,
        limit=None,
        samples=selection,
        bootstrap_iters=bootstrap_iters,
        log_samples=True,
        system_instruction=results.get("system_instruction"),
        apply_chat_template=bool(results.get("chat_template")),
        fewshot_as_multiturn=results.get("fewshot_as_multiturn"),
    )
    excluded: dict[str, dict[int, str]] = {}
    for task, docs in lm.stats.missing.items():
        ids = (selection or {}).get(task)  # replayed doc positions -> the run's doc ids
        excluded[task] = {(ids[pos] if ids else pos): why for pos, why in docs.items()}
    new = exclude_docs(new, loaded, excluded, bootstrap_iters)
    # The run's own fields, then what this evaluation recomputed; an exclusion block of the
    # input describes the input, not this evaluation.
    merged = {k: v for k, v in results.items() if k not in ("groups", "samples", "lm_eval_ext")}
    merged.update(new)
    record_errored_counts(merged, excluded)
    return Reevaluated(merged, excluded, lm.stats.answered)


def record_errored_counts(results: dict[str, Any], excluded: dict[str, dict[int, str]]) -> None:
    """Keep ``config.lm_eval_ext.errored_docs`` (our model info) true for the new results."""
    config = results.get("config")
    info = (config or {}).get("lm_eval_ext")
    if isinstance(info, dict):
        counts = {t: len(d) for t, d in sorted(excluded.items()) if d}
        results["config"] = {**config, "lm_eval_ext": {**info, "errored_docs": counts}}
