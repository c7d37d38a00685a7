"""``lm-eval-ext merge``: combine shard runs (``journal_shard=K/N``) into one run's output.

Every shard builds all requests of the evaluation (so prompts, few-shot draws and request keys
are those of a single run) and computes only its chunks: chunk ``c`` of each request type goes
to shard ``c % N``; chunks are the journal's, so a shard computes exactly the batches a single
journaled run with the same ``journal_chunk`` computes. Merging copies the shards' journals into
``OUT/journal`` and replays the evaluation through lm-eval with the merged journal as the model
(no model is loaded), which writes results and samples files identical to a single run's.
A ``complete`` merge (what a sweep runs) writes no results unless every shard is there and
every doc has an answer.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext.resume.offline.doc_outcomes import answered_docs, journal_docs
from lm_eval_ext.resume.offline.lost_answers import check_no_lost_answers
from lm_eval_ext.resume.offline.reevaluate import Reevaluated, reevaluate
from lm_eval_ext.resume.offline.replay import journal_answers
from lm_eval_ext.resume.offline.rescore import summary
from lm_eval_ext.resume.storage.journal import load_entries
from lm_eval_ext.resume.storage.outputs import (
    RunOutput,
    RunOutputError,
    journal_model_hash,
    latest_results_file,
    model_args_dict,
    read_run_output,
    recorded_doc_ids,
    run_journal,
    write_run_output,
)

log = logging.getLogger(__name__)

#: Model args that legitimately differ between the shards of one evaluation.
PER_SHARD_ARGS = ("journal", "journal_shard")


class IncompleteMergeError(RunOutputError):
    """A complete merge was asked, and a shard is missing or some doc has no answer."""


@dataclass
class Shard:
    """One shard's finished run: its output, journal, model hash and ``(k, n)``."""

    run: RunOutput
    journal: Path
    model_hash: str
    k: int
    n: int


def read_shard(out: Path) -> Shard:
    """The newest run under ``out``, which must be a journaled shard run."""
    run = read_run_output(latest_results_file(out))
    info = (run.results.get("config") or {}).get("lm_eval_ext") or {}
    if not info.get("shard"):
        raise RunOutputError(
            f"{run.results_path}: not a shard run (no journal_shard=K/N in its model args)"
        )
    journal = run_journal(run.results, run.results_path)
    if journal is None:
        raise RunOutputError(f"{run.results_path}: its journal {info.get('journal')} is gone")
    k, _, n = str(info["shard"]).partition("/")
    return Shard(run, journal, journal_model_hash(run.results, journal), int(k), int(n))


def _signature(shard: Shard) -> dict[str, Any]:
    """What must agree between shards of one evaluation."""
    args = {k: v for k, v in model_args_dict(shard.run.results).items() if k not in PER_SHARD_ARGS}
    res = shard.run.results
    return {
        "model": shard.model_hash,
        "n": shard.n,
        "args": args,
        "n-shot": res.get("n-shot"),
        "tasks": sorted(res["configs"]),
        "docs": recorded_doc_ids(shard.run),
        "chat_template": res.get("chat_template"),
        "system_instruction": res.get("system_instruction"),
    }


def check_shards(shards: list[Shard]) -> list[int]:
    """Raise when shards disagree; return the shard numbers that are missing (may be none)."""
    first = _signature(shards[0])
    for shard in shards[1:]:
        other = _signature(shard)
        diff = sorted(k for k in first if first[k] != other[k])
        if diff:
            raise RunOutputError(
                f"{shard.run.results_path} and {shards[0].run.results_path} "
                f"are not shards of one evaluation: they differ in {diff}"
            )
    seen = [s.k for s in shards]
    duplicates = sorted({k for k in seen if seen.count(k) > 1})
    if duplicates:
        raise RunOutputError(f"shard(s) {duplicates} given more than once")
    return sorted(set(range(shards[0].n)) - set(seen))


def _merged_template(shard: Shard, journal: Path) -> dict[str, Any]:
    """The shard's results as one unsharded run on the merged ``journal`` would record them.

    The model args (in ``config`` and in every task's metadata, where lm-eval copies them) lose
    ``journal_shard`` and point ``journal`` at the merged journal; nothing else changes.
    """
    results = dict(shard.run.results)
    config = dict(results.get("config") or {})
    args = _unsharded(model_args_dict(results), journal)
    raw = config.get("model_args")
    config["model_args"] = (
        args if isinstance(raw, dict) else ",".join(f"{k}={v}" for k, v in args.items())
    )
    config["lm_eval_ext"] = {
        **(config.get("lm_eval_ext") or {}),
        "journal": str(journal),
        "shard": None,
    }
    results["config"] = config
    results["configs"] = {
        task: {**cfg, "metadata": _unsharded(cfg["metadata"], journal)}
        if isinstance(cfg.get("metadata"), dict)
        else cfg
        for task, cfg in results["configs"].items()
    }
    return results


def _unsharded(args: dict[str, Any], journal: Path) -> dict[str, Any]:
    """``args`` (in their order) without ``journal_shard``, with ``journal`` set to ``journal``."""
    return {
        k: (str(journal) if k == "journal" else v) for k, v in args.items() if k != "journal_shard"
    }


def collect_journals(shards: list[Shard], journal: Path) -> None:
    """Copy every shard's journal files into ``journal`` (one file per shard and writer)."""
    journal.mkdir(parents=True, exist_ok=True)
    for shard in shards:
        for path in shard.journal.glob("*.jsonl"):
            shutil.copyfile(path, journal / f"shard{shard.k}of{shard.n}-{path.name}")
        for path in shard.journal.glob("model-*.json"):
            shutil.copyfile(path, journal / path.name)


def merge_shards(
    shard_outs: list[Path],
    out: Path,
    include_path: list[str] | None = None,
    *,
    complete: bool = False,
) -> tuple[Path, Reevaluated, list[int]]:
    """Merge shard outputs into ``out``; returns (results path, re-evaluation, missing shards).

    ``complete``: raise :class:`IncompleteMergeError`, writing no results or samples, when a
    shard is missing or a doc would be excluded (by default both are excluded and reported).
    """
    if not shard_outs:
        raise RunOutputError("merge: no shard output directories given")
    shards = sorted((read_shard(Path(p)) for p in shard_outs), key=lambda s: s.k)
    missing = check_shards(shards)
    what = f"merge of {len(shards)} shard(s) into {out}"
    if missing and complete:
        raise IncompleteMergeError(
            f"{what}: shard(s) {missing} of {shards[0].n} missing; no partial results written"
        )
    if missing:
        log.warning(
            "merge: shard(s) %s of %d missing: their docs are excluded", missing, shards[0].n
        )
    journal = (Path(out) / "journal").resolve()
    collect_journals(shards, journal)
    template = _merged_template(shards[0], journal)
    entries = load_entries(journal)[0]
    answer = journal_answers(entries, shards[0].model_hash)
    redone = reevaluate(template, answer, recorded_doc_ids(shards[0].run), include_path)
    # a doc counts as answered when a shard computed it without error (one journal has them all)
    states = journal_docs(entries, shards[0].model_hash)
    answered = set().union(*(answered_docs(s.run, states, shard=True) for s in shards))
    check_no_lost_answers(what, redone.excluded, answered)
    if redone.excluded and complete:
        raise IncompleteMergeError(
            f"{what}: some docs have no answer; no partial results written\n"
            + summary(redone.excluded)
        )
    path = write_run_output(Path(out), dict(redone.results), template)
    return path, redone, missing
