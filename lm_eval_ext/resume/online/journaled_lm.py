"""``JournaledLM``: an lm-eval LM wrapper that journals every response as it is computed.

Like lm-eval's ``CachingLM`` it intercepts the three request methods and passes everything
else through; unlike it, the key covers the model's identity and the request's full content,
work is journaled chunk by chunk (not at the end of a request type), and a request that raises
is retried in smaller groups, then alone, and journaled as an error if it still fails.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from lm_eval_ext.errors import RequestsFailedError
from lm_eval_ext.resume.online.at_exit import finalize_at_exit
from lm_eval_ext.resume.online.options import JournalOptions
from lm_eval_ext.resume.storage.journal import Journal
from lm_eval_ext.resume.storage.keys import RequestKeyer, with_occurrences
from lm_eval_ext.resume.storage.records import PlanRecord, ResponseRecord
from lm_eval_ext.resume.storage.responses import ERROR_PLACEHOLDER, decode_response, encode_response
from lm_eval_ext.resume.storage.writer import kill_hook

log = logging.getLogger(__name__)


class JournaledLM:
    """Wrap ``lm`` so its responses go to (and come back from) ``journal``.

    Args:
        lm: the built lm-eval LM.
        journal: an opened :class:`Journal`.
        model_hash: hash of the model identity (part of every key).
        options: the journal's options (chunk size, strictness, shard...).
        fail: test hook; requests for which it returns True raise a simulated out-of-memory.
    """

    def __init__(
        self,
        lm: Any,
        journal: Journal,
        model_hash: str,
        options: JournalOptions,
        fail: Callable[[Any], bool] | None = None,
    ) -> None:
        self.lm = lm
        self.journal = journal
        self.model_hash = model_hash
        self.options = options
        self.chunk_size = options.chunk
        self.strict = options.strict
        self.shard = options.shard
        self.fail = fail
        self.errored_docs: dict[str, dict[int, str]] = {}
        self.calls = 0  # model calls made (the kill tests' ``call:N`` counts them)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not found on the wrapper: rank, world_size, tokenizer...
        return getattr(self.__dict__["lm"], name)

    def get_model_info(self) -> dict[str, Any]:
        """The wrapped model's info plus the journal's (lm-eval puts it in results["config"])."""
        info = dict(self.lm.get_model_info()) if hasattr(self.lm, "get_model_info") else {}
        info["lm_eval_ext"] = {
            "journal": str(self.journal.root),
            "model_hash": self.model_hash,
            "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
            "errored_docs": {t: len(d) for t, d in sorted(self.errored_docs.items())},
        }
        return info

    def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list:
        """Journaled ``loglikelihood``."""
        return self._run("loglikelihood", requests, disable_tqdm)

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list:
        """Journaled ``loglikelihood_rolling``."""
        return self._run("loglikelihood_rolling", requests, disable_tqdm)

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list:
        """Journaled ``generate_until``."""
        return self._run("generate_until", requests, disable_tqdm)

    def _keys(self, reqtype: str, requests: list) -> list[str]:
        keyer = RequestKeyer(self.model_hash)  # per call: docs are hashed once, then dropped
        return [keyer.key(reqtype, req, occ) for req, occ in with_occurrences(requests)]

    def _plan_record(self, reqtype: str, requests: list) -> PlanRecord:
        plan: dict[str, dict[str, int]] = {}
        for req in requests:
            docs = plan.setdefault(req.task_name, {})
            docs[str(req.doc_id)] = docs.get(str(req.doc_id), 0) + 1
        return PlanRecord(reqtype, self.model_hash, self.journal.writer_id, self.shard, plan)

    def _record(
        self, reqtype: str, req: Any, key: str, resp: Any = None, err: str | None = None
    ) -> ResponseRecord:
        return ResponseRecord(
            key, self.model_hash, reqtype, req.task_name, req.doc_id, req.idx, resp, err
        )

    def _run(self, reqtype: str, requests: list, disable_tqdm: bool) -> list:
        keys = self._keys(reqtype, requests)
        self.journal.append([self._plan_record(reqtype, requests)])
        results: list[Any] = [None] * len(requests)
        done = [False] * len(requests)
        for i, key in enumerate(keys):
            hit = self.journal.success(key)
            if hit is not None:
                results[i], done[i] = decode_response(reqtype, hit.resp), True
        n_done = sum(done)
        log.info("journal: %s: %d of %d requests already done", reqtype, n_done, len(requests))
        pbar = tqdm(
            total=len(requests),
            initial=n_done,
            desc=f"{reqtype} (journaled)",
            disable=disable_tqdm or getattr(self.lm, "rank", 0) != 0,
        )
        skipped: set[int] = set()
        multi = int(getattr(self.lm, "world_size", 1) or 1) > 1
        order = _longest_context_first(requests)
        for number, start in enumerate(range(0, len(requests), self.chunk_size)):
            chunk = order[start : start + self.chunk_size]
            missing = [i for i in chunk if not done[i]]
            ours = not self.shard or number % self.shard[1] == self.shard[0]
            if not ours:
                skipped.update(missing)  # another shard's chunk (the same chunks everywhere)
                pbar.update(len(missing))
            needed = bool(missing) and ours
            if not needed:
                if multi and self._any_rank_needs(needed):
                    # HFLM's methods hold collective ops (all_gather): every rank must make
                    # the same calls, so this rank recomputes a chunk and discards the result
                    self._call(reqtype, [requests[i] for i in chunk])
                continue
            if multi:
                self._any_rank_needs(needed)  # the other ranks' matching collective
            retrying = any(keys[i] in self.journal.entries for i in missing)
            # A chunk cut short by a kill is recomputed whole: same batches, same numbers.
            group = missing if retrying else chunk
            self._compute(
                reqtype, requests, keys, group, set(missing), results, done, retry=not multi
            )
            pbar.update(len(missing))
        pbar.close()
        return self._finish(reqtype, requests, keys, results, done, skipped)

    def _any_rank_needs(self, needed: bool) -> bool:
        """Whether any rank of a multi-process run computes its current chunk (collective)."""
        import torch

        flag = torch.tensor([int(needed)], device=getattr(self.lm, "device", "cpu"))
        return bool(self.lm.all_gather(flag).sum().item())

    def _compute(
        self,
        reqtype: str,
        requests: list,
        keys: list[str],
        group: list[int],
        wanted: set[int],
        results: list,
        done: list,
        retry: bool = True,
    ) -> None:
        """Run ``group``; on an exception bisect it, then journal lone failures as errors.

        Without ``retry`` (multi-process runs, where one rank cannot retry alone without
        unpairing collective ops) an exception ends the run; the journal keeps what is done.
        """
        try:
            out = self._call(reqtype, [requests[i] for i in group])
        except Exception as exc:
            if not retry:
                log.error(
                    "journal: %s in a multi-process run: stopping (a rerun resumes "
                    "from the journal)",
                    type(exc).__name__,
                )
                raise
            if len(group) == 1:
                self._journal_error(reqtype, requests[group[0]], keys[group[0]], exc)
                return
            log.warning(
                "journal: %s on %d requests (%s); retrying in halves",
                type(exc).__name__,
                len(group),
                exc,
            )
            _free_accelerator_memory()
            half = len(group) // 2
            for part in (group[:half], group[half:]):
                self._compute(reqtype, requests, keys, part, wanted, results, done)
            return
        records = []
        for i, resp in zip(group, out, strict=True):
            if i not in wanted:
                continue
            results[i], done[i] = resp, True
            records.append(self._record(reqtype, requests[i], keys[i], encode_response(resp)))
        self.journal.append(records)

    def _call(self, reqtype: str, reqs: list) -> list:
        if self.fail is not None and any(self.fail(r) for r in reqs):
            raise _simulated_oom(len(reqs))
        method = getattr(self.lm, reqtype)
        if "disable_tqdm" in inspect.signature(method).parameters:
            out = method(reqs, disable_tqdm=True)
        else:
            out = method(reqs)
        self.calls += 1
        kill_hook("call", self.calls)
        return out

    def _journal_error(self, reqtype: str, req: Any, key: str, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"[:2000]
        log.error(
            "journal: %s request of %s doc %s failed alone: %s",
            reqtype,
            req.task_name,
            req.doc_id,
            message,
        )
        self.journal.append([self._record(reqtype, req, key, err=message)])

    def _finish(
        self,
        reqtype: str,
        requests: list,
        keys: list[str],
        results: list,
        done: list,
        skipped: set[int],
    ) -> list:
        failed = [i for i, ok in enumerate(done) if not ok and i not in skipped]
        for i in failed:
            req = requests[i]
            record = self.journal.entries.get(keys[i])
            err = record.err if record is not None else "not computed"
            self.errored_docs.setdefault(req.task_name, {})[req.doc_id] = err
        for i, ok in enumerate(done):
            if not ok:
                results[i] = ERROR_PLACEHOLDER.get(reqtype)
        self.journal.writer.sync()
        if failed:
            msg = (
                f"{len(failed)} {reqtype} request(s) failed even alone; they are journaled "
                f"as errors in {self.journal.root} and a rerun retries only them"
            )
            if self.strict:
                raise RequestsFailedError(msg + " (journal_strict=true)")
            log.warning(
                "journal: %s. Their docs are excluded from the metrics in the results "
                "JSON once lm-eval has written it (lm-eval's own table still counts "
                "them as wrong)",
                msg,
            )
        if (failed or skipped) and getattr(self.lm, "rank", 0) == 0:
            finalize_at_exit(self.journal.root)
        return results


def _longest_context_first(requests: list) -> list[int]:
    """Request indices, longest context first, a context's requests together.

    lm-eval lists requests in task/doc order; cut into chunks like that, every model call
    mixes short and long contexts and pads more (measured +5.9% padded tokens at 64-request
    chunks). The order is deterministic, so every shard and every rerun forms the same chunks.
    """

    def key(i: int) -> tuple[int, str, int]:
        context = requests[i].args[0] if requests[i].args else ""
        text = context if isinstance(context, str) else repr(context)
        return (-len(text), text, i)

    return sorted(range(len(requests)), key=key)


def _simulated_oom(n: int) -> Exception:
    import torch

    return torch.OutOfMemoryError(f"simulated CUDA out of memory (test hook, batch of {n})")


def _free_accelerator_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort only
        pass
