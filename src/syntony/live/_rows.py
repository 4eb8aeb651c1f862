"""A (time, column) array that grows at the end and forgets at the front, in amortised O(1).

The live pipeline appends a few rows many times a second to buffers of a minute or more of
signal for up to thousands of persons; concatenating arrays on every append would copy the whole
buffer each time. :class:`Rows` keeps spare capacity and moves or grows its storage only when it
runs out, and addresses rows by their global index.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Rows"]


class Rows:
    """Rows ``start`` to ``stop`` (global indices) of a growing (time, column) series.

    Parameters
    ----------
    columns : int
        Columns to begin with (more with :meth:`add_column`).
    start : int
        Global index of the first row that will be appended.
    """

    def __init__(self, columns: int = 0, *, start: int = 0) -> None:
        self._a = np.full((64, columns), np.nan)
        self._lo = 0  # physical row of global `start`
        self._hi = 0
        self.start = int(start)

    @property
    def stop(self) -> int:
        """One past the last global row held."""
        return self.start + self._hi - self._lo

    @property
    def columns(self) -> int:
        return self._a.shape[1]

    def view(self) -> np.ndarray:
        """The rows held (no copy)."""
        return self._a[self._lo : self._hi]

    def add_column(self) -> int:
        self._a = np.concatenate([self._a, np.full((self._a.shape[0], 1), np.nan)], axis=1)
        return self._a.shape[1] - 1

    def append(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, float)
        n = rows.shape[0]
        if self._hi + n > self._a.shape[0]:
            held = self._hi - self._lo
            if held + n <= self._a.shape[0] // 2:
                self._a[:held] = self._a[self._lo : self._hi]
            else:
                grown = np.full((2 * (held + n), self._a.shape[1]), np.nan)
                grown[:held] = self._a[self._lo : self._hi]
                self._a = grown
            self._lo, self._hi = 0, held
        self._a[self._hi : self._hi + n] = rows
        self._hi += n

    def forget_before(self, index: int) -> None:
        """Drop rows before global ``index`` (they are not needed any more)."""
        drop = min(max(0, int(index) - self.start), self._hi - self._lo)
        self._lo += drop
        self.start += drop

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows at global indices ``idx`` (NaN where not held)."""
        idx = np.asarray(idx)
        local = idx - self.start
        out = np.full((local.size, self._a.shape[1]), np.nan)
        inside = (local >= 0) & (local < self._hi - self._lo)
        if inside.any():
            out[inside] = self._a[self._lo + local[inside]]
        return out

    def window(self, a: int, b: int) -> np.ndarray:
        """Rows ``a`` to ``b`` (global) as an array (NaN where not held)."""
        out = np.full((max(0, b - a), self._a.shape[1]), np.nan)
        lo, hi = max(a, self.start), min(b, self.stop)
        if hi > lo:
            out[lo - a : hi - a] = self._a[self._lo + lo - self.start : self._lo + hi - self.start]
        return out

    def reset(self, start: int, rows: np.ndarray) -> None:
        """Hold exactly ``rows`` as global rows ``start...``."""
        rows = np.asarray(rows, float)
        self._a = np.full((max(64, 2 * rows.shape[0]), rows.shape[1]), np.nan)
        self._a[: rows.shape[0]] = rows
        self._lo, self._hi, self.start = 0, rows.shape[0], int(start)
