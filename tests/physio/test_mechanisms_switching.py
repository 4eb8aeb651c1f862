"""The switching model's stimulus-dependent hazard (time-varying transition matrices in Kim's
filter and smoother) and its mode bootstrap on an executor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from syntony.errors import ParameterError
from syntony.execution import LocalExecutor
from syntony.physio.mechanisms import SwitchingContagionModel, mode_number_test
from syntony.physio.mechanisms import recovery as R
from syntony.physio.mechanisms._kalman import kim_loglik, kim_scalar, kim_smooth


@pytest.fixture(scope="module")
def triggered():
    """Four people whose modes the loop's shared stimuli switch (the validation's design)."""
    design = R.SWITCHING.with_(size=4, duration=100.0)
    return design, R.simulate_groups(design, 1, seed=5)


def test_time_varying_transitions_reduce_to_fixed_ones():
    rng = np.random.default_rng(0)
    n_t, n = 80, 3
    y = rng.normal(size=(n_t, n)).cumsum(axis=0) * 0.1
    f = 0.9 * np.eye(n) + 0.02
    fs = np.stack([f, f])
    drift = np.column_stack([np.zeros(n_t), np.full(n_t, 0.3)])
    trans = np.array([[0.95, 0.05], [0.1, 0.9]])
    out = {}
    for key, tr in (("fixed", trans), ("per step", np.repeat(trans[None], n_t, axis=0))):
        filt, pred = np.empty((n_t, 2)), np.empty((n_t, 2))
        ll = kim_loglik(y, fs, drift, 0.05, 0.02, tr, 1, np.zeros_like(y), filt, pred)
        out[key] = (ll, filt, kim_smooth(filt, pred, tr))
    assert out["fixed"][0] == out["per step"][0]
    np.testing.assert_array_equal(out["fixed"][2], out["per step"][2])
    # a transition that changes at one step changes the likelihood from that step on only
    moved = np.repeat(trans[None], n_t, axis=0)
    moved[40] = [[0.5, 0.5], [0.5, 0.5]]
    filt, pred = np.empty((n_t, 2)), np.empty((n_t, 2))
    kim_loglik(y, fs, drift, 0.05, 0.02, moved, 1, np.zeros_like(y), filt, pred)
    np.testing.assert_array_equal(filt[:40], out["per step"][1][:40])
    assert not np.allclose(filt[40:], out["per step"][1][40:])
    # the scalar filter takes the same per-step matrices
    z = y[:, 0].copy()
    a = np.array([0.9, 0.9])
    lls = []
    for tr in (trans, np.repeat(trans[None], n_t, axis=0)):
        f1, p1 = np.empty((n_t, 2)), np.empty((n_t, 2))
        lls.append(kim_scalar(z, a, drift, 0.05, 0.02, tr, 1, np.zeros(n_t), f1, p1))
    assert lls[0] == lls[1]


def test_stimulus_hazard_finds_the_triggered_switches(triggered):
    design, sim = triggered
    y = sim.y[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        const = SwitchingContagionModel(dt=design.dt, center=False)
        const._skip_result = True
        const.fit(y, sim.u)
        m = SwitchingContagionModel(dt=design.dt, center=False, hazard="stimulus")
        result = m.fit(y, sim.u).result_
    assert m.fast_
    # the exact scalar decomposition equals the dense Kim filter with per-step transitions
    assert m._loglik(m.theta_) == pytest.approx(m._loglik(m.theta_, keep=True), rel=1e-9)
    # stressors (u > 0) raise the chance of going up, calming stimuli that of going down
    assert m.params_["h_up"] > 0.5 and m.params_["h_down"] < -0.5
    # nested: h = 0 is the constant hazard
    assert m.loglik_ >= const.loglik_ - 1e-6
    majority = sim.defensive[0].mean(axis=1) > 0.5
    assert np.mean((m.mode_prob_[:, 1] > 0.5) == majority) > 0.95
    assert abs(m.params_["c"] - design.kappa) < 4 * m.se_["c"]
    assert abs(m.params_["lambda"] - design.homeostasis) < 4 * m.se_["lambda"]
    assert result.parameters["hazard"] == "stimulus"
    assert "hazard slopes" in result.summary()
    assert "moved linearly with the stimulus" in result.methods


def test_stimulus_hazard_needs_a_stimulus(triggered):
    _, sim = triggered
    with pytest.raises(ParameterError, match="hazard"):
        SwitchingContagionModel(hazard="stimulus").fit(sim.y[0])
    with pytest.raises(ParameterError, match="hazard"):
        SwitchingContagionModel(hazard="sometimes").fit(sim.y[0], sim.u)
    with pytest.raises(ParameterError, match="hazard_lag"):
        SwitchingContagionModel(hazard="stimulus", hazard_lag=-1).fit(sim.y[0], sim.u)


@pytest.fixture(scope="module")
def small_fit():
    design = R.SWITCHING.with_(size=3, duration=40.0)
    sim = R.simulate_groups(design, 1, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = SwitchingContagionModel(dt=design.dt, center=False, hazard="stimulus")
        m._skip_result = True
        return m.fit(sim.y[0], sim.u)


def test_mode_bootstrap_same_numbers_on_every_executor(small_fit, dask_cluster):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        serial = mode_number_test(small_fit, n_boot=7, seed=3)
        dask = mode_number_test(small_fit, n_boot=7, seed=3, executor=dask_cluster)
        with LocalExecutor(2, kind="processes") as pool:
            local = mode_number_test(small_fit, n_boot=7, seed=3, executor=pool)
    np.testing.assert_array_equal(serial["null"], dask["null"])
    np.testing.assert_array_equal(serial["null"], local["null"])
    assert serial["p_value"] == dask["p_value"] == local["p_value"]
    assert serial["null"].size == 7
