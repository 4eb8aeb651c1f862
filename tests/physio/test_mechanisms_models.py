"""The mechanism estimators: results that save, load and report themselves, the pooled model's
random-effects arithmetic, and messages for bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from syntony.errors import InputError, ParameterError
from syntony.physio.fit import ContagionModel
from syntony.physio.mechanisms import (
    DirectedContagionModel,
    GatedContagionModel,
    PooledContagionModel,
    SwitchingContagionModel,
    linear_group_fit,
    mode_number_test,
    random_effects,
)
from syntony.physio.mechanisms.recovery import LoopDesign, simulate_groups
from syntony.report import REPORT, load_result


@pytest.fixture(scope="module")
def loop():
    design = LoopDesign(size=4, duration=120.0)
    trust = np.tile([1.0, 0.5, 0.3, 0.8], (3, 1))
    return design, simulate_groups(design, 3, seed=1, trust=trust)


def _round_trip(result, tmp_path, name):
    written = result.save(tmp_path / name)
    assert (tmp_path / name / REPORT) in written
    back = load_result(tmp_path / name)
    assert type(back) is type(result)
    for attr in ("params", "models", "tests"):
        pd.testing.assert_frame_equal(getattr(back, attr), getattr(result, attr))
    assert set(back.tables) == set(result.tables)
    for key, frame in result.tables.items():
        pd.testing.assert_frame_equal(back.tables[key], frame)
    if result.fitted is not None:
        for var in result.fitted.data_vars:
            np.testing.assert_array_equal(
                back.fitted[var].to_numpy(), result.fitted[var].to_numpy()
            )
    assert back.summary() == result.summary()
    assert back.methods == result.methods
    return back


def _page_tables(state):
    return {t["name"]: t for t in state["tables"]}


def _same(table, frame: pd.DataFrame) -> None:
    assert table["header"] == [str(c) for c in frame.columns]
    assert len(table["rows"]) == len(frame)
    for k, column in enumerate(frame.columns):
        cells = [row[k] for row in table["rows"]]
        values = frame[column].to_numpy()
        if values.dtype.kind in "iuf":
            np.testing.assert_array_equal(np.array(cells, float), values.astype(float))
        elif values.dtype.kind == "b":
            assert cells == [str(bool(v)) for v in values]
        else:
            assert cells == [str(v) for v in values], column


def test_gated_result(loop, tmp_path):
    design, sim = loop
    model = GatedContagionModel(dt=design.dt, window=design.tau_rho, weighting="exponential")
    result = model.fit(sim.y[0]).result_
    assert model.params_["g"] == result.estimate("g") == result.estimate()
    assert result.test(result.LRT)["p_value"] == pytest.approx(model.lrt_pvalue_)
    assert model.lrt_stat_ == pytest.approx(2 * (model.loglik_ - model.loglik_null_))
    assert result.fitted["weight_spread"].sizes["time"] == sim.y.shape[1]
    assert "Schoeller" in result.methods and "Durbin" in result.methods
    _round_trip(result, tmp_path, "gated")


def test_switching_result_and_bootstrap(loop, tmp_path):
    design, sim = loop
    u = sim.u + np.sin(np.arange(sim.u.size) / 20)
    model = SwitchingContagionModel(dt=design.dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 2 minutes, 4 people: a weak fit
        result = model.fit(sim.y[1], u).result_
    p = result.mode_probability
    assert p.shape == (sim.y.shape[1],) and np.all((p >= 0) & (p <= 1))
    assert result.estimate("b_high") == pytest.approx(
        result.estimate("b_low") + result.estimate("b_gap")
    )
    assert model.loglik_ >= model.loglik_one_ - 1e-6
    boot = mode_number_test(model, n_boot=3, seed=0)
    again = mode_number_test(model, n_boot=3, seed=0)
    np.testing.assert_array_equal(boot["null"], again["null"])
    assert boot["p_value"] == (1 + np.sum(boot["null"] >= boot["statistic"])) / 4
    result.with_test(
        {
            "test": result.BOOT,
            "statistic": boot["statistic"],
            "p_value": boot["p_value"],
            "n": boot["n"],
            "reference": "bootstrap",
        },
        table="bootstrap",
        values={"value": boot["null"]},
    )
    assert "McLachlan" in result.methods and "Kim C-J" in result.methods
    _round_trip(result, tmp_path, "switching")


def test_directed_result(loop, tmp_path):
    design, sim = loop
    model = DirectedContagionModel(dt=design.dt)
    result = model.fit(sim.y[2]).result_
    influence = result.influence
    assert list(influence["person"]) == ["0", "1", "2", "3"]
    assert influence["send"].sum() == pytest.approx(0.0, abs=1e-9)
    assert influence["recv"].sum() == pytest.approx(0.0, abs=1e-9)
    assert {t["test"] for t in model.tests_} == {
        "likelihood ratio (no sender effects)",
        "likelihood ratio (no receiver effects)",
        "likelihood ratio (one pull for all pairs)",
    }
    # pulls: c exp(recv_i + send_j)
    c = result.estimate("c")
    pulls = result.tables["pulls"].set_index(["perceiver", "perceived"])["pull"]
    inf = influence.set_index("person")
    assert pulls[("1", "0")] == pytest.approx(
        c * math.exp(inf.loc["1", "recv"] + inf.loc["0", "send"])
    )
    _round_trip(result, tmp_path, "directed")
    pairs = DirectedContagionModel(dt=design.dt, structure="pairs", tests=False).fit(sim.y[2])
    assert len([k for k in pairs.params_ if k.startswith("pair:")]) == 12


def test_pooled_result(loop, tmp_path):
    design, sim = loop
    model = PooledContagionModel(dt=design.dt)
    result = model.fit(list(sim.y), names=["a", "b", "c"]).result_
    groups = result.groups
    assert list(groups["group"]) == ["a", "b", "c"]
    re = random_effects(groups["c"], groups["c_se"])
    assert result.estimate("mu_c") == pytest.approx(re["mu"])
    _round_trip(result, tmp_path, "pooled")


def test_pooled_jackknife_bias_correction(loop, tmp_path):
    design, sim = loop
    model = PooledContagionModel(dt=design.dt, bias_correction="jackknife")
    result = model.fit(list(sim.y)).result_
    half = sim.y.shape[1] // 2
    for row, y in zip(model.groups_, sim.y, strict=True):
        full = linear_group_fit(y, dt=design.dt)
        parts = [linear_group_fit(y[:half], dt=design.dt), linear_group_fit(y[half:], dt=design.dt)]
        assert row["c_uncorrected"] == pytest.approx(full["c"])
        assert row["c"] == pytest.approx(2 * full["c"] - 0.5 * (parts[0]["c"] + parts[1]["c"]))
        assert row["c_se"] == pytest.approx(full["c_se"])  # the full fit's standard error
    re = random_effects([g["c"] for g in model.groups_], [g["c_se"] for g in model.groups_])
    assert result.estimate("mu_c") == pytest.approx(re["mu"])
    assert result.parameters["bias_correction"] == "jackknife"
    assert "Quenouille" in result.methods and "split-sample jackknife" in result.methods
    _round_trip(result, tmp_path, "pooled-jackknife")
    with pytest.raises(ParameterError, match="bias_correction"):
        PooledContagionModel(bias_correction="bootstrap").fit(list(sim.y))
    with pytest.raises(InputError, match="too short for the jackknife"):
        PooledContagionModel(bias_correction="jackknife").fit([y[:15] for y in sim.y])


def test_reports_in_a_real_browser(loop, tmp_path, check_report):
    design, sim = loop
    results = {
        "gated": GatedContagionModel(dt=design.dt, window=5.0, weighting="exponential")
        .fit(sim.y[0])
        .result_,
        "switching": SwitchingContagionModel(dt=design.dt).fit(sim.y[1]).result_,
        "directed": DirectedContagionModel(dt=design.dt).fit(sim.y[2]).result_,
        "pooled": PooledContagionModel(dt=design.dt).fit(list(sim.y)).result_,
    }
    for name, result in results.items():
        result.save(tmp_path / name)
        state = check_report(tmp_path / name / REPORT)
        tables = _page_tables(state)
        _same(tables["params"], result.params)
        _same(tables["tests"], result.tests.dropna(axis=1, how="all"))
        assert state["n_images"] >= 1, name
        if name == "directed":
            _same(tables["influence"], result.influence)
        if name == "pooled":
            _same(tables["groups"], result.groups)


def test_linear_group_fit_is_the_contagion_models_fit(loop):
    design, sim = loop
    ours = linear_group_fit(sim.y[0], dt=design.dt)
    ref = ContagionModel(dt=design.dt).fit(sim.y[0])
    assert ours["c"] == pytest.approx(ref.params_["c"], rel=2e-3, abs=2e-4)
    assert ours["c_se"] == pytest.approx(ref.se_["c"], rel=2e-2)
    assert ours["loglik"] == pytest.approx(ref.loglik_, abs=1e-3)


def test_random_effects_closed_forms():
    y = np.array([0.2, 0.5, 0.3, 0.9, 0.4])
    se = np.full(5, 0.1)
    re = random_effects(y, se)
    # equal standard errors: mu is the plain mean and REML tau^2 = var(y, ddof=1) - se^2
    assert re["mu"] == pytest.approx(y.mean())
    assert re["tau2"] == pytest.approx(np.var(y, ddof=1) - 0.01, rel=1e-6)
    assert re["q"] == pytest.approx(np.sum((y - y.mean()) ** 2) / 0.01)
    # Q-profile bounds: the generalised Q equals the chi-square quantiles there
    for bound, level in zip(re["tau2_ci"], (0.975, 0.025), strict=True):
        w = 1 / (se**2 + bound)
        mu = np.sum(w * y) / np.sum(w)
        assert np.sum(w * (y - mu) ** 2) == pytest.approx(stats.chi2.ppf(level, 4), rel=1e-6)
    # no spread beyond the standard errors: tau = 0 and every group shrinks to mu
    flat = random_effects([0.5, 0.51, 0.49, 0.5], [0.1] * 4)
    assert flat["tau2"] == 0.0 and flat["lrt_pvalue"] == 1.0
    assert np.allclose(flat["shrunk"], flat["mu"])


def test_random_effects_coverage_in_the_normal_normal_model():
    """The Laplace-Gaussian second stage, on its own: 400 studies of 20 groups."""
    rng = np.random.default_rng(7)
    hits_mu, hits_tau, rejections = [], [], []
    for _ in range(400):
        se = rng.uniform(0.05, 0.15, 20)
        c = 0.5 + 0.1 * rng.standard_normal(20)
        re = random_effects(c + se * rng.standard_normal(20), se)
        hits_mu.append(re["mu_ci"][0] <= 0.5 <= re["mu_ci"][1])
        hits_tau.append(re["tau_ci"][0] <= 0.1 <= re["tau_ci"][1])
        null = random_effects(0.5 + se * rng.standard_normal(20), se)
        rejections.append(null["lrt_pvalue"] < 0.05)
    assert 0.92 <= np.mean(hits_mu) <= 0.98
    assert 0.92 <= np.mean(hits_tau) <= 0.98
    assert np.mean(rejections) <= 0.08


def test_bad_input(loop):
    _, sim = loop
    y = sim.y[0]
    with pytest.raises(InputError, match="person >= 3"):
        GatedContagionModel().fit(y[:, :2])
    with pytest.raises(ParameterError, match="window"):
        GatedContagionModel(window=1000.0).fit(y)
    with pytest.raises(ParameterError, match="weighting"):
        GatedContagionModel(weighting="gaussian").fit(y)
    with pytest.raises(ParameterError, match="n_modes"):
        SwitchingContagionModel(n_modes=3).fit(y)
    with pytest.raises(ParameterError, match="couplings"):
        SwitchingContagionModel(couplings="each").fit(y)
    with pytest.raises(ParameterError, match="structure"):
        DirectedContagionModel(structure="pairs").fit(np.random.default_rng(0).normal(size=(50, 9)))
    lonely = np.ones((4, 4)) - np.eye(4)
    lonely[2] = 0.0
    with pytest.raises(InputError, match="perceive nobody"):
        DirectedContagionModel(adjacency=lonely).fit(y)
    with pytest.raises(InputError, match="at least 2 groups"):
        PooledContagionModel().fit([y])
    with pytest.raises(InputError, match=r"group 2: .*constant"):
        PooledContagionModel().fit([y, np.ones_like(y)])
    with pytest.raises(InputError, match="at least 2 groups"):
        random_effects([0.1], [0.1])
