"""lm-eval's model creation: the classmethods ``LM.create_from_arg_string`` / ``_obj``.

Checked on lm-eval 0.4.13: ``simple_evaluate`` (so the ``lm_eval`` CLI, ``--config`` files and
the Python API) builds every model with ``get_model(name).create_from_arg_string(args,
additional_config)`` or ``.create_from_arg_obj(dict, additional_config)``. Most backends inherit
both from ``LM`` (``hf``, ``hf-multimodal``, ``vllm``, ``vllm-vlm``, every ``TemplateAPI`` model);
a few override ``create_from_arg_string`` (``dummy``, ``nemo_lm``, ``watsonx_llm``, our
``mgm_lora``). :func:`route_model_creation` wraps both classmethods on ``LM``, on every subclass
that defines its own, and on every subclass defined later (``LM.__init_subclass__``): args
without a journal arg go to the original unchanged; with one, to ``build(make, args,
additional_config, backend=cls)``, where ``make(**model_args)`` is the original path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from lm_eval_ext._compat._seam import Seam, expect_params

_NAMES = ("create_from_arg_string", "create_from_arg_obj")
_ROUTED = "__lm_eval_ext_routed__"

#: ``build(make, args, additional_config, backend=cls)``: the journal's seam
Build = Callable[..., Any]
#: ``wants(args)``: whether model args ask for the journal
Wants = Callable[[dict[str, Any]], bool]


def route_model_creation(build: Build, wants: Wants) -> None:
    """Route every LM's ``create_from_arg_*`` with journal args through ``build`` (idempotent)."""
    from lm_eval.api.model import LM

    if LM.__dict__.get(_ROUTED):
        return
    for cls in [LM, *_subclasses(LM)]:
        _route_own(cls, build, wants, base=LM)

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        super(LM, cls).__init_subclass__(**kwargs)
        _route_own(cls, build, wants, base=LM)

    LM.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]
    setattr(LM, _ROUTED, True)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _route_own(cls: type, build: Build, wants: Wants, base: type) -> None:
    """Wrap the ``create_from_arg_*`` that ``cls`` itself defines (not inherited ones)."""
    for name in _NAMES:
        own = cls.__dict__.get(name)
        if isinstance(own, classmethod) and not getattr(own.__func__, _ROUTED, False):
            original = own.__func__
            routed = _routed(name, original, build, wants, lm_own=cls is base)
            setattr(cls, name, classmethod(routed))


def _routed(name: str, original: Callable, build: Build, wants: Wants, lm_own: bool) -> Callable:
    """``original`` (a ``create_from_arg_*`` function; ``lm_own``: ``LM``'s own), routed."""
    from lm_eval.utils import simple_parse_args_string

    def route(cls: type, arg: Any, args: dict[str, Any], additional_config: Any) -> Any:
        if not wants(args):
            return original(cls, arg, additional_config)
        if lm_own:
            make: Callable[..., Any] = cls  # what LM's own classmethods do: cls(**args)
        elif name == _NAMES[0]:

            def make(**model_args: Any) -> Any:
                return original(cls, _arg_string(model_args), {})

        else:

            def make(**model_args: Any) -> Any:
                return original(cls, model_args, {})

        return build(make, args, additional_config, backend=cls)

    if name == _NAMES[0]:

        def create(cls: type, arg_string: str, additional_config: dict | None = None) -> Any:
            if "journal" not in (arg_string or ""):  # not ours: not even parsed here
                return original(cls, arg_string, additional_config)
            return route(cls, arg_string, simple_parse_args_string(arg_string), additional_config)

    else:

        def create(cls: type, arg_dict: dict, additional_config: dict | None = None) -> Any:
            return route(cls, arg_dict, dict(arg_dict or {}), additional_config)

    create.__name__ = create.__qualname__ = name
    create.__doc__ = original.__doc__
    setattr(create, _ROUTED, True)
    return create


def _arg_string(args: dict[str, Any]) -> str:
    """``k=v,...`` for a backend that parses its own arg string (scalar values only)."""
    return ",".join(f"{k}={v}" for k, v in args.items())


def _check_creation() -> None:
    import importlib.util
    from pathlib import Path

    from lm_eval import evaluator
    from lm_eval.api.model import LM

    for name, first in zip(_NAMES, ("arg_string", "arg_dict"), strict=True):
        method = inspect.getattr_static(LM, name)
        assert isinstance(method, classmethod), f"LM.{name} is no longer a classmethod"
        expect_params(method.__func__, ["cls", first, "additional_config"], f"LM.{name}")
        assert f".{name}(" in inspect.getsource(evaluator.simple_evaluate), (
            f"simple_evaluate no longer builds models with {name}"
        )
    for module in (
        "huggingface",
        "hf_vlms",
        "api_models",
        "openai_completions",
        "vllm_causallms",
        "vllm_vlms",
    ):
        spec = importlib.util.find_spec(f"lm_eval.models.{module}")
        assert spec is not None and spec.origin, f"lm_eval.models.{module} is gone"
        source = Path(spec.origin).read_text(encoding="utf-8")
        assert "def create_from_arg" not in source, (
            f"lm_eval.models.{module} now builds its models itself: check it is routed"
        )


SEAMS = [
    Seam(
        "lm_eval.api.model.LM.create_from_arg_string / create_from_arg_obj (+ __init_subclass__)",
        "the journal for every registered backend via journal= model args (registration)",
        _check_creation,
    ),
]
