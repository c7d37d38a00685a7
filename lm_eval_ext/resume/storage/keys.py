"""What a journal entry is keyed on: the model's identity and the request's full content.

Model identity = a content hash of every file of the checkpoint directory (config, weights,
tokenizer) and of the LoRA adapter / separate tokenizer, plus the model args that can change an
answer. File hashes come from :mod:`lm_eval_ext.checkpoints.hashing`, whose stat cache keeps a
rerun from re-reading the weights. A model behind an API has no files to hash: its identity is
the backend, base URL and model name, the tokenizer and the args that shape requests
(:func:`api_identity`); credentials never enter an identity.
Request identity = request type, task name, doc id, instance index and its arguments; images
and other binary arguments enter through their bytes, never their ``repr``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from lm_eval_ext.checkpoints.hashing import tree_fingerprint
from lm_eval_ext.errors import ModelArgsError

log = logging.getLogger(__name__)

#: Model args that never change a response (placement, batching), so a resume may vary them.
NEUTRAL_ARGS = frozenset(
    {
        "batch_size",
        "max_batch_size",
        "device",
        "device_map",
        "parallelize",
        "max_memory_per_gpu",
        "max_cpu_memory",
        "offload_folder",
        "low_cpu_mem_usage",
        "cache_dir",
        "token",
        "local_files_only",
        "trust_remote_code",
    }
)
#: Args naming files or directories whose content is part of the model's identity.
PATH_ARGS = ("pretrained", "lora", "peft", "delta", "tokenizer")
#: API model args that never change a response: concurrency, retries, time limits, TLS.
API_NEUTRAL_ARGS = frozenset(
    {"num_concurrent", "max_retries", "timeout", "verify_certificate", "ca_cert_path"}
)
#: API model args that name the endpoint (the identity's ``api`` part holds their values).
API_ENDPOINT_ARGS = frozenset({"model", "pretrained", "base_url"})
#: Credentials: never part of an identity, so never written to the journal.
SECRET_ARGS = frozenset(
    {
        "api_key",
        "auth_token",
        "token",
        "hf_token",
        "access_token",
        "key",
        "secret",
        "password",
        "header",
        "headers",
        "authorization",
    }
)


def is_secret_arg(name: str) -> bool:
    """Whether a model arg holds a credential (an API key, a token, auth headers)."""
    lowered = name.lower()
    return lowered in SECRET_ARGS or lowered.endswith(("_api_key", "_secret", "_password"))


def _hub_snapshot(repo_id: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not in the local cache"
        return None


def model_identity(args: dict[str, Any], cache: MutableMapping[str, Any]) -> dict[str, Any]:
    """The model's identity record: content hashes of its files + answer-relevant args.

    ``cache`` is the stat cache of :func:`checkpoints.hashing.file_sha256` (unchanged files are
    not read again).
    """
    if not isinstance(args.get("pretrained"), str):
        got = "no pretrained=" if args.get("pretrained") is None else "a model object"
        raise ModelArgsError(
            "journal=: the resume journal needs pretrained= to be a path or hub id (it keys "
            f"entries on the checkpoint's content); got {got}"
        )
    identity: dict[str, Any] = {"files": _file_identities(args, PATH_ARGS, cache), "args": {}}
    identity["args"] = {
        k: str(v)
        for k, v in sorted(args.items())
        if k not in NEUTRAL_ARGS and k not in PATH_ARGS and v is not None and not is_secret_arg(k)
    }
    return identity


def api_identity(
    args: dict[str, Any], endpoint: dict[str, Any], cache: MutableMapping[str, Any]
) -> dict[str, Any]:
    """The identity of a model behind an API: what the journal can know about it.

    ``endpoint`` is the built model's ``{"backend", "base_url", "model"}`` (defaults included).
    Added: the tokenizer's files (it makes the token ids sent) and every arg that can change a
    request or an answer (generation length, seed, max length, BOS, tokenized or text
    requests...). Left out: credentials, concurrency, retries, time limits, TLS, batching. What
    the provider serves under a model name is out of sight: see the README.
    """
    return {
        "api": {k: (None if v is None else str(v)) for k, v in sorted(endpoint.items())},
        "files": _file_identities(args, ("tokenizer",), cache),
        "args": {
            k: str(v)
            for k, v in sorted(args.items())
            if k not in NEUTRAL_ARGS | API_NEUTRAL_ARGS | API_ENDPOINT_ARGS
            and k != "tokenizer"
            and v is not None
            and not is_secret_arg(k)
        },
    }


def _file_identities(
    args: dict[str, Any], names: tuple[str, ...], cache: MutableMapping[str, Any]
) -> dict[str, str]:
    """Content fingerprints of the files the path args ``names`` point to (hub: name@rev)."""
    files: dict[str, str] = {}
    for name in names:
        value = args.get(name)
        if not isinstance(value, str) or not value:
            continue
        path = Path(value).expanduser()
        if not path.exists():
            revision = args.get("lora_revision" if name == "lora" else "revision")
            path = _hub_snapshot(value, revision) or path
        if path.exists():
            files[name] = tree_fingerprint(path, cache)
        else:
            log.warning(
                "journal: %s=%s is not local; keying on its name/revision only", name, value
            )
            files[name] = f"hub:{value}@{args.get('revision') or 'main'}"
    return files


def identity_hash(identity: dict[str, Any]) -> str:
    """Stable short hash of an identity record."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _binary_default(obj: Any) -> Any:
    """JSON encoding of request arguments that are not JSON: hash their bytes."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"__bytes__": hashlib.sha256(bytes(obj)).hexdigest()}
    if hasattr(obj, "tobytes") and hasattr(obj, "mode") and hasattr(obj, "size"):  # PIL image
        head = f"{obj.mode}:{obj.size}".encode()
        return {"__image__": hashlib.sha256(head + obj.tobytes()).hexdigest()}
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch tensor
        import torch

        arr = obj.detach().cpu().contiguous()
        head = f"{arr.dtype}:{tuple(arr.shape)}".encode()
        raw = arr.view(-1).view(torch.uint8).numpy().tobytes()
        return {"__tensor__": hashlib.sha256(head + raw).hexdigest()}
    if hasattr(obj, "tobytes") and hasattr(obj, "dtype") and hasattr(obj, "shape"):  # numpy
        head = f"{obj.dtype}:{obj.shape}".encode()
        return {"__array__": hashlib.sha256(head + obj.tobytes()).hexdigest()}
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    raise TypeError(
        f"journal: cannot key a request argument of type {type(obj).__name__}; it has no "
        "stable byte representation"
    )


def _doc_default(obj: Any) -> Any:
    try:
        return _binary_default(obj)
    except TypeError:  # no stable bytes: its text (at worst a key that never matches again)
        return {"__str__": str(obj)}


def doc_fingerprint(doc: Any) -> str:
    """sha256 of a task doc (the dataset row the request was built from), images by bytes."""
    blob = json.dumps(doc, sort_keys=True, default=_doc_default, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def request_key(
    model_hash: str, reqtype: str, instance: Any, occurrence: int, doc_hash: str | None = None
) -> str:
    """Key of one request: model, type, task/doc/index, the doc's content, full arguments
    (prompt, continuation, generation kwargs, images), repeat number.

    The task enters through everything of it a response can depend on: its name, the doc
    (dataset content) and the request it built (template, few-shot context, kwargs).
    ``doc_hash`` is :func:`doc_fingerprint` of ``instance.doc`` (pass it to hash a doc once).
    """
    payload = [
        model_hash,
        reqtype,
        instance.task_name,
        instance.doc_id,
        instance.idx,
        doc_hash or doc_fingerprint(instance.doc),
        list(instance.args),
        occurrence,
    ]
    blob = json.dumps(payload, sort_keys=True, default=_binary_default, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def args_fingerprint(args: Any) -> str:
    """sha256 of a request's arguments alone (prompt, continuation, kwargs, images by bytes)."""
    blob = json.dumps(list(args), sort_keys=True, default=_binary_default, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RequestKeyer:
    """Keys of one model's requests, hashing each doc once (a doc's requests share its dict)."""

    def __init__(self, model_hash: str) -> None:
        self.model_hash = model_hash
        self._doc_hashes: dict[int, str] = {}

    def key(self, reqtype: str, instance: Any, occurrence: int) -> str:
        """:func:`request_key` of ``instance``."""
        doc_hash = self._doc_hashes.get(id(instance.doc))
        if doc_hash is None:
            doc_hash = self._doc_hashes[id(instance.doc)] = doc_fingerprint(instance.doc)
        return request_key(self.model_hash, reqtype, instance, occurrence, doc_hash)


def with_occurrences(requests: list) -> list[tuple[Any, int]]:
    """``(request, occurrence)``: lm-eval lists an Instance with ``repeats=K`` K times."""
    seen: dict[int, int] = {}
    out = []
    for req in requests:
        out.append((req, seen.get(id(req), 0)))
        seen[id(req)] = out[-1][1] + 1
    return out
