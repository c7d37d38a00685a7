"""Checkpoints on disk and on the hub: loading their tokenizers and configs, hashing their files.

Everything that must see the evaluated model's tokenizer or config (table budgets, token-count
metrics, replay) reads it through :mod:`lm_eval_ext.checkpoints.tokenizer`, which resolves
``--model_args`` the way lm-eval's ``HFLM`` does (``pretrained``, ``tokenizer``, ``revision``,
``subfolder``, ``trust_remote_code``, ...); file digests come from
:mod:`lm_eval_ext.checkpoints.hashing`. This package imports nothing from the other
``lm_eval_ext`` sub-packages except :mod:`lm_eval_ext.errors`, so any of them may use it.
"""

from lm_eval_ext.checkpoints.tokenizer import (
    TokenizerSource,
    load_model_config,
    load_tokenizer,
    tokenizer_source,
)

__all__ = ["TokenizerSource", "load_model_config", "load_tokenizer", "tokenizer_source"]
