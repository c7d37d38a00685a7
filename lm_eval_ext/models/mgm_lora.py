"""``mgm_lora``: lm-eval's ``hf`` model with a LoRA adapter really merged into the weights.

    lm_eval --model mgm_lora --model_args pretrained=BASE,lora=ADAPTER_DIR --tasks ...

Without ``lora=`` it is ``hf``. Besides the model-creation hook of ``HFLM`` (``LoRAMergeMixin``),
only loglikelihood scoring is replaced (``SharedContextScoringMixin``: each shared context is run
once); truncation rules, chat templates, generation and multi-GPU handling stay lm-eval's own.
Other checkpoint families (Qwen-VL) get their own wrapper class (``models.dispatch``).
"""

from __future__ import annotations

import lm_eval.models  # noqa: F401  (built-ins must be registered before we register)
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from lm_eval.utils import simple_parse_args_string

from lm_eval_ext.models.context_once import SharedContextScoringMixin
from lm_eval_ext.models.dispatch import dispatching_constructor
from lm_eval_ext.models.lora import LoRAMergeMixin
from lm_eval_ext.resume import build_lm


@register_model("mgm_lora")
class MGMLoRALM(LoRAMergeMixin, SharedContextScoringMixin, HFLM):
    """HFLM whose model is ``base`` + LoRA adapter, merged with PEFT's ``merge_and_unload``.

    Args:
        pretrained: base model: hub id or local checkpoint directory (``revision=`` applies).
        lora: PEFT adapter directory (or hub id) to merge; omit to evaluate the base as ``hf``.
        lora_revision: hub revision of the adapter, when ``lora`` is a hub id.
        merged_cache: directory to save the merged checkpoint in and reuse while base and
            adapter are unchanged (a standard HF checkpoint with the base's tokenizer files:
            ``--model hf``/``vllm`` load it).
        **kwargs: every ``hf`` model arg (``dtype``, ``device``, ``batch_size``, ...).

    Journal args (``journal=DIR``, ...) are handled by :meth:`create_from_arg_string` /
    :meth:`create_from_arg_obj`, not by the constructor.
    """

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> LM:
        """lm-eval's constructor path for ``--model_args k=v,...``: family dispatch + journal."""
        return build_lm(
            dispatching_constructor(cls), simple_parse_args_string(arg_string), additional_config
        )

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None) -> LM:
        """lm-eval's constructor path for a model-args dict (``--config`` YAML, Python API)."""
        return build_lm(dispatching_constructor(cls), dict(arg_dict), additional_config)
