"""Test sessions only: every ``lm_eval`` start reuses lm-eval's index of its built-in tasks.

Each ``lm_eval`` start spends ~10-15 s on this machine walking and parsing lm-eval's ~14,700
built-in task YAMLs (``TaskIndex.build``), the same work every time, which none of our code is
part of; the e2e tests start ``lm_eval`` dozens of times. With ``$LM_EVAL_EXT_TEST_INDEX_CACHE``
naming a directory (``tests/conftest.py`` sets one per test session, shared by the xdist
workers and every subprocess through this directory's ``sitecustomize``), the first build of the
built-in tasks' entries is pickled there and later builds load it (~1 s). Any other path
(``--include_path`` dirs: our tasks, tests' temporary ones) is indexed by lm-eval as always,
and merged over the built-ins as ``TaskIndex.build`` does. Set the variable to ``0`` to switch
this off (``tests/e2e/test_cli_models.py`` runs one plain CLI start without it).
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

ENV = "LM_EVAL_EXT_TEST_INDEX_CACHE"
_TARGET = "lm_eval.tasks._index"


def cache_dir() -> Path | None:
    """The session's cache directory, or ``None`` when switched off."""
    value = os.environ.get(ENV, "").strip()
    return Path(value) if value and value != "0" else None


def _cached(original, root: Path, directory: Path) -> dict:
    import lm_eval

    path = directory / f"builtin-{lm_eval.__version__}.pkl"
    try:
        with path.open("rb") as fh:
            return pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError):
        pass
    index = original([root], resolve_includes=True)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(tmp, path)  # atomic: a concurrent start reads the whole file or builds its own
    return index


def _wrap(module) -> None:
    original = module.TaskIndex.build
    if getattr(original, "_test_cache", False):
        return
    builtin = Path(module.__file__).resolve().parent
    log = logging.getLogger(module.__name__)

    def build(paths, *, resolve_includes=True):
        paths = [Path(p) for p in paths]
        directory = cache_dir()
        if directory is None or not resolve_includes or not paths:
            return original(paths, resolve_includes=resolve_includes)
        if paths[0].resolve() != builtin:
            return original(paths, resolve_includes=resolve_includes)
        index = _cached(original, paths[0], directory)
        # what TaskIndex.build does with later paths: they override earlier ones, with a warning
        for name, entry in original(paths[1:], resolve_includes=True).items():
            if name in index:
                log.warning(
                    "Task '%s' from %s overrides existing task from %s",
                    name,
                    entry.yaml_path,
                    index[name].yaml_path,
                )
            index[name] = entry
        return index

    build._test_cache = True
    build.__wrapped__ = original
    module.TaskIndex.build = staticmethod(build)


def install() -> None:
    """Cache the built-in index in this process when the session asks for it."""
    if cache_dir() is None:
        return
    # the installed package's own start-up hook machinery (imported at every start anyway)
    from lm_eval_ext._autoload import call_after_import

    call_after_import(_TARGET, _wrap)
