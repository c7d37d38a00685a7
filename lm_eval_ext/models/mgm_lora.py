"""``mgm_lora``: lm-eval's ``hf`` model with a LoRA adapter really merged into the weights.

    lm_eval --model mgm_lora --model_args pretrained=BASE,lora=ADAPTER_DIR --tasks ...

Without ``lora=`` it is ``hf``. Besides the model-creation hook of ``HFLM``, only
loglikelihood scoring is replaced (``SharedContextScoringMixin``: each shared context is run
once); truncation rules, chat templates, generation and multi-GPU handling stay lm-eval's own.
"""

from __future__ import annotations

from typing import Any

import lm_eval.models  # noqa: F401  (built-ins must be registered before we register)
from lm_eval.api.registry import register_model
from lm_eval.utils import simple_parse_args_string
from lm_eval.models.huggingface import HFLM

from lm_eval_ext.errors import ModelArgsError
from lm_eval_ext.models.factory import create_lm
from lm_eval_ext.models.lora_merge import merge_lora
from lm_eval_ext.models.merged_cache import (
    adapter_model_info,
    create_merged_model,
    tokenizer_source,
)
from lm_eval_ext.models.model_args import (
    FROM_PRETRAINED_PASSTHROUGH,
    check_adapter_dir,
    check_known_args,
    check_model_dir,
    hflm_arg_names,
)
from lm_eval_ext.models.context_once import SharedContextScoringMixin

#: model args that ``mgm_lora`` adds to those of ``hf``.
OWN_ARGS = frozenset({"lora", "lora_revision", "merged_cache"})


@register_model("mgm_lora")
class MGMLoRALM(SharedContextScoringMixin, HFLM):
    """HFLM whose model is ``base`` + LoRA adapter, merged with PEFT's ``merge_and_unload``.

    Args:
        pretrained: base model: hub id or local checkpoint directory (``revision=`` applies).
        lora: PEFT adapter directory (or hub id) to merge; omit to evaluate the base as ``hf``.
        lora_revision: hub revision of the adapter, when ``lora`` is a hub id.
        merged_cache: directory to save the merged checkpoint in and reuse while base and
            adapter are unchanged (a standard HF checkpoint with the base's tokenizer files:
            ``--model hf``/``vllm`` load it).
        **kwargs: every ``hf`` model arg (``dtype``, ``device``, ``batch_size``, ...).
    """

    def __init__(
        self,
        pretrained: Any,
        lora: str | None = None,
        lora_revision: str | None = None,
        merged_cache: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_known_args("mgm_lora", kwargs, self.valid_model_args())
        if kwargs.get("peft"):
            raise ModelArgsError(
                "mgm_lora: use lora=ADAPTER_DIR (merged into the weights) instead of peft= "
                "(which keeps the adapter unmerged)"
            )
        if isinstance(pretrained, str):
            check_model_dir("pretrained", pretrained)
        if lora:
            check_adapter_dir("lora", lora)
            if not isinstance(pretrained, str):
                pretrained = merge_lora(pretrained, lora, revision=lora_revision)
        self._lora = lora or None
        self._lora_revision = lora_revision
        self._merged_cache = merged_cache  # see lm_eval_ext.models.merged_cache
        super().__init__(pretrained=pretrained, **kwargs)

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None):
        """lm-eval's constructor path for ``--model_args k=v,...`` (see ``models.factory``)."""
        return create_lm(cls, simple_parse_args_string(arg_string), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None):
        """lm-eval's constructor path for a model-args dict (``--config`` YAML, Python API)."""
        return create_lm(cls, dict(arg_dict), additional_config)

    @classmethod
    def valid_model_args(cls) -> frozenset[str]:
        """Every key ``--model_args`` may hold for this model (besides ``pretrained``)."""
        from lm_eval_ext.resume.switch import JOURNAL_ARGS

        return hflm_arg_names() | FROM_PRETRAINED_PASSTHROUGH | OWN_ARGS | JOURNAL_ARGS

    def _create_tokenizer(self, pretrained: Any, tokenizer: Any, *args: Any, **kwargs: Any) -> None:
        """lm-eval's tokenizer loading; remembers the checkpoint (for ``merged_cache``)."""
        self._processor_source = tokenizer_source(pretrained, tokenizer)
        super()._create_tokenizer(pretrained, tokenizer, *args, **kwargs)

    def _create_model(self, pretrained: str, *args: Any, **kwargs: Any) -> None:
        """Load the base model as ``hf`` does, then merge the adapter into it."""
        create_merged_model(self, super()._create_model, pretrained, kwargs,
                            lambda: [self.tokenizer])

    def get_model_info(self) -> dict:
        """lm-eval's model info plus the merged adapter, recorded in the results JSON."""
        return adapter_model_info(self, super().get_model_info())
