"""Samples from many streams placed on one regular time grid, and committed in order.

Every stream's samples carry time stamps already corrected to the receiving machine's clock
(LSL's time correction). Sample ``k`` of the session's grid lies at ``t0 + k / fs``; a stamp goes
to the nearest grid index (streams at the grid rate), or a stream at another rate is linearly
interpolated onto the grid points between its samples. Grid rows are *committed* in order:
once committed, a row is final — written to the recording, handed to the features — and a
sample that arrives for it later is counted as late and dropped. The session decides how far
to commit (when every live stream has delivered that far, or when the slowest is too far
behind).
"""

from __future__ import annotations

import numpy as np

from syntony._validate import check_positive
from syntony.live._rows import Rows

__all__ = ["RawStore", "SampleGrid", "StreamResampler"]


class RawStore:
    """The committed raw grid: the last ``keep`` samples in memory (time, person)."""

    def __init__(self, keep: int) -> None:
        self.keep = int(keep)
        self._rows = Rows()

    @property
    def n(self) -> int:
        """Samples committed so far."""
        return self._rows.stop

    def add_person(self) -> None:
        self._rows.add_column()

    def append(self, rows: np.ndarray) -> None:
        self._rows.append(rows)
        if self._rows.stop - self._rows.start > self.keep + max(256, self.keep // 4):
            self._rows.forget_before(self._rows.stop - self.keep)

    def window(self, a: int, b: int) -> np.ndarray:
        """Rows ``a`` to ``b`` (global indices); NaN for rows no longer (or not yet) held."""
        return self._rows.window(a, b)

    def seed(self, start: int, rows: np.ndarray) -> None:
        """Hold ``rows`` as global rows ``start...`` (a resumed session's tail)."""
        self._rows.reset(start, rows)


class SampleGrid:
    """Uncommitted grid rows, filled as samples arrive.

    Parameters
    ----------
    fs : float
        Grid rate (Hz).
    t0 : float
        Time (corrected stream clock, s) of grid index 0.
    start : int
        First uncommitted index (0, or where a resumed session continues).
    """

    def __init__(self, fs: float, t0: float, *, start: int = 0) -> None:
        self.fs = check_positive("fs", fs)
        self.t0 = float(t0)
        self.committed = int(start)
        self._rows = np.full((0, 0), np.nan)  # staging rows from `committed` on
        self.head = np.zeros(0, dtype=np.int64)  # per person: one past the newest index placed
        self.late = np.zeros(0, dtype=np.int64)
        self.duplicate = np.zeros(0, dtype=np.int64)
        self.received = np.zeros(0, dtype=np.int64)

    @property
    def n_persons(self) -> int:
        return self.head.size

    def add_person(self) -> int:
        self._rows = np.concatenate([self._rows, np.full((self._rows.shape[0], 1), np.nan)], 1)
        for name in ("late", "duplicate", "received"):
            setattr(self, name, np.append(getattr(self, name), 0))
        self.head = np.append(self.head, self.committed)
        return self.head.size - 1

    def index(self, stamps: np.ndarray) -> np.ndarray:
        """Nearest grid index of each time stamp."""
        return np.rint((np.asarray(stamps, float) - self.t0) * self.fs).astype(np.int64)

    def place(self, person: int, idx: np.ndarray, values: np.ndarray) -> None:
        """Put ``values`` at grid indices ``idx`` for ``person`` (late or repeated ones dropped)."""
        self.place_block([person], idx, np.asarray(values, float).reshape(-1, 1))

    def place_block(self, persons, idx: np.ndarray, values: np.ndarray) -> None:
        """Put ``values`` (n, len(persons)) at grid indices ``idx`` (n,) for several persons at
        once (the channels of one stream share its time stamps). Samples for committed rows
        are counted as late and dropped; for an index already filled, the first sample wins."""
        cols = np.asarray(persons, np.int64)
        idx = np.asarray(idx, np.int64)
        values = np.asarray(values, float).reshape(idx.size, cols.size)
        if idx.size == 0:
            return
        self.received[cols] += idx.size
        late = idx < self.committed
        if late.any():
            self.late[cols] += int(late.sum())
            idx, values = idx[~late], values[~late]
            if idx.size == 0:
                return
        local = idx - self.committed
        need = int(local.max()) + 1
        if need > self._rows.shape[0]:
            grow = max(need, 2 * self._rows.shape[0], 64)
            extra = np.full((grow - self._rows.shape[0], self._rows.shape[1]), np.nan)
            self._rows = np.concatenate([self._rows, extra], axis=0)
        repeated = 0
        if idx.size > 1 and not (np.diff(local) > 0).all():
            _, first = np.unique(local, return_index=True)
            repeated = idx.size - first.size
            local, values = local[first], values[first]
        block = self._rows[local[:, None], cols[None, :]]
        taken = np.isfinite(block)
        self._rows[local[:, None], cols[None, :]] = np.where(taken, block, values)
        self.duplicate[cols] += repeated + taken.sum(axis=0)
        self.head[cols] = np.maximum(self.head[cols], int(idx.max()) + 1)

    def commit(self, upto: int) -> np.ndarray:
        """Commit rows up to (not including) ``upto``; returns them (rows, persons)."""
        n = max(0, int(upto) - self.committed)
        if n == 0:
            return np.full((0, self.n_persons), np.nan)
        if n > self._rows.shape[0]:
            extra = np.full((n - self._rows.shape[0], self.n_persons), np.nan)
            self._rows = np.concatenate([self._rows, extra], axis=0)
        out = self._rows[:n].copy()
        self._rows = self._rows[n:]
        self.committed += n
        self.head = np.maximum(self.head, self.committed)
        return out


class StreamResampler:
    """Turns one stream's (stamp, value) samples into grid (index, value) pairs.

    At the grid rate a sample goes to its nearest index (values kept exactly). At any other
    rate, the grid points between consecutive samples get linearly interpolated values (the
    last sample is remembered across chunks, and no point is bridged across a gap longer than
    ``max_gap`` seconds).
    """

    def __init__(self, grid: SampleGrid, nominal_rate: float, *, max_gap: float = 1.0) -> None:
        self.grid = grid
        self.exact = nominal_rate > 0 and abs(nominal_rate - grid.fs) <= 1e-6 * grid.fs
        self.max_gap = max_gap
        self._last: tuple[float, np.ndarray] | None = None

    def convert(self, stamps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid indices and values (values may be (n,) or (n, channels))."""
        stamps = np.asarray(stamps, float)
        values = np.asarray(values, float)
        if self.exact or stamps.size == 0:
            return self.grid.index(stamps), values
        had_previous = self._last is not None
        if self._last is not None:
            stamps = np.concatenate([[self._last[0]], stamps])
            values = np.concatenate([self._last[1][None], values])
        self._last = (float(stamps[-1]), values[-1].copy())
        if stamps.size < 2:
            return np.zeros(0, np.int64), values[:0]
        pos = (stamps - self.grid.t0) * self.grid.fs
        first, last = int(np.ceil(pos[0])), int(np.floor(pos[-1]))
        # the previous call delivered index floor(pos[0]) already when it is on the grid
        if first == pos[0] and had_previous:
            first += 1
        idx = np.arange(first, last + 1)
        if idx.size == 0:
            return idx, values[:0]
        k = np.clip(np.searchsorted(pos, idx, side="right") - 1, 0, len(pos) - 2)
        gap = (stamps[k + 1] - stamps[k]) > self.max_gap
        frac = (idx - pos[k]) / (pos[k + 1] - pos[k])
        if values.ndim == 1:
            out = values[k] + frac * (values[k + 1] - values[k])
            out[gap] = np.nan
        else:
            out = values[k] + frac[:, None] * (values[k + 1] - values[k])
            out[gap] = np.nan
        return idx, out
