"""transformers' KV cache internals: per-layer key/value tensors of a ``DynamicCache``.

Checked on transformers 5.24: ``DynamicCache.layers`` holds one ``DynamicLayer`` per layer
(``.keys`` / ``.values``: ``[batch, heads, seq, dim]``); a cache can be built from such pairs
with ``DynamicCache(ddp_cache_data=[(keys, values), ...])``. Sliding-window and other layer
types are not plain, and context-once scoring falls back to lm-eval's scorer for them.
"""

from __future__ import annotations

from typing import Any

from lm_eval_ext._compat._seam import Seam, expect_params


def is_plain_dynamic_cache(cache: Any) -> bool:
    """Whether every layer of ``cache`` is a full-attention ``DynamicLayer`` (rows selectable)."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    return isinstance(cache, DynamicCache) and all(
        type(layer) is DynamicLayer for layer in cache.layers
    )


def select_cache_rows(cache: Any, rows: Any) -> Any:
    """A new ``DynamicCache`` holding batch rows ``rows`` (a LongTensor) of a plain cache."""
    from transformers import DynamicCache

    return DynamicCache(
        ddp_cache_data=[(layer.keys[rows], layer.values[rows]) for layer in cache.layers]
    )


def _check_dynamic_cache() -> None:
    import torch
    from transformers import DynamicCache

    expect_params(DynamicCache.__init__, ["ddp_cache_data"], "DynamicCache.__init__")
    keys = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).reshape(2, 1, 3, 2)
    cache = DynamicCache(ddp_cache_data=[(keys, -keys)])
    assert is_plain_dynamic_cache(cache), "a DynamicCache of full layers is not recognised"
    picked = select_cache_rows(cache, torch.tensor([1]))
    assert torch.equal(picked.layers[0].keys, keys[1:]) and picked.get_seq_length() == 3


SEAMS = [
    Seam(
        "transformers.DynamicCache layers / ddp_cache_data",
        "re-batching a prefix's KV cache per continuation (models.context_once)",
        _check_dynamic_cache,
    ),
]
