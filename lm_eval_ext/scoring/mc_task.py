"""``NormalizedMCTask``: lm-eval's multiple-choice task plus our normalised accuracies.

Use it from a task YAML with ``class: !function lm_eval_ext.scoring.mc_task.NormalizedMCTask``
and list any of ``acc_norm_token``, ``acc_norm_byte``, ``acc_pmi`` in ``metric_list``.
lm-eval's own ``process_results`` still computes ``acc``/``acc_norm``/... from exactly
the requests it issued, so those numbers are bit-identical to the built-in task.

``acc_pmi`` takes its unconditional prompt from its ``metric_list`` entry
(``unconditional_prompt: "Answer:"``; the default is OLMES' ``"Answer:"``, and ``""``
reproduces lm-eval's ``acc_mutual_info``, which scores after the model's prefix token).
"""

from __future__ import annotations

import json
from typing import Any

from lm_eval.api.instance import Instance
from lm_eval.api.task import ConfigurableTask

from lm_eval_ext._compat.lm_eval_tasks import metric_kwargs, metric_names
from lm_eval_ext.scoring.metrics import METRIC_NAMES, normalized_mc_metrics
from lm_eval_ext.scoring.metrics import register_normalized_metrics as _register
from lm_eval_ext.scoring.token_counts import continuation_token_counts, tokenizer_from_metadata

__all__ = ["DEFAULT_UNCONDITIONAL_PROMPT", "NormalizedMCTask"]

DEFAULT_UNCONDITIONAL_PROMPT = "Answer:"


class NormalizedMCTask(ConfigurableTask):
    """A ``ConfigurableTask`` for ``output_type: multiple_choice`` with our metrics."""

    def __init__(self, config: dict | None = None, **kwargs: Any) -> None:
        """Register our metric names, then build the task exactly as lm-eval would."""
        _register()
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)
        if self.OUTPUT_TYPE != "multiple_choice":
            raise ValueError(f"{type(self).__name__} needs output_type: multiple_choice")
        self._pair_index: dict[str, list[tuple[str, str]]] | None = None

    @property
    def unconditional_prompt(self) -> str:
        """The context ``acc_pmi`` scores each choice after.

        Run-wide ``metadata`` key ``pmi_unconditional_prompt`` (``--metadata`` on the CLI)
        wins over the task's ``metric_list`` entry, which wins over the default.
        """
        metadata = self.config.metadata or {}
        if "pmi_unconditional_prompt" in metadata:
            return str(metadata["pmi_unconditional_prompt"])
        kwargs = metric_kwargs(self, "acc_pmi")
        return str(kwargs.get("unconditional_prompt", DEFAULT_UNCONDITIONAL_PROMPT))

    def construct_requests(self, doc: dict, ctx: Any, **kwargs: Any) -> list[Instance]:
        """lm-eval's requests, then one unconditional request per choice for ``acc_pmi``."""
        requests = super().construct_requests(doc, ctx, **kwargs)
        if "acc_pmi" not in metric_names(self):
            return requests
        n_cond = self._n_conditional(doc)
        kwargs.pop("apply_chat_template", None)
        kwargs.pop("chat_template", None)
        prompt = self.unconditional_prompt
        extra = [
            Instance(
                request_type="loglikelihood",
                doc=doc,
                arguments=(prompt, req.arguments[1]),
                idx=len(requests) + i,
                **kwargs,
            )
            for i, req in enumerate(requests[:n_cond])
        ]
        return requests + extra

    def process_results(self, doc: dict, results: list[tuple[float, bool]]) -> dict:
        """lm-eval's results on lm-eval's own requests, plus ours."""
        n_cond = self._n_conditional(doc)
        metrics = metric_names(self)
        n_lm_eval = n_cond * (2 if "acc_mutual_info" in metrics else 1)
        out = super().process_results(doc, results[:n_lm_eval])
        wanted = [m for m in METRIC_NAMES if m in metrics]
        if not wanted:
            return out
        lls = [ll for ll, _ in results[:n_cond]]
        inputs: dict[str, Any] = {}
        if "acc_norm_token" in wanted:
            inputs["n_tokens"] = self._token_counts(doc, n_cond)
        if "acc_norm_byte" in wanted:
            inputs["n_bytes"] = [len(s.encode("utf-8")) for s in self._scored_texts(doc)]
        if "acc_pmi" in wanted:
            inputs["lls_unconditional"] = [ll for ll, _ in results[n_lm_eval:]]
        out.update(normalized_mc_metrics(lls, self._gold(doc), **inputs))
        return out

    def _n_conditional(self, doc: dict) -> int:
        return len(self.doc_to_choice(doc))

    def _scored_texts(self, doc: dict) -> list[str]:
        """The text each choice's log-prob is for, without the target delimiter."""
        choices = self.doc_to_choice(doc)
        if self.multiple_input:
            # Choices are contexts here; every request scores the same target.
            return [str(self.doc_to_target(doc))] * len(choices)
        return [str(c) for c in choices]

    def _gold(self, doc: dict) -> int | list[int]:
        """The gold index (or indices) exactly as lm-eval's ``process_results`` derives it."""
        choices = self.doc_to_choice(doc)
        gold = self.doc_to_text(doc) if self.multiple_input else self.doc_to_target(doc)
        if isinstance(gold, list):
            return [g if g < len(choices) else -100 for g in gold]
        if isinstance(gold, str):
            return choices.index(gold) if gold in choices else -100
        return gold if gold < len(choices) else -100

    def _token_counts(self, doc: dict, n_cond: int) -> list[int]:
        """Continuation tokens of this doc's conditional requests, as the model scored them."""
        tokenizer = tokenizer_from_metadata(self.config.metadata)
        pairs = self._request_pairs(doc)[:n_cond]
        prefix = (self.config.metadata or {}).get("prefix_token_id")
        if prefix is None:
            prefix = tokenizer.bos_token_id
            prefix = tokenizer.eos_token_id if prefix is None else prefix
        return continuation_token_counts(tokenizer, pairs, prefix_token_id=prefix)

    def _request_pairs(self, doc: dict) -> list[tuple[str, str]]:
        """The ``(context, continuation)`` pairs issued for ``doc``, in request order.

        ``process_results`` is not given the context (few-shot examples, description,
        chat template are all in it), so it is looked up in the task's own built
        instances, which exist whether requests were built or loaded from the cache.
        """
        if self._pair_index is None:
            by_doc: dict[str, dict[Any, list[tuple[int, tuple[str, str]]]]] = {}
            for inst in self.instances:
                per_id = by_doc.setdefault(_doc_key(inst.doc), {})
                per_id.setdefault(inst.doc_id, []).append((inst.idx, inst.arguments[:2]))
            # Identical documents under several ids: their prompts differ at most in
            # few-shot examples; the first id's requests stand for all of them.
            self._pair_index = {
                key: [args for _, args in sorted(next(iter(per_id.values())))]
                for key, per_id in by_doc.items()
            }
        try:
            return self._pair_index[_doc_key(doc)]
        except KeyError:
            raise KeyError("no request was built for this document") from None


def _doc_key(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, default=repr)
