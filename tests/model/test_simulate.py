"""simulate() and sweep(): reproducibility, structure of the Dataset, the published-model branches."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from syntony.errors import ParameterError, UnstableGainError
from syntony.model.scenario import Scenario
from syntony.model.simulate import convergence_time, simulate, sweep

SMALL = Scenario.builtin("trauma").with_overrides(
    {"agents.n": 30, "simulation.steps": 80, "output.record_edges": 10}
)


def test_same_seed_identical_different_seed_different():
    a = simulate(SMALL, seed=11)
    b = simulate(SMALL, seed=11)
    c = simulate(SMALL, seed=12)
    assert a.equals(b)
    assert not np.allclose(a.x.values, c.x.values)
    assert a.attrs["seed_entropy"] == "11"
    assert "trauma" in a.attrs["scenario"] and '"version"' in a.attrs["provenance"]


def test_engines_give_the_same_dataset():
    a = simulate(SMALL, seed=3)
    b = simulate(SMALL.with_overrides({"simulation.engine": "numpy"}), seed=3)
    xr.testing.assert_allclose(
        a.drop_vars(["rho", "omega", "trust"]), b.drop_vars(["rho", "omega", "trust"]), atol=1e-9
    )
    np.testing.assert_allclose(a.rho.values, b.rho.values, atol=1e-6)


def test_dataset_dims_variables_and_summaries():
    ds = simulate(SMALL, seed=0)
    assert ds.x.dims == ("time", "agent", "channel") and ds.p_defensive.dims == ("time", "agent")
    assert ds.sizes["time"] == 81 and ds.sizes["agent"] == 30 and ds.sizes["edge"] == 10
    for name in (
        "x",
        "s",
        "mu",
        "v",
        "p_defensive",
        "rho",
        "omega",
        "trust",
        "synchrony",
        "dispersion",
        "reach",
    ):
        assert name in ds
    np.testing.assert_allclose(ds.dispersion.values, ds.mu.var("agent").values, rtol=1e-10)
    np.testing.assert_allclose(ds.reach.values, (ds.x > 1.0).mean("agent").values)
    np.testing.assert_allclose(
        ds.fraction_defensive.values, (ds.p_defensive > 0.5).mean("agent").values
    )
    assert ds.trauma.values.sum() == 9  # 30% of 30


def test_large_runs_store_a_sample_and_every_kth_step():
    s = SMALL.with_overrides({"output.sample_agents": 7, "output.every": 4})
    ds = simulate(s, seed=0)
    full = simulate(SMALL, seed=0)
    assert ds.sizes["agent"] == 7 and ds.sizes["time"] == 21 and ds.sizes["summary_time"] == 81
    np.testing.assert_allclose(ds.x.values, full.x.sel(agent=ds.agent, time=ds.time).values)
    np.testing.assert_allclose(ds.dispersion.values, full.dispersion.values)


def test_sweep_is_independent_of_n_jobs():
    grid = {"perception.rho0": [0.0, 0.5], "agents.kappa": [0.5, 1.0]}
    s = SMALL.with_overrides({"output.record_edges": 0})
    serial = sweep(s, grid, seed=5, n_jobs=1)
    parallel = sweep(s, grid, seed=5, n_jobs=2)
    assert serial.equals(parallel)
    assert dict(serial.sizes)["perception.rho0"] == 2 and dict(serial.sizes)["agents.kappa"] == 2
    assert "agent" not in serial.dims
    # grid points have their own seeds: two points differing only in kappa are not copies
    assert not np.allclose(
        serial.mean_x.isel({"agents.kappa": 0}).values,
        serial.mean_x.isel({"agents.kappa": 1}).values,
    )
    with pytest.raises(ParameterError, match=r"agents\.kapa"):
        sweep(s, {"agents.kapa": [1.0]})


def test_published_models_run_from_scenarios():
    dyad = simulate(
        Scenario.builtin("dyad_synchrony").with_overrides({"simulation.steps": 200}), seed=0
    )
    assert set(dyad.dims) == {"time", "agent"} and "omega" in dyad
    with pytest.raises(UnstableGainError, match="omega"):
        simulate(
            Scenario.builtin("dyad_synchrony").with_overrides(
                {"dyad.rho": 0.95, "perception.gain": "seed"}
            ),
            seed=0,
        )
    clipped = simulate(
        Scenario.builtin("dyad_synchrony").with_overrides(
            {"dyad.rho": 0.95, "perception.gain": "seed", "perception.on_unstable": "clip"}
        ),
        seed=0,
    )
    assert np.all(np.isfinite(clipped.mu.values))
    crowd = simulate(
        Scenario.builtin("crowd_filter").with_overrides({"simulation.steps": 20}), seed=0
    )
    assert "mean_gain" in crowd


def test_seed_update_in_the_agent_loop_uses_the_gain_policy():
    s = SMALL.with_overrides({"perception.update": "seed", "perception.gain": "seed", "perception.rho0": 0.9,
                              "perception.online_synchrony": False})  # fmt: skip
    with pytest.raises(UnstableGainError, match="step 0"):
        simulate(s, seed=0)
    ok = simulate(s.with_overrides({"perception.on_unstable": "clip"}), seed=0)
    assert np.all(np.isfinite(ok.mu.values))


def test_convergence_time_definition():
    t = np.arange(6.0)
    d = np.array([0.0, 4.0, 2.0, 0.3, 0.5, 0.2])
    assert convergence_time(d, t, 0.1)[0] == 5.0
    assert np.isnan(convergence_time(np.array([1.0, 1.0, 1.0]), t[:3], 0.1)[0])


def test_netcdf_round_trip(tmp_path):
    ds = simulate(SMALL, seed=0)
    ds.to_netcdf(tmp_path / "s.nc", engine="h5netcdf")
    back = xr.open_dataset(tmp_path / "s.nc", engine="h5netcdf")
    xr.testing.assert_allclose(back.load(), ds)
    assert Scenario.from_toml(back.attrs["scenario"]) == SMALL
