"""How the physio results write and read their tables and NetCDF files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

__all__ = ["read_netcdf", "read_table", "with_provenance", "write_table"]

# pandas 3 reads floats back exactly by default (and deprecates the option); 2.x needs asking.
_EXACT = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def read_table(path: Path, *, strings: tuple[str, ...] = ()) -> pd.DataFrame:
    """A TSV table written by :func:`write_table` (floats exact, name columns kept as text)."""
    return pd.read_csv(path, sep="\t", dtype=dict.fromkeys(strings, str), **_EXACT)


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """A TSV table with its header even when it has no rows; floats written in full."""
    frame.to_csv(path, sep="\t", index=False)


def with_provenance(ds: xr.Dataset, provenance: dict[str, Any]) -> xr.Dataset:
    """A shallow copy of ``ds`` whose attrs carry ``provenance`` as a JSON string."""
    from syntony._io_utils import _json_default

    out = ds.copy()
    out.attrs = {**ds.attrs, "provenance": json.dumps(provenance, default=_json_default)}
    return out


def read_netcdf(path: Path) -> xr.Dataset:
    """Load a Dataset written by a physio result (into memory, file closed, provenance dropped)."""
    ds = xr.load_dataset(path, engine="h5netcdf")
    ds.attrs.pop("provenance", None)
    return ds
