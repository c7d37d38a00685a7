"""The LoRA half of every ``mgm_lora`` wrapper: its model args, their checks, the merge.

:class:`LoRAMergeMixin` goes first in the bases of each wrapper (causal LM, Qwen-VL, ...). It
owns ``lora``, ``lora_revision`` and ``merged_cache`` (:data:`LORA_ARGS`), checks every model arg
before lm-eval sees them, and replaces lm-eval's model creation: the base is loaded as the
wrapped lm-eval model loads it, the adapter is merged into the weights (PEFT
``merge_and_unload``), and with ``merged_cache=DIR`` the merge is saved once and reused.
"""

from __future__ import annotations

import logging
from typing import Any

from lm_eval_ext._compat.lm_eval_models import loaded_model, replace_model
from lm_eval_ext.errors import ModelArgsError
from lm_eval_ext.models.lora_merge import merge_lora, resize_for_added_tokens
from lm_eval_ext.models.merged_cache import MergedCache
from lm_eval_ext.models.model_args import (
    FROM_PRETRAINED_PASSTHROUGH,
    check_adapter_dir,
    check_known_args,
    check_model_dir,
    hflm_arg_names,
)
from lm_eval_ext.resume import JOURNAL_ARGS

logger = logging.getLogger(__name__)

#: The lm-eval model name every wrapper is reached by (``--model mgm_lora``).
MODEL_NAME = "mgm_lora"
#: Model args the mixin adds to those of the lm-eval model it wraps.
LORA_ARGS = frozenset({"lora", "lora_revision", "merged_cache"})


def tokenizer_source(pretrained: Any, tokenizer: Any) -> str | None:
    """The checkpoint lm-eval loads the tokenizer/processor from (None: an object was passed)."""
    if tokenizer is None or tokenizer == "":
        return pretrained if isinstance(pretrained, str) else None
    return tokenizer if isinstance(tokenizer, str) else None


def journal_args_error(wrapper: str, given: list[str]) -> ModelArgsError:
    """The error for journal args passed straight to a wrapper's constructor."""
    names = ", ".join(f"{name}=" for name in given)
    return ModelArgsError(
        f"{MODEL_NAME}: {names} passed to the {wrapper}(...) constructor. Journal args switch "
        "the resume layer on at model creation, in lm-eval's create_from_arg_string / "
        "create_from_arg_obj (what the lm_eval CLI and simple_evaluate call), which wraps the "
        "model in the journal; a model constructor cannot. From Python use "
        "MGMLoRALM.create_from_arg_obj({'pretrained': ..., 'journal': DIR}) or "
        f"lm_eval.simple_evaluate(model='{MODEL_NAME}', "
        "model_args={'pretrained': ..., 'journal': DIR}, ...)"
    )


class LoRAMergeMixin:
    """Mixin for lm-eval's ``HFLM`` family: a LoRA adapter really merged into the weights.

    Put it first in the bases (``class MyLM(LoRAMergeMixin, HFLM)``). Wrappers adjust it with:

    * :meth:`upstream_model_args`: the args of the wrapped lm-eval model (default ``hf``'s);
    * :attr:`accepts_model_object`: whether ``pretrained`` may be a model object;
    * :meth:`_processor_checkpoint` / :meth:`_preprocessor_objects`: where the tokenizer or
      processor comes from, and the objects saved into a merged cache when it has no files.

    Args:
        pretrained: base model: hub id, local checkpoint directory, or (where accepted) a
            model object.
        lora: PEFT adapter directory (or hub id) to merge; omit to evaluate the base as is.
        lora_revision: hub revision of the adapter, when ``lora`` is a hub id.
        merged_cache: directory to save the merged checkpoint in and reuse while its inputs
            are unchanged (see ``models.merged_cache``).
        **kwargs: the wrapped lm-eval model's args.
    """

    #: False where the wrapper needs ``pretrained`` to be a path or hub id.
    accepts_model_object = True

    def __init__(
        self,
        pretrained: Any,
        lora: str | None = None,
        lora_revision: str | None = None,
        merged_cache: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._check_model_args(kwargs)
        if isinstance(pretrained, str):
            check_model_dir("pretrained", pretrained)
        elif not self.accepts_model_object:
            raise ModelArgsError(
                f"{MODEL_NAME} ({type(self).__name__}): pretrained must be a "
                "checkpoint path or hub id, not a model object"
            )
        if lora:
            check_adapter_dir("lora", lora)
            if not isinstance(pretrained, str):
                pretrained = merge_lora(pretrained, lora, revision=lora_revision)
        self._lora = lora or None
        self._lora_revision = lora_revision
        self._merged_cache = merged_cache
        self._processor_source = self._processor_checkpoint(pretrained, kwargs.get("tokenizer"))
        super().__init__(pretrained=pretrained, **kwargs)

    @classmethod
    def upstream_model_args(cls) -> frozenset[str]:
        """The wrapped lm-eval model's args: ``hf``'s and ``from_pretrained`` pass-throughs."""
        return hflm_arg_names() | FROM_PRETRAINED_PASSTHROUGH

    @classmethod
    def valid_model_args(cls) -> frozenset[str]:
        """Every key ``--model_args`` may hold for this model."""
        return cls.upstream_model_args() | LORA_ARGS

    def _check_model_args(self, kwargs: dict[str, Any]) -> None:
        """Refuse journal args, unknown args and ``peft=``, each with its own message."""
        journal = sorted(JOURNAL_ARGS.intersection(kwargs))
        if journal:
            raise journal_args_error(type(self).__name__, journal)
        check_known_args(MODEL_NAME, kwargs, self.valid_model_args())
        if kwargs.get("peft"):
            raise ModelArgsError(
                f"{MODEL_NAME}: use lora=ADAPTER_DIR (merged into the weights) instead of peft= "
                "(which keeps the adapter unmerged)"
            )

    def _processor_checkpoint(self, pretrained: Any, tokenizer: Any) -> str | None:
        """The checkpoint the tokenizer/processor is loaded from (its files go into the cache)."""
        return tokenizer_source(pretrained, tokenizer)

    def _preprocessor_objects(self) -> list[Any]:
        """What a merged cache saves where the tokenizer has no checkpoint files."""
        return [self.tokenizer]

    def _create_model(self, pretrained: str, *args: Any, **kwargs: Any) -> None:
        """Load the base as the wrapped model does and merge the adapter (or load the cache)."""
        cache = self._merged_cache_for(pretrained, kwargs)
        if cache is not None and cache.is_valid():
            logger.info("Loading merged model from merged_cache=%s", cache.path)
            super()._create_model(str(cache.path), *args, **{**kwargs, "revision": "main"})
            return
        super()._create_model(pretrained, *args, **kwargs)
        if not self._lora:
            return
        merged = self._merge_adapter(loaded_model(self), pretrained)
        replace_model(self, merged)
        if cache is not None:
            cache.save_or_warn(merged, self._processor_source, kwargs, self._preprocessor_objects)

    def _merge_adapter(self, model: Any, pretrained: str) -> Any:
        """The loaded base with ``lora`` merged in (wrappers with other recipes override this).

        Default: grow the embeddings for tokens the tokenizer adds, then PEFT's
        ``merge_and_unload`` on the whole model.
        """
        resize_for_added_tokens(model, len(self.tokenizer))
        return merge_lora(model, self._lora, revision=self._lora_revision, base_name=pretrained)

    def _merged_cache_for(self, pretrained: str, load_kwargs: dict[str, Any]) -> MergedCache | None:
        """The ``merged_cache=DIR`` of this merge (its manifest hashes the inputs), if any."""
        if not (self._lora and self._merged_cache):
            return None
        source = self._processor_source
        return MergedCache(
            self._merged_cache,
            pretrained,
            self._lora,
            base_revision=load_kwargs.get("revision"),
            adapter_revision=self._lora_revision,
            dtype=load_kwargs.get("dtype"),
            tokenizer=None if source == pretrained else source,
        )

    def get_model_info(self) -> dict:
        """lm-eval's model info plus the merged adapter, recorded in the results JSON."""
        info = super().get_model_info()
        if self._lora:
            info["lora"] = self._lora
            if self._lora_revision:
                info["lora_revision"] = self._lora_revision
        return info
