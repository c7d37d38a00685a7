"""Paired comparisons of two runs on the same documents, from their samples files.

Two checkpoints evaluated on the same docs give paired per-doc scores; testing them as if
independent (an unpaired z-test on the two reported standard errors, as lm-eval's
``scripts/model_comparator.py`` does) ignores that most docs are answered alike by both and
is far too conservative. Here samples are joined on (task, doc_id, filter), refused unless
both runs saw identical docs (``doc_hash``), and for each per-doc metric we report:

- the difference of means with a **paired bootstrap** confidence interval
  (``scipy.stats.bootstrap(paired=True)``, BCa);
- for 0/1 metrics, the **exact McNemar test**: under H0 the discordant docs split 50/50, so
  p = ``scipy.stats.binomtest(n10, n10 + n01, 0.5)``;
- next to them, what the unpaired z-test would say: z = diff / sqrt(se_a^2 + se_b^2),
  se = sample standard deviation / sqrt(n) (lm-eval's ``stderr``), p = 2 * (1 - Phi(|z|)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from lm_eval_ext.errors import ReportError
from lm_eval_ext.report.collect import ResultsEntry, read_samples

__all__ = [
    "PairedResult",
    "compare_checkpoints",
    "mcnemar_exact",
    "paired_bootstrap_ci",
    "paired_comparison",
    "unpaired_z_test",
]

_ERROR_FIELD = "lm_eval_ext_error"  # samples rows of docs the journal excluded


@dataclass(frozen=True)
class PairedResult:
    """One metric of one task, run A vs run B."""

    task: str
    metric: str
    filter: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    n10: int | None  # docs right in A only (0/1 metrics)
    n01: int | None  # docs right in B only
    mcnemar_p: float | None
    unpaired_z: float
    unpaired_p: float
    excluded: int = 0  # docs without a score in either run (errored)

    def to_dict(self) -> dict:
        """A flat dict (a table row)."""
        return asdict(self)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def paired_bootstrap_ci(
    a: np.ndarray,
    b: np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> tuple[float, float]:
    """BCa interval of mean(a - b) resampling docs (pairs kept together); seeded."""
    diff = np.asarray(a, float) - np.asarray(b, float)
    if np.ptp(diff) == 0:  # every resample gives the same mean: BCa is undefined, the CI is a point
        return float(diff[0]), float(diff[0])
    res = stats.bootstrap(
        (np.asarray(a, float), np.asarray(b, float)),
        _mean_difference,
        paired=True,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """(n10, n01, two-sided exact p) for paired 0/1 outcomes."""
    a, b = np.asarray(a), np.asarray(b)
    n10 = int(np.sum((a == 1) & (b == 0)))
    n01 = int(np.sum((a == 0) & (b == 1)))
    if n10 + n01 == 0:
        return n10, n01, 1.0
    return n10, n01, float(stats.binomtest(n10, n10 + n01, 0.5).pvalue)


def unpaired_z_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(z, two-sided p) treating the two samples as independent (what not to do)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a.mean() - b.mean()
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) if len(a) > 1 else 0.0
    if se == 0:
        return (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    z = diff / se
    return float(z), float(2 * stats.norm.sf(abs(z)))


def paired_comparison(
    task: str,
    metric: str,
    filt: str,
    a: np.ndarray,
    b: np.ndarray,
    *,
    excluded: int = 0,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> PairedResult:
    """Every statistic of one metric's paired per-doc values."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    low, high = paired_bootstrap_ci(a, b, confidence=confidence, n_resamples=n_resamples, seed=seed)
    binary = bool(np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all())
    n10, n01, p = mcnemar_exact(a, b) if binary else (None, None, None)
    z, zp = unpaired_z_test(a, b)
    return PairedResult(
        task,
        metric,
        filt,
        len(a),
        float(a.mean()),
        float(b.mean()),
        float((a - b).mean()),
        low,
        high,
        n10,
        n01,
        p,
        z,
        zp,
        excluded,
    )


def _keyed(rows: list[dict]) -> dict[tuple[int, str], dict]:
    return {(int(r["doc_id"]), str(r.get("filter", "none"))): r for r in rows}


def _join(task: str, a: ResultsEntry, b: ResultsEntry) -> list[tuple[dict, dict]]:
    """Pairs of samples rows with identical docs; an error naming the docs otherwise."""
    rows_a, rows_b = _keyed(read_samples(a, task)), _keyed(read_samples(b, task))
    if rows_a.keys() != rows_b.keys():
        only_a, only_b = len(rows_a.keys() - rows_b.keys()), len(rows_b.keys() - rows_a.keys())
        raise ReportError(
            f"{task}: {a.run}@{a.checkpoint} and {b.run}@{b.checkpoint} did not see the same "
            f"docs ({only_a} only in {a.path.name}, {only_b} only in {b.path.name}; --limit?)"
        )
    differing = [
        k for k in sorted(rows_a) if rows_a[k].get("doc_hash") != rows_b[k].get("doc_hash")
    ]
    if differing:
        shown = ", ".join(f"doc {d}" for d, _ in differing[:5])
        raise ReportError(
            f"{task}: {len(differing)} docs differ between {a.path} and {b.path} "
            f"(doc_hash: {shown}); a paired comparison needs the same docs"
        )
    return [(rows_a[k], rows_b[k]) for k in sorted(rows_a)]


def _metrics(pairs: list[tuple[dict, dict]]) -> list[str]:
    names = [m for m in pairs[0][0].get("metrics", []) if m in pairs[0][1].get("metrics", [])]
    scalar = (int, float)
    return [
        m
        for m in names
        if all(isinstance(r.get(m), scalar) for p in pairs for r in p if _ERROR_FIELD not in r)
    ]


def compare_checkpoints(
    a: dict[str, ResultsEntry], b: dict[str, ResultsEntry], **options: float
) -> list[PairedResult]:
    """Paired statistics of every task both checkpoints have (task -> its results entry),
    every per-doc metric, every filter."""
    results = []
    for task in sorted(set(a) & set(b)):
        pairs = _join(task, a[task], b[task])
        kept = [(x, y) for x, y in pairs if _ERROR_FIELD not in x and _ERROR_FIELD not in y]
        for filt in sorted({x.get("filter", "none") for x, _ in kept}):
            group = [(x, y) for x, y in kept if x.get("filter", "none") == filt]
            for metric in _metrics(group):
                values_a = [float(x[metric]) for x, _ in group]
                values_b = [float(y[metric]) for _, y in group]
                results.append(
                    paired_comparison(
                        task,
                        metric,
                        filt,
                        values_a,
                        values_b,
                        excluded=len(pairs) - len(kept),
                        **options,
                    )
                )
    return results
