"""`syntony scenarios` and `syntony simulate`, end to end through click's test runner."""

from __future__ import annotations

import xarray as xr
from click.testing import CliRunner

from syntony.cli import app
from syntony.model.scenario import Scenario

FAST = ["--set", "agents.n=20", "--set", "simulation.steps=40"]


def test_scenarios_lists_every_builtin_with_a_description():
    result = CliRunner().invoke(app, ["scenarios"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("dyad_synchrony", "concert_crowd", "crowd_filter", "caregiver_infant", "trauma"):
        assert f"builtin:{name}" in result.output
    assert "Overt (anger)" in result.output


def test_simulate_writes_netcdf_figures_and_resolved_scenario(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["simulate", "builtin:trauma", "--out", str(out), "--seed", "4", *FAST, "-q"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""  # quiet
    with xr.open_dataset(out / "simulation.nc", engine="h5netcdf") as ds:
        assert ds.sizes["agent"] == 20 and ds.sizes["time"] == 41
        assert {"x", "mu", "p_defensive", "synchrony", "dispersion", "reach"} <= set(ds.data_vars)
    for png in ("agents.png", "summaries.png", "defensive.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    resolved = Scenario.from_file(out / "scenario.toml")
    assert resolved.agents.n == 20 and resolved.name == "trauma"
    # the resolved scenario reproduces the run
    again = CliRunner().invoke(
        app,
        [
            "simulate",
            str(out / "scenario.toml"),
            "--out",
            str(tmp_path / "again"),
            "--seed",
            "4",
            "-q",
        ],
    )
    assert again.exit_code == 0, again.output
    with (
        xr.open_dataset(out / "simulation.nc") as a,
        xr.open_dataset(tmp_path / "again" / "simulation.nc") as b,
    ):
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


def test_simulate_refuses_to_overwrite_without_force(tmp_path):
    args = ["simulate", "builtin:trauma", "--out", str(tmp_path), *FAST, "-q"]
    assert CliRunner().invoke(app, args).exit_code == 0
    before = (tmp_path / "simulation.nc").stat().st_mtime_ns
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2
    assert "syntony: error:" in again.output and "--force" in again.output
    assert (tmp_path / "simulation.nc").stat().st_mtime_ns == before
    assert CliRunner().invoke(app, [*args, "--force"]).exit_code == 0


def test_simulate_reports_summaries_when_not_quiet(tmp_path):
    result = CliRunner().invoke(
        app, ["simulate", "builtin:overt_vs_covert", "--out", str(tmp_path), *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "synchrony R" in result.output and "anger" in result.output


def test_published_models_from_the_cli(tmp_path):
    dyad = CliRunner().invoke(
        app, ["simulate", "builtin:dyad_synchrony", "--out", str(tmp_path / "d"), "-q"]
    )
    assert dyad.exit_code == 0, dyad.output
    assert (tmp_path / "d" / "dyad.png").exists()
    crowd = CliRunner().invoke(
        app, ["simulate", "builtin:crowd_filter", "--out", str(tmp_path / "c"), "-q"]
    )
    assert crowd.exit_code == 0, crowd.output
    assert (tmp_path / "c" / "crowd_filter.png").exists()


def test_bad_input_is_one_line_error(tmp_path):
    runner = CliRunner()
    cases = [
        (["--set", "agents.kapa=1"], "agents.kapa"),
        (["--set", "agents.kappa=-2"], "agents.kappa"),
        (["--set", "agents.kappa"], "--set"),
        (["--set", "events.5.onset=1"], "events.5"),
    ]
    for extra, key in cases:
        result = runner.invoke(
            app, ["simulate", "builtin:trauma", "--out", str(tmp_path / "x"), *extra]
        )
        assert result.exit_code == 2, result.output
        assert result.output.startswith("syntony: error:") and key in result.output
        assert len(result.output.strip().splitlines()) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[agents]\nn = 'ten'\n")
    result = runner.invoke(app, ["simulate", str(bad), "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "bad.toml: agents.n" in result.output
    result = runner.invoke(app, ["simulate", "builtin:nope", "--out", str(tmp_path / "z")])
    assert result.exit_code == 2 and "builtin:trauma" in result.output
    unstable = runner.invoke(
        app,
        [
            "simulate",
            "builtin:dyad_synchrony",
            "--out",
            str(tmp_path / "u"),
            "--set",
            "dyad.rho=0.95",
            "--set",
            "perception.gain=seed",
        ],
    )
    assert unstable.exit_code == 2 and "unstable" in unstable.output
