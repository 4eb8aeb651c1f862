"""simulate() and sweep(): reproducibility, named seed streams, structure of the Dataset, the
published-model branches."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from syntony._rng import SeedTree
from syntony.errors import ParameterError, UnstableGainError
from syntony.model.results import SimulationResult, SweepResult
from syntony.model.scenario import Scenario
from syntony.model.simulate import build_loop, convergence_time, network_snapshot, simulate
from syntony.model.sweep import sweep

SMALL = Scenario.builtin("trauma").with_overrides(
    {"agents.n": 30, "simulation.steps": 80, "output.record_edges": 10}
)


def _ds(scenario, seed):
    return simulate(scenario, seed=seed).dataset


def test_same_seed_identical_different_seed_different():
    result = simulate(SMALL, seed=11)
    assert isinstance(result, SimulationResult) and result.scenario == SMALL
    a, b, c = result.dataset, _ds(SMALL, 11), _ds(SMALL, 12)
    assert a.equals(b)
    assert not np.allclose(a.x.values, c.x.values)
    assert result.seed == {"entropy": 11, "spawn_key": [], "path": []}
    assert json.loads(a.attrs["seed"]) == result.seed
    assert "trauma" in a.attrs["scenario"] and '"version"' in a.attrs["provenance"]
    assert result.provenance["seed"] == result.seed


def test_each_random_part_has_its_own_named_stream():
    """Adding an event changes neither the network nor the initial state (their own streams),
    and a SeedTree node passed as the seed gives the same run as the seed it stands for."""
    spread = SMALL.with_overrides({"agents.x0_sd": 1.0})
    more = spread.with_overrides(
        {"events": [{"kind": "random", "rate": 0.5, "amplitude": 1.0, "duration": 5.0}]}
    )
    a, b = build_loop(spread, 4), build_loop(more, 4)
    assert (a.params.adjacency != b.params.adjacency).nnz == 0
    np.testing.assert_array_equal(a.state.x, b.state.x)
    assert a.key == b.key  # the same noise stream, too
    assert not np.array_equal(build_loop(spread, 5).state.x, a.state.x)
    node = SeedTree(4).child("point", 2)
    assert _ds(SMALL, node).equals(_ds(SMALL, SeedTree(4).child("point", 2)))
    assert not _ds(SMALL, node).equals(_ds(SMALL, 4))


def test_engines_give_the_same_dataset():
    a = _ds(SMALL, 3)
    b = _ds(SMALL.with_overrides({"simulation.engine": "numpy"}), 3)
    xr.testing.assert_allclose(
        a.drop_vars(["rho", "omega", "trust"]), b.drop_vars(["rho", "omega", "trust"]), atol=1e-9
    )
    np.testing.assert_allclose(a.rho.values, b.rho.values, atol=1e-6)


def test_dataset_dims_variables_and_summaries():
    ds = _ds(SMALL, 0)
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
    ds = _ds(s, 0)
    full = _ds(SMALL, 0)
    assert ds.sizes["agent"] == 7 and ds.sizes["time"] == 21 and ds.sizes["summary_time"] == 81
    np.testing.assert_allclose(ds.x.values, full.x.sel(agent=ds.agent, time=ds.time).values)
    np.testing.assert_allclose(ds.dispersion.values, full.dispersion.values)


def test_network_snapshot_is_a_connected_piece_with_the_final_state():
    ds = _ds(SMALL, 0)
    assert ds.sizes["node"] == 30  # the whole crowd when it has at most 80 agents
    np.testing.assert_array_equal(ds.snapshot_x.values, ds.x.isel(time=-1).values)
    np.testing.assert_array_equal(
        ds.snapshot_p_defensive.values, ds.p_defensive.isel(time=-1).values
    )
    adjacency = build_loop(SMALL, 0).params.adjacency
    sym = adjacency + adjacency.T
    for a, b in zip(ds.link_source.values, ds.link_target.values, strict=True):
        assert a < b and sym[a, b] > 0
    assert ds.sizes["link"] == (sym > 0).sum() // 2  # every link among the held agents
    # On a large ring, breadth-first from one agent gives a run of neighbours.
    ring = Scenario.from_dict({"agents": {"n": 1000}, "network": {"kind": "ring", "k": 1}})
    nodes, links = network_snapshot(build_loop(ring, 0).params.adjacency, np.random.default_rng(1))
    assert nodes.size == 80 and len(links) == 79  # a path of 80 agents has 79 links


def test_sweep_replicates_streams_and_independence_of_n_jobs():
    grid = {"perception.rho0": [0.0, 0.5], "agents.kappa": [0.5, 1.0]}
    s = SMALL.with_overrides({"output.record_edges": 0, "simulation.steps": 40})
    serial = sweep(s, grid, seed=5, n_jobs=1, replicates=2)
    parallel = sweep(s, grid, seed=5, n_jobs=2, replicates=2)
    assert isinstance(serial, SweepResult)
    assert serial.dataset.equals(parallel.dataset)
    pd.testing.assert_frame_equal(serial.runs, parallel.runs)
    sizes = dict(serial.dataset.sizes)
    assert sizes["perception.rho0"] == 2 and sizes["agents.kappa"] == 2 and sizes["replicate"] == 2
    assert not ({"agent", "node", "link"} & set(serial.dataset.dims))
    assert len(serial.runs) == 8 and list(serial.runs.columns[:3]) == [*grid, "replicate"]
    # run r of point k is simulate(point k, seed stream point/k/replicate/r)
    alone = _ds(s.with_overrides({"perception.rho0": 0.5, "agents.kappa": 0.5}),
                SeedTree(5).child("point", 2, "replicate", 1))  # fmt: skip
    picked = serial.dataset.sel({"perception.rho0": 0.5, "agents.kappa": 0.5, "replicate": 1})
    np.testing.assert_array_equal(picked.mean_x.values, alone.mean_x.values)
    # replicates and grid points have their own streams: none is a copy of another
    mean_x = serial.dataset.mean_x
    assert not np.allclose(mean_x.isel(replicate=0).values, mean_x.isel(replicate=1).values)
    assert not np.allclose(
        mean_x.isel({"agents.kappa": 0}).values, mean_x.isel({"agents.kappa": 1}).values
    )
    with pytest.raises(ParameterError, match=r"agents\.kapa"):
        sweep(s, {"agents.kapa": [1.0]})
    with pytest.raises(ParameterError, match="replicates"):
        sweep(s, grid, replicates=0)


def test_published_models_run_from_scenarios():
    dyad = _ds(Scenario.builtin("dyad_synchrony").with_overrides({"simulation.steps": 200}), 0)
    assert set(dyad.dims) == {"time", "agent"} and "omega" in dyad
    with pytest.raises(UnstableGainError, match="omega"):
        simulate(
            Scenario.builtin("dyad_synchrony").with_overrides(
                {"dyad.rho": 0.95, "perception.gain": "seed"}
            ),
            seed=0,
        )
    clipped = _ds(
        Scenario.builtin("dyad_synchrony").with_overrides(
            {"dyad.rho": 0.95, "perception.gain": "seed", "perception.on_unstable": "clip"}
        ),
        0,
    )
    assert np.all(np.isfinite(clipped.mu.values))
    crowd = _ds(Scenario.builtin("crowd_filter").with_overrides({"simulation.steps": 20}), 0)
    assert "mean_gain" in crowd and "mean_prior_cov" in crowd
    partial = _ds(
        Scenario.builtin("crowd_filter").with_overrides(
            {"simulation.steps": 20, "crowd_filter.observed_fraction": 0.5}
        ),
        0,
    )
    assert partial.sizes["observed"] == 15 and partial.attrs["algorithm"] == "dense"


def test_seed_update_in_the_agent_loop_uses_the_gain_policy():
    s = SMALL.with_overrides({"perception.update": "seed", "perception.gain": "seed", "perception.rho0": 0.9,
                              "perception.online_synchrony": False})  # fmt: skip
    with pytest.raises(UnstableGainError, match="step 0"):
        simulate(s, seed=0)
    ok = _ds(s.with_overrides({"perception.on_unstable": "clip"}), 0)
    assert np.all(np.isfinite(ok.mu.values))


def test_convergence_time_definition():
    t = np.arange(6.0)
    d = np.array([0.0, 4.0, 2.0, 0.3, 0.5, 0.2])
    assert convergence_time(d, t, 0.1)[0] == 5.0
    assert np.isnan(convergence_time(np.array([1.0, 1.0, 1.0]), t[:3], 0.1)[0])


@pytest.mark.parametrize("model", ["dyad", "crowd_filter"])
def test_perfect_synchrony_rho_one_runs_without_nan(model):
    # rho = 1 exactly: a singular synchrony prior (crowd) and a perfectly shared signal (dyad)
    scenario = Scenario.from_dict(
        {"model": model, model: {"rho": 1.0}, "simulation": {"steps": 100}}
    )
    ds = simulate(scenario, seed=1).dataset
    for name, da in ds.data_vars.items():
        assert np.isfinite(da.values).all(), name


def test_anti_synchrony_that_is_no_covariance_is_refused_with_a_message():
    scenario = Scenario.from_dict({"model": "crowd_filter", "crowd_filter": {"rho": -0.5}})
    with pytest.raises(ParameterError, match="positive semi-definite correlation matrix"):
        simulate(scenario, seed=1)
