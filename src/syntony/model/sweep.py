"""sweep(scenario, grid, *, replicates, seed) -> SweepResult: a scenario over a grid of values.

Run ``r`` of grid point ``k`` (points numbered in the order of the grid's Cartesian product)
draws from the seed stream ``point/k/replicate/r`` (:class:`syntony._rng.SeedTree`), so it can
be repeated alone with ``simulate(point_scenario, seed=SeedTree(seed).child("point", k,
"replicate", r))`` and the numbers never depend on ``n_jobs``.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from syntony._checkpoint import Checkpoint
from syntony._provenance import provenance
from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer
from syntony.errors import InputError, ParameterError
from syntony.execution import Executor, LocalExecutor, SerialExecutor
from syntony.model.results import SweepResult, run_summaries
from syntony.model.scenario import Scenario
from syntony.model.simulate import simulate

__all__ = ["PER_RUN_DIMS", "sweep"]

#: Dimensions of the per-agent, per-edge and snapshot variables a sweep leaves out by default.
PER_RUN_DIMS = frozenset({"agent", "edge", "node", "link"})


def _run(job: tuple[Scenario, SeedTree, list[str] | None]) -> tuple[xr.Dataset, pd.DataFrame]:
    scenario, tree, variables = job
    ds = simulate(scenario, seed=tree).dataset
    if variables is None:
        variables = [n for n, da in ds.data_vars.items() if not (PER_RUN_DIMS & set(da.dims))]
    missing = [v for v in variables if v not in ds]
    if missing:
        raise ParameterError(
            "variables", f"names of variables of the {scenario.model} model", missing[0]
        )
    kept = ds[variables]
    return kept.drop_attrs() if hasattr(kept, "drop_attrs") else kept, run_summaries(ds)


def _run_all(
    jobs, executor, checkpoint, progress, store=None, attrs=None
) -> list[tuple[xr.Dataset, pd.DataFrame]] | None:
    """Every run's output in job order; with a checkpoint, finished runs are saved as they come
    and those of an interrupted sweep are loaded instead of run again. With a store, each
    finished run is written into it instead of kept (and None is returned)."""
    outputs: dict[int, tuple[xr.Dataset, pd.DataFrame] | None] = {}
    done = checkpoint.done() if checkpoint is not None else set()
    if store is not None:
        for index in store.done() & set(range(len(jobs))):
            outputs[index] = None
    for index in sorted(done & set(range(len(jobs))) - set(outputs)):
        outputs[index] = _restore(checkpoint, index)
        if store is not None:
            store.write(index, *outputs[index], attrs)
            outputs[index] = None

    def finished(index: int, output: tuple[xr.Dataset, pd.DataFrame]) -> None:
        if checkpoint is not None:
            # Stored, then used as stored, so a resumed sweep equals an uninterrupted one.
            checkpoint.save(index, **_pack(*output))
            output = _restore(checkpoint, index)
        if store is not None:
            store.write(index, *output, attrs)
            outputs[index] = None
        else:
            outputs[index] = output
        if progress is not None:
            progress(len(outputs))

    todo = [k for k in range(len(jobs)) if k not in outputs]
    if outputs and progress is not None:
        progress(len(outputs))
    # Runs come back as they finish; each is placed by its index, so the order is fixed.
    for k, output in executor.imap_unordered(_run, [jobs[k] for k in todo]):
        finished(todo[k], output)
    if store is not None:
        return None
    return [outputs[k] for k in range(len(jobs))]  # type: ignore[misc]


def _pack(ds: xr.Dataset, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """One run as plain arrays for a checkpoint chunk (the Dataset as NetCDF bytes)."""
    arrays = {
        "netcdf": np.frombuffer(bytes(ds.to_netcdf(engine="h5netcdf")), dtype=np.uint8),
        "columns": np.array([str(c) for c in table.columns], dtype=str),
        "dtypes": np.array([str(t) for t in table.dtypes], dtype=str),
    }
    for k, column in enumerate(table.columns):
        values = table[column].to_numpy()
        arrays[f"column_{k}"] = values.astype(str) if values.dtype == object else values
    return arrays


def _restore(checkpoint, index: int) -> tuple[xr.Dataset, pd.DataFrame]:
    import io
    import zipfile

    try:
        arrays = checkpoint.load(index)
        ds = xr.load_dataset(io.BytesIO(arrays["netcdf"].tobytes()), engine="h5netcdf")
        table = pd.DataFrame(
            {
                name: pd.Series(arrays[f"column_{k}"]).astype(dtype)
                for k, (name, dtype) in enumerate(
                    zip(arrays["columns"], arrays["dtypes"], strict=True)
                )
            }
        )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        raise InputError(
            f"checkpoint of run {index} is damaged; rerun with --force to start over",
            source=checkpoint.directory,
        ) from None
    return ds, table


def sweep(
    scenario: Scenario,
    grid: dict[str, list[Any]],
    *,
    replicates: int = 1,
    seed: SeedLike | SeedTree = None,
    n_jobs: int = 1,
    variables: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    checkpoint: Checkpoint | None = None,
    executor: Executor | None = None,
    store: str | os.PathLike[str] | None = None,
) -> SweepResult:
    """Run ``scenario`` over the Cartesian product of ``grid`` (dotted keys -> values).

    Parameters
    ----------
    scenario : Scenario
        The base scenario; each grid point overrides its keys.
    grid : dict
        Dotted keys (``"agents.kappa"``) -> non-empty lists of values.
    replicates : int
        Runs per grid point, each with its own seed stream (``point/k/replicate/r``).
    seed : int, SeedSequence, SeedTree or None
        The same seed gives the same sweep, whatever ``n_jobs``.
    n_jobs : int
        Worker processes.
    variables : list of str, optional
        Variables of each run's Dataset to keep (default: every variable without an agent,
        edge or snapshot dimension, i.e. the summaries over time, which keeps sweeps small).
    progress : callable, optional
        Called with the number of runs finished.
    checkpoint : Checkpoint, optional
        Saves every finished run (:class:`syntony._checkpoint.Checkpoint`, keyed on what sets
        the numbers: scenario, grid, replicates, seed); a run interrupted and started again with
        the same checkpoint skips the runs already done and gives the same sweep, bit for bit.
    executor : Executor, optional
        Where the runs go (:mod:`syntony.execution`: local processes, a Dask cluster); each run
        is one task. Default: ``n_jobs`` local worker processes (in this process for 1). The
        numbers are the same on every executor.
    store : path, optional
        A Zarr store (directory) that receives each run as it finishes
        (:class:`syntony.model.sweep_store.SweepStore`): nothing but the runs in flight is
        held in memory, the result reads the store lazily, and a sweep started again with the
        same store skips the runs it holds. A store of another sweep is refused.

    Returns
    -------
    SweepResult
        ``dataset`` with one dimension per grid key (named by the dotted key) and
        ``replicate``; ``runs``, the per-run summaries (:func:`run_summaries`) against the
        swept values.

    Examples
    --------
    >>> from syntony.model import Scenario, sweep
    >>> base = Scenario.builtin("trauma").with_overrides({"agents.n": 20, "simulation.steps": 30})
    >>> result = sweep(base, {"agents.kappa": [0.5, 1.0]}, replicates=2, seed=0)
    >>> len(result.runs)
    4
    """
    n_jobs = check_integer("n_jobs", n_jobs, minimum=1)
    replicates = check_integer("replicates", replicates, minimum=1)
    if not isinstance(scenario, Scenario):
        raise ParameterError("scenario", "a Scenario", type(scenario).__name__)
    if not isinstance(grid, dict) or not grid:
        raise ParameterError("grid", "a non-empty dict of dotted keys -> lists of values", grid)
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    for key, options in zip(keys, values, strict=True):
        if not options:
            raise ParameterError(f"grid[{key!r}]", "a non-empty list of values", options)
        if key in ("replicate", "channel"):
            raise ParameterError("grid", "dotted keys of the scenario", key)
    points = list(itertools.product(*values))
    scenarios = [scenario.with_overrides(dict(zip(keys, p, strict=True))) for p in points]
    tree = SeedTree(seed)
    labels = [(k, r) for k in range(len(points)) for r in range(replicates)]
    jobs = [(scenarios[k], tree.child("point", k, "replicate", r), variables) for k, r in labels]
    seed_record = tree.record()
    plain_grid = {k: list(v) for k, v in zip(keys, values, strict=True)}
    record = provenance(
        parameters=scenario.to_dict(), seed=seed_record, grid=plain_grid, replicates=replicates
    )
    attrs = {
        "model": scenario.model,
        "scenario_name": scenario.name,
        "scenario": scenario.to_toml(),
        "grid": json.dumps(plain_grid),
        "replicates": replicates,
        "seed": json.dumps(seed_record),
        "provenance": json.dumps(record, sort_keys=True, default=str),
    }
    sweep_store = None
    if store is not None:
        from syntony.model.sweep_store import SweepStore

        fingerprint = json.dumps(
            {"scenario": scenario.to_dict(), "grid": plain_grid, "replicates": replicates,
             "seed": seed_record, "variables": variables},
            sort_keys=True, default=str,
        )  # fmt: skip
        sweep_store = SweepStore(store, plain_grid, replicates, fingerprint)
    if executor is None:
        executor = SerialExecutor() if n_jobs == 1 else LocalExecutor(n_jobs, kind="processes")
    outputs = _run_all(jobs, executor, checkpoint, progress, sweep_store, attrs)
    if sweep_store is not None:
        return SweepResult(
            dataset=sweep_store.dataset(),
            runs=sweep_store.runs(),
            scenario=scenario,
            grid=plain_grid,
            replicates=replicates,
            seed=seed_record,
            provenance=record,
            store=sweep_store.path,
        )

    tables = []
    for (k, r), (_, table) in zip(labels, outputs, strict=True):
        front = pd.DataFrame({key: [points[k][i]] * len(table) for i, key in enumerate(keys)})
        front["replicate"] = r
        tables.append(pd.concat([front, table.reset_index(drop=True)], axis=1))
    runs = pd.concat(tables, ignore_index=True)

    stacked = xr.concat([ds for ds, _ in outputs], dim="run")
    index = {key: ("run", [points[k][i] for k, _ in labels]) for i, key in enumerate(keys)}
    index["replicate"] = ("run", [r for _, r in labels])
    dataset = stacked.assign_coords(index).set_index(run=[*keys, "replicate"]).unstack("run")
    dataset.attrs.update(attrs)
    return SweepResult(
        dataset=dataset,
        runs=runs,
        scenario=scenario,
        grid=plain_grid,
        replicates=replicates,
        seed=seed_record,
        provenance=record,
    )
