"""Readers for group physiological recordings -> ``xarray.Dataset`` (time, person[, channel]).

Three layouts are understood:

* BIDS physio: ``sub-<label>[_...]_physio.tsv.gz`` (no header) with a JSON sidecar holding
  ``SamplingFrequency``, ``StartTime`` and ``Columns``; several files (one per person) form a
  group.
* wide CSV/TSV: one time column and one column per person (the concert respiration layout).
* long CSV/TSV: columns time, person, value (one row per person and sample).

Two small readers serve the contagion fit: :func:`read_network` (an edge list -> adjacency
matrix over the recording's persons) and :func:`read_stimulus` (a shared input u(t) on the
recording's time grid).

Every reader returns a Dataset with one variable ``signal`` of dims (time, person, channel), the
sampling rate in ``attrs["sampling_rate"]`` (Hz), units per channel and the source path. Time
must be strictly increasing and regularly sampled; anything else is an :class:`InputError`
naming the file, line and column.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from syntony._validate import check_positive
from syntony.errors import InputError, plain
from syntony.physio._tables import (
    check_time,
    did_you_mean,
    header_names,
    numeric_column,
    read_table,
)

__all__ = [
    "read_bids_physio",
    "read_long",
    "read_network",
    "read_recording",
    "read_sessions",
    "read_stimulus",
    "read_wide",
    "resample",
]

PathLike = str | os.PathLike[str]


def _dataset(
    values: np.ndarray,
    time: np.ndarray,
    persons: Sequence[str],
    channels: Sequence[str],
    *,
    fs: float,
    units: Sequence[str] | None,
    source: str,
    missing: dict[str, int] | None = None,
) -> xr.Dataset:
    units = list(units) if units is not None else ["a.u."] * len(channels)
    ds = xr.Dataset(
        {"signal": (("time", "person", "channel"), values)},
        coords={
            "time": ("time", time, {"units": "s"}),
            "person": list(persons),
            "channel": list(channels),
            "units": ("channel", units),
        },
        attrs={
            "sampling_rate": float(fs),
            "source": source,
            # Per channel in the ``units`` coordinate; here as one string for NetCDF readers.
            "units": units[0]
            if len(units) == 1
            else json.dumps(dict(zip(channels, units, strict=True))),
            # Per person: values the file left empty or marked n/a (reported by the analyses).
            "missing_values": json.dumps({k: int(v) for k, v in (missing or {}).items() if v}),
        },
    )
    return ds


def _one_channel(
    values: np.ndarray,
    time: np.ndarray,
    persons: Sequence[str],
    channel: str,
    *,
    fs: float,
    units: str,
    source: PathLike,
) -> xr.Dataset:
    """A (time, person) table of one channel as a recording; each person's NaN are counted as
    the values the file left missing."""
    missing = dict(zip(persons, np.isnan(values).sum(axis=0).tolist(), strict=True))
    return _dataset(
        values[:, :, None],
        time,
        persons,
        [channel],
        fs=fs,
        units=[units],
        source=str(source),
        missing=missing,
    )


def read_wide(
    path: PathLike,
    *,
    time_column: str | int = 0,
    channel: str = "signal",
    units: str = "a.u.",
    sampling_rate: float | None = None,
) -> xr.Dataset:
    """Read a wide table: one time column (seconds) and one column per person.

    Parameters
    ----------
    path : path
        CSV (``,``) or TSV (``.tsv``, ``.tsv.gz``) file with a header row.
    time_column : str or int, default 0
        Name or position of the time column (seconds).
    channel : str
        Name given to the single channel (e.g. ``"respiration"``).
    units : str
        Units of the values.
    sampling_rate : float, optional
        Expected rate; if given, the file's rate must match it within 1%.

    Empty cells and ``n/a`` are missing values: their number per person is kept in
    ``attrs["missing_values"]`` (JSON) and reported by the analyses.
    """
    path = Path(path)
    table = read_table(path)
    frame = table.frame
    if frame.shape[1] < 2:
        raise InputError(
            "expected a time column and at least one person column", source=path, line=1
        )
    if isinstance(time_column, int):
        if not -frame.shape[1] <= time_column < frame.shape[1]:
            raise InputError(f"no column {time_column + 1} for the time", source=path, line=1)
        tcol = frame.columns[time_column]
    else:
        if time_column not in frame.columns:
            hint = did_you_mean(time_column, [str(c) for c in frame.columns])
            raise InputError(
                f"no time column {time_column!r}{hint}", source=path, line=1, field=time_column
            )
        tcol = time_column
    tlabel = table.label(tcol)
    time = numeric_column(table, tcol)
    fs = check_time(time, path, tlabel)
    if sampling_rate is not None and abs(fs - sampling_rate) > 0.01 * sampling_rate:
        raise InputError(
            f"time column implies {fs:g} Hz but sampling_rate={sampling_rate:g} Hz was given",
            source=path,
            field=tlabel,
        )
    persons = [c for c in frame.columns if c != tcol]
    names = [table.label(p) for p in persons]
    if len(set(names)) != len(names):
        raise InputError("two person columns have the same name", source=path, line=1)
    values = np.column_stack([numeric_column(table, p) for p in persons])
    return _one_channel(values, time, names, channel, fs=fs, units=units, source=path)


def read_long(
    path: PathLike,
    *,
    time: str = "time",
    person: str = "person",
    value: str = "value",
    channel: str = "signal",
    units: str = "a.u.",
) -> xr.Dataset:
    """Read a long table with one row per (time, person) sample.

    All persons must share one time grid (rows may come in any order); a sample without a row,
    an empty cell or ``n/a`` becomes NaN (counted per person in ``attrs["missing_values"]`` and
    reported by :func:`syntony.physio.features.clean_gaps`); a duplicated one is an error.
    """
    path = Path(path)
    table = read_table(path)
    frame = table.frame
    have = table.labels
    for col in (time, person, value):
        if col not in frame.columns:
            raise InputError(
                f"missing column {col!r}{did_you_mean(col, have)} (have {', '.join(have)})",
                source=path,
                line=1,
                field=col,
            )
    t = numeric_column(table, time)
    v = numeric_column(table, value)
    who = frame[person].astype(str).str.strip().to_numpy()
    if not np.isfinite(t).all():
        k = int(np.flatnonzero(~np.isfinite(t))[0])
        raise InputError("time is missing", source=path, line=table.line(k), field=time)
    nobody = pd.Series(who).str.lower().isin(["", "n/a", "na", "nan", "null"]).to_numpy()
    if nobody.any():
        k = int(np.flatnonzero(nobody)[0])
        raise InputError("person is missing", source=path, line=table.line(k), field=person)
    rows = pd.DataFrame({"t": t, "p": who, "v": v})
    dup = rows.duplicated(["t", "p"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            f"duplicate sample for person {who[row]!r} at time {t[row]:g}",
            source=path,
            line=table.line(row),
            field=person,
        )
    wide = rows.pivot(index="t", columns="p", values="v").sort_index()
    grid = wide.index.to_numpy(dtype=float)
    # The file line where each time point first appears (for messages about the grid).
    first = rows.reset_index().groupby("t")["index"].min().reindex(wide.index).to_numpy()
    fs = check_time(grid, path, time, lines=first + 1 + table.header_lines)
    values = wide.to_numpy(dtype=float)
    names = [str(c) for c in wide.columns]
    return _one_channel(values, grid, names, channel, fs=fs, units=units, source=path)


_BIDS_NAME = re.compile(r"^(?P<stem>.*)_physio\.tsv(\.gz)?$")
_SUB = re.compile(r"(?:^|_)sub-(?P<label>[A-Za-z0-9]+)")


def _sidecar(path: Path, stem: str) -> dict:
    sidecar = path.with_name(stem + "_physio.json")
    if not sidecar.exists():
        raise InputError(f"missing JSON sidecar {sidecar.name}", source=path)
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", source=sidecar, line=exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the sidecar ({exc})", source=sidecar) from None
    if not isinstance(meta, dict):
        raise InputError("expected a JSON object of BIDS fields", source=sidecar, line=1)
    for key in ("SamplingFrequency", "StartTime", "Columns"):
        if key not in meta:
            hint = did_you_mean(key, [str(k) for k in meta])
            raise InputError(f"missing required BIDS field{hint}", source=sidecar, field=key)
    fs = meta["SamplingFrequency"]
    if isinstance(fs, bool) or not isinstance(fs, int | float) or not 0 < fs < 1e9:
        raise InputError(
            f"expected a positive number of Hz, got {_json(fs)}",
            source=sidecar,
            field="SamplingFrequency",
        )
    start = meta["StartTime"]
    if isinstance(start, bool) or not isinstance(start, int | float) or not abs(start) < 1e12:
        raise InputError(
            f"expected a number of seconds, got {_json(start)}", source=sidecar, field="StartTime"
        )
    columns = meta["Columns"]
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise InputError(
            f"expected a non-empty list of names, got {_json(columns)}",
            source=sidecar,
            field="Columns",
        )
    if len(set(columns)) != len(columns):
        raise InputError(
            f"the same column is named twice in {_json(columns)}", source=sidecar, field="Columns"
        )
    return meta


def _json(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_bids_one(path: Path) -> tuple[str, xr.Dataset]:
    match = _BIDS_NAME.match(path.name)
    if match is None:
        raise InputError("expected a BIDS file named *_physio.tsv.gz", source=path)
    meta = _sidecar(path, match.group("stem"))
    fs, start, columns = float(meta["SamplingFrequency"]), meta["StartTime"], meta["Columns"]
    table = read_table(path, header=False)
    if table.frame.shape[1] != len(columns):
        raise InputError(
            f"{table.frame.shape[1]} columns in the data but {len(columns)} named in the sidecar",
            source=path,
            field="Columns",
        )
    table.labels = list(columns)
    values = np.column_stack([numeric_column(table, c) for c in table.frame.columns])
    if values.shape[0] < 2:
        raise InputError("need at least two samples", source=path)
    time = float(start) + np.arange(values.shape[0]) / fs
    sub = _SUB.search(match.group("stem"))
    label = sub.group("label") if sub else match.group("stem")
    units = [
        str(meta[c].get("Units", "a.u.")) if isinstance(meta.get(c), dict) else "a.u."
        for c in columns
    ]
    ds = _dataset(
        values[:, None, :],
        time,
        [label],
        columns,
        fs=fs,
        units=units,
        source=str(path),
        missing={label: int(np.isnan(values).sum())},
    )
    return label, ds


def read_bids_physio(
    paths: PathLike | Iterable[PathLike], *, resample_to: float | None = None
) -> xr.Dataset:
    """Read one or several BIDS ``*_physio.tsv.gz`` files (one per person) as one group.

    Files are aligned on absolute time (``StartTime``); the group keeps the time span covered by
    every member. All files must have the same sampling rate and columns unless ``resample_to``
    gives a common rate (Hz).
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    items = [_read_bids_one(Path(p)) for p in paths]
    if not items:
        raise InputError("no BIDS physio files given")
    labels = [label for label, _ in items]
    if len(set(labels)) != len(labels):
        twice = next(label for label in labels if labels.count(label) > 1)
        raise InputError(
            f"person {twice!r} appears in two files", source=items[0][1].attrs["source"]
        )
    first = items[0][1]
    for _, ds in items[1:]:
        if list(ds.channel.values) != list(first.channel.values):
            raise InputError(
                f"columns {list(ds.channel.values)} differ from {list(first.channel.values)}",
                source=ds.attrs["source"],
                field="Columns",
            )
    rates = {ds.attrs["sampling_rate"] for _, ds in items}
    if resample_to is None and len(rates) > 1:
        raise InputError(
            f"different sampling rates {sorted(rates)} Hz; choose a common rate (resample_to=, --resample)",
            source=items[0][1].attrs["source"],
            field="SamplingFrequency",
        )
    fs = float(resample_to) if resample_to is not None else rates.pop()
    start = max(float(ds.time[0]) for _, ds in items)
    stop = min(float(ds.time[-1]) for _, ds in items)
    if stop <= start:
        raise InputError(
            "the recordings do not overlap in time", source=items[0][1].attrs["source"]
        )
    grid = start + np.arange(int(np.floor((stop - start) * fs + 1e-9)) + 1) / fs
    parts = [resample(ds, fs, time=grid) for _, ds in items]
    group = xr.concat(parts, dim="person")
    group.attrs = {
        **first.attrs,
        "sampling_rate": fs,
        "source": ";".join(str(ds.attrs["source"]) for _, ds in items),
        "missing_values": json.dumps(
            {k: v for _, ds in items for k, v in json.loads(ds.attrs["missing_values"]).items()}
        ),
    }
    return group


def resample(ds: xr.Dataset, fs: float, *, time: np.ndarray | None = None) -> xr.Dataset:
    """Linearly interpolate ``ds`` onto a regular grid at ``fs`` Hz (or onto ``time``).

    Downsampling first averages over bins of the target step so that faster fluctuations do
    not alias into the result. NaN samples stay NaN in the bins they touch (gaps are never
    bridged silently; see :func:`syntony.physio.features.clean_gaps`).
    """
    fs = check_positive("fs", fs)
    t = ds["time"].to_numpy()
    if time is None:
        n = int(np.floor((t[-1] - t[0]) * fs + 1e-9)) + 1
        time = t[0] + np.arange(n) / fs
    src_fs = float(ds.attrs.get("sampling_rate", 1.0 / np.median(np.diff(t))))
    data = ds["signal"]
    if src_fs == fs and len(time) == len(t) and np.allclose(time, t):
        out = ds.copy()
        out.attrs = {**ds.attrs, "sampling_rate": fs}
        return out
    values = data.to_numpy()
    if fs < src_fs:
        # Boxcar pre-filter over one target step (centred), NaN-propagating.
        # An odd width keeps the moving average centred (no half-sample shift).
        width = max(1, round(src_fs / fs)) | 1
        kernel = np.ones(width) / width
        flat = values.reshape(values.shape[0], -1)
        smoothed = np.apply_along_axis(
            lambda col: np.convolve(col, kernel, mode="same"), 0, flat
        ).reshape(values.shape)
        # Edges of 'same' convolution are biased; restore the raw values there.
        half = width // 2
        smoothed[:half] = values[:half]
        smoothed[values.shape[0] - half :] = values[values.shape[0] - half :]
        values = smoothed
    flat = values.reshape(values.shape[0], -1)
    out = np.empty((len(time), flat.shape[1]))
    for k in range(flat.shape[1]):
        out[:, k] = np.interp(time, t, flat[:, k], left=np.nan, right=np.nan)
    new = ds.drop_vars(["signal", "time"]).assign_coords(time=("time", time, {"units": "s"}))
    new["signal"] = (data.dims, out.reshape((len(time), *values.shape[1:])))
    new.attrs = {**ds.attrs, "sampling_rate": float(fs)}
    return new


def read_recording(path: PathLike, **kwargs) -> xr.Dataset:
    """Read one group recording, choosing the reader from the file name and header.

    ``*_physio.tsv[.gz]`` -> :func:`read_bids_physio`; a table with columns ``time``, ``person``
    and ``value`` -> :func:`read_long`; any other table -> :func:`read_wide`. A directory is read
    as BIDS (every ``*_physio.tsv.gz`` inside it).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob("*_physio.tsv.gz")) + sorted(path.rglob("*_physio.tsv"))
        if not files:
            raise InputError("directory holds no *_physio.tsv[.gz] files", source=path)
        return read_bids_physio(files, **kwargs)
    if not path.exists():
        raise InputError("file not found", source=path)
    if _BIDS_NAME.match(path.name):
        return read_bids_physio([path], **kwargs)
    header = header_names(path)
    if {"time", "person", "value"} <= {str(c).strip().lower() for c in header}:
        names = {str(c).strip().lower(): str(c) for c in header}
        return read_long(
            path, time=names["time"], person=names["person"], value=names["value"], **kwargs
        )
    return read_wide(path, **kwargs)


def read_sessions(paths: Iterable[PathLike], **kwargs) -> dict[str, xr.Dataset]:
    """Read several sessions at once: ``{session name (file stem): Dataset}``."""
    sessions: dict[str, xr.Dataset] = {}
    for p in paths:
        ds = read_recording(p, **kwargs)
        name = Path(p).name.split(".")[0]
        if name in sessions:
            raise InputError("two sessions share a name", source=p)
        ds.attrs["session"] = name
        sessions[name] = ds
    if not sessions:
        raise InputError("no sessions given")
    return sessions


def read_network(network: str | PathLike | np.ndarray, persons: Sequence[str]) -> np.ndarray:
    """The perception network over ``persons`` as an adjacency matrix.

    Parameters
    ----------
    network : "complete", path or ndarray
        ``"complete"`` (everyone perceives everyone), an edge list (CSV, or TSV when the name
        has ``.tsv``) with columns ``source``, ``target`` and optionally ``weight`` (``source``
        perceives ``target``; weight 1 if absent), or a ready (N, N) matrix.
    persons : sequence of str
        The recording's persons, in the order of its columns.

    Returns
    -------
    ndarray (N, N)
        ``A[i, j]`` is how strongly person i perceives person j.
    """
    from syntony.physio.statespace import complete_adjacency

    persons = [str(p) for p in persons]
    n = len(persons)
    if isinstance(network, np.ndarray):
        adj = np.asarray(network, float)
        if adj.shape != (n, n) or not np.isfinite(adj).all() or (adj < 0).any():
            raise InputError(
                f"network: expected a ({n}, {n}) matrix of non-negative weights, "
                f"got shape {adj.shape}",
                field="network",
            )
        return adj
    if str(network) == "complete":
        return complete_adjacency(n)
    path = Path(network)
    if not path.is_file():
        raise InputError("network: expected 'complete' or an edge-list file", source=path)
    table = read_table(path)
    frame = table.frame
    have = table.labels
    for col in ("source", "target"):
        if col not in frame.columns:
            raise InputError(
                f"edge list needs columns source, target[, weight]{did_you_mean(col, have)} "
                f"(have {', '.join(have)})",
                source=path,
                line=1,
                field=col,
            )
    if frame.empty:
        raise InputError("edge list has no edges", source=path)
    index = {p: k for k, p in enumerate(persons)}
    adj = np.zeros((n, n))
    seen: dict[tuple[int, int], int] = {}
    weights = numeric_column(table, "weight") if "weight" in frame.columns else np.ones(len(frame))
    for row, (s, t) in enumerate(zip(frame["source"], frame["target"], strict=True)):
        ends = []
        for col, who in (("source", s.strip()), ("target", t.strip())):
            if who not in index:
                shown = ", ".join(persons[:10]) + (", ..." if n > 10 else "")
                raise InputError(
                    f"unknown person {who!r}{did_you_mean(who, persons)} (have {shown})",
                    source=path,
                    line=table.line(row),
                    field=col,
                )
            ends.append(index[who])
        w = weights[row]
        if not np.isfinite(w) or w < 0:
            raise InputError(
                f"expected a non-negative weight, got {plain(frame['weight'].iloc[row])}",
                source=path,
                line=table.line(row),
                field="weight",
            )
        edge = (ends[0], ends[1])
        if edge in seen:
            raise InputError(
                f"edge {s.strip()} -> {t.strip()} is listed twice (first on line "
                f"{table.line(seen[edge])})",
                source=path,
                line=table.line(row),
            )
        seen[edge] = row
        adj[edge] = w
    return adj


def read_stimulus(stimulus: PathLike | xr.DataArray, time: np.ndarray) -> np.ndarray:
    """A shared input u(t) interpolated onto ``time`` (s).

    Parameters
    ----------
    stimulus : path or DataArray
        A table with a time column (s) and one value column (read like :func:`read_wide`), or a
        1-D DataArray with a ``time`` coordinate.
    time : ndarray
        The recording's time grid; the stimulus must cover it.
    """
    if isinstance(stimulus, xr.DataArray):
        if stimulus.dims != ("time",):
            raise InputError(f"stimulus: expected dims ('time',), got {stimulus.dims}")
        source: str | None = None
        t_s, values = stimulus["time"].to_numpy(), stimulus.to_numpy().astype(float)
    else:
        stim = read_wide(stimulus)
        source = str(stimulus)
        if stim.sizes["person"] != 1:
            raise InputError("stimulus: expected one value column", source=stimulus)
        t_s, values = stim["time"].to_numpy(), stim["signal"].to_numpy()[:, 0, 0]
    missing = ~np.isfinite(values)
    if missing.any():
        raise InputError(
            f"stimulus: {int(missing.sum())} missing value(s) (first at {t_s[missing][0]:g} s); "
            "a shared input must be complete",
            source=source,
        )
    u = np.interp(np.asarray(time, float), t_s, values, left=np.nan, right=np.nan)
    if not np.isfinite(u).all():
        raise InputError("stimulus does not cover the recording's time span", source=source)
    return u
