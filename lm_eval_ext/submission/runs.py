"""The runs a submission packages: the newest results file of every run directory under OUT.

A shard run's results (``journal_shard=K/N``, e.g. in a sharded sweep's ``<group>/shards/``)
cover part of the docs: they are never a run of a submission, only their merge is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext.resume import RunOutputError, find_results_files, read_run_output, run_is_shard


@dataclass
class RunFiles:
    """One run: a label (its directory under OUT), its results file and samples files."""

    label: str
    results_path: Path
    results: dict[str, Any]
    samples_paths: dict[str, Path]


def find_runs(outs: list[Path]) -> list[RunFiles]:
    """Every run under ``outs`` (an lm-eval ``--output_path`` or a sweep's OUT), in path order.

    A directory holding several results files (rescores) contributes its newest. Labels are
    the directory relative to its OUT, prefixed by the OUT's name when several are given.
    Shard runs are left out.
    """
    runs: list[RunFiles] = []
    for out in outs:
        newest: dict[Path, Path] = {}
        for path in find_results_files(Path(out)):  # oldest first
            newest[path.parent] = path
        if not newest:
            raise RunOutputError(f"{out}: no results_*.json under it (not an lm-eval output)")
        found = len(runs)
        for folder, path in sorted(newest.items()):
            rel = folder.relative_to(out).as_posix() if Path(out).is_dir() else folder.name
            label = rel if len(outs) == 1 else f"{Path(out).name}/{rel}"
            run = read_run_output(path)  # checks every task has its samples file
            if run_is_shard(run.results):
                continue
            samples = {
                task: path.with_name(f"samples_{task}_{run.date_id}.jsonl")
                for task in run.results["configs"]
            }
            runs.append(RunFiles(label, path, run.results, samples))
        if len(runs) == found:
            raise RunOutputError(
                f"{out}: only partial results of shard runs (journal_shard=K/N) under it: "
                "merge the shards (lm-eval-ext merge) and package the merged output"
            )
    labels = [r.label for r in runs]
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise RunOutputError(
            f"runs with the same label {duplicates}: give OUT dirs with different names"
        )
    return runs
