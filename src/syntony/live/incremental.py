"""All-pairs windowed lagged synchrony updated step by step from running sums.

The offline path (:func:`syntony.physio.synchrony.wlcc_peaks`) recomputes every window from its
samples: ``K = 2 L + 1`` lags times ``P**2`` pairs times ``W`` samples per window. Here each
ordered pair ``(i, j)`` and lag ``k`` keeps the running sum

    S[i, k, j] = sum over t in [s, s + W) of x_i(t) * x_j(t + lag_k)

of the current window (start ``s``). Moving the window by one step adds the products of the
``step`` samples that enter and subtracts those of the ``step`` samples that leave, so a step
costs ``2 * step`` multiply-adds per pair and lag instead of ``W`` (15 times fewer for 30 s
windows moved by 1 s at 4 Hz). The per-person means and scales of the lagged segments are
recomputed each step from the buffered samples (``P * K`` numbers, cheap). One compiled pass
updates the sums, turns them into correlations and picks the peak over lags, so the big array
is read and written once per step.

The windows, the peak rule, the treatment of missing samples and of constant segments, and the
lag convention (positive: ``j`` follows ``i``) are those of the offline path, which
:func:`syntony.physio.synchrony.synchrony` applied to the same feature series reproduces to
rounding error (tested to 1e-9).

Numerical care: products are formed from ``x - c_p`` where ``c_p`` is the first value seen of
person ``p`` (correlations do not change), so the sums stay near the scale of the signal's
spread; the error of adding and subtracting grows like the square root of the number of steps
(about 1e-13 in the correlations after a day of 1 s steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from syntony._numba import serial_and_parallel
from syntony.errors import ParameterError
from syntony.live._rows import Rows
from syntony.physio.synchrony import SyncConfig, group_synchrony

__all__ = ["IncrementalSynchrony", "WindowUpdate"]


@dataclass(frozen=True)
class WindowUpdate:
    """One finished window.

    Attributes
    ----------
    index : int
        Window number (0 is the first window of the series, as offline).
    start : int
        Index of the window's first sample in the feature series.
    r, lag : ndarray (P, P)
        Peak correlation and its lag in samples (NaN where undefined), persons in the order
        they were added.
    group : float
        Mean pairwise synchrony (tanh of the mean Fisher z over pairs i < j).
    n_pairs : int
        Pairs with a defined peak in this window.
    """

    index: int
    start: int
    r: np.ndarray
    lag: np.ndarray
    group: float
    n_pairs: int


def _advance_py(
    s, n_p, u, v, w, mx, sx, my, sy, badx, bady, use_abs, compute, r_out, k_out
):  # pragma: no cover - compiled
    """Add ``u' v[k]`` to every ``s[:, k, :]``; then (``compute``) peak correlation over lags.

    s (cap, K, cap) running sums of which the first ``n_p`` persons are in use; u (R, P) signed entering/leaving rows; v (K, R, P) the same rows
    shifted by each lag; mx, sx (P,) mean and scale (sqrt of W * variance) of each person's
    window; my, sy (K, P) of each person's lagged windows; badx (P,) and bady (P,) mark persons
    whose window (or any lagged window) is missing or constant.
    """
    n_k = s.shape[1]
    n_r = u.shape[0]
    for i in numba.prange(n_p):
        best = np.full(n_p, -np.inf)
        value = np.zeros(n_p)
        index = np.zeros(n_p, dtype=np.int64)
        for k in range(n_k):
            row = s[i, k]
            for r in range(n_r):
                a = u[r, i]
                if a != 0.0:
                    vr = v[k, r]
                    for j in range(n_p):
                        row[j] += a * vr[j]
            if compute:
                mi = w * mx[i]
                inv_i = 1.0 / sx[i]
                for j in range(n_p):
                    c = (row[j] - mi * my[k, j]) * inv_i / sy[k, j]
                    key = abs(c) if use_abs else c
                    if key > best[j]:
                        best[j] = key
                        value[j] = c
                        index[j] = k
        if compute:
            for j in range(n_p):
                if badx[i] or bady[j]:
                    r_out[i, j] = np.nan
                    k_out[i, j] = -1
                else:
                    r_out[i, j] = min(1.0, max(-1.0, value[j]))
                    k_out[i, j] = index[j]


# Small groups run the serial kernel: starting threads costs more than the work.
_advance_serial, _advance_parallel = serial_and_parallel(_advance_py, nogil=True)
_PARALLEL_FROM = 48


class IncrementalSynchrony:
    """Windowed lagged synchrony of a growing feature series, one step at a time.

    Feed feature samples with :meth:`append` (rows of a (time, person) array, NaN for
    missing; persons may be added at any time with :meth:`add_person`) and collect the windows
    that became complete from :meth:`ready`.

    Parameters
    ----------
    config : SyncConfig
        Window, step, largest lag and peak rule, in seconds.
    fs : float
        Rate of the feature series (Hz).
    capacity : int, default 16
        Persons the running sums are sized for; grows by doubling when exceeded.
    start_index : int, default 0
        Index (in the feature series) of the first sample that will be appended (for a resumed
        session); windows are numbered as offline from index 0 of the series.
    """

    def __init__(
        self,
        config: SyncConfig,
        fs: float,
        *,
        capacity: int = 16,
        start_index: int = 0,
    ) -> None:
        if not isinstance(config, SyncConfig):
            raise ParameterError("config", "a SyncConfig", config)
        self.config = config
        self.fs = float(fs)
        self.window, self.step, self.max_lag = config.samples(self.fs)
        self._use_abs = config.peak == "absmax"
        self.n_lags = 2 * self.max_lag + 1
        self.persons: list[str] = []
        self._offset = np.zeros(0)
        self._cap = max(2, int(capacity))
        self._sums = np.zeros((self._cap, self.n_lags, self._cap))
        # Feature samples kept: global index of row 0 of the buffer, and the buffer itself.
        self._buf = Rows(start=int(start_index))
        self._n = int(start_index)  # one past the last global index appended
        self._spread = _Spread()
        # The window whose sums are held: start index. It begins far enough before the series
        # that every sample it (and its lags) touches is still missing (zero in the sums); the
        # sums then build up step by step as samples arrive, with no separate first pass.
        w, st, lag = self.window, self.step, self.max_lag
        first = lag + st * math.ceil(max(0, start_index - lag) / st)
        behind = math.ceil((w + 2 * lag) / st) + 1
        self._s = first - behind * st
        self._first_output = first
        self._pending: list[WindowUpdate] = []

    # -- input ---------------------------------------------------------------------------------
    def add_person(self, name: str) -> int:
        """Add a person (their earlier samples are missing); returns their column."""
        name = str(name)
        if name in self.persons:
            raise ParameterError("person", "a name not yet added", name)
        p = len(self.persons)
        if p >= self._cap:
            self._grow(2 * self._cap)
        self.persons.append(name)
        self._offset = np.append(self._offset, np.nan)
        self._buf.add_column()
        self._spread.add()
        return p

    def _grow(self, cap: int) -> None:
        sums = np.zeros((cap, self.n_lags, cap))
        n = self._cap
        sums[:n, :, :n] = self._sums
        self._sums, self._cap = sums, cap

    def append(self, rows: np.ndarray) -> list[WindowUpdate]:
        """Append feature samples ``rows`` (T, P) for all current persons; return new windows."""
        rows = np.asarray(rows, float)
        if rows.ndim != 2 or rows.shape[1] != len(self.persons):
            raise ParameterError(
                "rows", f"a (time, {len(self.persons)}) array", getattr(rows, "shape", rows)
            )
        if rows.shape[0] == 0:
            return []
        # Each person's reference value (first finite sample) keeps the sums well conditioned.
        unset = ~np.isfinite(self._offset)
        if unset.any():
            for p in np.flatnonzero(unset):
                finite = rows[np.isfinite(rows[:, p]), p]
                if finite.size:
                    self._offset[p] = finite[0]
        self._spread.update(rows)
        self._buf.append(rows)
        self._n += rows.shape[0]
        out: list[WindowUpdate] = []
        while self._s + self.step + self.window + self.max_lag <= self._n:
            update = self._advance()
            if update is not None:
                out.append(update)
        self._trim()
        return out

    def seed(self, rows: np.ndarray, start: int, next_window: int) -> list[WindowUpdate]:
        """Continue a series from its recorded tail (a resumed session).

        ``rows`` (T, P) are feature samples ``start...`` for the persons already added; the
        next window computed is ``next_window``. Its running sums are computed once from the
        samples (the only from-scratch pass), and the windows the tail already completes are
        returned.
        """
        rows = np.asarray(rows, float)
        w, st, lag = self.window, self.step, self.max_lag
        first = lag + next_window * st
        s = first - st
        if start > s - lag:
            raise ParameterError("start", f"at most {s - lag} (the window's earliest lag)", start)
        self._buf.reset(start, rows)
        self._n = int(start) + rows.shape[0]
        self._offset = np.full(len(self.persons), np.nan)
        for p in range(len(self.persons)):
            finite = rows[np.isfinite(rows[:, p]), p]
            if finite.size:
                self._offset[p] = finite[0]
        self._spread = _Spread()
        for _ in self.persons:
            self._spread.add()
        self._spread.update(rows)
        n_p = len(self.persons)
        x = self._rows(np.arange(s, s + w))
        for k, shift in enumerate(range(-lag, lag + 1)):
            self._sums[:n_p, k, :n_p] = x.T @ self._rows(np.arange(s + shift, s + shift + w))
        self._s, self._first_output = s, first
        out = []
        while self._s + st + w + lag <= self._n:
            update = self._advance()
            if update is not None:
                out.append(update)
        self._trim()
        return out

    # -- the step ------------------------------------------------------------------------------
    def _rows(self, idx: np.ndarray) -> np.ndarray:
        """Centred samples at global indices ``idx`` (missing, or before the series: 0)."""
        vals = self._buf.take(idx) - self._offset[None, :]
        return np.where(np.isfinite(vals), vals, 0.0)

    def _advance(self) -> WindowUpdate | None:
        w, st, lag = self.window, self.step, self.max_lag
        s = self._s
        new = s + st
        lags = np.arange(-lag, lag + 1)
        idx = np.concatenate([s + w + np.arange(st), s + np.arange(st)])
        sign = np.concatenate([np.ones(st), -np.ones(st)])
        u = self._rows(idx) * sign[:, None]
        v = self._rows((idx[None, :] + lags[:, None]).ravel()).reshape(len(lags), len(idx), -1)
        n_p = len(self.persons)
        compute = new >= self._first_output
        if compute:
            mx, sx, badx, my, sy, bady = self._stats(new)
        else:
            mx = sx = np.ones(n_p)
            my = sy = np.ones((len(lags), n_p))
            badx = bady = np.zeros(n_p, dtype=np.bool_)
        r = np.empty((n_p, n_p))
        k = np.empty((n_p, n_p), dtype=np.int64)
        kernel = _advance_parallel if n_p >= _PARALLEL_FROM else _advance_serial
        kernel(
            self._sums,
            n_p,
            u,
            v,
            float(w),
            mx,
            sx,
            my,
            sy,
            badx,
            bady,
            self._use_abs,
            compute,
            r,
            k,
        )
        self._s = new
        if not compute:
            return None
        lag_samples = np.where(k >= 0, k - lag, -1).astype(float)
        lag_samples[np.isnan(r)] = np.nan
        group = float(group_synchrony(r)) if n_p >= 2 else float("nan")
        iu = np.triu_indices(n_p, 1)
        n_pairs = int(np.isfinite(r[iu]).sum())
        return WindowUpdate(
            index=(new - lag) // st, start=new, r=r, lag=lag_samples, group=group, n_pairs=n_pairs
        )

    def _stats(self, s: int):
        """Means and scales of each person's window at ``s`` and of its lagged windows.

        The same arithmetic as the offline segment statistics: cumulative sums of centred
        samples, missing samples counted, and a segment whose variance is rounding noise
        relative to the person's spread (so far) counted as constant.
        """
        w, lag = self.window, self.max_lag
        n_p = len(self.persons)
        seg = self._buf.window(s - lag, s + w + lag)
        bad = ~np.isfinite(seg)
        xc = np.where(bad, 0.0, seg - self._offset[None, :])
        zeros = np.zeros((1, n_p))
        c1 = np.concatenate([zeros, np.cumsum(xc, axis=0)])
        c2 = np.concatenate([zeros, np.cumsum(xc * xc, axis=0)])
        cb = np.concatenate([zeros, np.cumsum(bad, axis=0)])
        mean = (c1[w:] - c1[:-w]) / w  # (K, P): window starting at s - lag + k
        var = (c2[w:] - c2[:-w]) / w - mean**2
        scale = np.sqrt(np.clip(var, 0.0, None) * w)
        spread = self._spread.std()
        tiny = scale <= 1e-10 * np.sqrt(w) * (spread[None, :] + 1e-300)
        missing = (cb[w:] - cb[:-w]) > 0
        undefined = tiny | missing | ~(spread[None, :] > 0)
        mx, sx = mean[lag], scale[lag]
        badx = undefined[lag]
        bady = undefined.any(axis=0)
        sx = np.where(badx, 1.0, sx)
        sy = np.where(undefined, 1.0, scale)
        return mx, sx, badx, mean, sy, bady

    def _trim(self) -> None:
        """Drop buffered samples no later step needs (older than the window start - lag)."""
        self._buf.forget_before(self._s - self.max_lag)

    # -- state ---------------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        """Index one past the last feature sample appended."""
        return self._n

    @property
    def needed(self) -> int:
        """Feature samples the next window needs (its last lagged sample's index + 1)."""
        return self._s + self.step + self.window + self.max_lag

    @property
    def next_window(self) -> int:
        """Number of the next window to finish."""
        return (self._s + self.step - self.max_lag) // self.step

    def centre_time(self, start: int, t0: float = 0.0) -> float:
        """Centre time (s) of the window starting at sample ``start`` (as offline)."""
        return t0 + start / self.fs + (self.window - 1) / (2 * self.fs)


class _Spread:
    """Running standard deviation of each person's finite samples (Welford, batched)."""

    def __init__(self) -> None:
        self.n = np.zeros(0)
        self.mean = np.zeros(0)
        self.m2 = np.zeros(0)

    def add(self) -> None:
        self.n = np.append(self.n, 0.0)
        self.mean = np.append(self.mean, 0.0)
        self.m2 = np.append(self.m2, 0.0)

    def update(self, rows: np.ndarray) -> None:
        ok = np.isfinite(rows)
        nb = ok.sum(axis=0).astype(float)
        if not nb.any():
            return
        with np.errstate(invalid="ignore", divide="ignore"):
            mb = np.where(nb > 0, np.nansum(np.where(ok, rows, 0.0), axis=0) / nb, 0.0)
            m2b = np.nansum(np.where(ok, (rows - mb[None, :]) ** 2, 0.0), axis=0)
        n = self.n + nb
        delta = mb - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(n > 0, nb / n, 0.0)
        self.mean = self.mean + delta * frac
        self.m2 = self.m2 + m2b + delta**2 * self.n * frac
        self.n = n

    def std(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, np.sqrt(self.m2 / np.maximum(self.n, 1)), 0.0)
