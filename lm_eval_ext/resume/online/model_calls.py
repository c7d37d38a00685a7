"""One model call of the journaled LM: answers journaled as they arrive, failures as errors.

``ModelCalls`` is the part of :class:`~lm_eval_ext.resume.online.journaled_lm.JournaledLM` that
talks to the wrapped model: it calls it with a :class:`ResponseCapture` in lm-eval's cache-hook
place (each answer journaled the moment the backend reports it), journals what the call returns
for requests no report named, and journals failures with their kind.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lm_eval_ext._compat.lm_eval_models import cache_hook_swapped
from lm_eval_ext.resume.online.api_retry import ApiRetries, Failure
from lm_eval_ext.resume.online.capture import ResponseCapture
from lm_eval_ext.resume.storage.journal import Journal
from lm_eval_ext.resume.storage.records import ResponseRecord
from lm_eval_ext.resume.storage.responses import encode_response
from lm_eval_ext.resume.storage.writer import kill_hook

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """The requests of one request-type call to the journaled LM, and their progress."""

    reqtype: str
    requests: list
    keys: list[str]
    results: list
    done: list[bool]


class ModelCalls:
    """Calls of the wrapped model ``lm`` whose outcomes go to ``journal`` (a mixin)."""

    lm: Any
    journal: Journal
    model_hash: str
    fail: Callable[[Any], bool] | None
    api: ApiRetries | None
    calls: int

    def _record(
        self, batch: Batch, i: int, resp: Any = None, failure: Failure | None = None
    ) -> ResponseRecord:
        req = batch.requests[i]
        return ResponseRecord(
            batch.keys[i],
            self.model_hash,
            batch.reqtype,
            req.task_name,
            req.doc_id,
            req.idx,
            None if failure else encode_response(resp),
            failure.message if failure else None,
            kind=failure.kind if failure else None,
        )

    def _captured_call(
        self, batch: Batch, group: list[int], wanted: set[int]
    ) -> tuple[ResponseCapture, list | None, Exception | None]:
        """Call the model on ``group``; each answer of a ``wanted`` request is journaled as the
        backend reports it. Returns the capture, the returned list and the exception raised."""
        self.calls += 1
        number, first = self.calls, [True]

        def on_answer(i: int, resp: Any) -> None:
            if first[0]:  # the kill tests' ``call:N``: a response computed, not journaled
                first[0] = False
                kill_hook("call", number)
            batch.results[i], batch.done[i] = resp, True
            self.journal.append([self._record(batch, i, resp)])

        pending = {i for i in group if i in wanted and not batch.done[i]}

        def make_capture(previous: Any) -> ResponseCapture:
            return ResponseCapture(
                batch.reqtype,
                batch.requests,
                group,
                pending,
                previous,
                on_answer,
                lambda i, failure: self._journal_error(batch, i, failure),
            )

        out, exc = None, None
        with cache_hook_swapped(self.lm, make_capture) as capture:
            if self.api is not None:
                self.api.listener = capture
            try:
                out = self._call(batch.reqtype, [batch.requests[i] for i in group])
            except Exception as error:  # noqa: BLE001 - the caller settles it, by kind
                exc = error
            finally:
                if self.api is not None:
                    self.api.listener = None
        if exc is None and first[0]:
            kill_hook("call", number)
        return capture, out, exc

    def _take_returned(
        self,
        batch: Batch,
        group: list[int],
        left: list[int],
        out: list | None,
        capture: ResponseCapture,
    ) -> None:
        """Journal the returned answers of the ``left`` requests (those no report named)."""
        if not left:
            return
        if capture.unattributed:  # an API failure no report could name: ``out`` may hold
            for i in left:  # its placeholders, which are never answers
                self._journal_error(batch, i, capture.unattributed[0])
            return
        assert out is not None
        answers = dict(zip(group, out, strict=True))
        for i in left:
            batch.results[i], batch.done[i] = answers[i], True
        self.journal.append([self._record(batch, i, answers[i]) for i in left])

    def _call(self, reqtype: str, reqs: list) -> list:
        if self.fail is not None and any(self.fail(r) for r in reqs):
            raise _simulated_oom(len(reqs))
        method = getattr(self.lm, reqtype)
        if "disable_tqdm" in inspect.signature(method).parameters:
            return method(reqs, disable_tqdm=True)
        return method(reqs)

    def _journal_error(self, batch: Batch, i: int, failure: Failure) -> None:
        req = batch.requests[i]
        log.error(
            "journal: %s request of %s doc %s failed (%s): %s",
            batch.reqtype,
            req.task_name,
            req.doc_id,
            failure.kind,
            failure.message,
        )
        self.journal.append([self._record(batch, i, failure=failure)])


def _simulated_oom(n: int) -> Exception:
    import torch

    return torch.OutOfMemoryError(f"simulated CUDA out of memory (test hook, batch of {n})")


def free_accelerator_memory() -> None:
    """Release cached accelerator memory after an out-of-memory (best effort)."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort only
        pass
