"""``ReplayLM``: an lm-eval LM that answers from recorded responses instead of a model.

``rescore`` replays the responses of a run's samples files, ``merge`` those of shard journals;
either way lm-eval itself rebuilds the requests, applies the filters, computes every metric and
aggregates, so a replay of unchanged responses gives the original numbers exactly. Requests
without a usable recorded response get a placeholder and their docs are reported (and later
excluded from the metrics) instead of being scored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lm_eval.api.model import LM

from lm_eval_ext.checkpoints import load_tokenizer, tokenizer_source
from lm_eval_ext.resume.offline.doc_outcomes import NOT_COMPUTED
from lm_eval_ext.resume.storage.keys import RequestKeyer, with_occurrences
from lm_eval_ext.resume.storage.outputs import ERROR_FIELD
from lm_eval_ext.resume.storage.records import ResponseRecord
from lm_eval_ext.resume.storage.responses import ERROR_PLACEHOLDER, decode_response

log = logging.getLogger(__name__)

#: An answer lookup: (request type, instance, occurrence) -> (response, None) when recorded,
#: or (None, reason) when it is not (reason: the journaled error, or why it is missing).
AnswerFn = Callable[[str, Any, int], tuple[Any, str | None]]


@dataclass
class ReplayStats:
    """What a replay found: answered requests and, per task, the docs that lack an answer."""

    answered: int = 0
    missing: dict[str, dict[int, str]] = field(default_factory=dict)  # task -> doc pos -> why


class ReplayLM(LM):
    """Answers every request through ``answer``; never loads model weights.

    Args:
        answer: the response lookup (see :data:`AnswerFn`).
        model_args: the run's model args: its tokenizer (``pretrained``/``tokenizer`` at the
            run's ``revision``) is loaded from them when the run used a chat template.
        chat_template: the chat template string the original run recorded (or None).
        chat_template_args: extra keyword arguments of ``apply_chat_template`` (HFLM's).
    """

    def __init__(
        self,
        answer: AnswerFn,
        model_args: dict[str, Any] | None = None,
        chat_template: str | None = None,
        chat_template_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.answer = answer
        self.model_args = dict(model_args or {})
        self._chat_template = chat_template
        self.chat_template_args = chat_template_args or {}
        self._tokenizer: Any = None
        self.stats = ReplayStats()

    def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list:
        """Recorded ``loglikelihood`` responses."""
        return self._replay("loglikelihood", requests)

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list:
        """Recorded ``loglikelihood_rolling`` responses."""
        return self._replay("loglikelihood_rolling", requests)

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list:
        """Recorded ``generate_until`` responses."""
        return self._replay("generate_until", requests)

    def _replay(self, reqtype: str, requests: list) -> list:
        out = []
        for req, occurrence in with_occurrences(requests):
            resp, why = self.answer(reqtype, req, occurrence)
            if why is None:
                self.stats.answered += 1
                out.append(decode_response(reqtype, resp))
            else:
                self.stats.missing.setdefault(req.task_name, {}).setdefault(req.doc_id, why)
                out.append(ERROR_PLACEHOLDER[reqtype])
        return out

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the evaluated model, loaded on first use (chat templates only)."""
        if self._tokenizer is None and tokenizer_source(self.model_args) is not None:
            self._tokenizer = load_tokenizer(self.model_args)
        return self._tokenizer

    @property
    def tokenizer_name(self) -> str:
        """Same naming as HFLM's (it fingerprints lm-eval's request cache)."""
        source = tokenizer_source(self.model_args)
        return (source.name if source else "").replace("/", "__")

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        """The chat template the original run used."""
        return self._chat_template if chat_template else None

    def apply_chat_template(
        self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
    ) -> str:
        """Render ``chat_history`` exactly as HFLM does, with the recorded template."""
        if self.tokenizer is None:
            raise RuntimeError("replay: the run used a chat template but no tokenizer is known")
        return self.tokenizer.apply_chat_template(
            chat_history,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=not add_generation_prompt,
            chat_template=self._chat_template,
            **self.chat_template_args,
        )


def journal_answers(entries: dict[str, ResponseRecord], model_hash: str) -> AnswerFn:
    """Answers from journal ``entries`` (:func:`journal.load_entries`) of model ``model_hash``."""
    keyer = RequestKeyer(model_hash)

    def answer(reqtype: str, req: Any, occurrence: int) -> tuple[Any, str | None]:
        record = entries.get(keyer.key(reqtype, req, occurrence))
        if record is None:
            return None, NOT_COMPUTED
        if not record.ok:
            return None, record.err
        return record.resp, None

    return answer


def _parse_response(reqtype: str, value: Any) -> Any:
    """A response as lm-eval's samples file stores it (stringified) back to its value."""
    if reqtype == "loglikelihood":
        logprob, greedy = value
        return (float(logprob), greedy in (True, "True"))
    if reqtype == "loglikelihood_rolling":
        return float(value)
    return value


def samples_answers(rows_by_task: dict[str, list[dict]], doc_ids: dict[str, list[int]]) -> AnswerFn:
    """Answers from samples-file rows; ``doc_ids[task][pos]`` maps a replayed doc to its row."""
    by_doc: dict[tuple[str, int], dict] = {}
    for task, rows in rows_by_task.items():
        for row in rows:
            by_doc.setdefault((task, int(row["doc_id"])), row)

    def answer(reqtype: str, req: Any, occurrence: int) -> tuple[Any, str | None]:
        ids = doc_ids.get(req.task_name)
        true_id = ids[req.doc_id] if ids is not None else req.doc_id
        row = by_doc.get((req.task_name, true_id))
        if row is None:
            return None, "no sample recorded for this doc"
        if row.get(ERROR_FIELD):
            return None, row[ERROR_FIELD]
        try:
            return _parse_response(reqtype, row["resps"][req.idx][occurrence]), None
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            return None, f"unreadable response in the samples file ({type(exc).__name__}: {exc})"

    return answer
