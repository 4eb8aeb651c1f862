"""Windowed lagged cross-correlation for all pairs at once, and group synchrony measures.

Windowed lagged cross-correlation (WLCC; Boker et al., 2002): within a window of ``W`` samples
starting at ``s``, the correlation of person i's segment ``x_i[s:s+W]`` with person j's segment
``x_j[s+k:s+k+W]`` for every lag ``k`` in ``[-L, L]``; the peak over lags is the pair's
synchrony in that window (Fisher z for averaging). All pairs and lags of a block of windows come
from one batched matrix product of standardised segments, so there is no Python loop over
pairs or lags, only over blocks of windows (to bound memory).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import xarray as xr
from numpy.lib.stride_tricks import sliding_window_view

from syntony._validate import check_choice, check_integer, check_nonnegative, check_positive
from syntony.errors import InputError, ParameterError

__all__ = [
    "DEFAULT_SYNC",
    "IdenticalSignalsWarning",
    "SyncConfig",
    "check_defined",
    "cluster_phase",
    "fisher_z",
    "group_synchrony",
    "kuramoto_order",
    "lagged_correlations",
    "synchrony",
    "window_starts",
    "wlcc_peaks",
]

_R_CLIP = 1.0 - 1e-7


@dataclass(frozen=True)
class SyncConfig:
    """Window, step and lag range (seconds) and how the peak over lags is picked.

    Parameters
    ----------
    window : float, default 30
        Window length (s).
    step : float, default 15
        Step between window starts (s); 15 s = 50% overlap with 30 s windows.
    max_lag : float, default 5
        Lags from ``-max_lag`` to ``+max_lag`` (s) are searched for the peak.
    peak : {"max", "absmax"}
        ``"max"``: the largest correlation (in-phase synchrony, Boker 2002);
        ``"absmax"``: the largest in absolute value (keeps its sign).
    """

    window: float = 30.0
    step: float = 15.0
    max_lag: float = 5.0
    peak: str = "max"

    def __post_init__(self) -> None:
        check_positive("window", self.window)
        check_positive("step", self.step)
        check_nonnegative("max_lag", self.max_lag)
        check_choice("peak", self.peak, ("max", "absmax"))

    def samples(self, fs: float) -> tuple[int, int, int]:
        """(window, step, max_lag) in samples at ``fs`` Hz."""
        w, s, lag = (round(v * fs) for v in (self.window, self.step, self.max_lag))
        if w < 3:
            raise ParameterError("window", f"at least 3 samples at {fs:g} Hz", self.window)
        if s < 1:
            raise ParameterError("step", f"at least 1 sample at {fs:g} Hz", self.step)
        return w, s, lag


DEFAULT_SYNC = SyncConfig()


def window_starts(n_time: int, window: int, step: int, max_lag: int) -> np.ndarray:
    """Start indices of the windows that leave room for every lag on both sides."""
    last = n_time - window - max_lag
    if last < max_lag:
        raise ParameterError(
            "window",
            f"window + 2 * max_lag <= {n_time} samples (the recording length)",
            f"{window} + 2 * {max_lag}",
        )
    return np.arange(max_lag, last + 1, step)


def _segment_stats(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments of ``x`` (T, P) as a strided view, with their means and scales.

    Returns ``seg`` (S, P, W) (a view, no copy), ``mean`` and ``scale`` (S, P) such that
    ``(seg - mean) / scale`` is z-scored and divided by sqrt(W), so that a dot product of two
    such segments is their correlation. Constant or NaN-touched segments get scale NaN.
    """
    seg = sliding_window_view(x, window, axis=0)
    bad = ~np.isfinite(x)
    offset = np.nanmean(np.where(bad, np.nan, x), axis=0)
    # Centring on the column mean keeps the cumulative sums well conditioned.
    xc = np.where(bad, 0.0, x - offset)
    zeros = np.zeros((1, x.shape[1]))
    c1 = np.concatenate([zeros, np.cumsum(xc, axis=0)])
    c2 = np.concatenate([zeros, np.cumsum(xc * xc, axis=0)])
    cb = np.concatenate([zeros, np.cumsum(bad, axis=0)])
    mean = (c1[window:] - c1[:-window]) / window
    var = (c2[window:] - c2[:-window]) / window - mean**2
    scale = np.sqrt(np.clip(var, 0.0, None) * window)
    # A segment whose variance is rounding noise counts as constant.
    spread = np.nanstd(np.where(bad, np.nan, x), axis=0)
    tiny = scale <= 1e-10 * np.sqrt(window) * (spread + 1e-300)
    missing = (cb[window:] - cb[:-window]) > 0
    scale = np.where(tiny | missing, np.nan, scale)
    return seg, mean + offset, scale


def _standardise(stats: tuple[np.ndarray, np.ndarray, np.ndarray], idx: np.ndarray) -> np.ndarray:
    seg, mean, scale = stats
    return (seg[idx] - mean[idx][..., None]) / scale[idx][..., None]


def lagged_correlations(
    x: np.ndarray, window: int, step: int, max_lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """Full lag profiles: ``r[w, k, i, j] = corr(x_i[s:s+W], x_j[s+lag_k:s+lag_k+W])``.

    Memory is n_windows * n_lags * P**2; use :func:`wlcc_peaks` for large groups.

    Returns
    -------
    r : ndarray (n_windows, 2 * max_lag + 1, P, P)
    starts : ndarray (n_windows,)
    """
    x = np.asarray(x, float)
    starts = window_starts(x.shape[0], window, step, max_lag)
    stats = _segment_stats(x, window)
    lags = np.arange(-max_lag, max_lag + 1)
    xw = _standardise(stats, starts)  # (B, P, W)
    yw = _standardise(stats, starts[:, None] + lags[None, :])  # (B, K, P, W)
    r = np.matmul(xw[:, None], np.swapaxes(yw, -1, -2))
    return np.clip(r, -1.0, 1.0), starts


def wlcc_peaks(
    x: np.ndarray,
    window: int,
    step: int,
    max_lag: int,
    *,
    peak: str = "max",
    block_bytes: float = 64e6,
    dtype: type = np.float64,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peak correlation over lags for every pair and window (vectorised, blocked over windows).

    Parameters
    ----------
    x : ndarray (T, P)
        One column per person, regularly sampled; NaN marks missing samples.
    window, step, max_lag : int
        In samples.
    peak : {"max", "absmax"}
    block_bytes : float
        Memory budget of the lagged segments of one block of windows.
    dtype : numpy float type, default float64
        Precision of the products; ``np.float32`` is faster and agrees to ~1e-6.
    n_jobs : int, optional
        Threads working on blocks of windows (default: all cores).

    Returns
    -------
    r : ndarray (n_windows, P, P)
        Peak correlation of (i, j) over lags (NaN if either segment is missing or constant).
    lag : ndarray (n_windows, P, P)
        Lag of the peak in samples (positive: j follows i).
    starts : ndarray (n_windows,)
        Window start indices.
    """
    x = np.asarray(x, float)
    if x.ndim != 2:
        raise ParameterError("x", "a 2-D array (time, person)", x.shape)
    check_integer("window", window, minimum=3)
    check_integer("step", step, minimum=1)
    check_integer("max_lag", max_lag, minimum=0)
    check_choice("peak", peak, ("max", "absmax"))
    starts = window_starts(x.shape[0], window, step, max_lag)
    stats = _segment_stats(x, window)
    all_valid = bool(np.isfinite(stats[2]).all())
    lags = np.arange(-max_lag, max_lag + 1)
    n_p = x.shape[1]
    per_window = len(lags) * n_p * (window + n_p) * 8.0
    block = max(1, int(block_bytes // per_window))
    # Thread pools and BLAS limits pay off only on big problems (not in surrogate loops);
    # there, cut enough blocks to keep every thread busy.
    big = n_jobs is not None or len(starts) * len(lags) * n_p * n_p * window >= 5e7
    if big:
        block = max(1, min(block, -(-len(starts) // (4 * (n_jobs or os.cpu_count() or 1)))))
    r_out = np.empty((len(starts), n_p, n_p))
    lag_out = np.empty((len(starts), n_p, n_p))

    def run(b0: int) -> None:
        s = starts[b0 : b0 + block]
        xw = _standardise(stats, s).astype(dtype, copy=False)
        yw = _standardise(stats, s[:, None] + lags[None, :]).astype(dtype, copy=False)
        # (B, K, P_other, W) @ (B, 1, W, P) -> r[b, k, j, i]: each slice is one contiguous
        # BLAS product; the (j, i) order is swapped back after the peak is picked.
        r = np.matmul(yw, np.swapaxes(xw, -1, -2)[:, None])
        picked, best, undefined = _pick_peaks(r, peak == "absmax", not all_valid)
        r_out[b0 : b0 + len(s)] = np.swapaxes(np.where(undefined, np.nan, picked), 1, 2)
        lag_out[b0 : b0 + len(s)] = np.swapaxes(np.where(undefined, np.nan, lags[best]), 1, 2)

    # Blocks of windows run on a thread pool, each with single-threaded BLAS: the products are
    # small and many, and multi-threaded BLAS on them spins (10x slower on a busy machine).
    # Each block writes its own slice, so the result does not depend on the number of threads.
    firsts = range(0, len(starts), block)
    workers = max(1, min(n_jobs or os.cpu_count() or 1, len(firsts)))
    if not big:
        # Small problems: the BLAS calls are tiny and limiting threads costs more than it saves.
        for b0 in firsts:
            run(b0)
        return r_out, lag_out, starts
    with _single_threaded_blas():
        if workers == 1:
            for b0 in firsts:
                run(b0)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(run, firsts))
    return r_out, lag_out, starts


def _single_threaded_blas():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn/neurokit2
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@numba.njit(cache=True, nogil=True)
def _pick_peaks(r, use_abs, check_nan):  # pragma: no cover - compiled
    """Peak over axis 1 of r (B, K, P, P) in one pass: value (clipped to [-1, 1]), index, and
    whether any lag was NaN (then the pair has no defined peak)."""
    n_b, n_k, n_p, n_q = r.shape
    value = np.empty((n_b, n_p, n_q))
    index = np.zeros((n_b, n_p, n_q), dtype=np.int64)
    key = np.full((n_b, n_p, n_q), -np.inf)
    bad = np.zeros((n_b, n_p, n_q), dtype=np.bool_)
    for b in range(n_b):
        for k in range(n_k):
            for i in range(n_p):
                for j in range(n_q):
                    v = r[b, k, i, j]
                    if check_nan and not np.isfinite(v):
                        bad[b, i, j] = True
                        continue
                    kv = abs(v) if use_abs else v
                    if kv > key[b, i, j]:
                        key[b, i, j] = kv
                        value[b, i, j] = min(1.0, max(-1.0, v))
                        index[b, i, j] = k
    return value, index, bad


class IdenticalSignalsWarning(UserWarning):
    """Two persons' signals are the same (correlation 1 in every window)."""


def check_defined(
    r: np.ndarray, persons: list[str], *, source: str | None = None
) -> list[tuple[str, str]]:
    """Refuse synchrony undefined everywhere; return the pairs correlated exactly 1 throughout.

    ``r`` is (window, P, P) from :func:`wlcc_peaks`. Without a single window in which two
    persons' signals both vary, group synchrony would be NaN: an :class:`InputError`. A pair
    correlated exactly 1 in every window holds the same signal twice (a duplicated column, or a
    copy shifted in time); its Fisher z is capped (see :func:`fisher_z`), and the caller is told.
    """
    if not np.isfinite(r).any():
        raise InputError(
            "no window holds two persons whose signals vary (flat or missing everywhere), so "
            "synchrony is undefined",
            source=source,
        )
    exact = np.where(np.isfinite(r), r >= 1.0 - 1e-12, True).all(axis=0)
    seen = np.isfinite(r).any(axis=0)
    pairs = np.argwhere(np.triu(exact & seen & exact.T, 1))
    return [(persons[i], persons[j]) for i, j in pairs]


def identical_note(pairs: list[tuple[str, str]]) -> str:
    """One sentence naming the pairs with identical signals."""
    listed = ", ".join(f"{a!r} and {b!r}" for a, b in pairs[:3])
    more = f" (and {len(pairs) - 3} more pairs)" if len(pairs) > 3 else ""
    return (
        f"identical signals for persons {listed}{more}: correlation 1 in every window (Fisher z "
        f"capped at {float(np.arctanh(_R_CLIP)):.3g}); the same recording twice?"
    )


def fisher_z(r: np.ndarray) -> np.ndarray:
    """Fisher's z = artanh(r), with the absolute value of r clipped just below 1.

    The clipping keeps the z of a perfect correlation finite.
    """
    return np.arctanh(np.clip(r, -_R_CLIP, _R_CLIP))


def group_synchrony(r: np.ndarray) -> np.ndarray:
    """Mean pairwise synchrony per window: tanh of the mean Fisher z over pairs i < j.

    ``r`` is (..., P, P) (e.g. from :func:`wlcc_peaks`); both directions (i, j) and (j, i) of a
    pair are averaged in z. Pairs with NaN are ignored; a window with no valid pair is NaN.
    """
    z = fisher_z(r)
    z = 0.5 * (z + np.swapaxes(z, -1, -2))
    iu = np.triu_indices(r.shape[-1], k=1)
    pairs = z[..., iu[0], iu[1]]
    with np.errstate(invalid="ignore"), _quiet():
        return np.tanh(np.nanmean(pairs, axis=-1))


class _quiet:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def kuramoto_order(phase: np.ndarray) -> np.ndarray:
    """Kuramoto order parameter ``R(t) = |mean_p exp(i phi_p(t))|`` for phases (T, P) in rad."""
    with _quiet():
        return np.abs(np.nanmean(np.exp(1j * np.asarray(phase, float)), axis=1))


def cluster_phase(phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cluster-phase synchrony (Richardson et al., 2012).

    The group phase ``q(t)`` is the angle of the mean phasor; each person's relative phase
    ``phi_p - q`` has a circular mean ``m_p`` (their habitual lead or lag). Group synchrony at
    ``t`` is ``|mean_p exp(i (phi_p - q - m_p))|``, in [0, 1].

    Returns
    -------
    rho : ndarray (T,)
        Group synchrony over time.
    mean_relative : ndarray (P,)
        Each person's mean phase relative to the group (rad).
    """
    phase = np.asarray(phase, float)
    with _quiet():
        q = np.angle(np.nanmean(np.exp(1j * phase), axis=1))
        rel = np.exp(1j * (phase - q[:, None]))
        m = np.angle(np.nanmean(rel, axis=0))
        rho = np.abs(np.nanmean(rel * np.exp(-1j * m)[None, :], axis=1))
    return rho, m


def synchrony(
    features: xr.Dataset,
    config: SyncConfig = DEFAULT_SYNC,
    *,
    variable: str | None = None,
) -> xr.Dataset:
    """All-pairs windowed lagged synchrony of a group, with group-level summaries.

    Parameters
    ----------
    features : Dataset
        From :func:`syntony.physio.features.extract_features` (``variable`` (time, person),
        ``attrs["sampling_rate"]``; an optional ``phase`` variable adds the phase measures).
    config : SyncConfig
    variable : str, optional
        Defaults to ``features.attrs["feature"]``.

    Returns
    -------
    Dataset
        Dims (window, person, other). ``r`` peak correlation of (person -> other), ``lag``
        (s, positive: other follows person), ``rho`` the symmetric per-window synchrony matrix
        (tanh of the mean z of both directions, diagonal 1) ready to serve as the model's
        ``rho_ij``; ``group`` mean pairwise synchrony per window; with phases, ``kuramoto``
        and ``cluster_phase`` window means. Attrs hold the config and ``group_mean`` (tanh of
        the mean z over pairs and windows).
    """
    variable = variable or features.attrs.get("feature")
    if variable is None or variable not in features:
        raise InputError(f"no variable {variable!r} in the features", field=str(variable))
    fs = float(features.attrs["sampling_rate"])
    w, s, lag = config.samples(fs)
    x = features[variable].transpose("time", "person").to_numpy()
    if x.shape[1] < 2:
        raise InputError("synchrony needs at least two persons", field="person")
    r, lags, starts = wlcc_peaks(x, w, s, lag, peak=config.peak)
    persons = [str(p) for p in features.person.values]
    identical = check_defined(r, persons, source=features.attrs.get("source") or None)
    if identical:
        import warnings

        warnings.warn(identical_note(identical), IdenticalSignalsWarning, stacklevel=2)
    time = features["time"].to_numpy()
    centre = time[starts] + (w - 1) / (2 * fs)
    z = fisher_z(r)
    zsym = 0.5 * (z + np.swapaxes(z, 1, 2))
    rho = np.tanh(zsym)
    idx = np.arange(x.shape[1])
    rho[:, idx, idx] = 1.0
    group = group_synchrony(r)
    out = xr.Dataset(
        {
            "r": (("window", "person", "other"), r),
            "lag": (("window", "person", "other"), lags / fs, {"units": "s"}),
            "rho": (("window", "person", "other"), rho),
            "group": (("window",), group),
        },
        coords={
            "window": np.arange(len(starts)),
            "time": ("window", centre, {"units": "s", "long_name": "window centre"}),
            "person": persons,
            "other": persons,
        },
        attrs={
            "window": config.window,
            "step": config.step,
            "max_lag": config.max_lag,
            "peak": config.peak,
            "sampling_rate": fs,
            "variable": variable,
            "group_mean": float(np.tanh(np.nanmean(fisher_z(group)))),
            "identical_pairs": json.dumps([list(p) for p in identical]),
        },
    )
    if "phase" in features:
        phase = features["phase"].transpose("time", "person").to_numpy()
        kur = kuramoto_order(phase)
        cp, _ = cluster_phase(phase)
        win_idx = starts[:, None] + np.arange(w)[None, :]
        with _quiet():
            out["kuramoto"] = (("window",), np.nanmean(kur[win_idx], axis=1))
            out["cluster_phase"] = (("window",), np.nanmean(cp[win_idx], axis=1))
    return out
