"""Finding and reading results files: sweeps and plain ``lm_eval --output_path`` folders.

Each results file is attributed to a run and a checkpoint: from the ``cell.json`` a sweep
writes next to it, else from the ``model_args`` lm-eval recorded in it (``pretrained``,
``revision``, ``lora``/``peft``), named as a sweep would name them
(:mod:`lm_eval_ext.checkpoints.naming`). So every revision of a hub repo is its own
checkpoint even when lm-eval wrote them all into one folder. When one checkpoint has several
results for a task (a rerun, a rescore), the newest counts. The partial results of a shard run
(``journal_shard=K/N``, e.g. a sharded sweep's ``<group>/shards/``) are never counted: only
their merge is a checkpoint's result.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lm_eval_ext.checkpoints.naming import checkpoint_label, parse_checkpoint_name, run_name
from lm_eval_ext.errors import ReportError

__all__ = [
    "COLUMNS",
    "ResultsEntry",
    "entries_by_task",
    "expected_cells",
    "find_entries",
    "is_shard_run",
    "long_table",
    "read_samples",
]

COLUMNS = [
    "run",
    "checkpoint",
    "step",
    "tokens",
    "task",
    "metric",
    "filter",
    "value",
    "stderr",
    "n",
    "revision",
    "sha",
    "results_file",
]
_NOT_METRICS = {"alias", "name", "sample_len", "samples"}
_CELL_FILE = "cell.json"  # written by lm_eval_ext.sweep (a documented file, not an import)
_MANIFEST_FILE = "sweep.json"


@dataclass
class ResultsEntry:
    """One results file and the run / checkpoint it belongs to."""

    path: Path
    results: dict
    run: str
    checkpoint: str
    step: int | None
    tokens: int | None
    revision: str | None
    sha: str | None

    @property
    def date_id(self) -> str:
        """The ``<date>`` lm-eval put in the file names."""
        return self.path.stem[len("results_") :]


def _model_args(results: dict) -> dict:
    args = results.get("config", {}).get("model_args") or {}
    if isinstance(args, str):
        args = dict(p.split("=", 1) for p in args.split(",") if "=" in p)
    return {k: str(v) for k, v in args.items()}


def _cell_identity(path: Path, root: Path) -> dict | None:
    for folder in path.parents:
        if (folder / _CELL_FILE).is_file():
            return json.loads((folder / _CELL_FILE).read_text(encoding="utf-8"))
        if folder == root or root not in folder.parents:
            return None
    return None


def _entry(path: Path, root: Path) -> ResultsEntry:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: not a readable results JSON ({exc})") from None
    if not isinstance(results, dict) or "results" not in results:
        raise ReportError(f"{path}: not an lm-eval results file (no 'results')")
    config = results.get("config", {})
    sha = config.get("model_sha") or None
    cell = _cell_identity(path, root)
    if cell is not None:
        return ResultsEntry(
            path,
            results,
            cell["run"],
            cell["label"],
            cell.get("step"),
            cell.get("tokens"),
            cell.get("revision"),
            sha,
        )
    args = _model_args(results)
    pretrained = args.get("pretrained") or results.get("model_name") or path.parent.name
    revision = args.get("revision") or None
    adapter = args.get("lora") or args.get("peft") or None
    parsed = parse_checkpoint_name(adapter or revision or pretrained)
    return ResultsEntry(
        path,
        results,
        run_name(pretrained, adapter),
        checkpoint_label(pretrained, revision, adapter),
        parsed.step,
        parsed.tokens,
        revision,
        sha,
    )


def is_shard_run(results: dict) -> bool:
    """Whether ``results`` are a shard run's (``journal_shard=K/N``, before any merge)."""
    return bool(((results.get("config") or {}).get("lm_eval_ext") or {}).get("shard"))


def find_entries(inputs: list[Path]) -> list[ResultsEntry]:
    """Every results file under the input folders (or the files themselves), attributed;
    shard runs' partial results are left out (a shard's file given by name is refused)."""
    entries = []
    for root in map(Path, inputs):
        if root.is_file():
            entry = _entry(root, root.parent)
            if is_shard_run(entry.results):
                raise ReportError(f"{root}: {_SHARD_RUN}")
            entries.append(entry)
            continue
        if not root.is_dir():
            raise ReportError(f"{root}: no such file or directory")
        found = [_entry(p, root) for p in sorted(root.rglob("results_*.json"))]
        kept = [e for e in found if not is_shard_run(e.results)]
        if not kept and not (root / _MANIFEST_FILE).is_file():
            what = _SHARD_RUN if found else "no results_*.json under it (an lm_eval --output_path?)"
            raise ReportError(f"{root}: {what}")
        entries += kept
    return entries


_SHARD_RUN = (
    "only partial results of shard runs (journal_shard=K/N) here: merge the shards "
    "(lm-eval-ext merge) and report the merged output"
)


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _rows(entry: ResultsEntry) -> list[dict]:
    rows = []
    for task, metrics in entry.results.get("results", {}).items():
        n_samples = entry.results.get("n-samples", {}).get(task, {})
        n = n_samples.get("effective", n_samples.get("original"))
        for key, value in metrics.items():
            metric, _, filt = key.partition(",")
            if metric in _NOT_METRICS or metric.endswith("_stderr") or _number(value) is None:
                continue
            rows.append(
                {
                    "run": entry.run,
                    "checkpoint": entry.checkpoint,
                    "step": entry.step,
                    "tokens": entry.tokens,
                    "task": task,
                    "metric": metric,
                    "filter": filt or "none",
                    "value": float(value),
                    "stderr": _number(metrics.get(f"{metric}_stderr,{filt}")),
                    "n": n,
                    "revision": entry.revision,
                    "sha": entry.sha,
                    "results_file": str(entry.path),
                    "_date": entry.results.get("date") or 0,
                    "_stem": entry.path.stem,
                }
            )
    return rows


def long_table(entries: list[ResultsEntry]) -> pd.DataFrame:
    """One row per run, checkpoint, task, metric, filter (the newest results file wins)."""
    rows = [row for entry in entries for row in _rows(entry)]
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame(rows).sort_values(["_date", "_stem"])
    keys = ["run", "checkpoint", "task", "metric", "filter"]
    df = df.drop_duplicates(keys, keep="last")
    df["step"] = df["step"].astype("Int64")
    df["tokens"] = df["tokens"].astype("Int64")
    df["n"] = df["n"].astype("Int64")
    order = df["step"].fillna(df["tokens"]).astype("Float64").fillna(-1)
    df = df.assign(_order=order).sort_values(["run", "_order", "checkpoint", "task", "metric"])
    return df[COLUMNS].reset_index(drop=True)


def entries_by_task(
    entries: list[ResultsEntry], run: str, checkpoint: str
) -> dict[str, ResultsEntry]:
    """Task -> the newest results entry of ``run@checkpoint`` that evaluated it."""
    chosen: dict[str, ResultsEntry] = {}
    mine = [e for e in entries if e.run == run and e.checkpoint == checkpoint]
    for entry in sorted(mine, key=lambda e: (e.results.get("date") or 0, e.path.stem)):
        chosen.update(dict.fromkeys(entry.results.get("configs", {}), entry))
    return chosen


def read_samples(entry: ResultsEntry, task: str) -> list[dict]:
    """The samples rows of ``task`` in ``entry``'s run (a clear error when absent)."""
    path = entry.path.with_name(f"samples_{task}_{entry.date_id}.jsonl")
    if not path.is_file():
        raise ReportError(f"{path}: missing (paired comparisons need lm_eval --log_samples)")
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def expected_cells(inputs: list[Path]) -> list[tuple[str, str, str]]:
    """(run, checkpoint, task) of every cell the sweep manifests among ``inputs`` plan."""
    expected = []
    for root in map(Path, inputs):
        manifest = root / _MANIFEST_FILE
        if not manifest.is_file():
            continue
        for cell in json.loads(manifest.read_text(encoding="utf-8")).get("cells", []):
            expected += [(cell["run"], cell["label"], task) for task in cell["tasks"]]
    return expected
