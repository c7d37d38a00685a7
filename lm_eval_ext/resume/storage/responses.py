"""How responses are journaled, and what lm-eval gets for a request without one."""

from __future__ import annotations

import math
from typing import Any

#: What lm-eval receives for a request that failed (or that another shard computes); the
#: request's doc is then excluded from the metrics (``offline.finalize``).
ERROR_PLACEHOLDER: dict[str, Any] = {
    "loglikelihood": (-math.inf, False),
    "loglikelihood_rolling": -math.inf,
    "generate_until": "",
}


def encode_response(resp: Any) -> Any:
    """A model's response as JSON (tuples become lists, numpy/torch scalars plain numbers)."""
    if isinstance(resp, (list, tuple)):
        return [encode_response(x) for x in resp]
    return resp.item() if hasattr(resp, "item") else resp


def decode_response(reqtype: str, resp: Any) -> Any:
    """A journaled (JSON) response back to what lm-eval expects (loglikelihood: a tuple)."""
    if reqtype == "loglikelihood" and isinstance(resp, list):
        return tuple(resp)
    return resp
