"""``syntony sweep`` killed with SIGKILL part-way and resumed equals an uninterrupted sweep, bit
for bit; a checkpoint of another sweep is refused; failed runs leave nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import xarray as xr
from click.testing import CliRunner

from syntony._checkpoint import checkpoint_root
from syntony.cli import app

CLI = [sys.executable, "-c", "from syntony.cli import main; main()"]
SWEEP = ["sweep", "builtin:trauma", "--set", "agents.n=30", "--set", "simulation.steps=1500",
         "--grid", "agents.kappa=0.5,1,1.5,2", "--replicates", "3", "--seed", "11", "-q"]  # fmt: skip


def _start(args, cwd):
    return subprocess.Popen([*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _chunks(out):
    return sorted((checkpoint_root(out) / "sweep" / "sweep.zarr" / "done").glob("[0-9]*"))


def test_sweep_killed_and_resumed_equals_an_uninterrupted_sweep(tmp_path):
    whole = tmp_path / "whole"
    res = CliRunner().invoke(app, [*SWEEP, "--out", str(whole)])
    assert res.exit_code == 0, res.output
    assert not checkpoint_root(whole).exists()

    killed = tmp_path / "killed"
    proc = _start([*SWEEP, "--out", str(killed)], tmp_path)
    deadline = time.monotonic() + 300
    while len(_chunks(killed)) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    left = len(_chunks(killed))
    assert 2 <= left < 12 and not killed.exists()

    # A different sweep does not mix with this checkpoint.
    other = [*SWEEP, "--out", str(killed), "--replicates", "2", "--resume"]
    refused = CliRunner().invoke(app, other)
    assert refused.exit_code == 2 and "other parameters" in refused.output
    assert len(_chunks(killed)) == left

    resumed = _start([*SWEEP, "--out", str(killed), "--resume"], tmp_path)
    assert resumed.wait(300) == 0, resumed.stderr.read().decode()
    for name in ("runs.tsv", "points.tsv", "scenario.toml"):
        assert (whole / name).read_bytes() == (killed / name).read_bytes(), name
    with xr.open_zarr(whole / "sweep.zarr") as a, xr.open_zarr(killed / "sweep.zarr") as b:
        a.attrs.pop("provenance"), b.attrs.pop("provenance")
        xr.testing.assert_identical(a.load(), b.load())
    manifests = [json.loads((d / "result.json").read_text()) for d in (whole, killed)]
    assert manifests[0]["parameters"] == manifests[1]["parameters"]
    assert not checkpoint_root(killed).exists()


def test_failed_model_runs_leave_nothing_behind(tmp_path):
    out = tmp_path / "out"
    for args in (
        ["simulate", "builtin:trauma", "--set", "agents.kapa=1"],
        ["sweep", "builtin:trauma", "--grid", "agents.kapa=1,2"],
    ):
        res = CliRunner().invoke(app, [*args, "--out", str(out)])
        assert res.exit_code == 2 and "did you mean 'kappa'" in res.output
        assert list(tmp_path.iterdir()) == []
