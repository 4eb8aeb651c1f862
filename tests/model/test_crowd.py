"""Eqs (3)–(5): the crowd filter against closed forms, DARE, filterpy and itself."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import solve_discrete_are

from syntony.errors import ParameterError
from syntony.model.crowd import (
    CrowdFilter,
    DenseKalman,
    DiagonalisedKalman,
    ExchangeableCov,
    ExchangeableKalman,
    crowd_step,
    prior_cov_from_synchrony,
    steady_state_gain,
)
from syntony.model.crowd_structured import scalar_kalman_gains

ALGORITHMS = [DenseKalman(), DenseKalman(joseph=False), DiagonalisedKalman()]


def _spd(rng, n, ridge=0.3):
    a = rng.standard_normal((n, n))
    return a @ a.T / n + ridge * np.eye(n)


@pytest.fixture
def problem():
    rng = np.random.default_rng(42)
    n, t = 5, 60
    return {
        "noise": _spd(rng, n),
        "prior_cov": _spd(rng, n, 0.5),
        "prior_mean": rng.standard_normal(n),
        "obs": rng.standard_normal((t, n)) + 1.0,
    }


# ------------------------------------------------------------------ closed forms, Q = 0
@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=repr)
def test_information_form_and_precision_weighted_average(problem, algorithm):
    r, s0, m0, obs = problem["noise"], problem["prior_cov"], problem["prior_mean"], problem["obs"]
    filt = CrowdFilter(r, structure=algorithm)
    for t in (1, 7, 60):
        ds = filt.run(obs[:t], prior_mean=m0, prior_cov=s0, return_cov=True).dataset
        info = np.linalg.inv(s0) + t * np.linalg.inv(r)  # Sigma_t^-1 = Sigma_0^-1 + t Sigma_eps^-1
        cov = np.linalg.inv(info)
        np.testing.assert_allclose(ds["cov"].values, cov, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ds["prior_var"].values[-1], np.diag(cov), rtol=1e-9)
        off_diagonal = cov[~np.eye(5, dtype=bool)].mean()
        assert ds["mean_prior_cov"].values[-1] == pytest.approx(off_diagonal, rel=1e-8, abs=1e-12)
        # mu_t: the precision-weighted average of the prior and all observations so far.
        weighted = np.linalg.solve(s0, m0) + np.linalg.solve(r, obs[:t].sum(axis=0))
        np.testing.assert_allclose(ds["mu"].values[-1], cov @ weighted, rtol=1e-9, atol=1e-11)
        # trace(K_t) with K_t = Sigma_t (Sigma_t + Sigma_eps)^-1, Sigma_t before the last update.
        before = np.linalg.inv(np.linalg.inv(s0) + (t - 1) * np.linalg.inv(r))
        gain = before @ np.linalg.inv(before + r)
        assert ds["mean_gain"].values[-1] == pytest.approx(np.trace(gain) / 5, rel=1e-9)


def test_p6_gain_tends_to_identity_and_to_zero(problem):
    s0, m0 = problem["prior_cov"], problem["prior_mean"]
    obs = problem["obs"][:1]
    gains = []
    for scale in (1e-8, 1e-4, 1.0, 1e4, 1e8):
        r = scale * problem["noise"]
        step = crowd_step(m0, s0, obs[0], r)
        ds = CrowdFilter(r).run(obs, prior_mean=m0, prior_cov=s0).dataset
        assert ds["mean_gain"].values[0] == pytest.approx(np.trace(step.gain) / 5, rel=1e-9)
        gains.append(step.gain)
    np.testing.assert_allclose(gains[0], np.eye(5), atol=1e-6)  # Sigma_eps -> 0: K -> I
    np.testing.assert_allclose(gains[-1], 0.0, atol=1e-6)  # Sigma_eps -> inf: K -> 0
    traces = [np.trace(k) for k in gains]
    assert all(a > b for a, b in itertools.pairwise(traces))
    # With a near-perfect sensor the prior jumps to the observation.
    ds = CrowdFilter(1e-10 * problem["noise"]).run(obs, prior_mean=m0, prior_cov=s0).dataset
    np.testing.assert_allclose(ds["mu"].values[0], obs[0], atol=1e-8)


def test_priors_harden_without_process_noise(problem):
    ds = (
        CrowdFilter(problem["noise"])
        .run(
            np.tile(problem["obs"], (20, 1)),
            prior_mean=problem["prior_mean"],
            prior_cov=problem["prior_cov"],
        )
        .dataset
    )
    gain = ds["mean_gain"].values
    assert np.all(np.diff(gain) < 0) and gain[-1] < 1e-3
    assert np.all(np.diff(ds["prior_var"].values, axis=0) < 0)


# ------------------------------------------------------------ steady state with process noise
@pytest.mark.parametrize(("q", "r"), [(1.0, 1.0), (0.01, 2.0), (5.0, 0.1), (1e-6, 1.0)])
def test_scalar_steady_state_gain_matches_dare_and_the_filter(q, r):
    x = solve_discrete_are(np.eye(1), np.eye(1), np.array([[q]]), np.array([[r]]))
    dare_gain = x[0, 0] / (x[0, 0] + r)
    assert steady_state_gain(q, r) == pytest.approx(dare_gain, rel=1e-9)
    lam = q / r
    assert steady_state_gain(q, r) == pytest.approx(
        (-lam + np.sqrt(lam**2 + 4 * lam)) / 2, rel=1e-6
    )
    gains = scalar_kalman_gains(1.0, r, q, 20_000).gain
    assert gains[-1] == pytest.approx(dare_gain, rel=1e-6)
    for structure, name in ((None, "exchangeable"), (DenseKalman(), "dense")):
        ds = (
            CrowdFilter([[r]], process_noise=[[q]], structure=structure)
            .run(np.zeros((300, 1)), prior_mean=[0.0], prior_cov=[[1.0]])
            .dataset
        )
        assert ds.attrs["algorithm"] == name
        if q >= 0.01:
            assert ds["mean_gain"].values[-1] == pytest.approx(dare_gain, rel=1e-9)


def test_steady_state_gain_edges():
    assert steady_state_gain(0.0, 1.0) == 0.0
    np.testing.assert_allclose(steady_state_gain([1e-12, 1e12], 1.0), [1e-6, 1.0], rtol=1e-5)
    with pytest.raises(ParameterError, match="r"):
        steady_state_gain(1.0, 0.0)
    with pytest.raises(ParameterError, match="q"):
        steady_state_gain(-1.0, 1.0)


@settings(max_examples=50, deadline=None)
@given(q=st.floats(1e-4, 1e3), r=st.floats(1e-3, 1e3))
def test_steady_state_gain_is_a_fixed_point(q, r):
    k = steady_state_gain(q, r)
    # With P the steady prior variance (after adding q): K = P / (P + r), P = (1 - K) P + q.
    p = k * r / (1 - k)
    assert 0 < k < 1
    assert (1 - k) * p + q == pytest.approx(p, rel=1e-9)


def test_matrix_steady_state_matches_dare():
    rng = np.random.default_rng(7)
    n = 4
    q, r, s0 = 0.2 * _spd(rng, n), _spd(rng, n), _spd(rng, n)
    # Five cues of four agents: every agent stays observable (a 3 x 4 H would leave one
    # direction unobserved, whose variance grows without bound under process noise).
    h = rng.standard_normal((5, n))
    r5 = _spd(rng, 5)
    for obs_matrix, noise in ((None, r), (h, r5)):
        hh = np.eye(n) if obs_matrix is None else obs_matrix
        x = solve_discrete_are(np.eye(n), hh.T, q, noise)
        gain = x @ hh.T @ np.linalg.inv(hh @ x @ hh.T + noise)
        mu, cov = np.zeros(n), s0
        for _ in range(400):
            mu, cov, k = crowd_step(
                mu, cov, np.zeros(hh.shape[0]), noise, observation=obs_matrix, process_noise=q
            )
        np.testing.assert_allclose(k, gain, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(cov + q, x, rtol=1e-8)


# ----------------------------------------------------------- algorithms agree with each other
@pytest.mark.parametrize("n", [1, 2, 7])
def test_three_algorithms_agree_on_an_exchangeable_crowd(n):
    rng = np.random.default_rng(n)
    prior = ExchangeableCov.from_synchrony(n, rho=0.6, variance=2.0)
    noise = ExchangeableCov(n, 0.8, -0.05 if n > 1 else 0.0)
    obs = rng.standard_normal((80, n))
    m0 = rng.standard_normal(n)
    runs = {
        a.name + repr(a): CrowdFilter(noise, structure=a)
        .run(obs, prior_mean=m0, prior_cov=prior, return_cov=True)
        .dataset
        for a in [*ALGORITHMS, ExchangeableKalman()]
    }
    auto = CrowdFilter(noise).run(obs, prior_mean=m0, prior_cov=prior).dataset
    assert auto.attrs["algorithm"] == "exchangeable"
    reference = runs.pop("dense" + repr(DenseKalman()))
    for name, ds in runs.items():
        for var in ("mu", "prior_var", "mean_gain", "cov"):
            diff = np.abs(ds[var].values - reference[var].values).max()
            assert diff < 1e-9, (name, var, diff)
        if n == 1:  # one person has no pair: no covariance of two priors
            assert np.all(np.isnan(ds["mean_prior_cov"].values)), name
        else:
            diff = np.abs(ds["mean_prior_cov"].values - reference["mean_prior_cov"].values).max()
            assert diff < 1e-9, (name, "mean_prior_cov", diff)
    # dense exchangeable inputs are recognised by the forced exchangeable algorithm
    dense_in = (
        CrowdFilter(noise.to_dense(), structure=ExchangeableKalman())
        .run(obs, prior_mean=m0, prior_cov=prior.to_dense())
        .dataset
    )
    np.testing.assert_allclose(dense_in["mu"].values, reference["mu"].values, atol=1e-9)


def test_dense_and_exchangeable_agree_with_process_noise():
    n = 6
    rng = np.random.default_rng(3)
    prior, noise = ExchangeableCov(n, 1.5, 0.4), ExchangeableCov(n, 0.7, 0.1)
    q = ExchangeableCov(n, 0.05, 0.02)
    obs, m0 = rng.standard_normal((200, n)), rng.standard_normal(n)
    fast = CrowdFilter(noise, process_noise=q).run(obs, prior_mean=m0, prior_cov=prior).dataset
    dense = (
        CrowdFilter(noise.to_dense(), process_noise=q.to_dense(), structure=DenseKalman())
        .run(obs, prior_mean=m0, prior_cov=prior.to_dense())
        .dataset
    )
    # Exchangeable dense matrices are recognised: the O(N) algorithm is chosen for them too.
    recognised = (
        CrowdFilter(noise.to_dense(), process_noise=q.to_dense())
        .run(obs, prior_mean=m0, prior_cov=prior.to_dense())
        .dataset
    )
    assert fast.attrs["algorithm"] == "exchangeable" and dense.attrs["algorithm"] == "dense"
    assert recognised.attrs["algorithm"] == "exchangeable"
    np.testing.assert_allclose(recognised["mu"].values, dense["mu"].values, rtol=0, atol=1e-9)
    for var in ("mu", "prior_var", "mean_gain", "mean_prior_cov"):
        np.testing.assert_allclose(fast[var].values, dense[var].values, rtol=0, atol=1e-9)
    # Both settle at the steady state of their two scalar modes.
    common = steady_state_gain(q.common_eigenvalue, noise.common_eigenvalue)
    deviation = steady_state_gain(q.deviation_eigenvalue, noise.deviation_eigenvalue)
    expected = (common + (n - 1) * deviation) / n
    assert fast["mean_gain"].values[-1] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("singular", ["prior", "noise", "neither"])
def test_diagonalised_matches_dense_on_general_matrices(singular):
    rng = np.random.default_rng(11)
    n = 8
    noise, prior = _spd(rng, n), _spd(rng, n)
    steps = 50
    if singular == "prior":  # perfect synchrony within two pairs: a singular prior
        rho = np.eye(n)
        rho[0, 1] = rho[1, 0] = rho[2, 3] = rho[3, 2] = 1.0
        prior = prior_cov_from_synchrony(rho, np.full(n, 1.3))
        noise = rng.uniform(0.5, 2.0, n)  # independent sensory noise (diagonal)
    elif singular == "noise":  # a noiseless sensor on agent 0
        noise[0, :] = noise[:, 0] = 0.0
        # After one exact reading agent 0 has zero variance and zero noise: the dense
        # recursion's innovation covariance becomes singular, so compare the first step.
        steps = 1
    obs, m0 = rng.standard_normal((steps, n)), rng.standard_normal(n)
    fast = CrowdFilter(noise).run(obs, prior_mean=m0, prior_cov=prior, return_cov=True).dataset
    dense = (
        CrowdFilter(noise, structure=DenseKalman())
        .run(obs, prior_mean=m0, prior_cov=prior, return_cov=True)
        .dataset
    )
    assert fast.attrs["algorithm"] == "diagonalised"
    for var in ("mu", "prior_var", "mean_gain", "cov", "mean_prior_cov"):
        np.testing.assert_allclose(fast[var].values, dense[var].values, rtol=0, atol=1e-9)
    if singular == "noise":
        np.testing.assert_allclose(fast["mu"].values[:, 0], obs[:, 0], atol=1e-9)
        assert abs(fast["prior_var"].values[0, 0]) < 1e-12
        # The diagonalised form carries on exactly: the exact reading is kept, and later
        # readings of agent 0 are averaged with it (the limit of a vanishing noise).
        longer = np.vstack([obs, obs + 1.0])
        run = CrowdFilter(noise).run(longer, prior_mean=m0, prior_cov=prior).dataset
        assert run["mu"].values[1, 0] == pytest.approx(obs[0, 0] + 0.5, abs=1e-9)


# --------------------------------------------------------------- an independent reference
def test_agrees_with_filterpy_on_a_small_case():
    rng = np.random.default_rng(5)
    n, m, steps = 4, 3, 40
    h = rng.standard_normal((m, n))
    r, q, s0 = _spd(rng, m), 0.1 * _spd(rng, n), _spd(rng, n)
    m0, obs = rng.standard_normal(n), rng.standard_normal((steps, m))
    ds = (
        CrowdFilter(r, observation=h, process_noise=q).run(obs, prior_mean=m0, prior_cov=s0).dataset
    )
    assert ds["s"].dims == ("time", "observed") and ds.attrs["algorithm"] == "dense"
    kf = KalmanFilter(dim_x=n, dim_z=m)
    kf.x, kf.P, kf.F, kf.H, kf.R, kf.Q = m0.copy(), s0.copy(), np.eye(n), h, r, q
    for t in range(steps):
        kf.predict()
        kf.update(obs[t])
        np.testing.assert_allclose(ds["mu"].values[t], kf.x, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ds["prior_var"].values[t], np.diag(kf.P), rtol=1e-9)
        assert ds["mean_gain"].values[t] == pytest.approx(np.trace(kf.K @ h) / n, rel=1e-9)


def test_textbook_loop_with_partial_observation():
    # Only agents 0 and 2 are visible; the hidden agent 1 learns through its prior coupling.
    n = 3
    h = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    rho = np.array([[1.0, 0.8, 0.2], [0.8, 1.0, 0.5], [0.2, 0.5, 1.0]])
    s0 = prior_cov_from_synchrony(rho, [1.0, 2.0, 0.5])
    r = np.diag([0.3, 0.4])
    obs = np.full((30, 2), 3.0)
    ds = CrowdFilter(r, observation=h).run(obs, prior_mean=np.zeros(n), prior_cov=s0).dataset
    mu, cov = np.zeros(n), s0.copy()
    for t in range(30):
        k = cov @ h.T @ np.linalg.inv(h @ cov @ h.T + r)
        mu = mu + k @ (obs[t] - h @ mu)
        cov = (np.eye(n) - k @ h) @ cov
        np.testing.assert_allclose(ds["mu"].values[t], mu, rtol=1e-9)
    assert ds["mu"].values[-1, 1] > 2.0  # pulled towards the crowd it is synchronised with


# ---------------------------------------------------------------------- numerical health
@pytest.mark.parametrize("joseph", [True, False])
def test_sigma_stays_symmetric_psd_over_long_runs(joseph):
    rng = np.random.default_rng(9)
    n = 6
    rho = np.corrcoef(rng.standard_normal((n, 4)))  # rank 4: a singular synchrony prior
    s0 = prior_cov_from_synchrony(rho, rng.uniform(0.5, 3.0, n))
    r = 1e-3 * _spd(rng, n)
    q = 1e-6 * _spd(rng, n)
    mu, cov = np.zeros(n), s0
    for t in range(3000):
        mu, cov, _ = crowd_step(mu, cov, rng.standard_normal(n), r, process_noise=q, joseph=joseph)
        if t % 500 == 0 or t == 2999:
            np.testing.assert_array_equal(cov, cov.T)
            eig = np.linalg.eigvalsh(cov)
            assert eig[0] >= -1e-12 * eig[-1]
    # Without process noise the two null directions of the prior stay exactly null:
    # rounding may only show at the scale of the initial matrix.
    ds = (
        CrowdFilter(r, structure=DenseKalman(joseph=joseph))
        .run(rng.standard_normal((2000, n)), prior_mean=np.zeros(n), prior_cov=s0, return_cov=True)
        .dataset
    )
    final = ds["cov"].values
    np.testing.assert_array_equal(final, final.T)
    assert np.linalg.eigvalsh(final)[0] >= -1e-12 * np.abs(s0).max()
    assert np.all(ds["prior_var"].values > 0)


# ------------------------------------------------------------------------------ inputs
def test_prior_cov_from_synchrony():
    rho = np.array([[1.0, 0.5, -0.2], [0.5, 1.0, 0.1], [-0.2, 0.1, 1.0]])
    var = np.array([1.0, 4.0, 9.0])
    cov = prior_cov_from_synchrony(rho, var)
    np.testing.assert_allclose(np.diag(cov), var)
    assert cov[0, 1] == pytest.approx(0.5 * 2.0) and cov[0, 2] == pytest.approx(-0.2 * 3.0)
    np.testing.assert_array_equal(cov, cov.T)
    full = prior_cov_from_synchrony(np.ones((3, 3)), var)  # perfect synchrony: rank 1, PSD
    assert np.linalg.matrix_rank(full) == 1


@pytest.mark.parametrize(
    ("rho", "variances", "match"),
    [
        ([[1.0, 0.5], [0.4, 1.0]], [1.0, 1.0], "symmetric"),
        ([[0.9, 0.5], [0.5, 1.0]], [1.0, 1.0], "diagonal"),
        ([[1.0, 1.5], [1.5, 1.0]], [1.0, 1.0], r"\[-1, 1\]"),
        (np.full((3, 3), -0.9) + 1.9 * np.eye(3), [1.0, 1.0, 1.0], "positive semi-definite"),
        ([[1.0, 0.5], [0.5, 1.0]], [1.0, -1.0], "non-negative"),
        ([[1.0, 0.5], [0.5, 1.0]], [1.0, 1.0, 1.0], "shape"),
        ([[1.0, 0.5, 0.1], [0.5, 1.0, 0.2]], [1.0, 1.0], "square"),
    ],
)
def test_prior_cov_from_synchrony_rejects_bad_input(rho, variances, match):
    with pytest.raises(ParameterError, match=match):
        prior_cov_from_synchrony(rho, variances)


def _run(noise=None, **kwargs):
    base = {"observations": np.zeros((5, 3)), "prior_mean": np.zeros(3), "prior_cov": np.eye(3)}
    ctor = {k: kwargs.pop(k) for k in ("observation", "process_noise", "structure") if k in kwargs}
    base.update(kwargs)
    obs = base.pop("observations")
    return CrowdFilter(np.eye(3) if noise is None else noise, **ctor).run(obs, **base).dataset


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"noise": np.eye(2)}, "noise_cov"),
        ({"noise": np.array([[1.0, 0.3, 0], [0.0, 1, 0], [0, 0, 1]])}, "symmetric"),
        ({"noise": np.diag([1.0, -1.0, 1.0])}, "noise_cov.*positive semi-definite"),
        ({"prior_cov": np.array([[1.0, 2, 0], [2, 1, 0], [0, 0, 1]])}, "prior_cov.*eigenvalue"),
        ({"prior_cov": np.full((3, 3), np.nan)}, "prior_cov"),
        ({"prior_mean": np.zeros(4)}, "prior_mean"),
        ({"observations": np.zeros((5, 4))}, "observations"),
        ({"observations": np.full((5, 3), np.nan)}, "observations"),
        ({"observations": np.zeros(5)}, "observations"),
        ({"observation": np.ones((2, 4))}, "observation"),
        ({"observation": np.ones((2, 3))}, "observations"),  # 3 columns given, 2 observed
        ({"process_noise": -np.eye(3)}, "process_noise"),
        ({"process_noise": 0.1 * np.eye(3), "structure": DiagonalisedKalman()}, "Q != 0"),
        (
            {
                "observation": np.eye(2, 3),
                "noise": np.eye(2),
                "observations": np.zeros((5, 2)),
                "structure": ExchangeableKalman(),
            },
            "H != I",
        ),
        (
            {"prior_cov": np.diag([1.0, 2.0, 3.0]), "structure": ExchangeableKalman()},
            "exchangeable",
        ),
        ({"structure": "dense"}, "structure"),
        ({"noise": np.zeros((3, 3)), "prior_cov": np.zeros((3, 3))}, "singular"),
        ({"noise": ExchangeableCov(4, 1.0)}, "n = 3"),
        ({"dt": -1.0}, "dt"),
    ],
)
def test_bad_input_gives_parameter_error(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        _run(**kwargs)


def test_exchangeable_cov_validation_and_conversions():
    cov = ExchangeableCov(4, 2.0, 0.5)
    assert cov.common_eigenvalue == pytest.approx(3.5) and cov.deviation_eigenvalue == 1.5
    np.testing.assert_allclose(np.linalg.eigvalsh(cov.to_dense()), [1.5, 1.5, 1.5, 3.5])
    assert ExchangeableCov.from_dense(cov.to_dense()) == cov
    back = ExchangeableCov.from_eigenvalues(4, 3.5, 1.5)
    assert back.variance == pytest.approx(2.0) and back.covariance == pytest.approx(0.5)
    for bad in ({"variance": 1.0, "covariance": 2.0}, {"variance": 1.0, "covariance": -0.5}):
        with pytest.raises(ParameterError, match="ExchangeableCov"):
            ExchangeableCov(4, **bad)
    with pytest.raises(ParameterError, match="variance"):
        ExchangeableCov(4, -1.0)
    with pytest.raises(ParameterError, match="n"):
        ExchangeableCov(0, 1.0)


def test_dataset_layout_and_provenance():
    noise = ExchangeableCov(50, 1.0, 0.2)
    prior = ExchangeableCov.from_synchrony(50, rho=0.3, variance=1.0)
    obs = np.random.default_rng(0).standard_normal((20, 50))
    ds = CrowdFilter(noise).run(obs, prior_mean=0.0, prior_cov=prior, dt=0.5).dataset
    assert ds["mu"].dims == ("time", "agent") and ds["mean_gain"].dims == ("time",)
    assert ds.sizes == {"time": 20, "agent": 50}
    assert ds["time"].values[-1] == pytest.approx(9.5)
    record = json.loads(ds.attrs["provenance"])
    assert record["parameters"]["n_agents"] == 50
    assert record["parameters"]["structure"] == "ExchangeableKalman()"
    assert ds.attrs["final_variance"] == pytest.approx(ds["prior_var"].values[-1, 0])
    assert np.all((ds["mean_gain"].values > 0) & (ds["mean_gain"].values < 1))


def test_covariance_messages_print_plain_numbers():
    with pytest.raises(ParameterError) as info:
        CrowdFilter(np.diag([1.0, -1.5, 1.0])).run(
            np.ones((3, 3)), prior_mean=0.0, prior_cov=np.eye(3)
        )
    assert "a negative diagonal entry -1.5" in str(info.value)
    assert "np.float64" not in str(info.value)
