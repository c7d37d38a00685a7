"""Register lm_eval_ext's components with lm-eval's registries, lazily.

Order matters: lm-eval imports its own built-in models only while the model registry is empty
(``get_model``), so ``lm_eval.models`` is imported *before* we add ours; otherwise a registry
holding only ``mgm_lora`` would hide ``hf`` and every other built-in.
"""

from __future__ import annotations

#: alias -> "module:Class" target, materialised by lm-eval on first use.
MODELS: dict[str, str] = {
    "mgm_lora": "lm_eval_ext.models.mgm_lora:MGMLoRALM",
}


def register_all() -> None:
    """Register every lm_eval_ext model as a lazy placeholder (idempotent)."""
    import lm_eval.models  # noqa: F401  (registers lm-eval's built-ins first)
    from lm_eval.api.registry import model_registry

    for alias, target in MODELS.items():
        if alias not in model_registry:
            model_registry.register(alias, target=target)
