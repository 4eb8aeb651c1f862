"""The parallel users of the execution layer give the same numbers serially, on local workers
and on a real Dask LocalCluster of worker processes: sweeps (files compared) and the Monte
Carlo FWE null."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from syntony.execution import DaskExecutor, LocalExecutor, SerialExecutor

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

    with (
        xr.open_zarr(tmp_path / "local" / "sweep.zarr") as a,
        xr.open_zarr(tmp_path / "dask" / "sweep.zarr") as b,
    ):
        a.attrs.pop("provenance"), b.attrs.pop("provenance")
        xr.testing.assert_identical(a.load(), b.load())


def _fitted():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "meta"))
    import numpy as np
    from _ale_helpers import ball_grid, random_studyset

    from syntony.meta.ale import ALE

    grid = ball_grid()
    studyset = random_studyset(np.random.default_rng(5), grid, 8)
    return ALE(n_iters=0, grid=grid).fit(studyset), studyset, grid


def _same(a, b):
    for name in ("max_ale", "max_size", "max_mass"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name


@pytest.mark.parametrize("replay", [False, True])
def test_fwe_null_identical_serial_local_and_dask(cluster, replay):
    from syntony.meta.fwe import monte_carlo_null

    fitted, _, _ = _fitted()
    args = dict(n_iters=200, threshold=fitted.threshold_, seed=12, replay_nimare=replay)
    reference = monte_carlo_null(fitted.layout_, n_jobs=1, **args)
    for executor in (SerialExecutor(), LocalExecutor(2, kind="processes"), cluster):
        _same(reference, monte_carlo_null(fitted.layout_, executor=executor, **args))
    if not replay:  # the shared data went once per worker, tasks carry only their block
        assert cluster.stats.task_bytes / cluster.stats.tasks < 5000


def test_fwe_early_stop_and_checkpoint_identical_on_dask(cluster, tmp_path):
    from syntony._checkpoint import Checkpoint
    from syntony.meta.fwe import BLOCK, EarlyStop, monte_carlo_null

    fitted, _, _ = _fitted()
    rule = EarlyStop(tol=0.5, min_iters=BLOCK * 2, patience=1)
    args = dict(n_iters=3000, threshold=fitted.threshold_, seed=2, n_jobs=1, early_stop=rule)
    reference = monte_carlo_null(fitted.layout_, **args)
    assert reference.stopped_early
    store = Checkpoint(tmp_path / "out", "fwe", {"k": 1})
    on_dask = monte_carlo_null(fitted.layout_, executor=cluster, checkpoint=store, **args)
    _same(reference, on_dask)
    assert len(store.done()) == reference.n_iters // BLOCK + (reference.n_iters % BLOCK > 0)


def test_ale_fit_with_executor_equals_local(cluster):
    from syntony.meta.ale import ALE

    _, studyset, grid = _fitted()
    local = ALE(n_iters=150, grid=grid, random_state=3, n_jobs=1).fit(studyset)
    dask = ALE(n_iters=150, grid=grid, random_state=3, n_jobs=1).fit(studyset, executor=cluster)
    _same(local.fwe_, dask.fwe_)
    assert local.result_.clusters.equals(dask.result_.clusters)


def test_local_processes_after_openmp_in_this_process():
    """A sweep on local processes after this process ran the OpenMP-parallel agent loop: forked
    workers of such a process abort ("fork() called from a process already using GNU OpenMP"),
    so the pool's workers must come from a fork server."""
    from syntony.model import Scenario, simulate, sweep

    base = Scenario.builtin("concert_crowd").with_overrides(
        {"agents.n": 2000, "simulation.steps": 20}
    )
    simulate(base, seed=0)
    grid = {"agents.kappa": [0.5, 1.0]}
    local = sweep(base, grid, replicates=1, seed=0, executor=LocalExecutor(2, kind="processes"))
    serial = sweep(base, grid, replicates=1, seed=0, executor=SerialExecutor())
    assert local.dataset.equals(serial.dataset)
