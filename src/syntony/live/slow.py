"""What a live session recomputes at a slower cadence: the surrogate band and the coupling.

Both work on a snapshot of the recent feature series and run on a worker thread, so the
per-step synchrony never waits for them.

* :func:`surrogate_band` — circular-shift surrogates of the newest window: each person's
  recent series is rolled by its own random offset (at least a window plus the largest lag, as
  offline), and the group synchrony of the shifted window is computed from scratch. The 2.5% and
  97.5% quantiles of these values bound what synchrony looks like when nobody is aligned with
  anybody. Each surrogate uses at most ``max_persons`` persons, drawn at random (all of them in
  small groups): in large groups the band then comes from fewer pairs, so it is somewhat wider
  (conservative) than the band of the whole group would be.
* :func:`fit_coupling` — the contagion coupling ``c`` of the state-space model
  (:class:`syntony.physio.fit.ContagionModel`) fitted by maximum likelihood to the last
  ``span`` seconds, averaged down to ``fit_fs``, of at most ``max_persons`` persons with complete
  data, with its 95% interval and the likelihood-ratio test of ``c = 0``.

Every random draw comes from a named stream of the session's seed and the window number, so a
given window's band and fit are the same whenever they are computed.
"""

from __future__ import annotations

import warnings

import numpy as np

from syntony._rng import SeedTree
from syntony.physio.synchrony import SyncConfig, group_synchrony, wlcc_peaks

__all__ = ["block_mean", "fit_coupling", "surrogate_band"]


def surrogate_band(
    x: np.ndarray,
    fs: float,
    config: SyncConfig,
    *,
    n_surrogates: int,
    tree: SeedTree,
    max_persons: int = 100,
) -> dict | None:
    """Quantiles of the group synchrony of the newest window under circular shifts.

    Parameters
    ----------
    x : ndarray (T, P)
        The recent feature series, newest sample last (NaN where missing).
    """
    w, _, lag = config.samples(fs)
    span = w + 2 * lag
    present = np.flatnonzero(np.isfinite(x[-span:]).all(axis=0))
    n_t = x.shape[0]
    min_shift = min(w + lag, n_t // 2 - 1)
    if present.size < 2 or n_t < 2 * span or n_t - 2 * min_shift < 1:
        return None
    rng = tree.generator()
    values = np.empty(n_surrogates)
    with warnings.catch_warnings():
        # Columns that are missing in older parts of the span warn inside the offline code.
        warnings.simplefilter("ignore", RuntimeWarning)
        _draw(
            x,
            chosen_from=present,
            values=values,
            rng=rng,
            w=w,
            lag=lag,
            span=span,
            min_shift=min_shift,
            max_persons=max_persons,
            peak=config.peak,
        )
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    return {
        "n_surrogates": int(values.size),
        "n_persons": int(min(present.size, max_persons)),
        "q025": float(np.quantile(values, 0.025)),
        "q975": float(np.quantile(values, 0.975)),
        "median": float(np.median(values)),
    }


def _draw(x, *, chosen_from, values, rng, w, lag, span, min_shift, max_persons, peak) -> None:
    n_t = x.shape[0]
    for k in range(values.size):
        chosen = chosen_from
        if chosen_from.size > max_persons:
            chosen = np.sort(rng.choice(chosen_from, size=max_persons, replace=False))
        shifts = rng.integers(min_shift, n_t - min_shift + 1, size=chosen.size)
        rows = (np.arange(n_t - span, n_t)[:, None] - shifts[None, :]) % n_t
        seg = np.take_along_axis(x[:, chosen], rows, axis=0)
        r, _, _ = wlcc_peaks(seg, w, w, lag, peak=peak)
        values[k] = float(group_synchrony(r)[0])


def block_mean(x: np.ndarray, factor: int) -> np.ndarray:
    """Average consecutive blocks of ``factor`` rows (a trailing partial block is dropped)."""
    n = (x.shape[0] // factor) * factor
    return x[:n].reshape(n // factor, factor, *x.shape[1:]).mean(axis=1)


def fit_coupling(
    x: np.ndarray,
    fs: float,
    *,
    fit_fs: float,
    tree: SeedTree,
    max_persons: int = 20,
) -> dict | None:
    """Maximum-likelihood coupling ``c`` of the recent series (see the module docstring)."""
    from syntony.physio.fit import ContagionModel

    factor = max(1, round(fs / fit_fs))
    y = block_mean(x, factor)
    complete = np.flatnonzero(np.isfinite(y).all(axis=0) & (np.nanstd(y, axis=0) > 0))
    if complete.size < 2 or y.shape[0] < 10:
        return None
    if complete.size > max_persons:
        complete = np.sort(tree.generator().choice(complete, size=max_persons, replace=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ContagionModel(dt=factor / fs).fit(y[:, complete])
    return {
        "warnings": sorted({str(w.message) for w in caught}),
        "span_s": y.shape[0] * factor / fs,
        "n_persons": int(complete.size),
        "c": float(model.params_["c"]),
        "c_ci_low": float(model.ci_["c"][0]),
        "c_ci_high": float(model.ci_["c"][1]),
        "lrt_pvalue": float(model.lrt_pvalue_),
        "converged": bool(model.converged_),
    }
