"""Register lm_eval_ext's components with lm-eval, lazily: ``mgm_lora`` and the journal switch.

Order matters: lm-eval imports its own built-in models only while the model registry is empty
(``get_model``), so ``lm_eval.models`` is imported *before* we add ours; otherwise a registry
holding only ``mgm_lora`` would hide ``hf`` and every other built-in.

The journal switch: every model lm-eval builds from model args holding ``journal=DIR`` (any
registered backend: ``hf``, ``hf-multimodal``, ``vllm``, the API models...) is built through
the journal's seam, ``lm_eval_ext.resume.build_lm``; without journal args, lm-eval's own
creation runs unchanged.
"""

from __future__ import annotations

from typing import Any

#: alias -> "module:Class" target, materialised by lm-eval on first use.
MODELS: dict[str, str] = {
    "mgm_lora": "lm_eval_ext.models.mgm_lora:MGMLoRALM",
}


def register_all() -> None:
    """Register our models (lazy placeholders) and the journal switch (idempotent)."""
    import lm_eval.models  # noqa: F401  (registers lm-eval's built-ins first)
    from lm_eval.api.registry import model_registry

    from lm_eval_ext._compat.lm_eval_creation import route_model_creation

    for alias, target in MODELS.items():
        if alias not in model_registry:
            model_registry.register(alias, target=target)
    route_model_creation(_build_journaled, _wants_journal)


def _build_journaled(*args: Any, **kwargs: Any) -> Any:
    from lm_eval_ext.resume import build_lm

    return build_lm(*args, **kwargs)


def _wants_journal(args: dict[str, Any]) -> bool:
    from lm_eval_ext.resume import wants_journal

    return wants_journal(args)
