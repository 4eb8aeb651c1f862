"""`syntony scenarios`, `syntony simulate` and `syntony sweep`, end to end through click."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from syntony.cli import app
from syntony.model.scenario import Scenario, builtin_names
from syntony.report import load_result

FAST = ["--set", "agents.n=20", "--set", "simulation.steps=40"]


def test_scenarios_lists_every_builtin_with_its_full_name_on_a_pipe():
    # CliRunner's output is a pipe, like `syntony scenarios | less` (80 columns, no terminal)
    result = CliRunner().invoke(app, ["scenarios"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == len(builtin_names())
    for line, name in zip(lines, builtin_names(), strict=True):
        assert line.split()[0] == f"builtin:{name}"  # never cut, never wrapped
        assert Scenario.builtin(name).description in line
    assert "builtin:synchronized_breathing" in result.output
    assert "Overt (anger)" in result.output


def test_simulate_writes_the_result_and_its_report(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["simulate", "builtin:trauma", "--out", str(out), "--seed", "4", *FAST, "-q"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""  # quiet
    assert {p.name for p in out.iterdir()} == {
        "simulation.nc",
        "scenario.toml",
        "summary.tsv",
        "result.json",
        "report.html",
    }
    with xr.open_dataset(out / "simulation.nc", engine="h5netcdf") as ds:
        assert ds.sizes["agent"] == 20 and ds.sizes["time"] == 41
        assert {"x", "mu", "p_defensive", "synchrony", "dispersion", "reach"} <= set(ds.data_vars)
    assert json.loads((out / "result.json").read_text())["kind"] == "simulation"
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert list(summary["channel"]) == ["arousal"] and "final_synchrony" in summary
    resolved = Scenario.from_file(out / "scenario.toml")
    assert resolved.agents.n == 20 and resolved.name == "trauma"
    # the resolved scenario reproduces the run
    again = CliRunner().invoke(
        app,
        ["simulate", str(out / "scenario.toml"), "--out", str(tmp_path / "again"), "--seed", "4"],
    )
    assert again.exit_code == 0, again.output
    assert "final group synchrony R" in again.output and "report.html" in again.output
    with (
        xr.open_dataset(out / "simulation.nc") as a,
        xr.open_dataset(tmp_path / "again" / "simulation.nc") as b,
    ):
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


def test_simulate_twice_with_one_seed_writes_identical_data(tmp_path):
    args = ["simulate", "builtin:concert_crowd", "--set", "agents.n=200", "--set",
            "simulation.steps=60", "--seed", "3", "-q"]  # fmt: skip
    for name in ("a", "b"):
        run = CliRunner().invoke(app, [*args, "--out", str(tmp_path / name)])
        assert run.exit_code == 0, run.output
    with (
        xr.open_dataset(tmp_path / "a" / "simulation.nc") as a,
        xr.open_dataset(tmp_path / "b" / "simulation.nc") as b,
    ):
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
        keep = ("model", "scenario", "scenario_name", "seed")
        assert {k: a.attrs[k] for k in keep} == {k: b.attrs[k] for k in keep}
    summary = [(tmp_path / n / "summary.tsv").read_text() for n in ("a", "b")]
    assert summary[0] == summary[1]
    other = CliRunner().invoke(app, [*args[:-3], "--seed", "4", "-q", "--out", str(tmp_path / "c")])
    assert other.exit_code == 0
    with (
        xr.open_dataset(tmp_path / "a" / "simulation.nc") as a,
        xr.open_dataset(tmp_path / "c" / "simulation.nc") as c,
    ):
        assert not np.allclose(a.x.values, c.x.values)


def test_simulate_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "run"
    args = ["simulate", "builtin:trauma", "--out", str(out), *FAST, "-q"]
    assert CliRunner().invoke(app, args).exit_code == 0
    before = (out / "simulation.nc").stat().st_mtime_ns
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2
    assert "syntony: error:" in again.output and "--force" in again.output
    assert (out / "simulation.nc").stat().st_mtime_ns == before
    (out / "stale.png").write_bytes(b"old")
    assert CliRunner().invoke(app, [*args, "--force"]).exit_code == 0
    assert not (out / "stale.png").exists()  # --force replaces the whole result


def test_simulate_prints_the_summary_when_not_quiet(tmp_path):
    result = CliRunner().invoke(
        app, ["simulate", "builtin:overt_vs_covert", "--out", str(tmp_path / "o"), *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "synchrony R" in result.output and "anger" in result.output


def test_published_models_from_the_cli(tmp_path):
    dyad = CliRunner().invoke(
        app, ["simulate", "builtin:dyad_synchrony", "--out", str(tmp_path / "d"), "-q"]
    )
    assert dyad.exit_code == 0, dyad.output
    assert load_result(tmp_path / "d").model == "dyad"
    crowd = CliRunner().invoke(
        app, ["simulate", "builtin:crowd_filter", "--out", str(tmp_path / "c"), "-q"]
    )
    assert crowd.exit_code == 0, crowd.output
    assert "Gains over time" in (tmp_path / "c" / "report.html").read_text()


def test_sweep_command(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "builtin:trauma", *FAST, "--grid", "agents.kappa=0.5,2",
            "--replicates", "2", "--seed", "1", "--out", str(out)]  # fmt: skip
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    assert "2 grid points x 2 replicate(s) = 4 runs" in run.output
    assert {"sweep.zarr", "runs.tsv", "points.tsv", "scenario.toml", "report.html"} <= {
        p.name for p in out.iterdir()
    }
    runs = pd.read_csv(out / "runs.tsv", sep="\t")
    assert list(runs["agents.kappa"]) == [0.5, 0.5, 2.0, 2.0]
    assert list(runs["replicate"]) == [0, 1, 0, 1]
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "x"), "--grid", "agents.kappa"])
    assert bad.exit_code == 2 and "--grid" in bad.output


@pytest.mark.parametrize("command", ["scenarios", "simulate", "sweep"])
def test_help_ends_with_examples_and_names_the_files(command):
    text = CliRunner().invoke(app, [command, "--help"]).output
    assert "Examples:" in text and f"syntony {command}" in text.split("Examples:")[1]
    if command != "scenarios":
        assert "report.html" in text and (".nc" in text or ".zarr" in text)


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
    assert result.exit_code == 2 and "bad.toml:2: agents.n" in result.output
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
    assert not (tmp_path / "u").exists()  # nothing half-written
