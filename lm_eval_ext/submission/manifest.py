"""``manifest.json`` of a submission: the model, the runs, the tasks, and every member's hash."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from typing import Any

from lm_eval_ext.checkpoints.hub import is_commit_sha, resolve_commit
from lm_eval_ext.resume import model_args_dict
from lm_eval_ext.submission.runs import RunFiles

FORMAT = "lm-eval-ext-submission/1"
MANIFEST = "manifest.json"
#: Model args never written into a submission (credentials).
SECRET_ARGS = frozenset(
    {
        "token",
        "hf_token",
        "api_key",
        "apikey",
        "header",
        "headers",
        "authorization",
        "password",
        "secret",
    }
)


def member_entry(data: bytes) -> dict[str, Any]:
    """What the manifest records of one member: its sha256 and size."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def public_value(value: Any) -> Any:
    """A model-arg value without local absolute paths (``/home/me/ckpt`` -> ``<local>/ckpt``)."""
    if isinstance(value, str) and (os.path.isabs(value) or value.startswith("~")):
        return f"<local>/{os.path.basename(value.rstrip('/'))}"
    return value


def public_model_args(results: dict[str, Any]) -> dict[str, Any]:
    """The run's model args without credentials, journal paths or local absolute paths."""
    args = model_args_dict(results)
    return {
        k: public_value(v)
        for k, v in args.items()
        if k.lower() not in SECRET_ARGS and not k.startswith("journal")
    }


def run_entry(run: RunFiles, prefix: str) -> dict[str, Any]:
    """The manifest entry of one run (``prefix``: the folder of its members in the zip)."""
    results, config = run.results, run.results.get("config") or {}
    args = model_args_dict(results)
    model_id = public_value(str(args.get("pretrained") or results.get("model_name") or ""))
    revision = str(config.get("model_revision") or args.get("revision") or "main")
    sha = config.get("model_sha")
    commit = sha if is_commit_sha(sha) else resolve_commit(str(args.get("pretrained")), revision)
    tasks = {
        task: {
            "version": results.get("versions", {}).get(task),
            "n_shot": results.get("n-shot", {}).get(task),
            "task_hash": results.get("task_hashes", {}).get(task),
            "n_samples": results.get("n-samples", {}).get(task),
        }
        for task in sorted(results["configs"])
    }
    return {
        "label": run.label,
        "results": f"{prefix}/{run.results_path.name}",
        "model_id": model_id,
        "revision": revision,
        "commit_sha": commit,
        "dtype": config.get("model_dtype"),
        "lora": public_value(config.get("lora")),
        "model_args": public_model_args(results),
        "tasks": tasks,
    }


def creation_time(runs: list[RunFiles]) -> str:
    """The newest run's recorded start (lm-eval's ``date``): stable for the same inputs."""
    stamps = [float(r.results.get("date") or 0) for r in runs]
    return datetime.fromtimestamp(max(stamps, default=0), tz=timezone.utc).isoformat()


def versions() -> dict[str, str]:
    """lm-eval's and lm-eval-ext's installed versions."""
    from importlib.metadata import version

    return {"lm_eval": version("lm-eval"), "lm_eval_ext": version("lm-eval-ext")}
