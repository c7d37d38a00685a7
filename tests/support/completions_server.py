"""A small OpenAI-compatible ``/v1/completions`` server on 127.0.0.1, backed by a tiny local
model, with fault injection and a count of what it answered.

What lm-eval's ``local-completions`` sends, answered for real: ``echo`` + ``logprobs`` +
``max_tokens=1`` (loglikelihood: the prompt's token logprobs and top-1 alternatives, then one
generated token) and greedy completions cut at ``stop`` (generation). Prompts are token-id lists
(``tokenized_requests``, the default) or strings. Faults are picked by the 1-based number of the
request as the server receives it (:class:`FaultPlan`). The server counts the requests it
answered successfully, per prompt: a 200 whose body was written completely.

It listens on a free port of 127.0.0.1 only and stops by itself after ``max_lifetime_s``, if the
test has not stopped it first; hung and slow handlers sleep for bounded times.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class FaultPlan:
    """Which requests fail, and how (request numbers count every request received, from 1).

    Attributes:
        rate_limit_every: every N-th request gets HTTP 429 with ``Retry-After: retry_after``.
        server_errors: these requests get HTTP 500.
        unavailable: every request gets HTTP 503 (an outage), while this is True.
        unavailable_after: ... and once this many answers were sent.
        drop: these requests' connections are closed without an answer.
        hang: these requests are held ``hang_s`` (past the client's timeout), then dropped.
        slow: these requests are answered after ``slow_s``.
        latency_s: added to every answer (a provider's latency).
    """

    rate_limit_every: int = 0
    retry_after: str = "1"
    server_errors: frozenset[int] = frozenset()
    unavailable: bool = False
    unavailable_after: int | None = None
    drop: frozenset[int] = frozenset()
    hang: frozenset[int] = frozenset()
    hang_s: float = 4.0
    slow: frozenset[int] = frozenset()
    slow_s: float = 0.5
    latency_s: float = 0.0


@dataclass
class Traffic:
    """What the server saw: requests received, faults injected, answers per prompt."""

    received: int = 0
    sending: int = 0  # answers numbered for sending (the n of ``on_answer(n)``)
    faults: Counter = field(default_factory=Counter)
    answered: Counter = field(default_factory=Counter)  # prompt key -> successful answers

    @property
    def total_answered(self) -> int:
        """Successful answers, all prompts together."""
        return sum(self.answered.values())


class TinyCompletionsModel:
    """Loglikelihoods and greedy completions of a local causal LM, one prompt at a time."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.lock = threading.Lock()  # one forward pass at a time: answers never vary with load

    def ids(self, prompt: Any) -> list[int]:
        """Token ids of a prompt given as ids or as text."""
        if isinstance(prompt, str):
            return self.tokenizer(prompt, add_special_tokens=False).input_ids
        return [int(t) for t in prompt]

    def _logprobs(self, ids: list[int]) -> Any:
        with self.lock, self.torch.no_grad():
            logits = self.model(self.torch.tensor([ids])).logits[0]
        return self.torch.log_softmax(logits.float(), dim=-1)

    def echo_logprobs(self, ids: list[int]) -> dict[str, Any]:
        """OpenAI ``logprobs`` of the prompt echoed plus one greedy token."""
        logp = self._logprobs(ids)
        best = logp.max(dim=-1)
        token_logprobs: list[float | None] = [None]
        top: list[dict[str, float] | None] = [None]
        for pos in range(len(ids)):
            if pos + 1 < len(ids):
                token_logprobs.append(float(logp[pos, ids[pos + 1]]))
            else:
                token_logprobs.append(float(best.values[pos]))
            top.append({self.tokenizer.decode([int(best.indices[pos])]): float(best.values[pos])})
        tokens = [self.tokenizer.decode([t]) for t in [*ids, int(best.indices[-1])]]
        return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top}

    def complete(self, ids: list[int], max_tokens: int, stop: list[str]) -> str:
        """Greedy continuation of ``ids``, cut before the first stop string."""
        start, ids, text = len(ids), list(ids), ""
        for _ in range(max_tokens):
            ids.append(int(self._logprobs(ids)[-1].argmax()))
            text = self.tokenizer.decode(ids[start:], skip_special_tokens=False)
            if any(s and s in text for s in stop):
                break
        cut = min([text.index(s) for s in stop if s and s in text], default=len(text))
        return text[:cut]


def prompt_key(prompt: Any, body: dict[str, Any]) -> str:
    """How the server counts answers: the prompt and whether it was a loglikelihood request."""
    blob = json.dumps([prompt, bool(body.get("echo"))]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class CompletionsServer:
    """The server; ``base_url`` is what lm-eval's ``base_url=`` model arg takes.

    ``on_answer(n)`` (optional) runs before the ``n``-th successful answer is sent (the kill
    tests kill the client there). ``remember``: compute each distinct prompt's answer once and
    serve it from memory afterwards (a benchmark's server then costs little but its latency).
    """

    def __init__(
        self,
        model_dir: Path,
        plan: FaultPlan | None = None,
        max_lifetime_s: float = 900.0,
        on_answer: Callable[[int], None] | None = None,
        remember: bool = False,
    ) -> None:
        self.model = TinyCompletionsModel(model_dir)
        self.memory: dict[str, dict[str, Any]] | None = {} if remember else None
        self.plan = plan or FaultPlan()
        self.traffic = Traffic()
        self.on_answer = on_answer
        self.max_lifetime_s = max_lifetime_s
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1/completions``."""
        assert self._httpd is not None, "start() first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1/completions"

    def start(self) -> CompletionsServer:
        """Listen on a free loopback port; serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        serve = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        watchdog = threading.Timer(self.max_lifetime_s, self.stop)
        watchdog.daemon = True
        self._threads = [serve, watchdog]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        for thread in self._threads:
            if isinstance(thread, threading.Timer):
                thread.cancel()

    def reset(self, plan: FaultPlan | None = None, counts: bool = True) -> None:
        """A new fault plan (default: none), and fresh counts unless ``counts`` is False."""
        with self._lock:
            self.plan = plan or FaultPlan()
            if counts:
                self.traffic = Traffic()

    def sent(self) -> int:
        """Answers numbered for sending so far."""
        with self._lock:
            return self.traffic.sending

    def next_request(self) -> tuple[int, FaultPlan]:
        """Number this request (from 1) and return the plan it falls under."""
        with self._lock:
            self.traffic.received += 1
            return self.traffic.received, self.plan

    def number_answers(self, n: int) -> int:
        """Number ``n`` answers about to be sent; returns the number of the last one."""
        with self._lock:
            self.traffic.sending += n
            return self.traffic.sending

    def fault(self, kind: str) -> None:
        """Count an injected fault."""
        with self._lock:
            self.traffic.faults[kind] += 1

    def answered(self, keys: list[str]) -> None:
        """Count successful answers."""
        with self._lock:
            self.traffic.answered.update(keys)

    def __enter__(self) -> CompletionsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    """Clients killed or timed out mid-request are expected here: no traceback for them."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as with a real provider
    server_state: CompletionsServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        state = self.server_state
        number, plan = state.next_request()
        if self._inject(number, plan):
            return
        time.sleep(plan.latency_s + (plan.slow_s if number in plan.slow else 0.0))
        prompts = body.get("prompt")
        if not isinstance(prompts, list) or (prompts and isinstance(prompts[0], int)):
            prompts = [prompts]
        choices = [self._choice(index, p, body) for index, p in enumerate(prompts)]
        keys = [prompt_key(p, body) for p in prompts]
        number = state.number_answers(len(keys))
        if state.on_answer is not None:
            state.on_answer(number)
        self._send(
            200, {"object": "text_completion", "model": body.get("model"), "choices": choices}
        )
        state.answered(keys)

    def _inject(self, number: int, plan: FaultPlan) -> bool:
        """Inject this request's fault, if it has one; True when it was not answered."""
        state = self.server_state
        outage = plan.unavailable_after is not None and state.sent() >= plan.unavailable_after
        if plan.unavailable or outage:
            state.fault("unavailable")
            self._send(503, {"error": {"message": "service unavailable"}})
        elif plan.rate_limit_every and number % plan.rate_limit_every == 0:
            state.fault("rate_limit")
            self._send(
                429, {"error": {"message": "rate limited"}}, {"Retry-After": plan.retry_after}
            )
        elif number in plan.server_errors:
            state.fault("server_error")
            self._send(500, {"error": {"message": "internal error"}})
        elif number in plan.drop or number in plan.hang:
            state.fault("hang" if number in plan.hang else "drop")
            if number in plan.hang:
                time.sleep(plan.hang_s)
            self.close_connection = True
            # the client may have given up first (a timeout): then nothing is left to drop
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        else:
            return False
        return True

    def _choice(self, index: int, prompt: Any, body: dict[str, Any]) -> dict[str, Any]:
        memory = self.server_state.memory
        key = json.dumps([prompt, {k: v for k, v in body.items() if k != "prompt"}])
        if memory is not None and key in memory:
            return {**memory[key], "index": index}
        model = self.server_state.model
        ids = model.ids(prompt)
        if body.get("echo"):
            choice = {"text": "", "logprobs": model.echo_logprobs(ids)}
        else:
            stop = body.get("stop") or []
            stop = [stop] if isinstance(stop, str) else list(stop)
            text = model.complete(ids, int(body.get("max_tokens") or 16), stop)
            choice = {"text": text, "logprobs": None, "finish_reason": "stop"}
        if memory is not None:
            memory[key] = choice
        return {**choice, "index": index}

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def local_completions_args(base_url: str, tokenizer: Path, **extra: Any) -> str:
    """``--model_args`` of ``local-completions`` against ``base_url`` (4 requests at a time)."""
    args = {
        "model": "tiny-completions",
        "base_url": base_url,
        "tokenizer": str(tokenizer),
        "tokenizer_backend": "huggingface",
        "num_concurrent": 4,
        "timeout": 3,
        **extra,
    }
    return ",".join(f"{k}={v}" for k, v in args.items())
