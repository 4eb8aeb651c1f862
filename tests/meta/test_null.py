"""The analytic ALE null against exact enumeration and NiMARE's conventions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from syntony.meta.null import (
    AUTO_EXACT_MAX_EXPERIMENTS,
    HistogramNull,
    auto_null,
    bin_index,
    histogram_bins,
    histogram_null,
    log_space_null,
    logp_from_p,
    z_from_p,
)


def _counts(values, n_mask, n_small):
    counts = np.zeros(n_small, dtype=np.int64)
    np.add.at(counts, bin_index(values, 1e5, n_small), 1)
    counts[0] += n_mask - len(values)
    return counts


def test_single_experiment_null_is_its_histogram():
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 0.02, size=300).astype(np.float32)
    counts = _counts(values, 1000, 2100)
    null = histogram_null(counts[None], np.array([values.max()]), 1000)
    expected = np.zeros(null.centres.size)
    n = min(expected.size, counts.size)
    expected[:n] = counts[:n] / 1000
    np.testing.assert_allclose(null.weights, expected)


def test_two_experiments_match_exact_enumeration():
    # Exact null of 1 - (1 - a)(1 - b) for independent voxels: enumerate every pair of bins.
    rng = np.random.default_rng(2)
    n_mask = 500
    a = np.round(rng.uniform(0, 0.01, size=120), 5).astype(np.float32)
    b = np.round(rng.uniform(0, 0.01, size=80), 5).astype(np.float32)
    counts = np.stack([_counts(a, n_mask, 1100), _counts(b, n_mask, 1100)])
    null = histogram_null(counts, np.array([a.max(), b.max()]), n_mask)
    full_a = np.r_[a, np.zeros(n_mask - a.size)].astype(np.float64)
    full_b = np.r_[b, np.zeros(n_mask - b.size)].astype(np.float64)
    ale = 1 - np.outer(1 - np.round(full_a, 5), 1 - np.round(full_b, 5)).ravel()
    expected = (
        np.bincount(bin_index(ale, 1e5, null.centres.size), minlength=null.centres.size) / n_mask**2
    )
    np.testing.assert_allclose(null.weights, expected, atol=1e-15)
    assert null.weights.sum() == pytest.approx(1.0)


def test_bins_cover_the_largest_possible_ale():
    centres = histogram_bins([0.012344, 0.02])
    assert centres[0] == 0 and centres[1] == pytest.approx(1e-5)
    assert centres[-1] >= 1 - (1 - 0.01235) * (1 - 0.02)


def test_p_values_threshold_and_transforms():
    centres = np.round(np.arange(0, 0.01001, 1e-5), 5)
    weights = np.exp(-centres / 0.001)
    null = HistogramNull(centres=centres, weights=weights / weights.sum())
    tail = null.tail()
    ale = np.array([-0.1, 0.0, 0.000016, 0.004, 0.5])
    p = null.p_values(ale)
    assert p[0] == 1 and p[1] == 1
    assert p[2] == tail[2]  # nearest bin
    assert p[3] == tail[400]
    assert p[4] == tail[-1]
    assert np.all((p > 0) & (p <= 1))
    thr = null.threshold(0.001)
    first = np.flatnonzero(tail <= 0.001)[0]
    assert thr == centres[first - 1]
    assert null.p_values([thr])[0] > 0.001 >= null.p_values([centres[first]])[0]
    np.testing.assert_allclose(
        z_from_p([0.5, 0.05, 1e-300]), [0, stats.norm.isf(0.05), stats.norm.isf(1e-300)]
    )
    assert z_from_p([0.9])[0] == 0
    np.testing.assert_allclose(logp_from_p([1, 0.01]), [0, 2])


def _mixed_counts(rng, n_exp, n_mask, n_small):
    rows = []
    for _ in range(n_exp):
        values = rng.uniform(0, 0.02, size=rng.integers(50, 400)).astype(np.float32)
        rows.append(_counts(values, n_mask, n_small))
    return np.stack(rows)


def test_log_space_null_matches_exact_enumeration_of_two_experiments():
    # Independent check: enumerate every pair of voxels, without any binning of the sum.
    rng = np.random.default_rng(3)
    n_mask = 400
    a = rng.uniform(0, 0.02, size=150)
    b = rng.uniform(0, 0.02, size=90)
    counts = np.stack([_counts(a, n_mask, 2100), _counts(b, n_mask, 2100)])
    fast = log_space_null(counts, np.array([a.max(), b.max()]), n_mask)
    full_a = np.round(np.r_[a, np.zeros(n_mask - a.size)], 5)
    full_b = np.round(np.r_[b, np.zeros(n_mask - b.size)], 5)
    ale = np.sort(1 - np.outer(1 - full_a, 1 - full_b).ravel())
    for p in (0.2, 0.05, 0.01, 0.002):
        exact = ale[int(np.ceil((1 - p) * ale.size))]
        assert fast.threshold(p) == pytest.approx(exact, abs=2.5e-5)
    assert fast.weights.sum() == pytest.approx(1.0)
    assert fast.weights.min() >= 0


def test_log_space_null_agrees_with_histogram_null_on_many_experiments():
    rng = np.random.default_rng(4)
    counts = _mixed_counts(rng, 60, 3000, 2100)
    peaks = np.array([np.flatnonzero(c).max() * 1e-5 for c in counts])
    exact = histogram_null(counts, peaks, 3000)
    fast = log_space_null(counts, peaks, 3000)
    assert np.max(np.abs(exact.tail() - fast.tail())) < 2e-3
    for p in (0.05, 0.01, 0.001, 1e-4):
        assert fast.threshold(p) == pytest.approx(exact.threshold(p), abs=5e-5)
    values = np.linspace(0, fast.centres[-1], 500)
    np.testing.assert_allclose(fast.p_values(values), exact.p_values(values), atol=2e-3)


def test_log_space_null_agrees_with_monte_carlo_sums():
    # Sampling each experiment's MA independently is the definition of the null.
    rng = np.random.default_rng(5)
    n_mask = 2000
    counts = _mixed_counts(rng, 200, n_mask, 2100)
    peaks = np.array([np.flatnonzero(c).max() * 1e-5 for c in counts])
    fast = log_space_null(counts, peaks, n_mask)
    u = -np.log1p(-np.arange(counts.shape[1]) * 1e-5)
    total = np.zeros(400_000)
    for row in counts:
        total += u[rng.choice(row.size, size=total.size, p=row / row.sum())]
    ale = -np.expm1(-total)
    # 400,000 draws pin these quantiles to about 1e-4 (p = 0.001 would need far more).
    for p in (0.5, 0.05, 0.01):
        assert fast.threshold(p) == pytest.approx(np.quantile(ale, 1 - p), abs=3e-4)


def test_auto_null_switches_to_log_space_for_large_analyses():
    rng = np.random.default_rng(6)
    small = _mixed_counts(rng, 3, 1000, 2100)
    peaks = np.array([np.flatnonzero(c).max() * 1e-5 for c in small])
    assert auto_null(small, peaks, 1000).method == histogram_null(small, peaks, 1000).method
    big = np.repeat(small, 200, axis=0)[: AUTO_EXACT_MAX_EXPERIMENTS + 1]
    assert "FFT" in auto_null(big, np.resize(peaks, big.shape[0]), 1000).method


def test_ale_with_log_space_null_reproduces_the_exact_threshold_on_pain_studies(shared_data):
    from syntony.meta.ale import ALE
    from syntony.meta.readers import read_studyset

    studyset = read_studyset(shared_data / "nimare" / "nidm_pain_dset.json")
    exact = ALE(n_iters=0).fit(studyset)
    fast = ALE(n_iters=0, null_method=log_space_null).fit(studyset)
    assert fast.threshold_ == exact.threshold_
    assert np.max(np.abs(fast.p_ - exact.p_)) < 1e-4
    assert "FFT" in fast.result_.parameters["null_method"]
    assert "FFT" in fast.result_.methods
