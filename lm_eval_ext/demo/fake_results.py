"""lm-eval output files (``results_*.json`` + ``samples_*.jsonl``) for made-up checkpoints.

For the report benchmark (100 checkpoints x 60 tasks) and for tests that need many runs
without a model: files in the shape ``lm_eval --log_samples`` writes (lm-eval 0.4.13), with
per-doc 0/1 ``acc``/``acc_norm`` drawn at a given accuracy and aggregates computed from them
the way lm-eval does (mean; standard error = sample standard deviation / sqrt(n)).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from pathlib import Path

__all__ = ["fake_task_rows", "write_fake_run"]

_METRICS = ("acc", "acc_norm")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fake_task_rows(
    task: str, n_docs: int, accuracy: float, *, n_choices: int = 4, seed: int = 0
) -> list[dict]:
    """Samples rows of a ``n_choices``-way multiple-choice task answered at ``accuracy``.

    Docs (and their hashes) depend on ``task`` only, so two checkpoints' rows pair up.
    """
    rng = random.Random(f"{task}/{seed}/{accuracy}")
    rows = []
    for doc_id in range(n_docs):
        doc = {
            "question": f"{task} question {doc_id}?",
            "choices": [f"c{i}" for i in range(n_choices)],
            "answer": doc_id % n_choices,
        }
        prompt = f"Question: {doc['question']}\nAnswer:"
        row = {
            "doc_id": doc_id,
            "doc": doc,
            "target": str(doc["answer"]),
            "arguments": {
                f"gen_args_{i}": {"arg_0": prompt, "arg_1": f" {c}"}
                for i, c in enumerate(doc["choices"])
            },
            "filter": "none",
            "metrics": list(_METRICS),
            "doc_hash": _sha(json.dumps(doc, sort_keys=True)),
            "prompt_hash": _sha(prompt),
            "target_hash": _sha(str(doc["answer"])),
        }
        for metric in _METRICS:
            row[metric] = float(rng.random() < accuracy)
        rows.append(row)
    return rows


def _aggregate(rows: list[dict]) -> dict:
    out = {}
    for metric in _METRICS:
        values = [r[metric] for r in rows]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
        out[f"{metric},none"] = mean
        out[f"{metric}_stderr,none"] = math.sqrt(var / len(values))
    return out


def _config(task: str) -> dict:
    """The task config lm-eval records for a 4-choice MC task (the fields reports read)."""
    return {
        "task": task,
        "output_type": "multiple_choice",
        "doc_to_choice": "{{choices}}",
        "num_fewshot": 0,
        "metric_list": [
            {"metric": m, "aggregation": "mean", "higher_is_better": True} for m in _METRICS
        ],
        "metadata": {"version": 1.0},
    }


def write_fake_run(
    output_dir: Path,
    model_args: dict,
    tasks: dict[str, list[dict]],
    *,
    date_id: str | None = None,
    model: str = "mgm_lora",
    lm_eval_ext: dict | None = None,
) -> Path:
    """Write results + samples for ``tasks`` (task -> rows) under ``output_dir/<model name>/``.

    ``lm_eval_ext`` is the block our journal adds to ``config`` (``journal``, ``shard``, ...).
    Returns the results file.
    """
    name = str(model_args.get("pretrained", "model"))
    sanitized = name.replace("/", "__")
    folder = Path(output_dir) / sanitized
    folder.mkdir(parents=True, exist_ok=True)
    date_id = date_id or time.strftime("%Y-%m-%dT%H-%M-%S.000000")
    configs = {task: _config(task) for task in tasks}
    results = {
        "results": {t: {"alias": t, **_aggregate(rows)} for t, rows in tasks.items()},
        "group_subtasks": {t: [] for t in tasks},
        "configs": configs,
        "versions": {t: 1.0 for t in tasks},
        "n-shot": {t: 0 for t in tasks},
        "higher_is_better": {t: dict.fromkeys(_METRICS, True) for t in tasks},
        "n-samples": {t: {"original": len(r), "effective": len(r)} for t, r in tasks.items()},
        "config": {
            "model": model,
            "model_args": model_args,
            "model_revision": model_args.get("revision", "main"),
            "model_sha": "",
            **({"lm_eval_ext": lm_eval_ext} if lm_eval_ext is not None else {}),
        },
        "model_name": name,
        "model_name_sanitized": sanitized,
        "date": time.time(),
    }
    path = folder / f"results_{date_id}.json"
    path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    for task, rows in tasks.items():
        lines = "".join(json.dumps(r) + "\n" for r in rows)
        (folder / f"samples_{task}_{date_id}.jsonl").write_text(lines, encoding="utf-8")
    return path
