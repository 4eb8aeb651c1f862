"""The mechanism models' filters against the package's plain Kalman filter, and the gate's
eq (2) precisions against the agent loop's own."""

from __future__ import annotations

import numpy as np
import pytest

from syntony.physio.mechanisms._kalman import (
    kim_loglik,
    kim_scalar,
    kim_smooth,
    scalar_kalman,
    ti_loglik,
    tv_loglik,
)
from syntony.physio.mechanisms.gating import gate_deviations, pair_precisions
from syntony.physio.statespace import laplacian, loglik_dense, simulate_statespace, transition


def _data(missing: bool):
    rng = np.random.default_rng(0)
    n = 5
    a = (rng.random((n, n)) < 0.6).astype(float)
    np.fill_diagonal(a, 0)
    a[0, 1] = 1.0
    lap = laplacian(a)
    u = np.sin(np.arange(300) / 7)
    _, y = simulate_statespace(
        300, lap, c=0.4, lam=0.2, beta=0.5, q=0.3, r=0.4, dt=0.5, u=u, seed=0
    )
    if missing:
        y[10, 2] = y[20] = y[200, 1] = np.nan
    drive = 0.5 * 0.5 * u
    return y, lap, drive, transition(0.2, 0.4, lap, 0.5)


@pytest.mark.parametrize("missing", [False, True])
def test_time_varying_and_frozen_gain_filters_equal_the_dense_filter(missing):
    y, lap, drive, f = _data(missing)
    ref, _ = loglik_dense(y, f, np.outer(drive, np.ones(5)), 0.3, 0.4)
    preds = np.zeros_like(y)
    dev = np.random.default_rng(1).standard_normal((300, 5, 5))
    tv = tv_loglik(y, lap, dev, 0.0, 1 - 0.5 * 0.2, 0.5 * 0.4, drive, 0.3, 0.4, 1, preds)
    ti = ti_loglik(y, f, drive, 0.3, 0.4, 1, preds, 1e-12)
    assert tv == pytest.approx(ref, rel=1e-12)
    assert ti == pytest.approx(ref, rel=1e-9)
    # the gate enters through L(t) = L0 - g D(t): a textbook filter with that F(t) agrees
    g = 0.7
    total = 0.0
    m, p = np.nan_to_num(y[0]), np.eye(5) * 0.4
    for t in range(1, 300):
        ft = (1 - 0.1) * np.eye(5) - 0.2 * (lap - g * dev[t - 1])
        m = ft @ m + drive[t - 1]
        p = ft @ p @ ft.T + 0.3 * np.eye(5)
        ok = np.isfinite(y[t])
        if ok.any():
            s = p[np.ix_(ok, ok)] + 0.4 * np.eye(ok.sum())
            v = y[t, ok] - m[ok]
            total += -0.5 * (
                ok.sum() * np.log(2 * np.pi) + np.linalg.slogdet(s)[1] + v @ np.linalg.solve(s, v)
            )
            k = p[:, ok] @ np.linalg.inv(s)
            m = m + k @ v
            p = p - k @ p[ok, :]
    tv_g = tv_loglik(y, lap, dev, g, 1 - 0.5 * 0.2, 0.5 * 0.4, drive, 0.3, 0.4, 1, preds)
    assert tv_g == pytest.approx(total, rel=1e-9)


def test_kim_filter_with_equal_modes_is_the_kalman_filter():
    y, _, drive, f = _data(True)
    ref, _ = loglik_dense(y, f, np.outer(drive, np.ones(5)), 0.3, 0.4)
    preds = np.zeros_like(y)
    filt, pred = np.zeros((300, 2)), np.zeros((300, 2))
    trans = np.array([[0.9, 0.1], [0.3, 0.7]])
    ll = kim_loglik(
        y, np.stack([f, f]), np.stack([drive, drive], 1), 0.3, 0.4, trans, 1, preds, filt, pred
    )
    assert ll == pytest.approx(ref, rel=1e-10)
    # the modes cannot be told apart: the filter keeps the chain's own probabilities
    assert np.allclose(filt[1:], [0.75, 0.25])
    smooth = kim_smooth(filt, pred, trans)
    assert np.allclose(smooth.sum(axis=1), 1.0)


def test_kim_decomposition_equals_the_dense_kim_filter():
    """With one coupling on a symmetric network the modes move only the mean component."""
    rng = np.random.default_rng(2)
    n, n_t = 4, 200
    lap = laplacian(np.ones((n, n)) - np.eye(n))
    y = rng.standard_normal((n_t, n)).cumsum(axis=0) * 0.1 + rng.standard_normal((n_t, n))
    dt, lam, c, q, r = 0.5, 0.3, 0.4, 0.2, 0.5
    drift = dt * lam * np.array([[0.0, 2.0]] * n_t) + dt * 0.3 * np.sin(np.arange(n_t))[:, None]
    trans = np.array([[0.95, 0.05], [0.1, 0.9]])
    f = (1 - dt * lam) * np.eye(n) - dt * c * lap
    filt, pred = np.zeros((n_t, 2)), np.zeros((n_t, 2))
    dense = kim_loglik(y, np.stack([f, f]), drift, q, r, trans, 1, np.zeros_like(y), filt, pred)
    ev, vecs = np.linalg.eigh(lap)
    load = vecs.sum(axis=0)
    k0 = int(np.argmax(np.abs(load)))
    z = y @ vecs
    a = 1 - dt * (lam + c * ev[k0]) * np.ones(2)
    filt2, pred2 = np.zeros((n_t, 2)), np.zeros((n_t, 2))
    fast = kim_scalar(
        np.ascontiguousarray(z[:, k0]),
        a,
        drift * load[k0],
        q,
        r,
        trans,
        1,
        np.zeros(n_t),
        filt2,
        pred2,
    )
    others = [k for k in range(n) if k != k0]
    fast += scalar_kalman(
        np.ascontiguousarray(z[:, others]),
        1 - dt * (lam + c * ev[others]),
        np.zeros((n_t, n - 1)),
        q,
        r,
        1,
    )
    assert fast == pytest.approx(dense, rel=1e-10)
    assert np.allclose(filt, filt2)


def test_boxcar_precisions_are_the_inverse_variance_of_pair_differences():
    rng = np.random.default_rng(3)
    y = rng.standard_normal((80, 3))
    omega = pair_precisions(y, 1.0, window=10.0)
    assert np.isnan(omega[8]).all() and np.isnan(omega[20, 0, 0])
    t = 40
    expected = 1.0 / np.var(y[t - 9 : t + 1, 0] - y[t - 9 : t + 1, 2])
    assert omega[t, 0, 2] == pytest.approx(expected) and omega[t, 2, 0] == omega[t, 0, 2]
    adj = np.ones((3, 3)) - np.eye(3)
    dev = gate_deviations(omega, adj)
    assert np.allclose(dev.sum(axis=2), 0.0)
    assert np.all(dev[:9] == 0.0)
    # g = 1: the weights of row i are omega_ij / sum_k omega_ik
    lap0 = laplacian(adj)
    lap_t = lap0 - dev[t]
    w = omega[t, 0, 1:] / omega[t, 0, 1:].sum()
    assert np.allclose(-lap_t[0, 1:], w)


def test_exponential_precisions_equal_the_agent_loops_online_synchrony():
    """The gate's precisions, computed from the recorded signals, are those the loop used."""
    from syntony.model import Scenario, simulate

    scenario = Scenario.from_dict(
        {
            "simulation": {"steps": 600, "dt": 0.2},
            "network": {"kind": "complete"},
            "agents": {"n": 4, "gamma_int": 0.0, "q": 1e4},
            "perception": {"tau_rho": 4.0},
            "modes": {"enabled": False},
            "output": {"record_edges": 12},
        }
    )
    ds = simulate(scenario, seed=4).dataset
    s = ds["s"].isel(channel=0).transpose("time", "agent").to_numpy()
    omega = pair_precisions(s[1:], 0.2, window=4.0, weighting="exponential")
    loop = ds["omega"].isel(channel=0).to_numpy()[1:]  # row t + 1 is step t
    src, dst = ds["edge_source"].to_numpy(), ds["edge_target"].to_numpy()
    late = slice(300, None)  # 15 time constants: the different starting moments are forgotten
    ours = omega[late][:, dst, src]
    assert np.allclose(ours, loop[late], rtol=2e-4)
