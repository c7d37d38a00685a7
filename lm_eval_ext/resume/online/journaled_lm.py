"""``JournaledLM``: an lm-eval LM wrapper that journals every response as it is computed.

Like lm-eval's ``CachingLM`` it intercepts the three request methods and passes everything
else through; unlike it, the key covers the model's identity and the request's full content,
and each response is journaled the moment the backend reports it (``model_calls``, ``capture``),
not at the end of a call. When a call raises part-way, what arrived stays journaled and only the
rest is sent again; a call that raises before any answer is retried in smaller groups, then
alone, and a request that still fails is journaled as an error. API models retry their own HTTP
failures (``api_retry``) and never send an answered request again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from lm_eval_ext.errors import RequestsFailedError
from lm_eval_ext.resume.online.api_retry import ApiRequestFailed, ApiRetries, classify
from lm_eval_ext.resume.online.at_exit import finalize_at_exit
from lm_eval_ext.resume.online.model_calls import Batch, ModelCalls, free_accelerator_memory
from lm_eval_ext.resume.online.options import JournalOptions
from lm_eval_ext.resume.storage.journal import Journal
from lm_eval_ext.resume.storage.keys import RequestKeyer, with_occurrences
from lm_eval_ext.resume.storage.records import PlanRecord
from lm_eval_ext.resume.storage.responses import ERROR_PLACEHOLDER, decode_response

log = logging.getLogger(__name__)


class JournaledLM(ModelCalls):
    """Wrap ``lm`` so its responses go to (and come back from) ``journal``.

    Args:
        lm: the built lm-eval LM.
        journal: an opened :class:`Journal`.
        model_hash: hash of the model identity (part of every key).
        options: the journal's options (chunk size, strictness, shard...).
        fail: test hook; requests for which it returns True raise a simulated out-of-memory.
        api: an API model's retrying request callers: requests cost money, so a chunk cut
            short is never sent whole again, only its unanswered requests.
    """

    def __init__(
        self,
        lm: Any,
        journal: Journal,
        model_hash: str,
        options: JournalOptions,
        fail: Callable[[Any], bool] | None = None,
        api: ApiRetries | None = None,
    ) -> None:
        self.lm = lm
        self.journal = journal
        self.model_hash = model_hash
        self.options = options
        self.chunk_size = options.chunk
        self.strict = options.strict
        self.shard = options.shard
        self.fail = fail
        self.api = api
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

    def _run(self, reqtype: str, requests: list, disable_tqdm: bool) -> list:
        batch = Batch(reqtype, requests, self._keys(reqtype, requests), [None] * len(requests), [])
        self.journal.append([self._plan_record(reqtype, requests)])
        for i, key in enumerate(batch.keys):
            hit = self.journal.success(key)
            batch.results[i] = decode_response(reqtype, hit.resp) if hit is not None else None
            batch.done.append(hit is not None)
        n_done = sum(batch.done)
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
            missing = [i for i in chunk if not batch.done[i]]
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
            retrying = any(batch.keys[i] in self.journal.entries for i in missing)
            # A local model's chunk cut short by a kill is recomputed whole: same batches, same
            # numbers. An API model's answered requests are never paid for again.
            group = missing if retrying or self.api is not None else chunk
            self._compute(batch, group, set(missing), retry=not multi)
            pbar.update(len(missing))
        pbar.close()
        return self._finish(batch, skipped)

    def _any_rank_needs(self, needed: bool) -> bool:
        """Whether any rank of a multi-process run computes its current chunk (collective)."""
        import torch

        flag = torch.tensor([int(needed)], device=getattr(self.lm, "device", "cpu"))
        return bool(self.lm.all_gather(flag).sum().item())

    def _compute(
        self, batch: Batch, group: list[int], wanted: set[int], retry: bool = True
    ) -> None:
        """Run ``group`` (journaling each answer as it arrives), then settle what is left.

        Left: wanted requests with neither an answer nor a failure an API call gave up on.
        After an exception, if anything got an outcome, only the left ones are sent again;
        if nothing did, the group is bisected (out of memory), and a request failing alone,
        or all left ones after an API outage outlasting ``journal_retry_s``, are journaled as
        errors. Without ``retry`` (multi-process runs, where one rank cannot retry alone
        without unpairing collective ops) an exception ends the run; the journal keeps what is
        done.
        """
        capture, out, exc = self._captured_call(batch, group, wanted)
        left = [i for i in group if i in wanted and not batch.done[i] and i not in capture.failed]
        if exc is None:
            self._take_returned(batch, group, left, out, capture)
            return
        if not retry:
            log.error(
                "journal: %s in a multi-process run: stopping (a rerun resumes from the journal)",
                type(exc).__name__,
            )
            raise exc
        if not left:
            return
        if capture.answered or capture.failed:
            self._compute(batch, left, wanted)
            return
        failure = classify(exc)
        if len(group) == 1 or (isinstance(exc, ApiRequestFailed) and failure.transient):
            for i in left:
                self._journal_error(batch, i, failure)
            return
        log.warning(
            "journal: %s on %d requests (%s); retrying in halves",
            type(exc).__name__,
            len(left),
            exc,
        )
        free_accelerator_memory()
        half = len(left) // 2
        for part in (left[:half], left[half:]):
            self._compute(batch, part, wanted)

    def _finish(self, batch: Batch, skipped: set[int]) -> list:
        failed = [i for i, ok in enumerate(batch.done) if not ok and i not in skipped]
        for i in failed:
            req = batch.requests[i]
            record = self.journal.entries.get(batch.keys[i])
            err = record.err if record is not None else "not computed"
            self.errored_docs.setdefault(req.task_name, {})[req.doc_id] = err
        results = [
            r if ok else ERROR_PLACEHOLDER.get(batch.reqtype)
            for r, ok in zip(batch.results, batch.done, strict=True)
        ]
        self.journal.writer.sync()
        if failed:
            msg = (
                f"{len(failed)} {batch.reqtype} request(s) failed even when retried; they are "
                f"journaled as errors in {self.journal.root} and a rerun retries only them"
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
