"""The analytic ALE null against exact enumeration and NiMARE's conventions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from syntony.meta.null import (
    HistogramNull,
    bin_index,
    histogram_bins,
    histogram_null,
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
