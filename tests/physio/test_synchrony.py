"""Windowed lagged synchrony against brute force, known lags, NeuroKit2, and phase measures."""

from __future__ import annotations

import json

import neurokit2 as nk
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from syntony.errors import InputError, ParameterError
from syntony.physio.synchrony import (
    IdenticalSignalsWarning,
    SyncConfig,
    cluster_phase,
    fisher_z,
    group_synchrony,
    kuramoto_order,
    lagged_correlations,
    synchrony,
    wlcc_peaks,
)


def _brute(x, window, step, max_lag):
    """Per pair, per window, per lag: np.corrcoef on the two segments."""
    n_t, n_p = x.shape
    starts = list(range(max_lag, n_t - window - max_lag + 1, step))
    lags = range(-max_lag, max_lag + 1)
    r = np.full((len(starts), len(lags), n_p, n_p), np.nan)
    for w, s in enumerate(starts):
        for k, lag in enumerate(lags):
            for i in range(n_p):
                for j in range(n_p):
                    a, b = x[s : s + window, i], x[s + lag : s + lag + window, j]
                    if (
                        np.isfinite(a).all()
                        and np.isfinite(b).all()
                        and a.std() > 0
                        and b.std() > 0
                    ):
                        r[w, k, i, j] = np.corrcoef(a, b)[0, 1]
    return r, np.array(starts)


def _signals(seed, n_t=260, n_p=4):
    rng = np.random.default_rng(seed)
    return 100 + rng.standard_normal((n_t, n_p)).cumsum(axis=0)


@pytest.mark.parametrize("peak", ["max", "absmax"])
def test_equals_brute_force(peak):
    x = _signals(0)
    x[100:104, 2] = np.nan  # missing samples make that person's windows undefined
    x[200:240, 3] = 5.0  # a constant stretch too
    want, starts = _brute(x, 40, 17, 6)
    got, got_starts = lagged_correlations(x, 40, 17, 6)
    np.testing.assert_array_equal(got_starts, starts)
    np.testing.assert_allclose(got, want, atol=1e-10)
    r, lag, _ = wlcc_peaks(x, 40, 17, 6, peak=peak, block_bytes=1e4)  # several blocks
    key = np.abs(want) if peak == "absmax" else want
    defined = np.isfinite(want).all(axis=1)
    best = np.nanargmax(np.where(np.isfinite(key), key, -np.inf), axis=1)
    expect = np.take_along_axis(want, best[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(r[defined], expect[defined], atol=1e-10)
    np.testing.assert_array_equal(lag[defined], (best - 6)[defined])
    assert np.isnan(r[~defined]).all()
    assert (~defined).any() and defined.any()


def test_threads_do_not_change_the_result():
    x = _signals(6, n_t=600, n_p=5)
    one = wlcc_peaks(x, 40, 10, 5, n_jobs=1, block_bytes=1e4)
    two = wlcc_peaks(x, 40, 10, 5, n_jobs=2)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_float32_agrees_with_float64():
    x = _signals(5, n_t=400, n_p=6)
    r64, _, _ = wlcc_peaks(x, 40, 20, 5)
    r32, _, _ = wlcc_peaks(x, 40, 20, 5, dtype=np.float32)
    np.testing.assert_allclose(r32, r64, atol=1e-5)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    window=st.integers(3, 30),
    step=st.integers(1, 20),
    max_lag=st.integers(0, 8),
    n_p=st.integers(2, 5),
)
def test_equals_brute_force_property(seed, window, step, max_lag, n_p):
    x = _signals(seed, n_t=80, n_p=n_p)
    want, _ = _brute(x, window, step, max_lag)
    r, _, _ = wlcc_peaks(x, window, step, max_lag)
    np.testing.assert_allclose(r, np.nanmax(want, axis=1), atol=1e-9)


def test_known_lag_recovered():
    rng = np.random.default_rng(1)
    fs, lag_s = 4.0, 2.5
    base = np.convolve(rng.standard_normal(2000), np.ones(8) / 8, mode="same")
    d = int(lag_s * fs)
    leader, follower = base[d:], base[:-d]  # follower(t) = leader(t - d)
    x = np.column_stack([leader, follower, rng.standard_normal(len(leader))])
    feats = xr.Dataset(
        {"v": (("time", "person"), x)},
        coords={"time": np.arange(len(x)) / fs, "person": ["lead", "follow", "noise"]},
        attrs={"sampling_rate": fs, "feature": "v"},
    )
    # A copy shifted in time is the same signal twice: said, and its Fisher z capped.
    with pytest.warns(IdenticalSignalsWarning, match="'lead' and 'follow'"):
        out = synchrony(feats, SyncConfig(window=30, step=15, max_lag=5))
    assert json.loads(out.attrs["identical_pairs"]) == [["lead", "follow"]]
    np.testing.assert_allclose(out["lag"].sel(person="lead", other="follow").values, lag_s)
    np.testing.assert_allclose(out["lag"].sel(person="follow", other="lead").values, -lag_s)
    np.testing.assert_allclose(out["r"].sel(person="lead", other="follow").values, 1.0, atol=1e-9)
    assert float(np.abs(out["rho"].sel(person="lead", other="noise")).mean()) < 0.5
    rho = out["rho"].values
    np.testing.assert_allclose(rho, np.swapaxes(rho, 1, 2))
    assert (np.diagonal(rho, axis1=1, axis2=2) == 1).all()


def test_lag_zero_matches_neurokit_rolling_correlation():
    x = _signals(2, n_t=300, n_p=2)
    w = 50
    r, starts = lagged_correlations(x, w, 10, 0)
    ref = nk.signal_synchrony(x[:, 0], x[:, 1], method="correlation", window_size=w)
    # NeuroKit's rolling window ending at sample e covers [e - w + 1, e], and NeuroKit then
    # moves the series w/2 samples earlier to centre it.
    np.testing.assert_allclose(r[:, 0, 0, 1], ref[starts + w - 1 - w // 2], atol=1e-8)


def test_group_synchrony_and_fisher_z():
    r = np.array([[[1.0, 0.5, 0.2], [0.3, 1.0, 0.0], [0.2, 0.4, 1.0]]])
    z = fisher_z(r)
    pairs = [
        (z[0, 0, 1] + z[0, 1, 0]) / 2,
        (z[0, 0, 2] + z[0, 2, 0]) / 2,
        (z[0, 1, 2] + z[0, 2, 1]) / 2,
    ]
    assert group_synchrony(r)[0] == pytest.approx(np.tanh(np.mean(pairs)))
    assert np.isfinite(fisher_z(np.array([1.0, -1.0]))).all()


def test_phase_measures():
    t = np.linspace(0, 20, 400)
    same = np.column_stack([2 * np.pi * 0.3 * t] * 5)
    assert np.allclose(kuramoto_order(same), 1)
    offsets = same + np.array([0, 0.5, 1.0, 1.5, 2.0])
    rho, rel = cluster_phase(offsets)
    assert np.allclose(rho, 1)  # constant relative phases are perfect cluster-phase synchrony
    assert kuramoto_order(offsets).mean() < 0.9  # ...but not in-phase
    np.testing.assert_allclose(np.diff(rel), 0.5, atol=1e-9)
    rng = np.random.default_rng(0)
    scattered = rng.uniform(-np.pi, np.pi, (5000, 50))
    assert kuramoto_order(scattered).mean() == pytest.approx(np.sqrt(np.pi / 4 / 50), rel=0.1)


def test_bad_configurations():
    with pytest.raises(ParameterError, match="peak"):
        SyncConfig(peak="median")
    with pytest.raises(ParameterError, match="window"):
        wlcc_peaks(np.zeros((50, 2)), 40, 5, 10)
    feats = xr.Dataset(
        {"v": (("time", "person"), np.zeros((100, 1)))},
        coords={"time": np.arange(100.0), "person": ["a"]},
        attrs={"sampling_rate": 1.0, "feature": "v"},
    )
    with pytest.raises(InputError, match="at least two persons"):
        synchrony(feats, SyncConfig(window=10, step=5, max_lag=2))
