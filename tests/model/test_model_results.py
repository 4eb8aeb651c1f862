"""The model's results: save/load round trips, the NetCDF attributes, the reports in Chromium."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from syntony.errors import InputError
from syntony.model import CrowdFilter, ExchangeableCov, Scenario, simulate, sweep
from syntony.model.report import scenario_table
from syntony.model.results import (
    CrowdFilterResult,
    SimulationResult,
    SweepResult,
    crowd_filter_table,
    read_dataset,
    write_dataset,
)
from syntony.report import load_result

SMALL = Scenario.builtin("overt_vs_covert").with_overrides(
    {"agents.n": 40, "simulation.steps": 60, "output.record_edges": 15}
)


@pytest.fixture(scope="module")
def simulation() -> SimulationResult:
    return simulate(SMALL, seed=2)


@pytest.fixture(scope="module")
def swept() -> SweepResult:
    base = Scenario.builtin("trauma").with_overrides({"agents.n": 20, "simulation.steps": 30})
    grid = {"agents.kappa": [0.5, 2.0], "network.kind": ["ring", "complete"]}
    return sweep(base, grid, replicates=2, seed=7)


@pytest.fixture(scope="module")
def crowd() -> CrowdFilterResult:
    rng = np.random.default_rng(0)
    prior = ExchangeableCov.from_synchrony(6, rho=0.5, variance=1.0)
    return CrowdFilter(np.full(6, 0.5)).run(
        1.0 + rng.standard_normal((40, 6)), prior_mean=0.0, prior_cov=prior, dt=0.5,
        return_cov=True,
    )  # fmt: skip


def _floats(cells: list[str]) -> np.ndarray:
    return np.array([float(c) for c in cells])


# --------------------------------------------------------------------------- round trips
def test_simulation_round_trip(tmp_path, simulation):
    written = simulation.save(tmp_path / "sim")
    assert {p.name for p in written} == {
        "simulation.nc", "scenario.toml", "summary.tsv", "result.json", "report.html",
    }  # fmt: skip
    back = load_result(tmp_path / "sim")
    assert isinstance(back, SimulationResult)
    xr.testing.assert_identical(back.dataset, simulation.dataset)
    assert back.scenario == SMALL and back.seed == simulation.seed
    assert back.provenance == simulation.provenance
    pd.testing.assert_frame_equal(back.summaries(), simulation.summaries())
    table = pd.read_csv(tmp_path / "sim" / "summary.tsv", sep="\t")
    pd.testing.assert_frame_equal(table, simulation.summaries())
    assert back.summary() == simulation.summary()
    assert SimulationResult.load(tmp_path / "sim").model == "agents"


def test_sweep_round_trip(tmp_path, swept):
    swept.save(tmp_path / "sweep")
    back = SweepResult.load(tmp_path / "sweep")
    xr.testing.assert_identical(back.dataset, swept.dataset)
    pd.testing.assert_frame_equal(back.runs, swept.runs)
    assert back.grid == swept.grid and back.replicates == 2 and back.scenario == swept.scenario
    pd.testing.assert_frame_equal(back.point_table(), swept.point_table())
    points = pd.read_csv(tmp_path / "sweep" / "points.tsv", sep="\t")
    assert list(points.columns) == ["agents.kappa", "network.kind", "channel", "summary",
                                    "mean", "min", "max", "n"]  # fmt: skip
    assert back.summary() == swept.summary()


def test_crowd_filter_round_trip(tmp_path, crowd):
    assert crowd.dataset.attrs["algorithm"] == "exchangeable"
    crowd.save(tmp_path / "crowd")
    back = load_result(tmp_path / "crowd")
    assert isinstance(back, CrowdFilterResult)
    xr.testing.assert_identical(back.dataset, crowd.dataset)
    assert back.parameters == crowd.parameters
    gains = pd.read_csv(tmp_path / "crowd" / "gains.tsv", sep="\t")
    pd.testing.assert_frame_equal(gains, crowd.table())
    assert back.summary() == crowd.summary()


def test_netcdf_keeps_attributes_it_cannot_hold_as_json(tmp_path):
    ds = xr.Dataset(
        {"a": ("t", np.arange(3.0), {"flags": [True, False], "long_name": "a"})},
        attrs={"nested": {"k": [1, 2]}, "on": True, "none": None, "n": 3, "x": 0.5},
    )
    write_dataset(tmp_path / "d.nc", ds)
    back = read_dataset(tmp_path / "d.nc")
    assert back.attrs == ds.attrs and back["a"].attrs == ds["a"].attrs
    xr.testing.assert_identical(back, ds)
    with pytest.raises(InputError, match="missing NetCDF"):
        read_dataset(tmp_path / "nope.nc")
    (tmp_path / "bad.nc").write_text("not netcdf")
    with pytest.raises(InputError, match=r"bad\.nc"):
        read_dataset(tmp_path / "bad.nc")


def test_missing_file_of_a_saved_result_is_named(tmp_path, crowd):
    crowd.save(tmp_path / "crowd")
    (tmp_path / "crowd" / "crowd_filter.nc").unlink()
    with pytest.raises(InputError, match=r"crowd_filter\.nc"):
        load_result(tmp_path / "crowd")


# ------------------------------------------------------------------------------ content
def test_summaries_follow_the_dataset(simulation):
    ds, table = simulation.dataset, simulation.summaries()
    assert list(table["channel"]) == ["anger", "guilt"]
    for k, row in table.iterrows():
        assert row.final_synchrony == ds.synchrony.values[-1, k]
        assert row.peak_reach == ds.reach.values[:, k].max()
        assert row.mean_fraction_defensive == pytest.approx(ds.fraction_defensive.values.mean())
    text = simulation.summary()
    assert text.startswith("overt_vs_covert: 40 agents, 60 steps") and "seed 2" in text


def test_scenario_table_uses_the_keys_of_set():
    table = scenario_table(SMALL)
    values = dict(zip(table["key"], table["value"], strict=True))
    assert values["agents.n"] == 40 and values["channels.1.name"] == "guilt"
    assert not any(k.startswith(("dyad.", "crowd_filter.")) for k in values)
    # every key is one that --set accepts and gives the same scenario back
    assert SMALL.with_overrides({"agents.n": values["agents.n"]}) == SMALL
    crowd_keys = set(scenario_table(Scenario.builtin("crowd_filter"))["key"])
    assert "crowd_filter.rho" in crowd_keys and "agents.n" not in crowd_keys


def test_methods_cite_the_model_and_the_filter(simulation, crowd):
    assert "Schoeller F, Christov-Moore L, Reggente N" in simulation.methods
    assert "Kalman RE (1960)" in crowd.methods and "Schoeller" in crowd.methods
    assert "exchangeable filter" in crowd.methods


# ------------------------------------------------------------------- reports in Chromium
def test_simulation_report_in_a_real_browser(tmp_path, simulation, check_report):
    simulation.save(tmp_path / "sim")
    state = check_report(tmp_path / "sim" / "report.html")
    assert state["n_images"] == 4  # bodies, R/D/f, defensive mode, network snapshot
    tables = {t["name"]: t for t in state["tables"]}
    summary = simulation.summaries()
    got = tables["summary"]
    assert got["header"] == ["summary", "anger", "guilt"]
    for row in got["rows"]:
        name, values = row[0], _floats(row[1:])
        np.testing.assert_array_equal(values, summary[name].to_numpy())
    scenario = dict(tables["scenario"]["rows"])
    assert scenario["agents.n"] == "40" and scenario["simulation.steps"] == "60"


def test_sweep_report_in_a_real_browser(tmp_path, swept, check_report):
    swept.save(tmp_path / "sweep")
    state = check_report(tmp_path / "sweep" / "report.html")
    assert state["n_images"] == 1
    tables = {t["name"]: t for t in state["tables"]}
    runs = tables["runs"]
    assert runs["header"][:3] == ["agents.kappa", "network.kind", "replicate"]
    assert len(runs["rows"]) == len(swept.runs) == 8
    column = runs["header"].index("peak_reach")
    np.testing.assert_array_equal(
        _floats([r[column] for r in runs["rows"]]), swept.runs["peak_reach"].to_numpy()
    )
    points = swept.point_table()
    shown = points[points["summary"] == "final_synchrony"]
    rows = [r for r in tables["points"]["rows"] if r[3] == "final_synchrony"]
    np.testing.assert_array_equal(_floats([r[4] for r in rows]), shown["mean"].to_numpy())


def test_crowd_filter_report_in_a_real_browser(tmp_path, crowd, check_report):
    crowd.save(tmp_path / "crowd")
    state = check_report(tmp_path / "crowd" / "report.html")
    assert state["n_images"] == 2
    gains = {t["name"]: t for t in state["tables"]}["gains"]
    expected = crowd_filter_table(crowd.dataset)
    times = _floats([r[0] for r in gains["rows"]])
    picked = expected.set_index("time").loc[times]
    for name in ("mean_gain", "mean_prior_var", "mean_prior_cov"):
        column = gains["header"].index(name)
        np.testing.assert_array_equal(_floats([r[column] for r in gains["rows"]]), picked[name])
    assert times[0] == 0.0 and times[-1] == expected["time"].iloc[-1]  # first and last step


def test_simulated_crowd_filter_and_dyad_reports_in_a_real_browser(tmp_path, check_report):
    runs = {
        "crowd": Scenario.builtin("crowd_filter").with_overrides({"simulation.steps": 50}),
        "dyad": Scenario.builtin("dyad_synchrony").with_overrides({"simulation.steps": 120}),
    }
    for name, scenario in runs.items():
        result = simulate(scenario, seed=0)
        result.save(tmp_path / name)
        state = check_report(tmp_path / name / "report.html")
        tables = {t["name"]: t for t in state["tables"]}
        row = result.summaries().iloc[0]
        got = dict(zip(tables["summary"]["header"], tables["summary"]["rows"][0], strict=True))
        assert {k: float(v) for k, v in got.items()} == row.to_dict()
