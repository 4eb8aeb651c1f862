"""The files of a live session, appended as data arrive and forced to disk about every second.

A session directory holds:

``recording.tsv``
    The raw grid as a long table (``time``, ``person``, ``value``): one row per received sample,
    times in seconds from the session's grid origin. ``syntony sync`` and ``syntony fit`` read it
    like any recording (a grid time no one delivered still gets one row with ``n/a``, so the
    time column stays regular).
``features.tsv``
    The features the synchrony was computed from, in the same layout (``value`` is the
    feature; ``phase`` when the feature has one).
``windows.tsv``, ``nulls.tsv``, ``coupling.tsv``, ``events.tsv``
    Group synchrony per window, the surrogate bands, the coupling estimates, and who joined,
    dropped out and came back when.
``matrices.bin``
    The peak correlation and lag of every pair in every window (small groups only).
``session.json``
    What the session needs to continue after a restart (``--resume``).

Every file is appended in chunks; :meth:`SessionFiles.flush` writes the chunk and calls
``fsync``, so a crash loses at most what arrived since the last flush. A line cut short by a
crash is removed when the session is resumed.
"""

from __future__ import annotations

import io
import json
import os
import queue
import struct
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from syntony._io_utils import write_json
from syntony.errors import InputError

__all__ = ["MATRIX_MAGIC", "AppendLog", "SessionFiles", "read_matrices", "read_table_tail"]

MATRIX_MAGIC = b"SYNM"
_HEADERS = {
    "recording.tsv": ["time", "person", "value"],
    "windows.tsv": [
        "window",
        "time",
        "start",
        "group",
        "kuramoto",
        "n_pairs",
        "n_persons",
    ],
    "nulls.tsv": ["window", "time", "n_surrogates", "n_persons", "q025", "q975", "median"],
    "coupling.tsv": [
        "window",
        "time",
        "span_s",
        "n_persons",
        "c",
        "c_ci_low",
        "c_ci_high",
        "lrt_pvalue",
        "converged",
    ],
    "events.tsv": ["time", "wall_time", "person", "event", "detail"],
}


class AppendLog:
    """One appended text file (header written once); lines buffered until :meth:`flush`."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = Path(path)
        self.header = header
        self._pending: list[str] = []
        if self.path.exists():
            repair_tail(self.path)
            with open(self.path, encoding="utf-8") as stream:
                first = stream.readline().rstrip("\n").split("\t")
            if first != header:
                raise InputError(
                    f"expected the columns {', '.join(header)} of a live session",
                    source=self.path,
                    line=1,
                )
        else:
            self._pending.append("\t".join(header) + "\n")
        self._stream = open(self.path, "ab")

    def write(self, text: str) -> None:
        if text:
            self._pending.append(text)

    def take(self) -> bytes:
        """The buffered lines, as bytes to append (the buffer is emptied)."""
        data = "".join(self._pending).encode("utf-8")
        self._pending.clear()
        return data

    def flush(self) -> None:
        _append(self._stream, self.take())

    def close(self) -> None:
        self.flush()
        self._stream.close()


def _append(stream, data: bytes) -> None:
    """Append ``data`` and force it to disk."""
    if data:
        stream.write(data)
    stream.flush()
    os.fsync(stream.fileno())


class _Writer(threading.Thread):
    """Writes and fsyncs on its own thread, so the pipeline never waits for the disk.

    Jobs are (stream, bytes) lists, written in order; :meth:`finish` waits for all of them.
    """

    def __init__(self) -> None:
        super().__init__(name="syntony-live-writer", daemon=True)
        self.jobs: queue.Queue = queue.Queue()
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                self.jobs.task_done()
                return
            try:
                for stream, data in job:
                    _append(stream, data)
            except BaseException as exc:  # reported by the next flush on the pipeline's thread
                self.error = exc
            self.jobs.task_done()

    def finish(self) -> None:
        self.jobs.put(None)
        self.join()


def repair_tail(path: Path) -> int:
    """Cut a last line left without its newline by a crash; returns the bytes removed."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as stream:
        stream.seek(size - 1)
        if stream.read(1) == b"\n":
            return 0
        block = min(size, 1 << 16)
        while True:
            stream.seek(size - block)
            data = stream.read(block)
            cut = data.rfind(b"\n")
            if cut >= 0 or block == size:
                keep = size - block + cut + 1 if cut >= 0 else 0
                stream.truncate(keep)
                return size - keep
            block = min(size, 2 * block)


def _fmt(value: float) -> str:
    return repr(float(value)) if np.isfinite(value) else "n/a"


class SessionFiles:
    """Writers of a session directory (see the module docstring)."""

    def __init__(self, directory: Path, *, raw_fs: float, fs: float, has_phase: bool) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.raw_fs, self.fs, self.has_phase = float(raw_fs), float(fs), has_phase
        feature_header = ["time", "person", "value"] + (["phase"] if has_phase else [])
        self.logs = {
            name: AppendLog(self.directory / name, head) for name, head in _HEADERS.items()
        }
        self.logs["features.tsv"] = AppendLog(self.directory / "features.tsv", feature_header)
        self._matrices = open(self.directory / "matrices.bin", "ab")
        self._matrix_pending: list[bytes] = []
        self._writer = _Writer()
        self._writer.start()

    # -- rows ------------------------------------------------------------------------------------
    def write_grid(
        self,
        name: str,
        start: int,
        rows: np.ndarray,
        persons: list[str],
        rate: float,
        extra: np.ndarray | None = None,
    ) -> None:
        """Append grid rows ``start...`` of ``rows`` (T, P) in the long layout.

        A row with no finite value gets one ``n/a`` line (first person) so that every grid
        time appears in the file.
        """
        out = io.StringIO()
        finite = np.isfinite(rows)
        values = rows.tolist()
        more = extra.tolist() if extra is not None else None
        for k in range(rows.shape[0]):
            t = repr((start + k) / rate)
            cols = np.flatnonzero(finite[k])
            if cols.size == 0:
                tail = "\tn/a" if extra is not None else ""
                out.write(f"{t}\t{persons[0]}\tn/a{tail}\n")
                continue
            row = values[k]
            if more is None:
                out.write("".join(f"{t}\t{persons[p]}\t{row[p]!r}\n" for p in cols.tolist()))
            else:
                side = more[k]
                out.write(
                    "".join(
                        f"{t}\t{persons[p]}\t{row[p]!r}\t{_fmt(side[p])}\n" for p in cols.tolist()
                    )
                )
        self.logs[name].write(out.getvalue())

    def write_row(self, name: str, row: dict) -> None:
        header = self.logs[name].header
        cells = []
        for key in header:
            value = row.get(key)
            if value is None:
                cells.append("n/a")
            elif isinstance(value, float | np.floating):
                cells.append(_fmt(value))
            else:
                cells.append(str(value))
        self.logs[name].write("\t".join(cells) + "\n")

    def write_matrices(self, window: int, r: np.ndarray, lag: np.ndarray) -> None:
        n = r.shape[0]
        self._matrix_pending.append(
            MATRIX_MAGIC
            + struct.pack("<qq", int(window), int(n))
            + np.ascontiguousarray(r, "<f8").tobytes()
            + np.ascontiguousarray(lag, "<f8").tobytes()
        )

    def flush(self, *, wait: bool = False) -> None:
        """Hand what was written since the last flush to the writer thread (appended and
        fsynced there, the raw recording first: the other files were computed from it);
        ``wait`` until it is on disk."""
        if self._writer.error is not None:
            error, self._writer.error = self._writer.error, None
            raise OSError(f"{self.directory}: writing the session failed ({error})")
        job = [
            (self.logs[name]._stream, self.logs[name].take())
            for name in ("recording.tsv", "features.tsv", *_HEADERS)
        ]
        job.append((self._matrices, b"".join(self._matrix_pending)))
        self._matrix_pending.clear()
        self._writer.jobs.put(job)
        if wait:
            self._writer.jobs.join()

    def close(self) -> None:
        self.flush()
        self._writer.finish()
        for log in self.logs.values():
            log.close()
        self._matrices.close()

    def write_state(self, state: dict) -> None:
        write_json(self.directory / "session.json", state)


def read_state(directory: Path) -> dict:
    """The ``session.json`` of a session directory."""
    path = Path(directory) / "session.json"
    if not path.is_file():
        raise InputError(
            "not a live session (no session.json); start a new one without --resume",
            source=directory,
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", source=path, line=exc.lineno) from None


def read_table_tail(path: Path, since: float | None = None) -> pd.DataFrame:
    """The rows of an appended table whose ``time`` is at least ``since`` (all rows if None).

    Reads backwards in blocks, so a long recording's tail is found without reading it all.
    """
    path = Path(path)
    if since is None:
        return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
    size = path.stat().st_size
    with open(path, "rb") as stream:
        header = stream.readline()
        start = len(header)
        block = 1 << 16
        while True:
            pos = max(start, size - block)
            stream.seek(pos)
            data = stream.read(size - pos)
            if pos > start:
                data = data[data.find(b"\n") + 1 :]
            frame = pd.read_csv(
                io.BytesIO(header + data), sep="\t", na_values=["n/a"], keep_default_na=False
            )
            if pos == start or (len(frame) and frame["time"].iloc[0] < since):
                return frame[frame["time"] >= since].reset_index(drop=True)
            block *= 4


def read_matrices(path: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{window: (r, lag)}`` from ``matrices.bin`` (a record cut short by a crash is ignored)."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    data = Path(path).read_bytes() if Path(path).exists() else b""
    pos = 0
    while pos + 20 <= len(data):
        if data[pos : pos + 4] != MATRIX_MAGIC:
            raise InputError("corrupt matrices file", source=path)
        window, n = struct.unpack("<qq", data[pos + 4 : pos + 20])
        size = n * n * 8
        if pos + 20 + 2 * size > len(data):
            break
        r = np.frombuffer(data, "<f8", n * n, pos + 20).reshape(n, n)
        lag = np.frombuffer(data, "<f8", n * n, pos + 20 + size).reshape(n, n)
        out[int(window)] = (r.copy(), lag.copy())
        pos += 20 + 2 * size
    return out
