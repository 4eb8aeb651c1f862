"""Surrogates keep each series, break alignment; p-values are calibrated under independence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from syntony.errors import ParameterError
from syntony.physio.surrogates import (
    circular_shift,
    pseudo_group_test,
    segment_shuffle,
    surrogate_test,
)
from syntony.physio.synchrony import SyncConfig

CFG = SyncConfig(window=30, step=15, max_lag=5)


def _ar1(rng, n_t, n_p, phi=0.8):
    e = rng.standard_normal((n_t, n_p))
    x = np.empty_like(e)
    x[0] = e[0]
    for t in range(1, n_t):
        x[t] = phi * x[t - 1] + e[t]
    return x


def test_circular_shift_is_a_rotation_per_person():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 3))
    y = circular_shift(10)(x, np.random.default_rng(1))
    for p in range(3):
        shifts = [k for k in range(100) if np.array_equal(np.roll(x[:, p], k), y[:, p])]
        assert len(shifts) == 1 and 10 <= shifts[0] <= 90
    with pytest.raises(ParameterError, match="min_shift"):
        circular_shift(60)(x, rng)


def test_segment_shuffle_permutes_whole_segments():
    x = np.arange(103, dtype=float)[:, None] * np.ones((1, 2))
    y = segment_shuffle(10)(x, np.random.default_rng(2))
    for p in range(2):
        np.testing.assert_array_equal(np.sort(y[:, p]), x[:, p])
        blocks = y[:100, p].reshape(10, 10)
        assert (np.diff(blocks, axis=1) == 1).all()  # segments stay intact
        np.testing.assert_array_equal(y[100:, p], [100, 101, 102])
    assert not np.array_equal(y[:, 0], y[:, 1])


@pytest.mark.slow
def test_p_values_uniform_for_independent_signals():
    rng = np.random.default_rng(3)
    pvals = [
        surrogate_test(_ar1(rng, 240, 4), 1.0, CFG, n_surrogates=39, seed=rng).p_value
        for _ in range(150)
    ]
    pvals = np.array(pvals)
    # Discrete p on {1/40, ..., 1}: compare with the uniform law on that grid.
    assert stats.kstest(pvals - 0.5 / 40, "uniform").pvalue > 0.01
    assert np.mean(pvals <= 0.05) < 0.11


def test_detects_coupled_group_and_reports_effect_size():
    rng = np.random.default_rng(4)
    shared = _ar1(rng, 240, 1)
    x = 0.8 * shared + 0.6 * _ar1(rng, 240, 4)
    res = surrogate_test(x, 1.0, CFG, n_surrogates=99, seed=5)
    assert res.p_value == pytest.approx(0.01)
    assert res.effect_size > 3
    assert res.null_windows.shape == (99, 14)
    shuffled = surrogate_test(x, 1.0, CFG, surrogate=segment_shuffle(30), n_surrogates=49, seed=5)
    assert shuffled.p_value == pytest.approx(0.02)
    summary = res.summary()
    assert (
        summary["null_q025"] <= summary["null_mean"] <= summary["null_q975"] < summary["observed"]
    )


def test_pseudo_groups_separate_stimulus_from_social_coupling():
    rng = np.random.default_rng(6)
    stimulus = _ar1(rng, 300, 1)
    # Both sessions follow the same stimulus; only session A also shares a room signal.
    room = _ar1(rng, 300, 1)
    a = 0.6 * stimulus + 0.6 * room + 0.5 * _ar1(rng, 300, 5)
    b = 0.6 * stimulus + 0.5 * _ar1(rng, 300, 5)
    coupled = pseudo_group_test(a, b, 1.0, CFG, n_groups=200, seed=1)
    assert coupled.p_value < 0.02 and coupled.effect_size > 2
    assert coupled.extra["n_cross_pairs"] == 25 and coupled.extra["cohens_d_pairs"] > 1
    # A group without the room signal is just another pseudo-group.
    c = 0.6 * stimulus + 0.5 * _ar1(rng, 300, 5)
    alone = pseudo_group_test(c, b, 1.0, CFG, n_groups=200, seed=1)
    assert alone.p_value > 0.05


def test_phase_surrogates_detect_locking_only():
    from syntony.physio.surrogates import phase_surrogate_test
    from syntony.physio.synchrony import cluster_phase

    rng = np.random.default_rng(7)
    t = np.arange(0, 300, 0.25)
    drift = np.cumsum(rng.normal(0, 0.05, (t.size, 1)), axis=0)
    locked = 2 * np.pi * 0.25 * t[:, None] + drift + rng.normal(0, 0.6, (t.size, 6))
    res = phase_surrogate_test(locked, n_surrogates=99, seed=1)
    assert res.p_value == pytest.approx(0.01) and res.effect_size > 3
    assert res.summary()["null_mean"] == pytest.approx(res.null.mean())
    # Independent oscillators with their own rates and drifts: no locking.
    free = 2 * np.pi * rng.uniform(0.2, 0.3, 6) * t[:, None] + np.cumsum(
        rng.normal(0, 0.05, (t.size, 6)), axis=0
    )
    pvals = [
        phase_surrogate_test(
            free + rng.uniform(0, 2 * np.pi, 6), n_surrogates=49, seed=k,
            statistic=lambda ph: float(np.nanmean(cluster_phase(ph)[0])),
        ).p_value
        for k in range(5)
    ]  # fmt: skip
    assert min(pvals) > 0.01
