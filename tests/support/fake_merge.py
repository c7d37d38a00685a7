"""A stand-in for ``lm-eval-ext merge`` that sweep tests run as a group's merge (``--merge_cmd``).

It refuses what the real merge refuses before replaying (a folder without a shard run's
results, a shard given twice, shards of different sizes) and, like ``merge --complete``, writes
nothing and exits 2 when a shard is missing. Otherwise it writes lm-eval-shaped results +
samples into ``--output_path``: doc ``d`` as shard ``d % N`` scored it, the model args without
``journal_shard`` and the merged journal's folder. Environment:

- ``FAKE_MERGE_LOG``: append one JSON line per invocation (pid, output path, shards, start, end);
- ``FAKE_MERGE_SLEEP``: seconds to "replay" (default 0);
- ``FAKE_MERGE_FAIL``: exit 2 as a merge finding a doc without an answer does, when the output
  path contains this text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from lm_eval_ext.demo.fake_results import write_fake_run


def _fail(message: str) -> int:
    print(f"lm-eval-ext merge: error: {message}", file=sys.stderr)
    return 2


def _shard_run(folder: Path) -> tuple[dict, dict[str, list[dict]]]:
    """The newest results of ``folder`` and its samples rows per task."""
    results_path = sorted(folder.rglob("results_*.json"))[-1]
    results = json.loads(results_path.read_text())
    date_id = results_path.stem[len("results_") :]
    samples = {
        task: [json.loads(line) for line in (results_path.parent / name).read_text().splitlines()]
        for task in results["configs"]
        for name in [f"samples_{task}_{date_id}.jsonl"]
    }
    return results, samples


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("shards", type=Path, nargs="+")
    parser.add_argument("-o", "--output_path", type=Path, required=True)
    parser.add_argument("--complete", action="store_true")
    opts = parser.parse_args(argv)
    start = time.time()
    time.sleep(float(os.environ.get("FAKE_MERGE_SLEEP", "0")))
    runs = {}
    for folder in opts.shards:
        if not list(folder.rglob("results_*.json")):
            return _fail(f"{folder}: no results_*.json found")
        results, samples = _shard_run(folder)
        shard = ((results["config"].get("lm_eval_ext") or {}).get("shard")) or ""
        if not shard:
            return _fail(f"{folder}: not a shard run (no journal_shard=K/N in its model args)")
        k, n = map(int, shard.split("/"))
        if k in runs:
            return _fail(f"shard(s) [{k}] given more than once")
        runs[k] = (n, results, samples)
    n = {size for size, _, _ in runs.values()}.pop()
    missing = sorted(set(range(n)) - set(runs))
    if missing and opts.complete:
        return _fail(
            f"merge of {len(runs)} shard(s) into {opts.output_path}: shard(s) {missing} of {n} "
            "missing; no partial results written"
        )
    if os.environ.get("FAKE_MERGE_FAIL") and os.environ["FAKE_MERGE_FAIL"] in str(opts.output_path):
        return _fail(
            f"merge of {len(runs)} shard(s) into {opts.output_path}: some docs have no answer; "
            "no partial results written"
        )
    _, first, _ = runs[min(runs)]
    tasks = {
        task: [
            row
            for k, (_, _, samples) in sorted(runs.items())
            for row in samples[task]
            if row["doc_id"] % n == k
        ]
        for task in first["configs"]
    }
    tasks = {task: sorted(rows, key=lambda r: r["doc_id"]) for task, rows in tasks.items()}
    journal = opts.output_path / "journal"
    journal.mkdir(parents=True, exist_ok=True)
    marks = {**first["config"]["lm_eval_ext"], "journal": str(journal), "shard": None}
    write_fake_run(
        opts.output_path,
        first["config"]["model_args"],
        tasks,
        model=first["config"]["model"],
        lm_eval_ext=marks,
    )
    log = os.environ.get("FAKE_MERGE_LOG")
    if log:
        record = {
            "pid": os.getpid(),
            "output_path": str(opts.output_path),
            "shards": sorted(runs),
            "start": start,
            "end": time.time(),
        }
        with open(log, "a") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
