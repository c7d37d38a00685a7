"""Where a journaled run spends time a plain run does not: cProfile breakdown + padding count.

Part of ``bench/resume.py``. Profiles four runs on the same (limited) workload: plain; with a
fresh journal at the layer's default ``journal_chunk``; with a fresh journal whose chunk holds
a whole request type (``journal_chunk=BIG``: the model sees the same calls as plain); and the
resume of the second one's journal cut back to 90% of its request records.
"""

from __future__ import annotations

import cProfile
import json
import pstats
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: (label, file suffix, function name) of the profile entries reported, cumulative seconds.
ROWS = [
    ("whole simple_evaluate", "lm_eval/evaluator.py", "simple_evaluate"),
    (
        "model build (load, LoRA merge, journal open)",
        "lm_eval_ext/resume/online/seam.py",
        "build_lm",
    ),
    ("tasks: TaskManager.load (dataset, config)", "lm_eval/tasks/manager.py", "load"),
    ("tasks: build_all_requests (prompts)", "lm_eval/api/task.py", "build_all_requests"),
    (
        "journal: open (lock, load, model fingerprint)",
        "lm_eval_ext/resume/online/seam.py",
        "open_journal",
    ),
    (
        "journal: load_entries (scan, crc, json)",
        "lm_eval_ext/resume/storage/journal.py",
        "load_entries",
    ),
    (
        "journal: request_key (sha256 of each request)",
        "lm_eval_ext/resume/storage/keys.py",
        "request_key",
    ),
    (
        "journal: Journal.append (encode+crc+write)",
        "lm_eval_ext/resume/storage/journal.py",
        "append",
    ),
    ("journal: JournalWriter.sync (fsync)", "lm_eval_ext/resume/storage/writer.py", "sync"),
    ("journal: plan records", "lm_eval_ext/resume/online/journaled_lm.py", "_plan_record"),
    ("HFLM loglikelihood (tokenise + score)", "lm_eval/api/model.py", "loglikelihood"),
    ("  model: context-once prefix passes", "lm_eval_ext/models/context_once.py", "_run_prefixes"),
    (
        "  model: continuation (branch) passes",
        "lm_eval_ext/models/context_once.py",
        "_run_branches",
    ),
    ("HFLM generate_until (all of it)", "lm_eval/models/huggingface.py", "generate_until"),
    ("  model: HF generate", "lm_eval/models/huggingface.py", "_model_generate"),
    ("tqdm.__init__ (progress bars)", "tqdm/std.py", "__init__"),
]
BIG_CHUNK = 1 << 20


def _cumulative(stats: pstats.Stats, suffix: str, func: str) -> tuple[float, int]:
    """(cumulative seconds, calls) summed over profile entries matching file suffix + name."""
    seconds, calls = 0.0, 0
    for (filename, _line, name), (_cc, ncalls, _tt, ct, _callers) in stats.stats.items():
        if name == func and filename.endswith(suffix):
            seconds, calls = seconds + ct, calls + ncalls
    return seconds, calls


def _profiled(run: Callable[[], float]) -> pstats.Stats:
    profile = cProfile.Profile()
    profile.enable()
    run()
    profile.disable()
    return pstats.Stats(profile)


def _padding(world: Any, limit: int, batch_size: int, chunk: int | None) -> tuple[int, int]:
    """(real, padded) prefix tokens the context-once scorer runs, for calls of ``chunk`` requests.

    Rebuilds the MC requests as lm-eval does (``doc_to_text`` + " " + choice, the continuation
    split off the tokenised whole) and plans them with the scorer's own grouping/chunking.
    """
    from transformers import AutoTokenizer

    from lm_eval_ext.models._context_plan import chunk_groups, group_requests

    tokenizer = AutoTokenizer.from_pretrained(world.model_dir)
    docs = [json.loads(line) for line in (world.tasks_dir / "mc.jsonl").open()][:limit]
    pairs = []
    for doc in docs:
        context = f"{doc['context']}\nQuestion: {doc['question']}\nAnswer:"
        ctx = tokenizer.encode(context, add_special_tokens=False)
        for choice in doc["choices"]:
            whole = tokenizer.encode(f"{context} {choice}", add_special_tokens=False)
            pairs.append((ctx, whole[len(ctx) :]))
    step = chunk or len(pairs)
    real = padded = 0
    for start in range(0, len(pairs), step):
        groups = group_requests(pairs[start : start + step], max_length=1024)
        for sub in chunk_groups(groups, batch_size):
            lens = [len(g.prefix) for g in sub]
            real, padded = real + sum(lens), padded + max(lens) * len(lens)
    return real, padded


def print_profile(
    world: Any,
    opts: Any,
    tmp: Path,
    run_eval: Callable[..., Any],
    journal_args: Callable[[Path, int | None], dict],
    cut_journal: Callable[[Path, float], Any],
) -> None:
    """Profile plain / journaled / journaled-one-chunk runs and print the breakdown."""
    limit = min(opts.mc_docs, 300 if opts.quick else 600)
    default_chunk = opts.journal_chunk
    names_default = f"journal chunk={default_chunk or 'default'}"
    variants = {
        "plain": {},
        names_default: journal_args(tmp / "prof-j1", default_chunk),
        "journal chunk=BIG": journal_args(tmp / "prof-j2", BIG_CHUNK),
    }
    stats = {
        name: _profiled(lambda extra=extra: run_eval(world, opts.batch_size, extra, limit))
        for name, extra in variants.items()
    }
    cut_journal(tmp / "prof-j1", opts.resume_at)
    stats[f"resume {100 * opts.resume_at:.0f}%"] = _profiled(
        lambda: run_eval(world, opts.batch_size, variants[names_default], limit)
    )
    print(
        f"\noverhead breakdown: cProfile, {limit} MC docs + {world.gen_docs} gen docs, one run "
        "each (cumulative s, calls; profiling inflates Python-heavy parts)"
    )
    names = list(stats)
    print(f"  {'':46s}" + "".join(f"{n:>22s}" for n in names))
    for label, suffix, func in ROWS:
        cells = [_cumulative(stats[n], suffix, func) for n in names]
        print(f"  {label:46s}" + "".join(f"{s:14.3f}s {c:5d}x" for s, c in cells))
    chunk = default_chunk or _layer_default_chunk()
    real, padded_plain = _padding(world, limit, opts.batch_size, None)
    _, padded_chunked = _padding(world, limit, opts.batch_size, chunk)
    print(
        f"  prefix tokens run by the context-once scorer ({limit} docs): real {real}, "
        f"padded plain {padded_plain} (+{100 * (padded_plain / real - 1):.1f}%), padded in "
        f"calls of {chunk} requests {padded_chunked} (+{100 * (padded_chunked / real - 1):.1f}%)"
    )


def _layer_default_chunk() -> int:
    """The resume layer's default ``journal_chunk``."""
    from lm_eval_ext.resume.online.options import DEFAULT_CHUNK

    return DEFAULT_CHUNK
