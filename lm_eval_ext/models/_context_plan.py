"""Pure planning for context-once scoring: which prefix each request shares, and batches.

A loglikelihood request ``(context_enc, continuation_enc)`` is scored by HFLM on the
window ``(context_enc + continuation_enc)[-(max_length + 1):]`` with the last token
dropped. Everything in that window before the continuation is the *prefix*; requests
whose prefixes are equal token-for-token can share one forward pass of it (its KV cache
and its last-position logits). Within a prefix group, continuations that agree on all
but their last token share one *branch* (the generalisation of lm-eval's one-token
continuation shortcut: one-token continuations need no branch pass at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Branch", "PrefixGroup", "chunk_groups", "group_requests"]


@dataclass
class Branch:
    """Continuations that share a prefix and all tokens but their last one.

    ``tokens`` is ``continuation[:-1]`` (possibly empty); ``members`` maps each request
    index to its full continuation token list.
    """

    tokens: tuple[int, ...]
    members: list[tuple[int, list[int]]] = field(default_factory=list)


@dataclass
class PrefixGroup:
    """All requests whose (left-truncated) prefix is ``prefix``."""

    prefix: tuple[int, ...]
    branches: dict[tuple[int, ...], Branch] = field(default_factory=dict)

    @property
    def n_branch_passes(self) -> int:
        """Number of branches that need a forward pass (non-empty ``tokens``)."""
        return sum(1 for b in self.branches.values() if b.tokens)


def split_window(
    context_enc: list[int], continuation_enc: list[int], max_length: int
) -> tuple[tuple[int, ...], list[int]]:
    """Return ``(prefix, continuation)`` exactly as HFLM's causal window sees them.

    HFLM feeds ``(ctx + cont)[-(max_length + 1):][:-1]`` and scores the last
    ``len(cont)`` positions, so the prefix is the window minus the continuation.
    """
    if not context_enc or not continuation_enc:
        raise ValueError("context and continuation must each have at least one token")
    if len(continuation_enc) > max_length:
        raise ValueError(
            f"continuation of {len(continuation_enc)} tokens exceeds max_length {max_length}"
        )
    window = (context_enc + continuation_enc)[-(max_length + 1) :]
    return tuple(window[: len(window) - len(continuation_enc)]), list(continuation_enc)


def group_requests(
    token_requests: list[tuple[list[int], list[int]]], max_length: int
) -> list[PrefixGroup]:
    """Group ``(context_enc, continuation_enc)`` pairs by shared prefix.

    Groups are sorted longest prefix first (as HFLM sorts longest input first), so a
    chunk's padding is small and memory errors show up at once.
    """
    groups: dict[tuple[int, ...], PrefixGroup] = {}
    for index, (context_enc, continuation_enc) in enumerate(token_requests):
        prefix, cont = split_window(context_enc, continuation_enc, max_length)
        group = groups.setdefault(prefix, PrefixGroup(prefix=prefix))
        key = tuple(cont[:-1])
        group.branches.setdefault(key, Branch(tokens=key)).members.append((index, cont))
    return sorted(groups.values(), key=lambda g: (-len(g.prefix), g.prefix))


def chunk_groups(groups: list[PrefixGroup], batch_size: int) -> list[list[PrefixGroup]]:
    """Pack groups into chunks of at most ``batch_size`` sequences per forward pass.

    A chunk holds at most ``batch_size`` prefixes and, unless it is a single group, at
    most ``batch_size`` branch passes; one group with more branches than that is run
    alone and its branches are split into several passes by the caller.
    """
    batch_size = max(1, int(batch_size))
    chunks: list[list[PrefixGroup]] = []
    current: list[PrefixGroup] = []
    n_branches = 0
    for group in groups:
        cost = group.n_branch_passes
        if current and (len(current) >= batch_size or n_branches + cost > batch_size):
            chunks.append(current)
            current, n_branches = [], 0
        current.append(group)
        n_branches += cost
    if current:
        chunks.append(current)
    return chunks
