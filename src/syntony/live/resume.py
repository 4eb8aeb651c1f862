"""Continuing a live session after a restart (``syntony live --resume``).

The session's files are the state: the recording says how far the raw grid was committed, the
features how far they were emitted, the windows which window comes next. A line cut short by a
crash is removed first; then the engine is rebuilt from the tails it needs (the last buffer of
raw signal for the features, the last span of features for the synchrony, the band and the
fit), the running sums of the next window are computed once from the features, and the session
goes on appending to the same files. The time that passed while nothing ran stays in the
recording as missing samples, so the recording remains one regular grid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from syntony._io_utils import write_json
from syntony.errors import InputError
from syntony.live.engine import LiveEngine, LiveSettings
from syntony.live.incremental import WindowUpdate
from syntony.live.recorder import MATRIX_MAGIC, read_state, read_table_tail, repair_tail

__all__ = ["reopen"]


def _last_time(path: Path) -> float | None:
    """The time of the last complete line of an appended table (None when it has none)."""
    if not path.exists():
        return None
    with open(path, "rb") as stream:
        stream.seek(max(0, path.stat().st_size - (1 << 16)))
        lines = stream.read().splitlines()
    for line in reversed(lines):
        try:
            return float(line.split(b"\t", 1)[0])
        except ValueError:
            continue
    return None


def _grid(frame: pd.DataFrame, persons: list[str], rate: float, start: int, stop: int, column):
    """Long rows -> (stop - start, P) grid (NaN where absent)."""
    out = np.full((max(0, stop - start), len(persons)), np.nan)
    if frame.empty or stop <= start:
        return out
    idx = np.rint(frame["time"].to_numpy(float) * rate).astype(np.int64) - start
    col = {p: k for k, p in enumerate(persons)}
    who = frame["person"].astype(str).map(col)
    ok = (idx >= 0) & (idx < out.shape[0]) & who.notna().to_numpy()
    out[idx[ok], who[ok].astype(int).to_numpy()] = frame[column].to_numpy(float)[ok]
    return out


def _repair_matrices(path: Path) -> None:
    """Cut a matrix record left incomplete by a crash."""
    if not path.exists():
        return
    data = path.read_bytes()
    pos = 0
    while pos + 20 <= len(data) and data[pos : pos + 4] == MATRIX_MAGIC:
        n = int(np.frombuffer(data[pos + 12 : pos + 20], "<i8")[0])
        end = pos + 20 + 2 * n * n * 8
        if end > len(data):
            break
        pos = end
    if pos != len(data):
        with open(path, "rb+") as stream:
            stream.truncate(pos)


def reopen(
    directory: str | Path,
    *,
    on_window: Callable[[WindowUpdate, float], None] | None = None,
) -> tuple[LiveEngine, dict]:
    """The engine of an existing session, ready to continue; and the session's state."""
    directory = Path(directory)
    state = read_state(directory)
    for name in ("recording.tsv", "features.tsv", "windows.tsv"):
        if (directory / name).exists():
            repair_tail(directory / name)
    _repair_matrices(directory / "matrices.bin")
    settings = LiveSettings.from_dict(state["settings"])
    raw_fs = float(state["raw_fs"])
    t0 = state.get("t0")
    if t0 is None:
        raise InputError("the session never received a sample; start a new one", source=directory)
    engine = LiveEngine(directory, settings, raw_fs=raw_fs, t0=float(t0), on_window=on_window)
    persons = [str(p) for p in state["persons"]]
    for name in persons:
        engine.add_person(name, {"stream": "resumed"}, quiet=True)
        engine.status[name] = "dropped"
    fs = settings.fs
    w, st, lag = engine.sync.window, engine.sync.step, engine.sync.max_lag

    # Raw grid: how far it was committed, and the last buffer for the features.
    last = _last_time(directory / "recording.tsv")
    n_raw = 0 if last is None else int(np.rint(last * raw_fs)) + 1
    keep = int(np.ceil(settings.buffer * raw_fs)) + 1
    a = max(0, n_raw - keep)
    tail = read_table_tail(directory / "recording.tsv", since=a / raw_fs - 0.5 / raw_fs)
    engine.raw.seed(a, _grid(tail, persons, raw_fs, a, n_raw, "value"))
    engine.grid.committed = n_raw
    engine.grid.head[:] = n_raw
    counts = state.get("samples", {})
    engine.samples[:] = [int(counts.get(p, 0)) for p in persons]

    # Features: how far they were emitted, and the tail the synchrony, band and fit need.
    last_f = _last_time(directory / "features.tsv")
    n_feat = 0 if last_f is None else int(np.rint(last_f * fs)) + 1
    engine.features.next_index = n_feat
    engine.features._last_update = (n_raw - 1) / raw_fs
    windows = pd.read_csv(directory / "windows.tsv", sep="\t", na_values=["n/a"])
    next_window = int(windows["window"].max()) + 1 if len(windows) else 0
    need = max(engine._hist.size, w + 2 * lag + 2 * st)
    f0 = 0 if next_window == 0 else max(0, min(next_window * st - st, n_feat - need))
    ftail = read_table_tail(directory / "features.tsv", since=f0 / fs - 0.5 / fs)
    values = _grid(ftail, persons, fs, f0, n_feat, "value")
    engine._hist.seed(f0, values)
    if engine.features.has_phase and "phase" in ftail:
        from syntony.physio.synchrony import kuramoto_order

        phase = _grid(ftail, persons, fs, f0, n_feat, "phase")
        engine._kur.seed(f0, kuramoto_order(phase)[:, None])
    if next_window == 0:
        updates = engine.sync.append(values)
    else:
        updates = engine.sync.seed(values, f0, next_window)
    for update in updates:
        engine._publish(update)
    resumed = [*state.get("resumed", []), {"wall_time": round(time.time(), 3), "at": n_raw}]
    state["resumed"] = resumed
    write_json(directory / "session.json", state)
    engine.event("", "resume", f"grid index {n_raw}")
    return engine, state
