"""A sweep's outputs in one Zarr store, written run by run as runs finish.

Every variable of a run's Dataset gets the swept keys (named by the dotted key) and
``replicate`` as leading dimensions; each run's per-run summaries become variables
``summary_<name>`` over the same dimensions (and ``channel`` for the agent loop). The store is
chunked one run per chunk, so writing a run touches only its own chunks, and ``done`` (one flag
per run, written after the run's data) says which runs are complete: a sweep killed part-way
and started again with the same store skips those. Nothing but the run being written is held
in memory, so a sweep larger than memory fits on disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from syntony.errors import InputError

__all__ = ["SweepStore"]

_PREFIX = "summary_"


def _fill(dtype: np.dtype) -> Any:
    if dtype.kind == "f" or dtype.kind == "c":
        return np.nan
    if dtype.kind == "b":
        return False
    if dtype.kind in "iu":
        return 0
    return ""


class SweepStore:
    """The Zarr store of one sweep.

    Parameters
    ----------
    path : path
        The store (a directory ending in ``.zarr``); created with the first finished run.
    grid : dict
        Dotted keys -> lists of values (the dimensions, in order).
    replicates : int
    fingerprint : str
        What sets the numbers (scenario, grid, replicates, seed); a store written under
        another one is refused.
    """

    def __init__(
        self, path: str | os.PathLike[str], grid: dict[str, list[Any]], replicates: int,
        fingerprint: str,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        self.keys = list(grid)
        self.values = [list(v) for v in grid.values()]
        self.replicates = int(replicates)
        self.shape = (*(len(v) for v in self.values), self.replicates)
        self.fingerprint = fingerprint
        if self.exists():
            stored = self._attrs().get("sweep_fingerprint")
            if stored != fingerprint:
                raise InputError(
                    "Zarr store holds another sweep (other scenario, grid, replicates or seed); "
                    "rerun with --force to start over",
                    source=self.path,
                )

    @property
    def dims(self) -> list[str]:
        return [*self.keys, "replicate"]

    def exists(self) -> bool:
        return (self.path / "done").exists()

    def _attrs(self) -> dict[str, Any]:
        with xr.open_zarr(self.path, consolidated=False) as ds:
            return dict(ds.attrs)

    def done(self) -> set[int]:
        """The finished runs (index ``k * replicates + r``)."""
        if not self.exists():
            return set()
        with xr.open_zarr(self.path, consolidated=False) as ds:
            flags = ds["done"].values.reshape(-1)
        return set(np.flatnonzero(flags).tolist())

    def _coords(self) -> dict[str, Any]:
        coords: dict[str, Any] = {k: np.asarray(v) for k, v in zip(self.keys, self.values,
                                                                      strict=True)}  # fmt: skip
        coords["replicate"] = np.arange(self.replicates)
        return coords

    def _as_run(self, ds: xr.Dataset, table: pd.DataFrame) -> xr.Dataset:
        """One run: its variables and its summaries as variables."""
        run = ds.copy()
        run.attrs = {}
        for column in table.columns:
            if column == "channel":
                continue
            values = table[column].to_numpy(dtype=float)
            if "channel" in table:
                run[_PREFIX + column] = ("channel", values)
            else:
                run[_PREFIX + column] = ((), values[0])
        return run

    def _create(self, run: xr.Dataset, attrs: dict[str, Any]) -> None:
        import dask.array as da

        lead = self.shape
        template = xr.Dataset(coords={**self._coords(), **dict(run.coords)})
        for name, var in run.data_vars.items():
            dtype = var.dtype
            data = da.full((*lead, *var.shape), _fill(dtype), dtype=dtype,
                           chunks=(*(1,) * len(lead), *var.shape))  # fmt: skip
            template[name] = ((*self.dims, *var.dims), data)
        template["done"] = (self.dims, da.zeros(lead, dtype=np.int8, chunks=(1,) * len(lead)))
        summaries = [str(n)[len(_PREFIX) :] for n in run.data_vars if str(n).startswith(_PREFIX)]
        template.attrs = {
            **attrs,
            "sweep_fingerprint": self.fingerprint,
            "summary_columns": json.dumps(summaries),
        }
        template.to_zarr(self.path, mode="w-", compute=False, consolidated=False, zarr_format=2)

    def write(self, index: int, ds: xr.Dataset, table: pd.DataFrame,
              attrs: dict[str, Any]) -> None:  # fmt: skip
        """Write finished run ``index`` (= ``k * replicates + r``) into its place."""
        run = self._as_run(ds, table)
        if not self.exists():
            self._create(run, attrs)
        where = np.unravel_index(index, self.shape)
        region = {d: slice(int(i), int(i) + 1) for d, i in zip(self.dims, where, strict=True)}
        expanded = run.drop_vars(list(run.coords)).expand_dims(self.dims)
        expanded.to_zarr(self.path, region=region, mode="r+", consolidated=False)
        flag = xr.Dataset({"done": (self.dims, np.ones((1,) * len(self.dims), dtype=np.int8))})
        flag.to_zarr(self.path, region=region, mode="r+", consolidated=False)

    def dataset(self) -> xr.Dataset:
        """The sweep's variables, read lazily (summaries and flags left out)."""
        ds = xr.open_zarr(self.path, consolidated=False)
        drop = ["done", *[n for n in ds.data_vars if str(n).startswith(_PREFIX)]]
        out = ds.drop_vars(drop)
        skip = ("sweep_fingerprint", "summary_columns")
        out.attrs = {k: v for k, v in ds.attrs.items() if k not in skip}
        return out

    def runs(self) -> pd.DataFrame:
        """One row per run (and channel): swept values, ``replicate``, the summaries."""
        with xr.open_zarr(self.path, consolidated=False) as ds:
            names = [_PREFIX + n for n in json.loads(ds.attrs["summary_columns"])]
            summaries = ds[names].load()
        rows = []
        for index in range(int(np.prod(self.shape))):
            where = np.unravel_index(index, self.shape)
            front = {k: self.values[i][where[i]] for i, k in enumerate(self.keys)}
            front["replicate"] = int(where[-1])
            one = summaries.isel(dict(zip(self.dims, where, strict=True)))
            channels = one["channel"].values if "channel" in one.dims else [None]
            for c, channel in enumerate(channels):
                row = dict(front)
                if channel is not None:
                    row["channel"] = str(channel)
                for name in names:
                    value = one[name].values
                    row[name[len(_PREFIX) :]] = float(value[c] if value.ndim else value)
                rows.append(row)
        return pd.DataFrame(rows)

    def describe(self) -> str:
        return json.dumps({"store": str(self.path), "runs": int(np.prod(self.shape))})
