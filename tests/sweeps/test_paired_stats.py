"""Paired statistics: hand-worked examples, and equality with scipy called directly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lm_eval_ext.report import (
    mcnemar_exact,
    paired_bootstrap_ci,
    paired_comparison,
    unpaired_z_test,
)


def _pairs(n11: int, n10: int, n01: int, n00: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes of A and B with the given counts of (A, B) = (1,1), (1,0), (0,1), (0,0)."""
    a = [1] * n11 + [1] * n10 + [0] * n01 + [0] * n00
    b = [1] * n11 + [0] * n10 + [1] * n01 + [0] * n00
    return np.array(a, float), np.array(b, float)


def test_mcnemar_by_hand():
    # 7 docs right only in A, 1 right only in B. Under H0 each discordant doc is a fair coin:
    # P(X <= 1 | n=8) = (C(8,0) + C(8,1)) / 2^8 = 9/256; two-sided: 18/256 = 0.0703125.
    a, b = _pairs(n11=30, n10=7, n01=1, n00=12)
    assert mcnemar_exact(a, b) == (7, 1, pytest.approx(18 / 256, abs=1e-12))
    assert mcnemar_exact(b, a) == (1, 7, pytest.approx(18 / 256, abs=1e-12))
    assert mcnemar_exact(a, a) == (0, 0, 1.0)


def test_mcnemar_equals_scipy_binomtest():
    rng = np.random.default_rng(3)
    a = (rng.random(500) < 0.62).astype(float)
    b = np.where(rng.random(500) < 0.8, a, 1 - a)  # agrees on ~80% of the docs
    n10, n01, p = mcnemar_exact(a, b)
    assert n10 == int(((a == 1) & (b == 0)).sum()) and n01 == int(((a == 0) & (b == 1)).sum())
    assert p == stats.binomtest(n10, n10 + n01, 0.5, alternative="two-sided").pvalue


def test_unpaired_z_by_hand_and_against_scipy():
    a, b = np.array([1, 1, 1, 0.0]), np.array([1, 0, 0, 0.0])
    # means 0.75 and 0.25; sample variances 0.25 each; se^2 = 0.25/4 + 0.25/4 = 0.125
    # z = 0.5 / sqrt(0.125) = sqrt(2); p = 2 * (1 - Phi(1.41421)) = 0.157299
    z, p = unpaired_z_test(a, b)
    assert z == pytest.approx(math.sqrt(2), abs=1e-12)
    assert p == pytest.approx(0.157299, abs=1e-6)
    # the statistic is Welch's t (same standard error); p from the normal distribution
    rng = np.random.default_rng(0)
    x, y = rng.random(300), rng.random(300) + 0.05
    z, p = unpaired_z_test(x, y)
    assert z == pytest.approx(stats.ttest_ind(x, y, equal_var=False).statistic, rel=1e-12)
    assert p == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)


def test_paired_bootstrap_equals_scipy_and_the_normal_interval_by_hand():
    # 100 docs: A - B is +1 on 30, -1 on 10, 0 on 60. Mean 0.2; sample variance
    # (40 - 100 * 0.2^2) / 99 = 36/99; standard error sqrt(36/99/100) = 0.060302;
    # normal-theory 95% interval 0.2 +- 1.95996 * 0.060302 = [0.0818, 0.3182].
    a, b = _pairs(n11=20, n10=30, n01=10, n00=40)
    low, high = paired_bootstrap_ci(a, b, n_resamples=9999, seed=7)
    assert low == pytest.approx(0.0818, abs=0.02) and high == pytest.approx(0.3182, abs=0.02)
    direct = stats.bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.mean(x - y, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=9999,
        confidence_level=0.95,
        method="BCa",
        rng=np.random.default_rng(7),
    ).confidence_interval
    assert (low, high) == (direct.low, direct.high)


def test_identical_differences_give_a_point_interval():
    a, b = np.ones(20), np.zeros(20)
    assert paired_bootstrap_ci(a, b) == (1.0, 1.0)
    assert paired_bootstrap_ci(a, a) == (0.0, 0.0)


def test_paired_is_decisive_where_unpaired_is_not():
    # Two checkpoints agree on 180 of 200 docs; A wins 16 of the 20 others.
    a, b = _pairs(n11=110, n10=16, n01=4, n00=70)
    result = paired_comparison("t", "acc", "none", a, b)
    assert (result.n, result.mean_a, result.mean_b) == (200, 0.63, 0.57)
    assert result.diff == pytest.approx(0.06)
    assert (result.n10, result.n01) == (16, 4)
    assert result.mcnemar_p == pytest.approx(stats.binomtest(16, 20, 0.5).pvalue)
    assert result.mcnemar_p < 0.05 < result.unpaired_p  # ~0.012 vs ~0.22
    assert 0 < result.ci_low < result.diff < result.ci_high
    continuous = paired_comparison("t", "f1", "none", a * 0.5, b * 0.25)
    assert continuous.n10 is None and continuous.mcnemar_p is None  # not a 0/1 metric
