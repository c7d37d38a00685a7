"""The journal for every backend: the ``journal=`` switch on lm-eval's model creation, API
identities, responses captured from lm-eval's cache hook, error kinds on disk (no server)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from lm_eval.api.instance import Instance
from lm_eval.api.model import LM, CacheHook
from lm_eval.api.registry import get_model

from lm_eval_ext._compat.lm_eval_creation import _routed, route_model_creation
from lm_eval_ext.errors import ModelArgsError
from lm_eval_ext.registration import _build_journaled, _wants_journal
from lm_eval_ext.resume.online.api_retry import Failure
from lm_eval_ext.resume.online.capture import ResponseCapture
from lm_eval_ext.resume.online.journaled_lm import JournaledLM
from lm_eval_ext.resume.storage.journal import close_open_journals
from lm_eval_ext.resume.storage.keys import api_identity, identity_hash
from lm_eval_ext.resume.storage.records import (
    ResponseRecord,
    decode_line,
    encode_record,
    record_to_json,
)


class _Plain(LM):
    """An LM that inherits lm-eval's ``create_from_arg_*`` (as hf, vllm and the APIs do)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.kwargs = kwargs

    def loglikelihood(self, requests, disable_tqdm=False):
        return [(-1.0, False)] * len(requests)

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        return [-1.0] * len(requests)

    def generate_until(self, requests, disable_tqdm=False):
        return ["x"] * len(requests)


class _OwnString(_Plain):
    """An LM that parses its own arg string (as dummy, nemo_lm, watsonx_llm do)."""

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None):
        return cls(own=arg_string, config=additional_config)


@pytest.fixture()
def no_journals_left():
    yield
    close_open_journals()


def test_without_journal_args_lm_eval_builds_the_model_as_it_always_did():
    plain = _Plain.create_from_arg_string("a=1,b=x", {"batch_size": 2, "device": None})
    assert plain.kwargs == {"a": 1, "b": "x", "batch_size": 2}
    assert _Plain.create_from_arg_obj({"a": [1]}, None).kwargs == {"a": [1]}
    own = _OwnString.create_from_arg_string("a=1", {"batch_size": 2})
    assert own.kwargs == {"own": "a=1", "config": {"batch_size": 2}}
    route_model_creation(_build_journaled, _wants_journal)  # again: nothing is wrapped twice
    assert _Plain.create_from_arg_string("a=1").kwargs == {"a": 1}
    assert LM.__dict__["create_from_arg_string"].__func__.__name__ == "create_from_arg_string"


def test_journal_args_route_any_backend_through_the_seam(tiny_world, tmp_path, no_journals_left):
    args = f"pretrained={tiny_world.model_dir},journal={tmp_path / 'j'},journal_chunk=4"
    plain = _Plain.create_from_arg_string(args, {"batch_size": 2, "device": None})
    assert isinstance(plain, JournaledLM) and plain.chunk_size == 4
    assert plain.lm.kwargs == {"pretrained": str(tiny_world.model_dir), "batch_size": 2}
    own = _OwnString.create_from_arg_string(args, {"batch_size": 2})
    assert isinstance(own, JournaledLM)  # a backend's own parser gets the args minus ours
    assert own.lm.kwargs == {"own": f"pretrained={tiny_world.model_dir},batch_size=2", "config": {}}
    with pytest.raises(ModelArgsError, match="got no pretrained="):
        get_model("dummy").create_from_arg_string(f"journal={tmp_path / 'd'}")


def test_routing_wraps_with_the_original_behind_it():
    seen = []

    def original(cls, arg_string, additional_config=None):
        return ("original", arg_string, additional_config)

    def build(make, args, additional_config, backend):
        seen.append((args, additional_config, backend))
        return make(**args)

    routed = _routed("create_from_arg_string", original, build, lambda a: "journal" in a, False)
    assert routed(_Plain, "not=parsed=here,,", None) == ("original", "not=parsed=here,,", None)
    assert routed(_Plain, "a=1", {"x": 1}) == ("original", "a=1", {"x": 1})
    assert not seen
    assert routed(_Plain, "journal=J,a=1", None) == ("original", "journal=J,a=1", {})
    assert seen == [({"journal": "J", "a": 1}, None, _Plain)]


def _api_args(tiny_world, **extra) -> dict:
    return {
        "model": "tiny",
        "base_url": "http://127.0.0.1:9/v1/completions",
        "tokenizer": str(tiny_world.model_dir),
        "tokenizer_backend": "huggingface",
        **extra,
    }


def test_api_models_are_keyed_on_endpoint_and_request_args_never_credentials(
    tiny_world, tmp_path, no_journals_left
):
    api = get_model("local-completions")
    lm = api.create_from_arg_obj(
        _api_args(tiny_world, journal=str(tmp_path / "j"), auth_token="SECRET-1", num_concurrent=8)
    )
    assert isinstance(lm, JournaledLM) and lm.api is not None
    assert lm.lm.max_retries == 1  # lm-eval's tenacity retries are replaced by ours
    [identity_file] = (tmp_path / "j").glob("model-*.json")
    identity = json.loads(identity_file.read_text())
    assert identity["api"] == {
        "backend": "lm_eval.models.openai_completions.LocalCompletionsAPI",
        "base_url": "http://127.0.0.1:9/v1/completions",
        "model": "tiny",
    }
    assert identity["args"] == {"tokenizer_backend": "huggingface"}
    assert set(identity["files"]) == {"tokenizer"}
    assert "SECRET-1" not in identity_file.read_text()

    def model_hash(**changed: Any) -> str:
        return identity_hash(api_identity(_api_args(tiny_world, **changed), identity["api"], {}))

    base = model_hash()
    assert base == lm.model_hash
    for neutral in ({"num_concurrent": 2}, {"timeout": 5}, {"auth_token": "other"}):
        assert model_hash(**neutral) == base, neutral
    for relevant in ({"max_gen_toks": 5}, {"seed": 1}, {"add_bos_token": True}):
        assert model_hash(**relevant) != base, relevant
    moved = dict(identity["api"], base_url="http://127.0.0.1:10/v1/completions")
    assert identity_hash(api_identity(_api_args(tiny_world), moved, {})) != base


class _Hook(CacheHook):
    def __init__(self) -> None:
        super().__init__(None)
        self.seen: list = []

    def add_partial(self, attr, req, res) -> None:
        self.seen.append((attr, req, res))


def _capture(reqtype: str, requests: list[Instance], done: frozenset[int] = frozenset()):
    answers, failures = {}, {}
    capture = ResponseCapture(
        reqtype,
        requests,
        list(range(len(requests))),
        set(range(len(requests))) - done,
        _Hook(),
        lambda i, r: answers.setdefault(i, r),
        lambda i, f: failures.setdefault(i, f),
    )
    return capture, answers, failures


def test_reports_are_matched_to_their_requests_and_passed_on():
    kw = {"until": ["\n"]}
    reqs = [
        Instance("generate_until", {}, ("a", kw), 0),
        Instance("generate_until", {}, ("b", kw), 0),
        Instance("generate_until", {}, ("a", kw), 0),  # a repeat: answered in turn
    ]
    capture, answers, _ = _capture("generate_until", reqs)
    capture.add_partial("generate_until", ("a", {"until": ["\n"], "max_gen_toks": 8}), "A1")
    capture.add_partial("loglikelihood", ("a", " b"), (-1.0, True))  # another type: not ours
    capture.add_partial("generate_until", ("b", kw), "B")
    capture.add_partial("generate_until", ("a", kw), "A2")
    capture.add_partial("generate_until", ("a", kw), "A3")  # nothing left to match
    assert answers == {0: "A1", 1: "B", 2: "A2"}
    assert len(capture.previous.seen) == 5  # lm-eval's own cache still gets everything


def test_reports_that_cannot_tell_requests_apart_are_not_matched():
    """hf-multimodal reports ``(context, continuation)`` without the images."""
    red, blue = ({"visual": [b"red"]}, {"visual": [b"blue"]})
    reqs = [
        Instance("loglikelihood", {}, ("<image>Q", " A", red), 0),
        Instance("loglikelihood", {}, ("<image>Q", " A", blue), 1),
        Instance("loglikelihood", {}, ("<image>Q", " B", red), 2),
    ]
    capture, answers, _ = _capture("loglikelihood", reqs)
    capture.add_partial("loglikelihood", ("<image>Q", " A"), (-1.0, False))
    capture.add_partial("loglikelihood", ("<image>Q", " B"), (-2.0, True))
    assert answers == {2: (-2.0, True)}  # the other two come from the call's return value
    # request 0 answered before (a local model's chunk is sent whole again): the report of
    # its text is still not request 1's
    capture, answers, _ = _capture("loglikelihood", reqs, done=frozenset({0}))
    capture.add_partial("loglikelihood", ("<image>Q", " A"), (-1.0, False))
    assert answers == {}


def test_api_failures_are_named_and_a_rolling_total_with_a_failed_window_is_no_answer():
    reqs = [Instance("loglikelihood", {}, (f"c{i}", " x"), i) for i in range(3)]
    capture, answers, failures = _capture("loglikelihood", reqs)
    rate_limit = Failure("rate_limit", "429")
    capture.add_failure("loglikelihood", (("c1", " x"), ("zz", " y")), rate_limit)
    assert failures == {1: rate_limit} and capture.unattributed == [rate_limit]

    rolling = [Instance("loglikelihood_rolling", {}, (f"text {i}",), i) for i in range(2)]
    capture, answers, failures = _capture("loglikelihood_rolling", rolling)
    capture.add_failure("loglikelihood", (None,), rate_limit)  # a window of text 0
    capture.add_partial("loglikelihood_rolling", ("text 0",), -math.inf)
    capture.add_partial("loglikelihood_rolling", ("text 1",), -12.5)
    assert failures == {0: rate_limit} and answers == {1: -12.5}


def test_error_kinds_are_on_disk_and_old_records_still_decode():
    error = ResponseRecord("k", "m", "generate_until", "t", 3, 0, None, "HTTP 429: ...", 1.0)
    assert "kind" not in record_to_json(error)  # lines as journals always had them
    kinded = ResponseRecord(
        "k", "m", "generate_until", "t", 3, 0, None, "HTTP 429", 1.0, "rate_limit"
    )
    assert decode_line(encode_record(kinded)[:-1]) == kinded
    old = encode_record(error)[:-1]
    assert decode_line(old) == error and decode_line(old).kind is None
