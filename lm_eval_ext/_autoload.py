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


class _RegisterAfterExec:
    """Loader wrapper: run the real loader, then register our components."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        from lm_eval_ext.registration import register_all

        register_all()


class _RegistryImportHook:
    """One-shot meta-path finder that wraps the loader of ``lm_eval.api.registry``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        _uninstall()
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None:
            spec.loader = _RegisterAfterExec(spec.loader)
        return spec


_HOOK = _RegistryImportHook()


def _uninstall() -> None:
    try:  # noqa: SIM105 - runs at every interpreter start: no contextlib import for this
        sys.meta_path.remove(_HOOK)
    except ValueError:
        pass


def install() -> None:
    """Install the hook unless disabled or the registry is already imported."""
    if os.environ.get("LM_EVAL_EXT_NO_AUTOLOAD"):
        return
    if _TARGET in sys.modules:
        from lm_eval_ext.registration import register_all

        register_all()
        return
    if _HOOK not in sys.meta_path:
        # first: PathFinder would otherwise find the registry before we are asked
        sys.meta_path.insert(0, _HOOK)


install()
