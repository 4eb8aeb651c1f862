"""What the dashboard shows, kept as one JSON-ready snapshot that the server streams.

The engine updates the snapshot after every window (and when a band or a fit arrives); each
update bumps ``version``. The server reads :meth:`DashboardState.snapshot` under a lock and
sends it whenever the version changes, so the page always shows one consistent state.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque

import numpy as np

from syntony.physio.synchrony import fisher_z

__all__ = ["DashboardState", "block_matrix"]

#: Windows kept for the time course on the page.
HISTORY = 900
#: Largest matrix sent to the page; bigger groups are shown as blocks of persons.
MATRIX_CELLS = 60


def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def block_matrix(r: np.ndarray, persons: list[str], cells: int = MATRIX_CELLS):
    """The symmetric synchrony matrix (tanh of the mean z of both directions), in at most
    ``cells`` x ``cells`` blocks of consecutive persons (block value: tanh of the mean z)."""
    z = fisher_z(r)
    z = 0.5 * (z + z.T)
    n = len(persons)
    np.fill_diagonal(z, np.nan)
    if n <= cells:
        labels = list(persons)
        values = np.tanh(z)
    else:
        edges = np.linspace(0, n, cells + 1).round().astype(int)
        labels = [f"{persons[a]}–{persons[b - 1]}" for a, b in itertools.pairwise(edges)]
        ok = np.isfinite(z)
        sums = np.add.reduceat(np.add.reduceat(np.where(ok, z, 0.0), edges[:-1], 0), edges[:-1], 1)
        counts = np.add.reduceat(np.add.reduceat(ok.astype(float), edges[:-1], 0), edges[:-1], 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.tanh(sums / counts)
    return labels, [[_num(round(float(v), 4)) for v in row] for row in values]


class DashboardState:
    """The dashboard's data (see the module docstring)."""

    def __init__(self, settings: dict) -> None:
        self._lock = threading.Condition()
        self.version = 0
        self._settings = settings
        self._windows: deque = deque(maxlen=HISTORY)
        self._bands: deque = deque(maxlen=HISTORY)
        self._fits: deque = deque(maxlen=HISTORY)
        self._latest: dict | None = None
        self._matrix: dict | None = None
        self._quality: dict | None = None
        self._session: dict = {"status": "waiting for streams", "known_c": None}

    def _bump(self) -> None:
        self.version += 1
        self._lock.notify_all()

    def session(self, **fields) -> None:
        with self._lock:
            self._session.update(fields)
            self._bump()

    def window(self, update, centre: float, kuramoto: float, persons: list[str]) -> None:
        labels, values = block_matrix(update.r, persons)
        with self._lock:
            row = {
                "window": update.index,
                "time": round(centre, 6),
                "group": _num(update.group),
                "kuramoto": _num(kuramoto),
                "n_pairs": update.n_pairs,
                "n_persons": len(persons),
                "published": time.time(),
            }
            self._windows.append(row)
            self._latest = row
            self._matrix = {"window": update.index, "labels": labels, "values": values}
            self._bump()

    def band(self, row: dict) -> None:
        with self._lock:
            self._bands.append({k: row[k] for k in ("window", "time", "q025", "q975", "median")})
            self._bump()

    def coupling(self, row: dict) -> None:
        with self._lock:
            keep = ("window", "time", "c", "c_ci_low", "c_ci_high", "lrt_pvalue", "n_persons")
            self._fits.append({k: _num(row[k]) if k != "window" else row[k] for k in keep})
            self._bump()

    def quality(self, table: dict) -> None:
        with self._lock:
            self._quality = table

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "version": self.version,
                "session": dict(self._session),
                "settings": self._settings,
                "latest": self._latest,
                "windows": list(self._windows),
                "bands": list(self._bands),
                "fits": list(self._fits),
                "matrix": self._matrix,
                "quality": self._quality,
            }

    def wait(self, version: int, timeout: float) -> int:
        """Block until the version differs from ``version`` (or ``timeout``); returns it."""
        with self._lock:
            self._lock.wait_for(lambda: self.version != version, timeout=timeout)
            return self.version
