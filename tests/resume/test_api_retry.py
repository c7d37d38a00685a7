"""API retries (``resume.online.api_retry``): classification, backoff, Retry-After, the bound.

No server, no model: exceptions are built as aiohttp / requests raise them, time is a fake clock.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import aiohttp
import pytest
import requests
import torch
from multidict import CIMultiDict, CIMultiDictProxy

from lm_eval_ext._compat.lm_eval_api import ApiCall
from lm_eval_ext.resume.online.api_retry import (
    ApiRequestFailed,
    ApiRetries,
    Failure,
    RetryPolicy,
    classify,
    parse_retry_after,
)


def _aiohttp_error(
    status: int, headers: dict[str, str] | None = None
) -> aiohttp.ClientResponseError:
    info = aiohttp.RequestInfo(
        "http://127.0.0.1/v1/completions", "POST", CIMultiDictProxy(CIMultiDict())
    )
    return aiohttp.ClientResponseError(
        info, (), status=status, headers=CIMultiDictProxy(CIMultiDict(headers or {}))
    )


def _requests_error(status: int, headers: dict[str, str] | None = None) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return requests.HTTPError(f"{status} error", response=response)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("exc", "kind", "retry_after"),
    [
        (_aiohttp_error(429, {"Retry-After": "7"}), "rate_limit", 7.0),
        (_aiohttp_error(503, {"retry-after": "2"}), "server_error", 2.0),
        (_aiohttp_error(500), "server_error", None),
        (_aiohttp_error(404, {"Retry-After": "5"}), "client_error", None),
        (_requests_error(429, {"Retry-After": "3"}), "rate_limit", 3.0),
        (_requests_error(502), "server_error", None),
        (_requests_error(400), "client_error", None),
        (asyncio.TimeoutError(), "timeout", None),
        (aiohttp.ServerTimeoutError("read"), "timeout", None),
        (requests.ReadTimeout("read"), "timeout", None),
        (aiohttp.ServerDisconnectedError(), "connection", None),
        (aiohttp.ClientPayloadError("cut short"), "connection", None),
        (requests.ConnectionError("refused"), "connection", None),
        (ConnectionResetError("reset"), "connection", None),
        (torch.OutOfMemoryError("CUDA out of memory"), "oom", None),
        (KeyError("choices"), "error", None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_failures_are_classified_by_kind(exc, kind, retry_after):
    failure = classify(exc)
    assert (failure.kind, failure.retry_after) == (kind, retry_after)
    assert type(exc).__name__ in failure.message
    assert failure.transient == (kind in {"rate_limit", "server_error", "timeout", "connection"})


def test_retry_after_takes_seconds_or_an_http_date():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert parse_retry_after("12", now) == 12.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert parse_retry_after("-3", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_backoff_doubles_with_jitter_up_to_its_cap():
    policy = RetryPolicy(budget_s=1e9, base_s=0.5, cap_s=4.0, rng=random.Random(0))
    for attempt, ceiling in enumerate([0.5, 1, 2, 4, 4, 4]):
        delays = [policy.backoff_s(attempt) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not one fixed wait


def test_retry_after_is_honoured_and_holds_back_every_request():
    clock = FakeClock()
    policy = RetryPolicy(budget_s=60, base_s=0.5, rng=random.Random(1), clock=clock)
    delay = policy.next_delay(0, Failure("rate_limit", "429", retry_after=5.0))
    assert 5.0 <= delay <= 5.5
    assert policy.pause_s() == pytest.approx(delay)  # the other requests wait too
    clock.now += delay
    assert policy.pause_s() == 0


def test_retries_stop_once_nothing_was_answered_for_the_budget():
    clock = FakeClock()
    policy = RetryPolicy(budget_s=10, base_s=1, cap_s=4, rng=random.Random(2), clock=clock)
    server_error = Failure("server_error", "500")
    first = policy.next_delay(0, server_error)
    assert first is not None
    clock.now += 9
    assert policy.next_delay(5, server_error) is None  # 9 s + another wait > 10 s
    assert policy.next_delay(0, Failure("rate_limit", "429", retry_after=3600)) is None
    policy.answered()  # progress again: a new failure starts a new 10 s
    assert policy.next_delay(0, server_error) is not None
    assert policy.next_delay(0, Failure("client_error", "400")) is None  # never retried


class _Listener:
    def __init__(self) -> None:
        self.failures: list[tuple[str, tuple, Failure]] = []

    def add_failure(self, reqtype: str, cache_keys: tuple, failure: Failure) -> None:
        self.failures.append((reqtype, cache_keys, failure))


class _FakeApiModel:
    """The two request methods ``install_request_retries`` replaces."""

    def __init__(self) -> None:
        self.max_retries = 3

    async def amodel_call(self, **kwargs):
        raise AssertionError("replaced by the test")

    def model_call(self, **kwargs):
        raise AssertionError("replaced by the test")


def _sender(outcomes: list):
    """``send()`` that raises or returns ``outcomes`` in turn; counts its calls."""
    calls = []

    def send():
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return send, calls


def test_a_concurrent_request_is_retried_then_given_up_with_placeholders():
    lm = _FakeApiModel()
    retries = ApiRetries(lm, RetryPolicy(budget_s=0.3, base_s=0.01, rng=random.Random(3)))
    retries.listener = _Listener()
    assert lm.max_retries == 1  # lm-eval's own retries are off: ours only
    send, calls = _sender([_aiohttp_error(500), _aiohttp_error(429, {"Retry-After": "0"}), ["x"]])

    async def asend():
        return send()

    call = ApiCall("generate_until", (("q", {"until": ["\n"]}),))
    assert asyncio.run(retries.send_async(asend, call)) == ["x"]
    assert len(calls) == 3 and not retries.listener.failures

    outage, calls = _sender([_aiohttp_error(503)] * 1000)

    async def down():
        return outage()

    keys = (("c1", " a"), ("c2", " b"))
    got = asyncio.run(retries.send_async(down, ApiCall("loglikelihood", keys)))
    assert got == [(float("-inf"), False)] * 2  # placeholders, never journaled as answers
    [(reqtype, named, failure)] = retries.listener.failures
    assert (reqtype, named, failure.kind) == ("loglikelihood", keys, "server_error")
    assert 3 <= len(calls) < 100  # retried, and bounded by the 0.3 s budget


def test_a_sequential_request_raises_once_given_up_and_a_bad_request_is_not_retried():
    lm = _FakeApiModel()
    retries = ApiRetries(lm, RetryPolicy(budget_s=0.2, base_s=0.01, rng=random.Random(4)))
    send, calls = _sender([requests.ConnectionError("refused"), {"choices": []}])
    assert retries.send_sync(send) == {"choices": []} and len(calls) == 2
    bad, calls = _sender([_requests_error(400)] * 5)
    with pytest.raises(ApiRequestFailed) as caught:
        retries.send_sync(bad)
    assert caught.value.failure.kind == "client_error" and len(calls) == 1
