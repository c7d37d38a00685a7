"""``ResponseCapture``: the cache hook that hands each response to the journal as it arrives.

lm-eval's backends report every response the moment they have it, through
``self.cache_hook.add_partial(method, request_args, response)`` (HFLM per batch row, the API
models per HTTP answer, vLLM per finished chunk); ``--use_cache`` stores them there. During one
model call the journaled LM puts a ``ResponseCapture`` in that place (``_compat``): each report
is matched back to the call's pending request and journaled at once, so a kill or an exception
part-way through a call loses only what had not arrived. Reports are passed on to the hook that
was there before (lm-eval's cache), unchanged.

A report names its request by the backend's cache key: the text parts of its arguments
(``(context, continuation)``, ``(context, gen_kwargs)``, ``(string,)``). Images are not in it
(``hf-multimodal``), nor are generation kwargs reliably (``vllm-vlm`` rewrites them), so a report
is matched on the context (and continuation), and only where that leaves no doubt: requests of
the call that share it but differ in their full arguments (answered ones included: a local
model's chunk is sent whole again) are not matched by reports; they are taken from the call's
return value instead. Identical requests (repeats) are matched in turn.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from lm_eval_ext.resume.online.api_retry import Failure
from lm_eval_ext.resume.storage.keys import args_fingerprint


def report_name(reqtype: str, args: Any) -> str:
    """What a backend's report and a request have in common: the text parts of the arguments."""
    head = list(args)[: 2 if reqtype == "loglikelihood" else 1]
    return json.dumps(head, sort_keys=True, default=repr, ensure_ascii=False)


class ResponseCapture:
    """The cache hook of one model call over ``requests[i] for i in indices``.

    Args:
        reqtype: the call's request type; reports of other types are only passed on.
        requests: the journaled LM's request list; ``indices``: those the call sends.
        pending: those of ``indices`` whose answers are wanted.
        previous: the hook that was installed before (reports are passed on to it).
        on_answer: ``on_answer(i, response)``, called for each matched report.
        on_failure: ``on_failure(i, failure)``, for each request an API call gave up on.
    """

    def __init__(
        self,
        reqtype: str,
        requests: list,
        indices: list[int],
        pending: set[int],
        previous: Any,
        on_answer: Callable[[int, Any], None],
        on_failure: Callable[[int, Failure], None],
    ) -> None:
        self.reqtype = reqtype
        self.previous = previous
        self.on_answer, self.on_failure = on_answer, on_failure
        self.answered: set[int] = set()
        self.failed: dict[int, Failure] = {}
        self.unattributed: list[Failure] = []  # failures of requests no report could name
        self._rolling_failure: Failure | None = None
        self._lock = threading.Lock()
        groups: dict[str, list[int]] = defaultdict(list)
        for i in indices:
            groups[report_name(reqtype, requests[i].args)].append(i)
        self._pending = {
            name: deque(i for i in group if i in pending)
            for name, group in groups.items()
            if len(group) == 1 or len({args_fingerprint(requests[i].args) for i in group}) == 1
        }

    def add_partial(self, attr: str, req: Any, res: Any) -> None:
        """lm-eval's cache-hook call: journal the response of the request it names."""
        self.previous.add_partial(attr, req, res)
        if attr != self.reqtype or req is None:
            return
        with self._lock:
            i = self._take(req)
            if i is None:
                return
            failure, self._rolling_failure = self._rolling_failure, None
            if failure is not None:  # a window of this text was given up: the sum is not an answer
                self.failed[i] = failure
                self.on_failure(i, failure)
                return
            self.answered.add(i)
            self.on_answer(i, res)

    def add_failure(self, reqtype: str, cache_keys: tuple, failure: Failure) -> None:
        """An API call gave up on the requests named by ``cache_keys``."""
        with self._lock:
            if self.reqtype == "loglikelihood_rolling" and reqtype != self.reqtype:
                self._rolling_failure = failure  # reported with the text's total, next
                return
            for key in cache_keys:
                i = self._take(key) if reqtype == self.reqtype and key is not None else None
                if i is None:
                    self.unattributed.append(failure)
                    continue
                self.failed[i] = failure
                self.on_failure(i, failure)

    def _take(self, req: Any) -> int | None:
        queue = self._pending.get(report_name(self.reqtype, req))
        return queue.popleft() if queue else None
