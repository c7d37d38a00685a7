"""``lm-eval-ext package``: one or more runs (or a sweep) as a deterministic submission zip.

Members: ``runs/<label>/results_<date>.json`` and its ``samples_*.jsonl`` for every run, the
suite (``suite.yaml``) and its ``scores.csv`` / ``scores.md`` when a suite is given, and
``manifest.json`` (model,
revision and commit, dtype, public model args, versions, per task its version, n-shot, task
hash and n-samples, and the sha256 and size of every other member). Same inputs, same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lm_eval_ext.submission.archive import write_zip
from lm_eval_ext.submission.manifest import (
    FORMAT,
    MANIFEST,
    creation_time,
    member_entry,
    run_entry,
    versions,
)
from lm_eval_ext.submission.runs import RunFiles, find_runs
from lm_eval_ext.submission.scores import RunScores, score_run, scores_csv, scores_markdown
from lm_eval_ext.submission.suites import Suite


@dataclass
class Packaged:
    """What ``package_runs`` wrote: the zip, its runs, and the suite's scores (if any)."""

    path: Path
    runs: list[RunFiles]
    scores: list[RunScores]


def run_prefix(run: RunFiles) -> str:
    """The folder of a run's members inside the zip."""
    return "runs" if run.label in ("", ".") else f"runs/{run.label}"


def package_runs(outs: list[Path], output: Path, suite: Suite | None = None) -> Packaged:
    """Package every run under ``outs`` into ``output`` (a zip), scored under ``suite``."""
    runs = find_runs([Path(o) for o in outs])
    members: list[tuple[str, bytes]] = []
    for run in runs:
        prefix = run_prefix(run)
        members.append((f"{prefix}/{run.results_path.name}", run.results_path.read_bytes()))
        for _, path in sorted(run.samples_paths.items()):
            members.append((f"{prefix}/{path.name}", path.read_bytes()))
    scores = [score_run(run.label, run.results, suite) for run in runs] if suite else []
    if suite is not None:
        members.append(("suite.yaml", suite.text.encode()))
        members.append(("scores.csv", scores_csv(scores).encode()))
        members.append(("scores.md", scores_markdown(scores, suite).encode()))
    manifest = {
        "format": FORMAT,
        "created": creation_time(runs),
        "suite": suite.name if suite else None,
        **versions(),
        "runs": [run_entry(run, run_prefix(run)) for run in runs],
        "members": {name: member_entry(data) for name, data in members},
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_zip(Path(output), [(MANIFEST, text.encode()), *members])
    return Packaged(Path(output), runs, scores)
