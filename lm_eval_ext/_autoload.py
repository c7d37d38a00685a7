"""Make the plain ``lm_eval`` CLI find our models, at ~zero start-up cost.

lm-eval 0.4.13 never scans entry points, so an installed ``.pth`` file imports this module at
interpreter start. It only inserts a one-shot ``sys.meta_path`` finder; nothing else is imported.
When ``lm_eval.api.registry`` is first imported, the finder lets it load normally, then calls
:func:`lm_eval_ext.registration.register_all`.

Set ``LM_EVAL_EXT_NO_AUTOLOAD=1`` to switch the hook off.
"""

import os
import sys

_TARGET = "lm_eval.api.registry"


class _CallAfterExec:
    """Loader wrapper: run the real loader, then the callback on the loaded module."""

    def __init__(self, inner, callback):
        self._inner = inner
        self._callback = callback

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        self._callback(module)


class _AfterImportHook:
    """One-shot meta-path finder that wraps the loader of one module."""

    def __init__(self, target, callback):
        self.target = target
        self.callback = callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.target:
            return None
        try:  # noqa: SIM105 - runs at every interpreter start: no contextlib import for this
            sys.meta_path.remove(self)
        except ValueError:
            pass
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None:
            spec.loader = _CallAfterExec(spec.loader, self.callback)
        return spec


def call_after_import(target, callback):
    """Call ``callback(module)`` once ``target`` is imported (now, if it already is)."""
    if target in sys.modules:
        callback(sys.modules[target])
        return
    for finder in sys.meta_path:
        if isinstance(finder, _AfterImportHook) and (finder.target, finder.callback) == (
            target,
            callback,
        ):
            return
    # first: PathFinder would otherwise find the module before we are asked
    sys.meta_path.insert(0, _AfterImportHook(target, callback))


def _register(_registry_module):
    from lm_eval_ext.registration import register_all

    register_all()


def install() -> None:
    """Install the hook unless disabled (registering at once if the registry is imported)."""
    if os.environ.get("LM_EVAL_EXT_NO_AUTOLOAD"):
        return
    call_after_import(_TARGET, _register)


install()
