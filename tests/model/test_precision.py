"""Eq (2) and the gain policies of eq (1): closed forms, Monte Carlo and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syntony.errors import ParameterError, UnstableGainError
from syntony.model.dyad import dyad_step, synchronised_signals
from syntony.model.precision import (
    DEFAULT_VARIANCE_FLOOR,
    ClipGain,
    GainResult,
    PrecisionGain,
    SeedGain,
    difference_variance,
    precision_weight,
)

variances = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
correlations = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


class _Literal:
    """Eq (1) with no stability check at all, to show what SeedGain protects against."""

    def __call__(self, omega, prior_precision, *, step=None, labels=None):
        omega = np.asarray(omega, dtype=float)
        return GainResult(omega, np.broadcast_to(prior_precision, omega.shape).copy())


@pytest.mark.parametrize(
    ("rho", "var_i", "var_j"),
    [(0.0, 1.0, 1.0), (0.5, 1.0, 1.0), (0.3, 2.0, 0.5), (-0.6, 0.7, 3.0), (0.9, 1.5, 1.2)],
)
def test_eq2_is_inverse_variance_of_the_difference_by_monte_carlo(rho, var_i, var_j):
    n = 400_000
    s = synchronised_signals(n, rho=rho, variances=(var_i, var_j), seed=11)
    sample_var = np.var(s[:, 0] - s[:, 1], ddof=1)
    true_var = var_i + var_j - 2 * rho * np.sqrt(var_i * var_j)
    # Gaussian sample variance has standard error true_var * sqrt(2 / (n - 1)).
    se = true_var * np.sqrt(2.0 / (n - 1))
    assert abs(sample_var - true_var) < 5 * se
    assert difference_variance(var_i, var_j, rho) == pytest.approx(true_var, rel=1e-14)
    omega = precision_weight(var_i, var_j, rho)
    # Delta method: se(1/V) ~ se(V) / V^2.
    assert abs(omega - 1.0 / sample_var) < 5 * se / true_var**2


def test_stability_table_of_the_spec():
    np.testing.assert_allclose(precision_weight(1.0, 1.0, [0.0, 0.5, 0.75]), [0.5, 1.0, 2.0])
    assert precision_weight(1.0, 1.0, 0.9) > 2.0


@pytest.mark.parametrize("rho", [0.0, 0.25, 0.5, 0.6, 0.75, 0.8])
def test_eq1_contracts_below_omega_2_is_undamped_at_2_and_diverges_above(rho):
    omega = float(precision_weight(1.0, 1.0, rho))
    signal, mu, errors = 1.0, np.array([0.0]), []
    for t in range(40):
        mu, _ = dyad_step(mu, signal, omega, 1.0, _Literal(), step=t)
        errors.append(float(mu[0] - signal))
    errors = np.abs(errors)
    if omega < 2.0 - 1e-12:
        assert errors[-1] < 1e-3 * errors[0] or errors[-1] == 0.0
    elif abs(omega - 2.0) < 1e-12:
        np.testing.assert_allclose(errors, 1.0)  # |1 - omega| = 1: a sustained oscillation
    else:
        assert errors[-1] > 1e3 * errors[0]
    # The published policy stops exactly where the literal update stops contracting.
    if omega >= 2.0:
        with pytest.raises(UnstableGainError, match="step 3"):
            dyad_step(np.zeros(1), signal, omega, 1.0, SeedGain(), step=3)
    else:
        mu_seed, _ = dyad_step(np.zeros(1), signal, omega, 1.0, SeedGain())
        assert mu_seed[0] == pytest.approx(omega)


def test_floor_guards_perfect_synchrony_with_equal_variances():
    assert difference_variance(2.0, 2.0, 1.0) == 0.0
    assert precision_weight(2.0, 2.0, 1.0) == pytest.approx(1.0 / DEFAULT_VARIANCE_FLOOR)
    assert precision_weight(2.0, 2.0, 1.0, floor=0.01) == pytest.approx(100.0)
    assert np.isfinite(precision_weight(0.0, 0.0, 0.0))
    with pytest.raises(ParameterError, match="floor"):
        precision_weight(1.0, 1.0, 0.0, floor=0.0)


@pytest.mark.parametrize(
    ("sigma_i", "sigma_j", "rho"),
    [(-1.0, 1.0, 0.0), (1.0, np.nan, 0.0), (1.0, 1.0, 1.5), (1.0, 1.0, np.nan)],
)
def test_bad_inputs_raise_parameter_error(sigma_i, sigma_j, rho):
    with pytest.raises(ParameterError):
        precision_weight(sigma_i, sigma_j, rho)


def test_seed_gain_names_entries_step_and_value():
    omega = np.array([0.5, 2.5, 3.0])
    with pytest.raises(UnstableGainError) as info:
        SeedGain()(omega, np.ones(3), step=17, labels=["ann", "bob", "cy"])
    message = str(info.value)
    assert "step 17" in message and "bob" in message and "cy" in message
    assert "ann" not in message and "omega = 3 " in message
    result = SeedGain()(np.array([0.5, 1.5]), np.array([2.0, 4.0]))
    np.testing.assert_array_equal(result.gain, [0.5, 1.5])
    np.testing.assert_array_equal(result.posterior_precision, [2.0, 4.0])


def test_clip_gain():
    result = ClipGain()(np.array([0.2, 1.0, 5.0]), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(result.gain, [0.2, 1.0, 1.0])
    np.testing.assert_array_equal(result.posterior_precision, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ClipGain(1.5)(np.array([1.2, 9.0]), 1.0).gain, [1.2, 1.5])
    for bad in (0.0, 2.0, -1.0, float("nan")):
        with pytest.raises(ParameterError, match="max_gain"):
            ClipGain(bad)
    # Clipping keeps eq (1) contracting even for omega far above 2.
    mu = np.zeros(1)
    for t in range(30):
        mu, _ = dyad_step(mu, 1.0, 50.0, 1.0, ClipGain(1.5), step=t)
    assert abs(mu[0] - 1.0) < 1e-6


@settings(max_examples=200, deadline=None)
@given(
    omega=st.floats(min_value=1e-6, max_value=1e6),
    prior=st.floats(min_value=1e-6, max_value=1e6),
)
def test_precision_gain_is_in_unit_interval_and_adds_precisions(omega, prior):
    result = PrecisionGain()(np.array([omega]), np.array([prior]))
    assert 0.0 < result.gain[0] < 1.0 or result.gain[0] == pytest.approx(1.0, abs=1e-12)
    assert result.posterior_precision[0] == pytest.approx(prior + omega, rel=1e-15)
    assert result.gain[0] == pytest.approx(omega / (omega + prior), rel=1e-15)


def test_precision_gain_is_the_bayes_posterior_mean():
    # Prior N(m, 1/pi) and evidence s of precision omega: posterior mean (pi m + omega s)/(pi + omega).
    pi, omega, m, s = 3.0, 0.7, -1.0, 2.0
    mu, precision = dyad_step(m, s, omega, pi, PrecisionGain())
    assert mu == pytest.approx((pi * m + omega * s) / (pi + omega))
    assert precision == pytest.approx(pi + omega)


@settings(max_examples=300, deadline=None)
@given(si=variances, sj=variances, rho=correlations)
def test_precision_weight_is_symmetric_in_i_and_j(si, sj, rho):
    assert precision_weight(si, sj, rho) == precision_weight(sj, si, rho)


@settings(max_examples=300, deadline=None)
@given(si=variances, sj=variances, r1=correlations, r2=correlations)
def test_precision_weight_increases_with_synchrony(si, sj, r1, r2):
    lo, hi = min(r1, r2), max(r1, r2)
    assert precision_weight(si, sj, lo) <= precision_weight(si, sj, hi)
    if hi - lo > 1e-6 and difference_variance(si, sj, hi) > 1e-6:
        assert precision_weight(si, sj, lo) < precision_weight(si, sj, hi)


@settings(max_examples=300, deadline=None)
@given(si=variances, sj=variances, rho=correlations)
def test_precision_weight_lies_between_its_bounds(si, sj, rho):
    omega = precision_weight(si, sj, rho)
    lower = 1.0 / (si + sj + 2.0 * np.sqrt(si * sj))  # rho = -1
    upper = 1.0 / max((np.sqrt(si) - np.sqrt(sj)) ** 2, DEFAULT_VARIANCE_FLOOR)  # rho = +1
    assert omega >= lower * (1 - 1e-12)
    assert omega <= upper * (1 + 1e-9)
    assert np.isfinite(omega) and omega > 0


@settings(max_examples=100, deadline=None)
@given(
    si=variances,
    sj=variances,
    rho=correlations,
    scale=st.floats(min_value=1e-2, max_value=1e2),
)
def test_precision_weight_scales_inversely_with_variance(si, sj, rho, scale):
    # Multiplying both signals by c multiplies every variance by c^2: omega scales by 1/c^2.
    base = precision_weight(si, sj, rho, floor=1e-300)
    scaled = precision_weight(si * scale, sj * scale, rho, floor=1e-300)
    if difference_variance(si, sj, rho) > 1e-9 * (si + sj):
        assert scaled == pytest.approx(base / scale, rel=1e-6)


def test_vectorised_over_pairs():
    si = np.array([1.0, 2.0, 0.5])
    sj = np.array([[1.0], [4.0]])
    rho = 0.25
    omega = precision_weight(si, sj, rho)
    assert omega.shape == (2, 3)
    for a in range(2):
        for b in range(3):
            assert omega[a, b] == pytest.approx(
                1.0 / (si[b] + sj[a, 0] - 2 * rho * np.sqrt(si[b] * sj[a, 0]))
            )
