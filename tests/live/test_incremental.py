"""The running-sum synchrony equals the offline windows (wlcc_peaks) to 1e-9."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syntony.errors import ParameterError
from syntony.live.incremental import IncrementalSynchrony
from syntony.physio.synchrony import SyncConfig, group_synchrony, wlcc_peaks

TOL = 1e-9


def _series(rng, n_t, n_p, *, level=15.0):
    x = np.cumsum(rng.standard_normal((n_t, n_p)), axis=0) * 0.3 + level
    return x + np.sin(np.arange(n_t) / 7.0)[:, None]


def _run(x, config, fs, chunks, *, join=None):
    """Feed x in chunks; persons in ``join`` ({column: first row}) are added when they start."""
    inc = IncrementalSynchrony(config, fs, capacity=2)
    join = join or {}
    for p in range(x.shape[1]):
        if p not in join:
            inc.add_person(f"p{p}")
    order = [p for p in range(x.shape[1]) if p not in join]
    out = []
    a = 0
    for size in chunks:
        b = min(a + size, x.shape[0])
        for p, start in sorted(join.items()):
            if f"p{p}" not in inc.persons and start < b:
                inc.add_person(f"p{p}")
                order.append(p)
        out += inc.append(x[a:b][:, order])
        a = b
        if a >= x.shape[0]:
            break
    return out, order


def _compare(updates, order, x, config, fs, *, every=True):
    w, s, lag = config.samples(fs)
    r, lg, starts = wlcc_peaks(x, w, s, lag, peak=config.peak)
    if every:
        assert [u.index for u in updates] == list(range(len(starts)))
    assert [u.start for u in updates] == starts[[u.index for u in updates]].tolist()
    for u in updates:
        n = u.r.shape[0]
        ref = r[u.index][np.ix_(order[:n], order[:n])]
        ref_lag = lg[u.index][np.ix_(order[:n], order[:n])]
        np.testing.assert_array_equal(np.isnan(u.r), np.isnan(ref))
        np.testing.assert_allclose(u.r, ref, rtol=0, atol=TOL)
        np.testing.assert_array_equal(u.lag, ref_lag)
        g = group_synchrony(r[u.index][np.ix_(order[:n], order[:n])])
        assert u.group == pytest.approx(float(g), abs=TOL, nan_ok=True)


def test_equal_to_offline_with_gaps_constant_stretches_and_a_late_joiner():
    rng = np.random.default_rng(0)
    x = _series(rng, 700, 6)
    x[100:130, 2] = np.nan  # a dropout
    x[:240, 4] = np.nan  # joins late
    x[300:345, 1] = 7.0  # a flat sensor
    x[500, 0] = np.nan  # one lost sample
    config = SyncConfig(window=30, step=1, max_lag=5)
    chunks = rng.integers(1, 23, size=400).tolist()
    updates, order = _run(x, config, 4.0, chunks, join={4: 240})
    _compare(updates, order, x, config, 4.0)
    assert updates[-1].r.shape == (6, 6)  # the late joiner is in the newest windows


@pytest.mark.parametrize(
    ("window", "step", "max_lag", "peak"),
    [(10, 3, 2, "absmax"), (7.5, 2.5, 0, "max"), (20, 0.25, 4, "max")],
)
def test_equal_to_offline_for_other_windows_steps_and_peaks(window, step, max_lag, peak):
    rng = np.random.default_rng(1)
    x = _series(rng, 300, 4)
    config = SyncConfig(window=window, step=step, max_lag=max_lag, peak=peak)
    updates, order = _run(x, config, 4.0, [37] * 20)
    _compare(updates, order, x, config, 4.0)


def test_no_drift_over_thousands_of_steps():
    """Adding and subtracting products for 2,400 steps keeps the correlations to 1e-9."""
    rng = np.random.default_rng(2)
    x = _series(rng, 2500, 3, level=500.0)  # a large baseline, as raw belts have
    config = SyncConfig(window=20, step=0.25, max_lag=2)
    updates, order = _run(x, config, 4.0, [50] * 50)
    assert len(updates) > 2400
    _compare(updates[-100:], order, x, config, 4.0, every=False)


def test_seeded_from_a_tail_continues_the_same_windows():
    rng = np.random.default_rng(3)
    x = _series(rng, 500, 5)
    config = SyncConfig(window=15, step=1, max_lag=3)
    fs = 4.0
    w, s, lag = config.samples(fs)
    r, _, _ = wlcc_peaks(x, w, s, lag)
    inc = IncrementalSynchrony(config, fs)
    for p in range(5):
        inc.add_person(f"p{p}")
    first = 40
    start = lag + first * s - s - lag
    updates = inc.seed(x[start:300], start, first)
    for a in range(300, 500, 13):
        updates += inc.append(x[a : a + 13])
    assert updates[0].index == first
    got = np.array([u.r for u in updates])
    np.testing.assert_allclose(got, r[first:], rtol=0, atol=TOL)


@settings(max_examples=15, deadline=None)
@given(
    n_p=st.integers(2, 5),
    window=st.integers(3, 25),
    step=st.integers(1, 9),
    lag=st.integers(0, 6),
    chunk=st.integers(1, 40),
    seed=st.integers(0, 1000),
)
def test_property_equal_to_offline(n_p, window, step, lag, chunk, seed):
    rng = np.random.default_rng(seed)
    n_t = window + 2 * lag + 6 * step + 10
    x = _series(rng, n_t, n_p)
    config = SyncConfig(window=window, step=step, max_lag=lag)
    updates, order = _run(x, config, 1.0, [chunk] * (n_t // chunk + 1))
    _compare(updates, order, x, config, 1.0)


def test_bad_input_is_refused():
    inc = IncrementalSynchrony(SyncConfig(window=10, step=1, max_lag=1), 4.0)
    inc.add_person("a")
    with pytest.raises(ParameterError, match="person"):
        inc.add_person("a")
    with pytest.raises(ParameterError, match="rows"):
        inc.append(np.zeros((5, 2)))
