"""The paper's predictions P1-P7 (docs/theory/model.rst), each reproduced over several seeds with an effect size.

Each test runs a built-in scenario (or a small variant) for several seeds, with the manipulated
and control conditions sharing a seed, and states the effect it requires.
"""

from __future__ import annotations

import numpy as np
import pytest

from syntony.model.scenario import Scenario
from syntony.model.simulate import simulate

SEEDS = range(8)


def _first_time(time: np.ndarray, values: np.ndarray, level: float) -> float:
    hit = np.flatnonzero(values >= level)
    return float(time[hit[0]]) if hit.size else np.inf


def _time_to_stay_below(time: np.ndarray, values: np.ndarray, level: float) -> float:
    above = np.flatnonzero(values > level)
    if above.size == 0:
        return float(time[0])
    return float(time[above[-1] + 1]) if above[-1] + 1 < time.size else np.inf


def test_p1_synchrony_speeds_up_convergence():
    """P1: at fixed synchrony rho = 0.6 (vs 0), omega is 2.5x larger and the crowd's predictions
    reach 10% of the initial disagreement sooner in all 8 seeds, mean time ratio < 0.8."""
    base = Scenario.from_dict(
        {
            "agents": {"n": 40, "x0_sd": 1.5, "q_x": 0.01, "gamma_int": 4.0, "homeostasis": 0.0},
            "channels": [{"name": "arousal", "cue_noise": 0.05}],
            "perception": {"online_synchrony": False},
            "modes": {"enabled": False},
            "simulation": {"steps": 200},
        }
    )
    ratios = []
    for seed in SEEDS:
        times = []
        for rho in (0.0, 0.6):
            ds = simulate(base.with_overrides({"perception.rho0": rho}), seed=seed).dataset
            reference = ds.x.isel(time=0).var().item()
            times.append(
                _time_to_stay_below(ds.time.values, ds.dispersion.values[:, 0], 0.1 * reference)
            )
        assert times[1] < times[0], (seed, times)
        ratios.append(times[1] / times[0])
    assert np.mean(ratios) < 0.8, ratios


def test_p2_overt_spreads_faster_and_further_and_sensors_narrow_the_gap():
    """P2: anger (observability 0.9) reaches more agents than guilt (0.1) in every seed, by at
    least 0.1 of the crowd on average, and reaches 30% of the crowd sooner; shared wearable
    sensors shrink the mean reach gap to less than a third of what it was."""
    overt_covert = Scenario.builtin("overt_vs_covert")
    sensors = Scenario.builtin("sensor_sharing")
    gaps, gaps_sensors = [], []
    for seed in SEEDS:
        ds = simulate(overt_covert, seed=seed).dataset
        reach = ds.reach.sel(time=slice(20, None)).mean("time").values  # (anger, guilt)
        t_anger = _first_time(ds.time.values, ds.reach.values[:, 0], 0.3)
        t_guilt = _first_time(ds.time.values, ds.reach.values[:, 1], 0.3)
        assert reach[0] > reach[1] and t_anger < t_guilt, (seed, reach, t_anger, t_guilt)
        gaps.append(reach[0] - reach[1])
        ds = simulate(sensors, seed=seed).dataset
        reach = ds.reach.sel(time=slice(20, None)).mean("time").values
        gaps_sensors.append(reach[0] - reach[1])
    assert np.mean(gaps) > 0.1, gaps
    assert abs(np.mean(gaps_sensors)) < np.mean(gaps) / 3, (gaps, gaps_sensors)


def test_p3_amplification_gives_faster_and_more_intense_outrage():
    """P3: with the platform amplifying high-arousal cues (alpha = 2 vs 0), peak mean outrage is
    at least twice as high and 20% of users are outraged sooner, in all 8 seeds."""
    base = Scenario.builtin("social_media_outrage").with_overrides({"agents.n": 120})
    for seed in SEEDS:
        peak, onset = [], []
        for alpha in (0.0, 2.0):
            ds = simulate(
                base.with_overrides({"technology.0.amplification": alpha}), seed=seed
            ).dataset
            peak.append(ds.mean_x.values[:, 0].max())
            onset.append(_first_time(ds.time.values, ds.reach.values[:, 0], 0.2))
        assert peak[1] > 2 * peak[0], (seed, peak)
        assert onset[1] < onset[0], (seed, onset)


def test_p4_trauma_more_defensive_and_less_informed_by_others():
    """P4: in every seed, agents with the trauma phenotype spend more time in the defensive mode
    than the others (mean ratio > 1.3), and give the shared prior less weight (< half)."""
    scenario = Scenario.builtin("trauma")
    ratios = []
    for seed in SEEDS:
        ds = simulate(scenario, seed=seed).dataset
        hurt = ds.trauma.values
        defensive = (ds.p_defensive.values > 0.5).mean(axis=0)
        share = np.nanmean(ds.social_share.values[:, :, 0], axis=0)
        assert defensive[hurt].mean() > defensive[~hurt].mean(), seed
        assert share[hurt].mean() < 0.5 * share[~hurt].mean(), seed
        ratios.append(defensive[hurt].mean() / max(defensive[~hurt].mean(), 1e-9))
    assert np.mean(ratios) > 1.3, ratios


def test_p5_shared_breathing_pacer_raises_synchrony_and_speeds_calm():
    """P5: the same pacer at one shared phase (vs random phases) gives higher mean synchrony
    R(t) in every seed (by > 0.2) and the crowd leaves the defensive mode sooner
    (fraction defensive < 5%) in every seed."""
    scenario = Scenario.builtin("synchronized_breathing").with_overrides({"agents.n": 60})
    for seed in range(6):
        result = {}
        for shared in (True, False):
            ds = simulate(
                scenario.with_overrides({"events.1.shared_phase": shared}), seed=seed
            ).dataset
            after = ds.time.values >= 10.0
            synchrony = ds.synchrony.values[after, 0].mean()
            calm = _first_time(ds.time.values[after], -ds.fraction_defensive.values[after], -0.05)
            result[shared] = synchrony, calm
        assert result[True][0] > result[False][0] + 0.2, (seed, result)
        assert result[True][1] < result[False][1], (seed, result)


def test_p6_crowd_filter_limits_through_the_scenario():
    """P6: through the crowd_filter scenario, K -> I as Sigma_eps -> 0 and K -> 0 as it grows;
    with Q = 0 the gain follows Sigma_t^-1 = Sigma_0^-1 + t Sigma_eps^-1 (priors harden), and
    with scalar q, r it settles at K = (-l + sqrt(l^2 + 4 l)) / 2, l = q / r."""
    base = Scenario.builtin("crowd_filter").with_overrides(
        {"crowd_filter.n": 12, "simulation.steps": 60}
    )
    tiny = simulate(base.with_overrides({"crowd_filter.noise": 1e-6}), seed=0).dataset
    huge = simulate(base.with_overrides({"crowd_filter.noise": 1e6}), seed=0).dataset
    assert tiny.mean_gain.values[0] > 0.999
    assert huge.mean_gain.values[0] < 1e-5
    ds = simulate(base, seed=0).dataset
    n, rho, r = 12, base.crowd_filter.rho, base.crowd_filter.noise
    sigma0 = np.full((n, n), rho) + (1 - rho) * np.eye(n)
    for t in (0, 5, 59):
        sigma_t = np.linalg.inv(np.linalg.inv(sigma0) + t * np.eye(n) / r)
        gain = sigma_t @ np.linalg.inv(sigma_t + r * np.eye(n))
        assert ds.mean_gain.values[t] == pytest.approx(np.trace(gain) / n, rel=1e-9)
    assert np.all(np.diff(ds.mean_gain.values) < 0)  # the crowd's priors harden
    q, r = 0.2, 0.5
    steady = simulate(
        base.with_overrides(
            {"crowd_filter.rho": 0.0, "crowd_filter.process_noise": q, "crowd_filter.noise": r}
        ),
        seed=0,
    ).dataset
    lam = q / r
    assert steady.mean_gain.values[-1] == pytest.approx(
        (-lam + np.sqrt(lam**2 + 4 * lam)) / 2, rel=1e-6
    )


def test_p7_unpredictable_caregiver_gives_infant_more_defensive_time():
    """P7: with a calm, predictable caregiver the infant ends with a confident safety prior
    (almost never defensive, tighter prediction); with an unpredictable caregiver (random
    stressors, noisier body) the infant is defensive > 10% of the time in every seed and
    > 30% on average."""
    base = Scenario.builtin("caregiver_infant").with_overrides({"simulation.steps": 600})
    erratic_time = []
    for seed in SEEDS:
        predictable = simulate(base, seed=seed).dataset.sel(agent=1)
        erratic = simulate(
            base.with_overrides({"events.0.rate": 0.1, "groups.0.q_x": 0.5}), seed=seed
        ).dataset.sel(agent=1)
        calm_def = (predictable.p_defensive.values > 0.5).mean()
        erratic_def = (erratic.p_defensive.values > 0.5).mean()
        assert calm_def < 0.05 and erratic_def > 0.1, (seed, calm_def, erratic_def)
        erratic_time.append(erratic_def)
        assert predictable.v.values[-100:].mean() < erratic.v.values[-100:].mean(), seed
        assert (
            abs(predictable.mu.values[-100:].mean()) < 0.5
        )  # the safety prior sits near b_aff = 0
    assert np.mean(erratic_time) > 0.3, erratic_time
