"""lm-eval's HF model classes: the protected hooks our wrappers override, call and read.

Checked on lm-eval 0.4.13. Our wrappers subclass ``HFLM`` / ``HFMultimodalLM`` and override
their model-creation hooks (``_create_model``, ``_create_tokenizer``), the scorers
(``HFLM._loglikelihood_tokens``; ``HFMultimodalLM._multimodal_loglikelihood_tokens``,
``_model_multimodal_call``), call ``HFLM._detect_batch_size`` and
``HFMultimodalLM._encode_multimodal_pair``, replace the model HFLM keeps in ``_model`` (by the
merged one), swap ``cache_hook`` around upstream generation, and read attributes the
constructors set (:data:`HFLM_ATTRIBUTES`, :data:`VLM_ATTRIBUTES`). The journal listens on every
backend's ``cache_hook`` (:func:`cache_hook_swapped`).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lm_eval_ext._compat._seam import Seam, expect_assignments, expect_params

#: Attributes ``HFLM.__init__`` sets that context-once scoring reads.
HFLM_ATTRIBUTES = ("softmax_dtype", "mixed_precision_dtype", "_max_length")
#: Attributes ``HFMultimodalLM.__init__`` sets that the Qwen-VL wrapper reads.
VLM_ATTRIBUTES = (
    "image_width",
    "image_height",
    "image_max_side",
    "pixels",
    "max_images",
    "rgb",
    "image_token",
)


def loaded_model(lm: Any) -> Any:
    """The model HFLM has just loaded (``_model``; ``lm.model`` may unwrap it for accelerate)."""
    return lm._model


def replace_model(lm: Any, model: Any) -> None:
    """Make ``model`` the model ``lm`` evaluates (HFLM keeps it in ``_model``)."""
    lm._model = model


def set_config(lm: Any, config: Any) -> None:
    """Set the config HFLM's ``config`` property returns (``_config``; for ``_get_config``)."""
    lm._config = config


def configured_max_length(lm: Any) -> int | None:
    """The ``max_length`` model arg as HFLM stored it (``_max_length``), or None."""
    return lm._max_length


def detect_batch_size(lm: Any) -> int:
    """HFLM's automatic batch size (``batch_size=auto``): full-length trial forward passes."""
    return int(lm._detect_batch_size())


def encode_multimodal_pair(lm: Any, context: str, continuation: str, images: list) -> tuple:
    """``HFMultimodalLM``'s encoding of a (context, continuation) pair with images."""
    return lm._encode_multimodal_pair(context, continuation, images)


@contextmanager
def cache_hook_swapped(lm: Any, make_hook: Any) -> Iterator[Any]:
    """Run a model call with ``make_hook(previous_hook)`` as ``lm``'s response cache hook.

    lm-eval's backends report each response as soon as they have it through
    ``self.cache_hook.add_partial(method, request_args, response)`` (``--use_cache`` stores
    them); the journal listens there. Yields the installed hook; the previous one (lm-eval's
    cache, or its no-op) is put back afterwards, and the new hook should pass calls on to it.
    """
    previous = lm.cache_hook
    lm.cache_hook = hook = make_hook(previous)
    try:
        yield hook
    finally:
        lm.cache_hook = previous


@contextmanager
def without_cache_hook(lm: Any) -> Iterator[None]:
    """Run upstream code with lm-eval's request cache hook switched off (we add entries)."""
    from lm_eval.api.model import CacheHook

    hook, lm.cache_hook = lm.cache_hook, CacheHook(None)
    try:
        yield
    finally:
        lm.cache_hook = hook


def _check_hflm() -> None:
    from lm_eval.models.huggingface import HFLM

    expect_params(
        HFLM._loglikelihood_tokens,
        ["requests", "disable_tqdm", "override_bs"],
        "HFLM._loglikelihood_tokens",
    )
    expect_params(HFLM._create_model, ["pretrained"], "HFLM._create_model")
    expect_params(HFLM._create_tokenizer, ["pretrained", "tokenizer"], "HFLM._create_tokenizer")
    expect_params(HFLM._detect_batch_size, ["requests", "pos"], "HFLM._detect_batch_size")
    expect_params(
        HFLM._get_config,
        ["pretrained", "revision", "trust_remote_code", "gguf_file", "subfolder"],
        "HFLM._get_config",
    )
    expect_assignments(HFLM, "__init__", HFLM_ATTRIBUTES)
    expect_assignments(HFLM, "_get_config", ["_config"])
    assert "return self._config" in inspect.getsource(HFLM.config.fget), (
        "HFLM.config no longer returns self._config"
    )
    assert isinstance(HFLM.max_length, property), "HFLM.max_length is no longer a property"
    assert "return self._model" in inspect.getsource(HFLM.model.fget), (
        "HFLM.model no longer returns self._model"
    )


def _check_hf_multimodal() -> None:
    from lm_eval.api.model import CacheHook
    from lm_eval.models.hf_vlms import HFMultimodalLM

    expect_params(
        HFMultimodalLM._encode_multimodal_pair,
        ["context", "continuation", "images"],
        "HFMultimodalLM._encode_multimodal_pair",
    )
    expect_params(
        HFMultimodalLM._model_multimodal_call,
        ["inps", "imgs", "attn_mask", "labels"],
        "HFMultimodalLM._model_multimodal_call",
    )
    expect_params(
        HFMultimodalLM._multimodal_loglikelihood_tokens,
        ["requests", "disable_tqdm", "override_bs"],
        "HFMultimodalLM._multimodal_loglikelihood_tokens",
    )
    expect_params(
        HFMultimodalLM.tok_batch_multimodal_encode,
        ["strings", "images", "padding_side", "left_truncate_len", "truncation"],
        "HFMultimodalLM.tok_batch_multimodal_encode",
    )
    expect_assignments(HFMultimodalLM, "__init__", VLM_ATTRIBUTES)
    expect_params(CacheHook.__init__, ["cachinglm"], "CacheHook.__init__")


def _check_cache_hook_reports() -> None:
    """Every backend we journal reports each response through ``cache_hook.add_partial``."""
    import importlib.util
    from pathlib import Path

    from lm_eval.api.model import LM, CacheHook

    expect_params(CacheHook.add_partial, ["attr", "req", "res"], "CacheHook.add_partial")
    expect_assignments(LM, "__init__", ["cache_hook"])
    for module in (
        "huggingface",
        "hf_vlms",
        "api_models",
        "vllm_causallms",
        "vllm_vlms",
    ):  # read, not imported: the vllm modules need vllm
        spec = importlib.util.find_spec(f"lm_eval.models.{module}")
        assert spec is not None and spec.origin, f"lm_eval.models.{module} is gone"
        source = Path(spec.origin).read_text(encoding="utf-8")
        assert "self.cache_hook.add_partial(" in source, (
            f"lm_eval.models.{module} no longer reports responses through cache_hook"
        )


SEAMS = [
    Seam(
        "lm_eval.models.huggingface.HFLM hooks and attributes",
        "merged-LoRA model creation, context-once scoring, MGM's config and max length "
        "(models.lora, models.context_once, models.mgm)",
        _check_hflm,
    ),
    Seam(
        "lm_eval.api.model.LM.cache_hook (add_partial per response, in every journaled backend)",
        "journaling each response as it arrives (resume.online.capture)",
        _check_cache_hook_reports,
    ),
    Seam(
        "lm_eval.models.hf_vlms.HFMultimodalLM hooks, attributes and cache_hook",
        "Qwen-VL: text-side truncation, image loglikelihoods, image cache keys (models.qwen_vl)",
        _check_hf_multimodal,
    ),
]
