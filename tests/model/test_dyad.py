"""Eqs (1)–(2) on a dyad: signals with known synchrony, window statistics, the driver, P1."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from syntony.errors import ParameterError, UnstableGainError
from syntony.model.dyad import (
    dyad_step,
    run_dyad,
    synchronised_signals,
    window_statistics,
)
from syntony.model.precision import ClipGain, PrecisionGain, SeedGain, precision_weight


def _brute_force_window(s, window):
    n = s.shape[0]
    sigma = np.full((n, 2), np.nan)
    rho = np.full(n, np.nan)
    for t in range(window - 1, n):
        chunk = s[t - window + 1 : t + 1]
        sigma[t] = chunk.var(axis=0, ddof=1)
        rho[t] = np.corrcoef(chunk.T)[0, 1]
    return sigma, rho


@pytest.mark.parametrize(
    ("rho", "variances", "a"),
    [(0.0, (1.0, 1.0), 0.0), (0.6, (2.0, 0.5), 0.0), (-0.4, (1.0, 3.0), 0.7), (0.9, (1, 1), 0.9)],
)
def test_synchronised_signals_have_the_requested_statistics(rho, variances, a):
    n = 200_000
    s = synchronised_signals(n, rho=rho, variances=variances, autocorrelation=a, seed=3)
    assert s.shape == (n, 2)
    # Bartlett: Var(r) ~ (1 - rho^2)^2 (1 + a^2) / ((1 - a^2) n) for two AR(1) with the same a.
    inflation = (1 + a * a) / (1 - a * a)
    se_r = (1 - rho**2) * np.sqrt(inflation / n) + 1e-12
    assert abs(np.corrcoef(s.T)[0, 1] - rho) < 5 * se_r
    se_var = np.sqrt(2 * inflation / n) * np.asarray(variances, dtype=float)
    assert np.all(np.abs(s.var(axis=0) - variances) < 5 * se_var)
    lag1 = [np.corrcoef(s[1:, k], s[:-1, k])[0, 1] for k in range(2)]
    np.testing.assert_allclose(lag1, a, atol=5 / np.sqrt(n))


def test_synchronised_signals_are_reproducible_and_validated():
    np.testing.assert_array_equal(
        synchronised_signals(50, rho=0.3, seed=5), synchronised_signals(50, rho=0.3, seed=5)
    )
    assert not np.array_equal(
        synchronised_signals(50, rho=0.3, seed=5), synchronised_signals(50, rho=0.3, seed=6)
    )
    identical = synchronised_signals(100, rho=1.0, seed=0)
    np.testing.assert_allclose(identical[:, 0], identical[:, 1])
    for kwargs in (
        {"rho": 1.2},
        {"rho": 0.1, "variances": (1.0, 0.0)},
        {"rho": 0.1, "variances": (1.0, 2.0, 3.0)},
        {"rho": 0.1, "autocorrelation": 1.0},
    ):
        with pytest.raises(ParameterError):
            synchronised_signals(10, **kwargs)
    with pytest.raises(ParameterError, match="n_steps"):
        synchronised_signals(0, rho=0.0)


@pytest.mark.parametrize("offset", [0.0, 1e3])
@pytest.mark.parametrize("window", [2, 7, 50])
def test_window_statistics_equal_brute_force(window, offset):
    s = synchronised_signals(600, rho=0.4, variances=(2.0, 0.3), autocorrelation=0.5, seed=1)
    s = s + offset + np.linspace(0, 5, 600)[:, None]  # a drifting mean as well
    stats = window_statistics(s, window)
    sigma, rho = _brute_force_window(s, window)
    np.testing.assert_allclose(stats.sigma, sigma, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stats.rho, rho, rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(stats.full, np.arange(600) >= window - 1)


def test_window_statistics_flag_constant_windows():
    s = np.column_stack([np.r_[np.ones(10), np.arange(10.0)], np.arange(20.0)])
    stats = window_statistics(s, 5)
    assert np.all(np.isnan(stats.rho[4:10])) and np.all(stats.sigma[4:10, 0] == 0)
    assert np.all(np.isfinite(stats.rho[14:]))
    short = window_statistics(s[:3], 5)
    assert np.all(np.isnan(short.rho)) and not short.full.any()


def test_run_dyad_matches_a_hand_written_loop():
    window, rho0, sigma0, pi0, mu0 = 25, 0.1, (1.5, 0.8), (2.0, 0.5), (1.0, -1.0)
    s = synchronised_signals(400, rho=0.6, variances=(1.0, 2.0), autocorrelation=0.3, seed=2)
    ds = run_dyad(s, window=window, rho0=rho0, sigma0=sigma0, prior_precision0=pi0, mu0=mu0)
    sigma, rho = _brute_force_window(s, window)
    sigma[: window - 1] = sigma0
    rho[: window - 1] = rho0
    np.testing.assert_allclose(ds["sigma"].values, sigma, rtol=1e-9)
    np.testing.assert_allclose(ds["rho"].values, rho, rtol=1e-9, atol=1e-12)
    omega = 1.0 / (sigma[:, 0] + sigma[:, 1] - 2 * rho * np.sqrt(sigma[:, 0] * sigma[:, 1]))
    np.testing.assert_allclose(ds["omega"].values, omega, rtol=1e-9)

    mu, pi = np.array(mu0, dtype=float), np.array(pi0, dtype=float)
    for t in range(400):
        k = omega[t] / (omega[t] + pi)
        mu = mu + k * (s[t] - mu)
        pi = pi + omega[t]
        np.testing.assert_allclose(ds["mu"].values[t], mu, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ds["v"].values[t], 1.0 / pi, rtol=1e-9)
    assert ds["mu"].dims == ("time", "agent") and ds["omega"].dims == ("time",)
    np.testing.assert_array_equal(ds["s"].values, s)


def test_run_dyad_seed_gain_is_eq1_literally_and_stops_with_a_named_error():
    s = synchronised_signals(300, rho=0.2, seed=4)
    ds = run_dyad(s, window=30, gain=SeedGain())
    mu = np.zeros(2)
    for t in range(300):
        mu = mu + ds["omega"].values[t] * (s[t] - mu)
    np.testing.assert_allclose(ds["mu"].values[-1], mu, rtol=1e-12)
    np.testing.assert_allclose(ds["v"].values, 1.0)  # the seed model keeps the precision

    sync = xr.DataArray(
        synchronised_signals(300, rho=0.95, seed=4),
        dims=("time", "agent"),
        coords={"agent": ["mother", "infant"]},
    )
    with pytest.raises(UnstableGainError) as info:
        run_dyad(sync, window=30, gain=SeedGain())
    message = str(info.value)
    assert "agent mother" in message and "agent infant" in message
    assert "step 29" in message  # the first full window, where rho jumps from rho0 to ~0.95
    expected = precision_weight(*window_statistics(sync.values, 30).sigma[29], 0)
    assert "omega = " in message and float(message.split("omega = ")[1].split()[0]) > expected
    clipped = run_dyad(sync, window=30, gain=ClipGain(1.0))
    assert clipped["agent"].values.tolist() == ["mother", "infant"]
    assert np.all(np.isfinite(clipped["mu"].values))


def _convergence_time(rho, seed):
    s = synchronised_signals(2000, rho=rho, seed=seed)
    ds = run_dyad(s, window=20, mu0=5.0, prior_precision0=5.0)
    far = np.abs(ds["mu"].values).max(axis=1) > 0.5
    return ds["omega"].values[20:].mean(), (np.flatnonzero(far).max() + 1)


def test_p1_higher_synchrony_raises_omega_and_speeds_convergence():
    # Default (precision) gain: the prediction leaves a wrong start faster when the bodies
    # are more synchronised, because each observation carries more precision.
    rhos = [0.0, 0.3, 0.6]
    results = np.array([[_convergence_time(r, seed) for seed in range(12)] for r in rhos])
    omega, steps = results[..., 0], results[..., 1]
    mean_omega, mean_steps = omega.mean(axis=1), steps.mean(axis=1)
    assert np.all(np.diff(mean_omega) > 0)
    assert np.all(np.diff(mean_steps) < 0)
    # Effect size (Cohen d) of rho 0.6 vs rho 0: measured 2.1 over these 12 seeds.
    pooled = np.sqrt((steps[0].var(ddof=1) + steps[-1].var(ddof=1)) / 2)
    assert (mean_steps[0] - mean_steps[-1]) / pooled > 1.5


def test_p1_with_the_published_gain():
    # Eq (1) literally: the ensemble-mean prediction decays like (1 - omega)^t towards the
    # signal mean, so a higher synchrony converges sooner. The synchrony is known from the
    # start (rho0 = rho) and the run is shorter than the window, so omega is exactly eq (2).
    times = []
    for rho in (0.0, 0.25, 0.5):
        runs = [
            run_dyad(
                synchronised_signals(30, rho=rho, seed=seed),
                window=50,
                gain=SeedGain(),
                mu0=100.0,
                rho0=rho,
            )["mu"].values
            for seed in range(40)
        ]
        ensemble = np.abs(np.mean(runs, axis=0)).max(axis=1)
        times.append(int(np.argmax(ensemble <= 1.0)) + 1)  # steps until within 1% of mu0
        omega = float(precision_weight(1.0, 1.0, rho))
        expected = 1 if omega == 1.0 else np.ceil(np.log(0.01) / np.log(1 - omega))
        assert abs(times[-1] - expected) <= 1
    assert times[0] > times[1] > times[2]


def test_dyad_step_is_vectorised():
    mu = np.zeros((3, 4))
    s = np.arange(12.0).reshape(3, 4)
    omega = np.array([0.5, 1.0, 1.5, 0.1])
    mu_next, precision = dyad_step(mu, s, omega, 1.0, PrecisionGain())
    np.testing.assert_allclose(mu_next, s * omega / (omega + 1.0))
    np.testing.assert_allclose(precision, np.broadcast_to(1.0 + omega, (3, 4)))


def test_run_dyad_records_parameters_and_round_trips_netcdf(tmp_path):
    # NetCDF attributes hold only flat values: the parameters travel as one JSON string.
    ds = run_dyad(synchronised_signals(50, rho=0.3, seed=0), window=10, dt=0.25)
    record = json.loads(ds.attrs["provenance"])
    assert record["parameters"]["window"] == 10 and record["parameters"]["dt"] == 0.25
    assert record["parameters"]["gain"] == "PrecisionGain()"
    assert ds["time"].values[-1] == pytest.approx(49 * 0.25)
    path = tmp_path / "dyad.nc"
    ds.to_netcdf(path, engine="scipy")
    with xr.open_dataset(path, engine="scipy") as back:
        np.testing.assert_array_equal(back["mu"].values, ds["mu"].values)


@pytest.mark.parametrize(
    ("signals", "kwargs", "field"),
    [
        (np.zeros((10, 3)), {"window": 5}, "signals"),
        (np.full((10, 2), np.nan), {"window": 5}, "signals"),
        (np.zeros((10, 2)), {"window": 1}, "window"),
        (np.zeros((10, 2)), {"window": 5, "gain": "seed"}, "gain"),
        (np.zeros((10, 2)), {"window": 5, "prior_precision0": 0.0}, "prior_precision0"),
        (np.zeros((10, 2)), {"window": 5, "mu0": [1.0, 2.0, 3.0]}, "mu0"),
        (np.zeros((10, 2)), {"window": 5, "rho0": 2.0}, "rho0"),
        (np.zeros((10, 2)), {"window": 5, "sigma0": -1.0}, "sigma0"),
        (np.zeros((10, 2)), {"window": 5, "dt": 0.0}, "dt"),
    ],
)
def test_run_dyad_rejects_bad_input(signals, kwargs, field):
    with pytest.raises(ParameterError, match=field):
        run_dyad(signals, **kwargs)
