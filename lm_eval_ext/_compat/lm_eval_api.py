"""lm-eval's API models (``TemplateAPI``: local-completions, openai-*): how they send requests.

Checked on lm-eval 0.4.13. ``TemplateAPI`` sends every HTTP request through the instance's
``model_call`` (one at a time, ``num_concurrent<=1``, with ``requests``) or ``amodel_call``
(concurrently, with aiohttp; it receives the requests' cache keys as ``cache_keys=``), each
wrapped in tenacity with ``self.max_retries`` attempts and a fixed 1-10 s exponential wait that
ignores ``Retry-After``; when one concurrent request gives up, the whole batch is abandoned.
With the journal on, :func:`install_request_retries` puts the journal's retrying callers in
their place on the instance and sets ``max_retries`` to 1, so retries are the journal's only.
``TemplateAPI.__init__`` keeps the endpoint in ``self.base_url`` and ``self.model``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lm_eval_ext._compat._seam import Seam, expect_assignments, expect_params


@dataclass(frozen=True)
class ApiCall:
    """One HTTP request of a concurrent API run: its request type and the requests it carries.

    ``cache_keys`` are lm-eval's cache keys of the prompts in it (``(context, continuation)``
    or ``(context, gen_kwargs)``), one per answer the call returns.
    """

    reqtype: str
    cache_keys: tuple[Any, ...]


#: ``retry_async(send, call)``: await ``send()`` (with retries), or return placeholder answers
RetryAsync = Callable[[Callable[[], Awaitable[Any]], ApiCall], Awaitable[Any]]
#: ``retry_sync(send)``: ``send()`` with retries, raising once it gives up
RetrySync = Callable[[Callable[[], Any]], Any]


def is_api_backend(cls: Any) -> bool:
    """Whether ``cls`` is one of lm-eval's API model classes (a ``TemplateAPI``)."""
    if not isinstance(cls, type):
        return False
    try:
        from lm_eval.models.api_models import TemplateAPI
    except ImportError:  # lm-eval without its api extra: no API model can be built either
        return False
    return issubclass(cls, TemplateAPI)


def api_endpoint(lm: Any) -> dict[str, Any]:
    """The endpoint a built API model talks to: its class, base URL and model name."""
    cls = type(lm)
    return {
        "backend": f"{cls.__module__}.{cls.__qualname__}",
        "base_url": lm.base_url,
        "model": lm.model,
    }


def install_request_retries(lm: Any, retry_async: RetryAsync, retry_sync: RetrySync) -> None:
    """Send ``lm``'s HTTP requests through the journal's retrying callers (once per model)."""
    send_async, send_sync = lm.amodel_call, lm.model_call

    async def amodel_call(*args: Any, **kwargs: Any) -> Any:
        call = ApiCall(
            "generate_until" if kwargs.get("generate", True) else "loglikelihood",
            tuple(kwargs.get("cache_keys") or ()),
        )
        return await retry_async(lambda: send_async(*args, **kwargs), call)

    def model_call(*args: Any, **kwargs: Any) -> Any:
        return retry_sync(lambda: send_sync(*args, **kwargs))

    lm.amodel_call, lm.model_call = amodel_call, model_call
    lm.max_retries = 1


def _check_template_api() -> None:
    from lm_eval.models.api_models import TemplateAPI

    expect_params(
        TemplateAPI.amodel_call,
        ["session", "sem", "messages", "generate", "cache_keys", "ctxlens", "gen_kwargs"],
        "TemplateAPI.amodel_call",
    )
    expect_params(TemplateAPI.model_call, ["messages", "generate", "gen_kwargs"], "model_call")
    expect_assignments(TemplateAPI, "__init__", ["max_retries", "base_url", "model"])
    batched = inspect.getsource(TemplateAPI.get_batched_requests)
    for needle in ("stop_after_attempt(self.max_retries)", "(self.amodel_call)", "cache_keys="):
        assert needle in batched, f"TemplateAPI.get_batched_requests no longer has {needle!r}"
    for method in ("_loglikelihood_tokens", "generate_until"):
        source = inspect.getsource(getattr(TemplateAPI, method))
        assert "(self.model_call)" in source, f"TemplateAPI.{method} no longer calls model_call"
    source = inspect.getsource(TemplateAPI.amodel_call)
    for needle in ("response.raise_for_status()", "self.cache_hook.add_partial("):
        assert needle in source, f"TemplateAPI.amodel_call no longer has {needle!r}"


SEAMS = [
    Seam(
        "lm_eval.models.api_models.TemplateAPI model_call / amodel_call / max_retries",
        "API retries honouring Retry-After, failures named per request (resume.online.api_retry)",
        _check_template_api,
    ),
]
