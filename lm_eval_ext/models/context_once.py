"""Context-once loglikelihood scoring for lm-eval's HF causal models.

lm-eval's ``HFLM._loglikelihood_tokens`` feeds ``context + continuation`` once per
request, so a 4-choice item recomputes its context four times. The mixin here runs
each distinct (left-truncated) context once with ``use_cache=True``, then scores all of
that context's continuations from the KV cache in batched passes. Numbers equal HFLM's
up to float rounding (the same positions, the same window, the same log-softmax dtype).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lm_eval_ext._compat.lm_eval_models import detect_batch_size
from lm_eval_ext._compat.transformers_cache import is_plain_dynamic_cache, select_cache_rows
from lm_eval_ext.models._context_plan import Branch, PrefixGroup, chunk_groups, group_requests

if TYPE_CHECKING:
    import torch

__all__ = ["SharedContextScoringMixin"]

Request = tuple[tuple[str, str], list[int], list[int]]


class _CacheNotSupported(Exception):
    """The model's KV cache cannot be re-batched per continuation (e.g. sliding windows)."""


class SharedContextScoringMixin:
    """Mixin for ``lm_eval.models.huggingface.HFLM`` subclasses: score each context once.

    Put it first in the bases (``class MyLM(SharedContextScoringMixin, HFLM)``). It only
    replaces ``_loglikelihood_tokens``; seq2seq backends and models whose cache is not a
    plain ``DynamicCache`` (sliding-window layers) fall back to HFLM's implementation.
    """

    def _loglikelihood_tokens(
        self,
        requests: list[Request],
        disable_tqdm: bool = False,
        override_bs: int | None = None,
    ) -> list[tuple[float, bool]]:
        """Same contract as HFLM: ``(logprob, is_greedy)`` per request, in input order."""
        from tqdm import tqdm

        if getattr(self, "backend", "causal") != "causal" or not requests:
            return super()._loglikelihood_tokens(requests, disable_tqdm, override_bs)
        groups = group_requests([(ctx, cont) for _, ctx, cont in requests], self.max_length)
        batch_size = self._shared_context_batch_size(override_bs)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        pbar = tqdm(
            total=len(requests),
            disable=(disable_tqdm or getattr(self, "rank", 0) != 0),
            desc="Running loglikelihood requests (context once)",
        )
        try:
            for chunk in chunk_groups(groups, batch_size):
                for index, answer in self._score_chunk(chunk, batch_size):
                    results[index] = answer
                    request_str = requests[index][0]
                    if request_str is not None:
                        self.cache_hook.add_partial("loglikelihood", request_str, answer)
                    pbar.update(1)
        except _CacheNotSupported:
            pbar.close()
            return super()._loglikelihood_tokens(requests, disable_tqdm, override_bs)
        pbar.close()
        return results  # type: ignore[return-value]

    def _shared_context_batch_size(self, override_bs: int | None) -> int:
        """Sequences per forward pass: HFLM's ``batch_size``, or its auto-detected size."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        if override_bs:
            return int(override_bs)
        # detect once: the journal calls us once per chunk, and detection runs full-length
        # forward passes (and, with several processes, a collective op)
        if getattr(self, "_shared_context_auto_bs", None) is None:
            self._shared_context_auto_bs = detect_batch_size(self)
        return self._shared_context_auto_bs

    @contextmanager
    def _forward_context(self) -> Iterator[None]:
        """The same no-grad / autocast setting HFLM's ``_model_call`` uses."""
        import torch

        dtype = getattr(self, "mixed_precision_dtype", None)
        with (
            torch.no_grad(),
            torch.autocast(device_type=self.device.type, dtype=dtype, enabled=dtype is not None),
        ):
            yield

    def _score_chunk(
        self, chunk: list[PrefixGroup], batch_size: int
    ) -> list[tuple[int, tuple[float, bool]]]:
        """Score every request of ``chunk``: one prefix pass, then batched branch passes."""
        last_logp, cache, prefix_lens = self._run_prefixes([g.prefix for g in chunk])
        work = [(gi, b) for gi, g in enumerate(chunk) for b in g.branches.values() if b.tokens]
        branch_logp: dict[int, Any] = {}
        for start in range(0, len(work), batch_size):
            sub = work[start : start + batch_size]
            logp = self._run_branches(cache, prefix_lens, sub)
            for row, (_, branch) in enumerate(sub):
                branch_logp[id(branch)] = logp[row, : len(branch.tokens)]
        answers = []
        for gi, group in enumerate(chunk):
            for branch in group.branches.values():
                rows = self._branch_rows(last_logp[gi], branch, branch_logp)
                answers.extend(_score_members(rows, branch, self.device))
        return answers

    @staticmethod
    def _branch_rows(first_row: torch.Tensor, branch: Branch, branch_logp: dict) -> torch.Tensor:
        """Log-prob rows predicting each continuation token: prefix end, then the branch."""
        import torch

        if not branch.tokens:
            return first_row.unsqueeze(0)
        return torch.cat([first_row.unsqueeze(0), branch_logp[id(branch)]], dim=0)

    def _run_prefixes(
        self, prefixes: list[tuple[int, ...]]
    ) -> tuple[torch.Tensor, Any, torch.Tensor]:
        """Forward the right-padded prefixes once; return last-position log-probs and cache."""
        import torch
        import torch.nn.functional as F

        lens = torch.tensor([len(p) for p in prefixes], device=self.device)
        batch = torch.zeros((len(prefixes), int(lens.max())), dtype=torch.long, device=self.device)
        for row, prefix in enumerate(prefixes):
            batch[row, : len(prefix)] = torch.tensor(prefix, dtype=torch.long)
        # Only each prefix's last position is scored: project just those positions onto
        # the vocabulary when the model allows it (the lm_head is costly for big vocabs).
        keep = torch.unique(lens - 1)
        kwargs = {"logits_to_keep": keep} if _accepts_logits_to_keep(self.model) else {}
        with self._forward_context():
            out = self.model(input_ids=batch, use_cache=True, **kwargs)
        _check_cache(out.past_key_values)
        cols = torch.searchsorted(keep, lens - 1) if kwargs else lens - 1
        last = out.logits[torch.arange(len(prefixes), device=self.device), cols]
        return F.log_softmax(last, dim=-1, dtype=self.softmax_dtype), out.past_key_values, lens

    def _run_branches(
        self, cache: Any, prefix_lens: torch.Tensor, work: list[tuple[int, Branch]]
    ) -> torch.Tensor:
        """Run ``continuation[:-1]`` of each branch on a copy of its prefix's KV cache."""
        import torch
        import torch.nn.functional as F

        device = self.device
        idx = torch.tensor([gi for gi, _ in work], device=device)
        width = max(len(b.tokens) for _, b in work)
        tokens = torch.zeros((len(work), width), dtype=torch.long, device=device)
        branch_mask = torch.zeros((len(work), width), dtype=torch.long, device=device)
        for row, (_, branch) in enumerate(work):
            tokens[row, : len(branch.tokens)] = torch.tensor(branch.tokens, dtype=torch.long)
            branch_mask[row, : len(branch.tokens)] = 1
        lens = prefix_lens[idx]
        past_width = cache.get_seq_length()
        # Right padding of the prefix batch sits inside the cache: mask it out, and give
        # branch tokens the positions they would have right after their own prefix.
        past_mask = (torch.arange(past_width, device=device)[None, :] < lens[:, None]).long()
        positions = lens[:, None] + torch.arange(width, device=device)[None, :]
        selected = select_cache_rows(cache, idx)
        with self._forward_context():
            out = self.model(
                input_ids=tokens,
                attention_mask=torch.cat([past_mask, branch_mask], dim=1),
                position_ids=positions,
                past_key_values=selected,
                use_cache=True,
            )
        return F.log_softmax(out.logits, dim=-1, dtype=self.softmax_dtype)


def _accepts_logits_to_keep(model: Any) -> bool:
    """Whether ``model.forward`` takes ``logits_to_keep`` (transformers causal LMs do)."""
    import inspect

    try:
        return "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _check_cache(cache: Any) -> None:
    """Raise ``_CacheNotSupported`` unless every layer is a plain full-attention layer."""
    if not is_plain_dynamic_cache(cache):
        raise _CacheNotSupported(type(cache).__name__)


def _score_members(
    rows: torch.Tensor, branch: Branch, device: Any
) -> list[tuple[int, tuple[float, bool]]]:
    """Sum log-probs and check greedy match for each continuation ending this branch."""
    import torch

    greedy = rows.argmax(dim=-1)
    out = []
    for index, cont in branch.members:
        cont_t = torch.tensor(cont, dtype=torch.long, device=device)
        logp = rows.gather(1, cont_t.unsqueeze(-1)).squeeze(-1)
        out.append((index, (float(logp.sum()), bool((greedy == cont_t).all()))))
    return out
