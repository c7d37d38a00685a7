"""Retries of a journaled API model: exponential backoff with jitter, ``Retry-After``, bounded.

lm-eval's own retries (tenacity: 1-10 s waits, ``Retry-After`` ignored, and the whole concurrent
batch abandoned, answers in flight included, as soon as one request gives up) are replaced on a
journaled API model (``_compat.lm_eval_api``). Here each HTTP request that fails with a rate
limit (429), a server error (5xx), a timeout or a dropped or refused connection is retried on
its own, after ``base * 2**attempt`` seconds (capped, jittered), or after the ``Retry-After`` a
429/503 carries (seconds or an HTTP date), which also holds back every other request of the run
until then. Retries stop once no request of the run has been answered for ``journal_retry_s``
seconds: the request is given up. A concurrent one is then reported to the journal as failed
(its answer is a placeholder the journal never records) while the others go on; a sequential
one raises :class:`ApiRequestFailed`. Other failures (another HTTP 4xx, a malformed answer) are
never retried.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from lm_eval_ext._compat.lm_eval_api import ApiCall, install_request_retries
from lm_eval_ext.resume.storage.responses import ERROR_PLACEHOLDER

log = logging.getLogger(__name__)

#: Error kinds worth retrying: the same request may well succeed later.
TRANSIENT_KINDS = frozenset({"rate_limit", "server_error", "timeout", "connection"})


@dataclass(frozen=True)
class Failure:
    """Why a request failed: a kind (``storage.records.ERROR_KINDS``), a message, Retry-After."""

    kind: str
    message: str
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        """Whether retrying may help (rate limit, server error, timeout, connection)."""
        return self.kind in TRANSIENT_KINDS


class ApiRequestFailed(Exception):
    """A sequential API request given up on (retries exhausted, or not worth retrying)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def classify(exc: BaseException) -> Failure:
    """The :class:`Failure` an exception from a model call stands for."""
    if isinstance(exc, ApiRequestFailed):
        return exc.failure
    message = f"{type(exc).__name__}: {exc}"[:2000]
    status, headers = _http_status(exc)
    if status is not None:
        kind = (
            "rate_limit"
            if status == 429
            else "server_error"
            if status >= 500
            else "timeout"
            if status == 408
            else "client_error"
        )
        wait = parse_retry_after(headers.get("Retry-After")) if kind in TRANSIENT_KINDS else None
        return Failure(kind, f"HTTP {status}: {message}", wait)
    if any(cls.__name__ == "OutOfMemoryError" for cls in type(exc).__mro__):
        return Failure("oom", message)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or _is(exc, "requests", "Timeout"):
        return Failure("timeout", message)
    if isinstance(exc, ConnectionError) or any(
        _is(exc, module, name)
        for module, name in (
            ("aiohttp", "ClientConnectionError"),
            ("aiohttp", "ClientPayloadError"),
            ("requests", "ConnectionError"),
        )
    ):
        return Failure("connection", message)
    return Failure("error", message)


def _http_status(exc: BaseException) -> tuple[int | None, Mapping[str, str]]:
    """HTTP status and headers of an aiohttp ``ClientResponseError`` / requests ``HTTPError``."""
    status, headers = getattr(exc, "status", None), getattr(exc, "headers", None)
    response = getattr(exc, "response", None)
    if not isinstance(status, int) and response is not None:
        status = getattr(response, "status_code", None)
        headers = getattr(response, "headers", None)
    if not isinstance(status, int) or not 100 <= status <= 599:
        return None, {}
    return status, headers or {}


def _is(exc: BaseException, module: str, name: str) -> bool:
    import importlib

    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(exc, cls)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP-date), or None."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class RetryPolicy:
    """When to retry a failed request, shared by every request of one model.

    Args:
        budget_s: give up once nothing has been answered for this long (``journal_retry_s``).
        base_s, cap_s: backoff ``min(cap_s, base_s * 2**attempt)``, jittered to 50-100%.
        rng, clock: for tests.
    """

    def __init__(
        self,
        budget_s: float,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget_s, self.base_s, self.cap_s = budget_s, base_s, cap_s
        self.rng = rng or random.Random()
        self.clock = clock
        self._lock = threading.Lock()
        self._failing_since: float | None = None
        self._pause_until = 0.0

    def pause_s(self) -> float:
        """Seconds every request still waits because of a ``Retry-After``."""
        return max(0.0, self._pause_until - self.clock())

    def answered(self) -> None:
        """A request got its answer: the run is making progress again."""
        self._failing_since = None

    def backoff_s(self, attempt: int) -> float:
        """The jittered exponential wait before retry number ``attempt + 1``."""
        ceiling = min(self.cap_s, self.base_s * 2**attempt)
        return self.rng.uniform(ceiling / 2, ceiling)

    def next_delay(self, attempt: int, failure: Failure) -> float | None:
        """Seconds to wait before retrying after ``failure``, or None to give up."""
        if not failure.transient:
            return None
        with self._lock:
            now = self.clock()
            if self._failing_since is None:
                self._failing_since = now
            if failure.retry_after is None:
                delay = self.backoff_s(attempt)
            else:  # a little jitter so that the held-back requests do not all return at once
                delay = failure.retry_after + self.rng.uniform(0, min(1.0, self.base_s))
            if now + delay - self._failing_since > self.budget_s:
                return None
            if failure.retry_after is not None:
                self._pause_until = max(self._pause_until, now + delay)
            return delay


class ApiRetries:
    """The journal's retrying request callers, installed on one API model."""

    def __init__(self, lm: Any, policy: RetryPolicy) -> None:
        self.policy = policy
        #: receives ``add_failure(reqtype, cache_keys, failure)`` for given-up requests
        self.listener: Any = None
        install_request_retries(lm, self.send_async, self.send_sync)

    async def send_async(self, send: Callable[[], Awaitable[Any]], call: ApiCall) -> Any:
        """``send()`` with retries; placeholders (reported as failed) once given up."""
        attempt = 0
        while True:
            if self.policy.pause_s() > 0:
                await asyncio.sleep(self.policy.pause_s())
            try:
                answers = await send()
            except Exception as exc:  # noqa: BLE001 - every failure is classified and journaled
                failure = classify(exc)
                delay = self.policy.next_delay(attempt, failure)
                if delay is None:
                    self._give_up(call, failure)
                    return [ERROR_PLACEHOLDER[call.reqtype]] * len(call.cache_keys)
                _log_retry(failure, delay, attempt)
                await asyncio.sleep(delay)
                attempt += 1
                continue
            self.policy.answered()
            return answers

    def send_sync(self, send: Callable[[], Any]) -> Any:
        """``send()`` with retries; raises :class:`ApiRequestFailed` once given up."""
        attempt = 0
        while True:
            time.sleep(self.policy.pause_s())
            try:
                answer = send()
            except Exception as exc:
                failure = classify(exc)
                delay = self.policy.next_delay(attempt, failure)
                if delay is None:
                    raise ApiRequestFailed(failure) from exc
                _log_retry(failure, delay, attempt)
                time.sleep(delay)
                attempt += 1
                continue
            self.policy.answered()
            return answer

    def _give_up(self, call: ApiCall, failure: Failure) -> None:
        log.error("journal: API request given up (%s): %s", failure.kind, failure.message)
        if self.listener is not None:
            self.listener.add_failure(call.reqtype, call.cache_keys, failure)


def _log_retry(failure: Failure, delay: float, attempt: int) -> None:
    log.warning(
        "journal: API %s (%s); retry %d in %.1f s",
        failure.kind,
        failure.message,
        attempt + 1,
        delay,
    )
