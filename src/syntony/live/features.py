"""Per-person features computed online, in sliding buffers, with the offline feature functions.

Every ``update_every`` seconds the last ``buffer`` seconds of each person's raw signal are
handed to the same feature object the offline path uses (:class:`~syntony.physio.features.
Respiration`, :class:`~syntony.physio.features.ECG`, :class:`~syntony.physio.features.EDA`,
:class:`~syntony.physio.features.Raw`), after the same treatment of gaps (short gaps bridged by
linear interpolation, long ones left missing, stretches shorter than the feature's minimum
duration skipped), and resampled to the feature rate by the same box-average-and-interpolate
step. A feature sample is emitted once, ``margin`` seconds after its time: filters, peak
detection and the Hilbert phase behave differently near the end of a buffer, and the margin
keeps every emitted sample that far from it. Emitted samples are final; the synchrony is
computed from them and they are what the session records.

How close the online features come to the offline extraction of the whole recording depends on
the feature and the margin (see ``docs/live.md``); the raw signal itself (``Raw``) is exact away
from the first and last half-width of the resampling box.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from syntony._validate import check_nonnegative, check_positive
from syntony.errors import ParameterError
from syntony.physio.features import Feature, Raw, bridge_gaps, stretch_features
from syntony.physio.features import to_grid as _offline_to_grid

__all__ = ["FeatureBatch", "OnlineFeatures", "default_margin", "to_grid"]


#: Margin (s) behind the newest sample at which each feature is emitted by default: the box
#: filter and interpolation of the raw signal need a fraction of a second; filters, peak
#: detection and rate interpolation of NeuroKit2 need a few breaths or beats.
_MARGINS = {"raw": 2.0, "breathing_rate": 20.0, "heart_rate": 10.0, "eda_tonic": 20.0}


def default_margin(feature: Feature) -> float:
    """The default emission margin (s) of ``feature`` (see the module docstring)."""
    return _MARGINS.get(feature.name, 10.0)


@dataclass
class FeatureBatch:
    """Feature samples emitted by one update.

    Attributes
    ----------
    start : int
        Index (in the feature series) of the first row.
    values : ndarray (T, P)
        The feature (``feature.name``), persons in the order they were added.
    phase : ndarray (T, P) or None
        The phase, for features that have one.
    reasons : dict
        Person -> why their feature was implausible in this update (if it was).
    """

    start: int
    values: np.ndarray
    phase: np.ndarray | None
    reasons: dict[str, str] = field(default_factory=dict)


class OnlineFeatures:
    """Sliding-buffer features of a growing group recording.

    Parameters
    ----------
    feature : Feature
        The offline feature object.
    raw_fs : float
        Rate of the raw grid (Hz).
    fs : float
        Rate of the features (Hz), as the offline ``--fs``.
    buffer : float
        Seconds of raw signal handed to the feature each update.
    margin : float, optional
        Seconds between a feature sample's time and the newest raw sample when it is emitted
        (default: :func:`default_margin`).
    update_every : float
        Seconds of new raw signal between updates.
    max_gap : float
        Longest gap (s) bridged by interpolation, as offline.
    """

    def __init__(
        self,
        feature: Feature,
        raw_fs: float,
        fs: float,
        *,
        buffer: float = 60.0,
        margin: float | None = None,
        update_every: float = 1.0,
        max_gap: float = 1.0,
    ) -> None:
        self.feature = feature
        self.raw_fs = check_positive("raw_fs", raw_fs)
        self.fs = check_positive("fs", fs)
        self.buffer = check_positive("buffer", buffer)
        self.margin = check_nonnegative(
            "margin", default_margin(feature) if margin is None else margin
        )
        self.update_every = check_positive("update_every", update_every)
        self.max_gap = check_nonnegative("max_gap", max_gap)
        if self.margin >= self.buffer:
            raise ParameterError("margin", f"less than the buffer ({buffer:g} s)", self.margin)
        if self.fs > self.raw_fs:
            raise ParameterError("fs", f"at most the raw rate ({raw_fs:g} Hz)", fs)
        self.has_phase = _has_phase(feature, self.raw_fs)
        self.next_index = 0  # next feature sample to emit
        self._last_update = -np.inf

    def ready(self, n_raw: int) -> int:
        """One past the last feature index that may be emitted once ``n_raw`` raw samples are in."""
        if n_raw <= 0:
            return 0
        newest = (n_raw - 1) / self.raw_fs
        return int(np.floor((newest - self.margin) * self.fs + 1e-9)) + 1

    def due(self, n_raw: int, need: int | None = None) -> bool:
        """Whether an update is due: ``update_every`` seconds of raw signal since the last, or
        enough samples ready for ``need`` (the feature count the next window waits for)."""
        ready = self.ready(n_raw)
        if ready <= self.next_index:
            return False
        if need is not None and ready >= need > self.next_index:
            return True
        newest = (n_raw - 1) / self.raw_fs
        return newest - self._last_update >= self.update_every - 1e-9

    def update(
        self, raw, persons: list[str], *, final: bool = False, need: int | None = None
    ) -> FeatureBatch | None:
        """Emit the feature samples that became ready.

        Parameters
        ----------
        raw : RawStore-like
            ``raw.n`` raw samples committed so far and ``raw.window(a, b)`` -> (b - a, P)
            array of the raw grid (NaN where missing), persons in the order of ``persons``.
        persons : list of str
        final : bool
            At the end of a session: emit whatever is ready regardless of the cadence.
        need : int, optional
            Feature count the next window waits for: reaching it triggers an update at once,
            so a window is computed as soon as its last sample can be emitted.
        """
        n_raw = raw.n
        stop = self.ready(n_raw)
        if stop <= self.next_index or not (final or self.due(n_raw, need)):
            return None
        self._last_update = (n_raw - 1) / self.raw_fs
        start = self.next_index
        grid = np.arange(start, stop) / self.fs
        a = max(0, n_raw - round(self.buffer * self.raw_fs))
        block = raw.window(a, n_raw)
        t = np.arange(a, n_raw) / self.raw_fs
        n_p = block.shape[1]
        values = np.full((len(grid), n_p), np.nan)
        phase = np.full((len(grid), n_p), np.nan) if self.has_phase else None
        reasons: dict[str, str] = {}
        done = np.zeros(n_p, dtype=bool)
        if type(self.feature) is Raw and self.feature.min_duration <= block.shape[0] / self.raw_fs:
            # Whole columns without a gap: the same arithmetic as Raw on each, for all at once.
            done = np.isfinite(block).all(axis=0) & (block.shape[0] >= 4)
            if done.any():
                v, ph = _raw_batch(block[:, done], t, grid, self.raw_fs, self.fs, at_start=a == 0)
                values[:, done] = v
                if phase is not None:
                    phase[:, done] = ph
        for p in range(n_p):
            col = block[:, p]
            if done[p] or not np.isfinite(col).any():
                continue
            series, reason = self._compute(col)
            if reason is not None:
                reasons[persons[p]] = reason
            for key, val in series.items():
                out = to_grid(
                    t, val, grid, self.raw_fs, self.fs, angle=key == "phase", at_start=a == 0
                )
                if key == "phase":
                    if phase is not None:
                        phase[:, p] = out
                else:
                    values[:, p] = out
        self.next_index = stop
        return FeatureBatch(start=start, values=values, phase=phase, reasons=reasons)

    def _compute(self, col: np.ndarray) -> tuple[dict[str, np.ndarray], str | None]:
        """The feature over the valid stretches of one buffer, as the offline extraction does."""
        col, _, _ = bridge_gaps(col, self.max_gap, self.raw_fs)
        series, private, _ = stretch_features(self.feature, col, self.raw_fs)
        check = getattr(self.feature, "implausible", None)
        reason = None
        if check is not None and private:
            reason = check(private)
        return series, reason


def _has_phase(feature: Feature, fs: float) -> bool:
    """Whether the feature returns a phase: tried once on a slow sine wave (breath-like)."""
    n = int(np.ceil(max(feature.min_duration, 30.0) * fs))
    probe = np.sin(2 * np.pi * 0.25 * np.arange(n) / fs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "phase" in feature(probe, fs)
    except Exception:  # a feature that cannot digest a sine (ECG) has no phase either
        return False


def _raw_batch(block, t, grid, src_fs, fs, *, at_start):
    """:class:`Raw` and :func:`to_grid` for complete columns at once.

    Per column this is what ``Raw()(col, fs)`` and :func:`to_grid` compute (the signal, the
    angle of the analytic signal of the column minus its mean, box average and linear
    interpolation), vectorised, and with the box average evaluated only at the rows the
    interpolation reads; it agrees with the per-column path to rounding error (tested).
    """
    import os

    import scipy.fft
    from scipy.signal import hilbert

    n = block.shape[0]
    with scipy.fft.set_workers(os.cpu_count() or 1):
        analytic = hilbert(block - block.mean(axis=0), axis=0)
    width = max(1, round(src_fs / fs)) | 1 if fs < src_fs else 1
    half = width // 2
    pos = (grid - t[0]) * src_fs
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, n - 2)
    frac = (pos - i0)[:, None]
    outside = (grid < t[0]) | (grid > t[-1])
    rows = np.concatenate([i0, i0 + 1])
    if at_start:  # the offline step holds the first averaged value over the first half-width
        rows = np.maximum(rows, half)
    taps = rows[:, None] + np.arange(-half, half + 1)[None, :]
    edge = (taps < 0).any(axis=1) | (taps >= n - half + half).any(axis=1)
    edge |= rows >= n - half  # the last half-width is not averaged (left missing)
    taps = np.clip(taps, 0, n - 1)

    def box(x):  # box average at `rows` (NaN at the edges)
        out = x[taps].mean(axis=1) if width > 1 else x[rows].copy()
        out[edge] = np.nan
        return out

    def interp(at):
        k = len(i0)
        out = at[:k] + frac * (at[k:] - at[:k])
        out[outside] = np.nan
        return out

    angle = np.angle(analytic[np.unique(taps)])
    lookup = np.searchsorted(np.unique(taps), taps)
    cos, sin = np.cos(angle), np.sin(angle)
    values = interp(box(block))

    def box_of(x):  # box average of a quantity held only at the tap rows
        out = x[lookup].mean(axis=1) if width > 1 else x[lookup[:, 0]].copy()
        out[edge] = np.nan
        return out

    ph = np.arctan2(interp(box_of(sin)), interp(box_of(cos)))
    return values, ph


def to_grid(
    t: np.ndarray,
    values: np.ndarray,
    grid: np.ndarray,
    src_fs: float,
    fs: float,
    *,
    angle: bool,
    at_start: bool,
) -> np.ndarray:
    """Resample one series of a buffer to ``grid``: the offline step
    (:func:`syntony.physio.features.to_grid`) with the buffer's edges.

    ``at_start`` says the buffer begins at the recording's first sample, where the offline
    step holds the first averaged value; elsewhere, and at the buffer's end, the edges are left
    missing (no emitted sample lies there).
    """
    return _offline_to_grid(
        t, values, grid, src_fs, fs, angle=angle, hold_start=at_start, hold_end=False
    )
