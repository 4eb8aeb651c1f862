"""State-space likelihood against filterpy, and simulate-and-recover of the contagion coupling."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter
from scipy import stats

from syntony.errors import InputError, ParameterError
from syntony.physio.fit import ContagionModel, pseudo_group_fit_test
from syntony.physio.statespace import (
    complete_adjacency,
    laplacian,
    loglik_dense,
    loglik_spectral,
    simulate_statespace,
    transition,
)

TRUE = {"c": 0.3, "lam": 0.1, "b": 0.0, "beta": 0.5, "q": 0.2, "r": 0.2}


def _ring(n):
    a = np.zeros((n, n))
    for i in range(n):
        a[i, (i + 1) % n] = a[i, (i - 1) % n] = 1.0
    a[0, 2] = 1.0  # one extra, directed edge: the Laplacian is no longer symmetric
    return a


def _filterpy_loglik(y, f, d, q, r):
    n = y.shape[1]
    kf = KalmanFilter(dim_x=n, dim_z=n)
    kf.F, kf.B, kf.Q = f, np.eye(n), q * np.eye(n)
    kf.x, kf.P = y[0].copy(), r * np.eye(n)
    total = 0.0
    for t in range(1, len(y)):
        kf.predict(u=d[t - 1])
        ok = np.isfinite(y[t])
        if ok.any():
            kf.update(y[t][ok], R=r * np.eye(ok.sum()), H=np.eye(n)[ok])
            total += kf.log_likelihood
    return total


@pytest.mark.parametrize("adjacency", [complete_adjacency(5), _ring(5)])
def test_likelihood_matches_filterpy(adjacency):
    lap = laplacian(adjacency)
    u = np.sin(np.arange(150) / 7)
    _, y = simulate_statespace(
        150, lap, c=0.4, lam=0.2, beta=0.5, q=0.3, r=0.4, dt=0.5, u=u, seed=0
    )
    y[10, 2] = y[20] = np.nan  # a missing sample and a missing time point
    f = transition(0.2, 0.4, lap, 0.5)
    d = np.outer(0.5 * 0.5 * u, np.ones(5))
    ll, pred = loglik_dense(y, f, d, 0.3, 0.4)
    assert ll == pytest.approx(_filterpy_loglik(y, f, d, 0.3, 0.4), rel=1e-10)
    assert np.isnan(pred[0]).all() and np.isfinite(pred[1:]).all()


def test_spectral_likelihood_equals_dense():
    lap = laplacian(complete_adjacency(6))
    u = np.cos(np.arange(200) / 9)
    _, y = simulate_statespace(200, lap, c=0.5, lam=0.1, b=1.0, beta=0.3, q=0.2, r=0.5, u=u, seed=1)
    drive = 1.0 * (0.1 * 1.0 + 0.3 * u)
    dense, _ = loglik_dense(
        y, transition(0.1, 0.5, lap, 1.0), np.outer(drive, np.ones(6)), 0.2, 0.5
    )
    ev, vecs = np.linalg.eigh(lap)
    assert loglik_spectral(y, ev, vecs, 0.1, 0.5, drive, 0.2, 0.5, 1.0) == pytest.approx(
        dense, rel=1e-12
    )


def test_laplacian():
    a = complete_adjacency(4)
    lap = laplacian(a)
    np.testing.assert_allclose(lap.sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvalsh(lap)), [0, 4 / 3, 4 / 3, 4 / 3], atol=1e-12
    )
    np.testing.assert_allclose(laplacian(a, normalize=False), 4 * np.eye(4) - np.ones((4, 4)))
    isolated = a.copy()
    isolated[0] = 0
    assert (laplacian(isolated)[0] == 0).all()
    with pytest.raises(ParameterError, match="adjacency"):
        laplacian(-a)


def _fit(seed, c, n=4, n_t=200, network=None):
    lap = laplacian(complete_adjacency(n) if network is None else network)
    u = np.sin(np.arange(n_t) / 8)
    _, y = simulate_statespace(
        n_t,
        lap,
        c=c,
        lam=TRUE["lam"],
        b=TRUE["b"],
        beta=TRUE["beta"],
        q=TRUE["q"],
        r=TRUE["r"],
        u=u,
        seed=seed,
    )
    return ContagionModel(adjacency=network).fit(y, u)


def test_single_fit_recovers_all_parameters():
    m = _fit(0, 0.3, n=6, n_t=600)
    assert m.converged_
    for name, key in (("c", "c"), ("lambda", "lam"), ("beta", "beta"), ("q", "q"), ("r", "r")):
        # Within 4 standard errors (each 95% interval alone misses 1 time in 20).
        assert abs(m.params_[name] - TRUE[key]) < 4 * m.se_[name], (
            name,
            m.params_[name],
            m.se_[name],
        )
    assert m.lrt_pvalue_ < 1e-6 and m.aic_ < m.aic_null_ and m.bic_ < m.bic_null_
    assert m.n_obs_ == 6 * 599
    assert set(m.summary()) >= {"c", "c_se", "c_ci_low", "lrt_pvalue", "aic", "bic"}


def test_directed_network_uses_dense_filter_and_recovers_c():
    m = _fit(1, 0.4, n=5, n_t=500, network=_ring(5))
    assert not m._symmetric
    lo, hi = m.ci_["c"]
    assert lo <= 0.4 <= hi and lo > 0


def test_rescaling_data_rescales_parameters_only():
    lap = laplacian(complete_adjacency(4))
    _, y = simulate_statespace(300, lap, c=0.3, lam=0.1, q=0.2, r=0.2, seed=2)
    a = ContagionModel().fit(y)
    b = ContagionModel().fit(10 * y + 70)
    # Equal up to the optimiser's tolerance.
    assert b.params_["c"] == pytest.approx(a.params_["c"], rel=1e-4)
    assert b.params_["q"] == pytest.approx(100 * a.params_["q"], rel=1e-4)
    assert b.lrt_stat_ == pytest.approx(a.lrt_stat_, rel=1e-3)
    assert b.loglik_ == pytest.approx(a.loglik_ - 4 * 299 * np.log(10), rel=1e-6)


@pytest.mark.slow
def test_interval_coverage_near_95_percent():
    hits = [
        (lambda m: m.ci_["c"][0] <= TRUE["c"] <= m.ci_["c"][1])(_fit(seed, TRUE["c"]))
        for seed in range(120)
    ]
    coverage = np.mean(hits)
    # 95% nominal; with 120 replications the binomial 99% range is about [0.89, 0.99].
    assert 0.88 <= coverage <= 0.995, coverage


@pytest.mark.slow
def test_lrt_size_and_power():
    pvals = np.array([_fit(1000 + seed, 0.0).lrt_pvalue_ for seed in range(120)])
    size = np.mean(pvals < 0.05)
    assert size <= 0.10, size
    assert stats.kstest(pvals, "uniform").pvalue > 0.001
    power = np.mean([_fit(2000 + seed, 0.3).lrt_pvalue_ < 0.05 for seed in range(10)])
    assert power >= 0.9


def test_huge_standard_error_of_a_logged_parameter_gives_an_open_interval():
    # A flat likelihood along log r (variance 1e6 of its estimate) used to make math.exp
    # overflow; the interval is now (0, inf) with a warning and a note.
    m = _fit(4, 0.3, n=4, n_t=120)
    theta = m.theta_
    cov = np.diag(np.full(theta.size, 1e-4))
    k = m.names_.index("r")
    cov[k, k] = 1e6
    with pytest.warns(RuntimeWarning, match="log r .* no finite upper bound"):
        m._store(theta, cov, -m.loglik_, -m.loglik_null_)
    low, high = m.ci_["r"]
    assert high == np.inf and 0.0 <= low < m.params_["r"]
    assert np.isfinite(m.ci_["q"]).all() and m.ci_["q"][0] < m.params_["q"] < m.ci_["q"][1]
    assert any("log r" in note for note in m.notes_)
    summary = m.summary()
    assert summary["r_ci_high"] == np.inf and np.isfinite(summary["r"])


def test_pseudo_group_fit_test():
    rng = np.random.default_rng(3)
    lap = laplacian(complete_adjacency(5))
    _, coupled = simulate_statespace(300, lap, c=0.6, lam=0.1, q=0.2, r=0.1, seed=rng)
    _, other = simulate_statespace(300, lap, c=0.0, lam=0.1, q=0.2, r=0.1, seed=rng)
    res = pseudo_group_fit_test(coupled, other, n_groups=30, seed=0)
    assert res["c_real"] > res["c_pseudo_q975"] and res["p_value"] == pytest.approx(1 / 31)


def test_bad_input():
    with pytest.raises(InputError, match="shape"):
        ContagionModel().fit(np.zeros((5, 3)))
    y = np.random.default_rng(0).standard_normal((50, 3))
    y[:, 1] = np.nan
    with pytest.raises(InputError, match="no data"):
        ContagionModel().fit(y)
    with pytest.raises(ParameterError, match="adjacency"):
        ContagionModel(adjacency=np.ones((2, 2))).fit(np.zeros((50, 3)) + np.arange(50)[:, None])
    with pytest.raises(InputError, match="stimulus"):
        ContagionModel().fit(np.random.default_rng(0).standard_normal((50, 3)), np.zeros(10))


@pytest.mark.slow
@pytest.mark.parametrize(("gamma_soc", "coupled"), [(1.0, True), (0.0, False)])
def test_fit_on_the_agent_model_simulator(gamma_soc, coupled):
    """Data from syntony.model.simulate in its linear regime (no modes, static trust and rho).

    With social precision (gamma_soc > 0) the bodies are pulled toward the perceived consensus
    and c > 0 is detected; without it (gamma_soc = 0) the agents are independent and c = 0
    is not rejected.
    """
    from syntony.model.scenario import Scenario
    from syntony.model.simulate import simulate

    scenario = Scenario.from_dict(
        {
            "simulation": {"steps": 4000, "dt": 0.1},
            "network": {"kind": "complete"},
            "agents": {"n": 5, "gamma_soc": gamma_soc, "q_x": 0.1, "sigma": 0.2},
            "modes": {"enabled": False},
            "perception": {"online_synchrony": False},
            "trust": {"learned": False},
        }
    )
    ds = simulate(scenario, seed=0).dataset
    s = ds["s"].isel(channel=0).transpose("time", "agent").to_numpy()[::10]  # 1 Hz
    m = ContagionModel(dt=1.0).fit(s)
    if coupled:
        assert m.ci_["c"][0] > 0 and m.lrt_pvalue_ < 0.01
    else:
        assert m.ci_["c"][0] < 0 < m.ci_["c"][1] and m.lrt_pvalue_ > 0.05
