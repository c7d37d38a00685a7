"""Apply a PEFT LoRA adapter to a loaded base model and merge it into the weights."""

from __future__ import annotations

import logging

import torch

from lm_eval_ext.errors import AdapterMismatchError

logger = logging.getLogger(__name__)


def _vocab_size(model: torch.nn.Module) -> int:
    config = model.config
    text_config = getattr(config, "text_config", None)
    return getattr(text_config, "vocab_size", None) or config.vocab_size


def load_adapter(
    base: torch.nn.Module, adapter: str, *, revision: str | None = None, base_name: str = ""
):
    """Wrap ``base`` in an unmerged ``peft.PeftModel`` and check that every adapter tensor fit.

    PEFT raises for missing target modules and shape mismatches, but only *warns* when adapter
    tensors match no module (e.g. an adapter trained on another architecture with other module
    names); we turn every such case into :class:`AdapterMismatchError` naming the adapter.
    """
    from peft import PeftModel
    from peft.utils import get_peft_model_state_dict, load_peft_weights

    kwargs = {"revision": revision} if revision else {}
    try:
        peft_model = PeftModel.from_pretrained(base, adapter, is_trainable=False, **kwargs)
    except (ValueError, RuntimeError, KeyError) as exc:
        raise AdapterMismatchError(
            f"lora={adapter}: the adapter does not fit the base model {base_name!r}: {exc}"
        ) from exc

    file_keys = set(load_peft_weights(adapter, device="cpu", **kwargs))
    model_keys = set(get_peft_model_state_dict(peft_model))
    missing = sorted(file_keys - model_keys)
    if missing:
        raise AdapterMismatchError(
            f"lora={adapter}: {len(missing)} adapter tensor(s) match no module of the base "
            f"model {base_name!r} (e.g. {missing[:3]}); was it trained on another base?"
        )
    return peft_model


def merge_lora(
    base: torch.nn.Module, adapter: str, *, revision: str | None = None, base_name: str = ""
) -> torch.nn.Module:
    """Return ``base`` with the LoRA adapter really merged in (``merge_and_unload``).

    The returned model is a plain transformers model: no PEFT wrapper, no extra matmuls.
    """
    peft_model = load_adapter(base, adapter, revision=revision, base_name=base_name)
    merged = peft_model.merge_and_unload(progressbar=False, safe_merge=True)
    logger.info("Merged LoRA adapter %s into %s", adapter, base_name or type(base).__name__)
    return merged


def resize_for_added_tokens(model: torch.nn.Module, tokenizer_len: int) -> None:
    """Grow the embeddings when the tokenizer has tokens the base model lacks.

    Only ever grows: many base checkpoints pad their vocabulary beyond ``len(tokenizer)``,
    and shrinking those would break the adapter and the model.
    """
    if tokenizer_len > _vocab_size(model):
        logger.info("Resizing token embeddings %d -> %d", _vocab_size(model), tokenizer_len)
        model.resize_token_embeddings(tokenizer_len)
