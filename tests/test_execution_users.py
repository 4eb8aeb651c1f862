"""The parallel users of the execution layer give the same numbers serially, on local workers
and on a real Dask LocalCluster of worker processes: sweeps (files compared) and the Monte
Carlo FWE null."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from syntony.execution import DaskExecutor, SerialExecutor

pytest.importorskip("distributed")
pytest.importorskip("zarr")


@pytest.fixture(scope="module")
def cluster():
    with DaskExecutor(n_local_workers=2) as executor:
        yield executor


def _base():
    from syntony.model import Scenario

    return Scenario.builtin("trauma").with_overrides({"agents.n": 15, "simulation.steps": 25})


def test_sweep_on_dask_equals_serial_and_store(cluster, tmp_path):
    from syntony.model import sweep

    grid = {"agents.kappa": [0.5, 1.5], "trauma.fraction": [0.0, 0.3]}
    serial = sweep(_base(), grid, replicates=2, seed=3, executor=SerialExecutor())
    dask = sweep(_base(), grid, replicates=2, seed=3, executor=cluster, store=tmp_path / "s.zarr")
    pd.testing.assert_frame_equal(serial.runs, dask.runs, check_dtype=False)
    for name in serial.dataset.data_vars:
        a = serial.dataset[name].transpose(*dask.dataset[name].dims).values
        b = dask.dataset[name].values
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    assert set(dask.dataset.dims) >= {"agents.kappa", "trauma.fraction", "replicate"}


def test_cli_sweep_dask_local_writes_the_files_of_a_local_run(tmp_path):
    from syntony.cli import app

    args = ["sweep", "builtin:trauma", "--set", "agents.n=15", "--set", "simulation.steps=25",
            "--grid", "agents.kappa=0.5,1.5", "--replicates", "2", "--seed", "4", "-q"]  # fmt: skip
    local = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    dask = CliRunner().invoke(app, [*args, "--dask-local", "2", "--out", str(tmp_path / "dask")])
    assert dask.exit_code == 0, dask.output
    for name in ("runs.tsv", "points.tsv", "scenario.toml"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()
    import xarray as xr

    with xr.open_zarr(tmp_path / "local" / "sweep.zarr") as a, xr.open_zarr(
        tmp_path / "dask" / "sweep.zarr"
    ) as b:
        a.attrs.pop("provenance"), b.attrs.pop("provenance")
        xr.testing.assert_identical(a.load(), b.load())
