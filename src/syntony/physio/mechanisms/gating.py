"""The synchrony gate: eq (2) precisions computed from the observed series, window by window.

For each ordered pair the precision of eq (2),

    omega_ij(t) = 1 / (sigma_i(t) + sigma_j(t) - 2 rho_ij(t) sqrt(sigma_i(t) sigma_j(t))),

is computed from the samples up to and including ``t`` (never later ones), either over the last
``window`` seconds (``weighting="boxcar"``) or with exponential weights of time constant
``window`` (``weighting="exponential"``, the agent loop's online synchrony: West's recursion
with weight ``dt / window``). The gated pull of j on i is ``c * w_ij(t)`` with

    w_ij(t) = 1 + g * (omega_ij(t) / mean_k omega_ik(t) - 1),

the mean taken over the people i perceives (weighted by the network), so the weights of a row
average to one: ``c`` keeps its meaning (the total pull) and ``g`` says how much of it follows
synchrony (0: everyone perceived counts the same; 1: in proportion to eq (2), as the agent
loop's shared prior weighs them). :func:`gate_deviations` returns the (T, N, N) array ``D`` with
``L(t) = L0 - g D(t)``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from syntony._validate import check_choice, check_positive
from syntony.errors import ParameterError

__all__ = ["WEIGHTINGS", "gate_deviations", "pair_precisions"]

WEIGHTINGS = ("boxcar", "exponential")


@numba.njit(cache=True)
def _boxcar(y, w, min_count, floor):  # pragma: no cover - compiled
    n_t, n = y.shape
    out = np.full((n_t, n, n), np.nan)
    for i in range(n):
        for j in range(i + 1, n):
            for t in range(w - 1, n_t):
                cnt = 0
                s1 = 0.0
                for k in range(t - w + 1, t + 1):
                    d = y[k, i] - y[k, j]
                    if np.isfinite(d):
                        cnt += 1
                        s1 += d
                if cnt < min_count:
                    continue
                mean = s1 / cnt
                s2 = 0.0
                for k in range(t - w + 1, t + 1):
                    d = y[k, i] - y[k, j]
                    if np.isfinite(d):
                        s2 += (d - mean) * (d - mean)
                val = 1.0 / max(s2 / cnt, floor)
                out[t, i, j] = val
                out[t, j, i] = val
    return out


@numba.njit(cache=True)
def _exponential(y, alpha, warm, floor):  # pragma: no cover - compiled
    n_t, n = y.shape
    out = np.full((n_t, n, n), np.nan)
    mean = y[0].copy()
    for i in range(n):
        if not np.isfinite(mean[i]):
            mean[i] = 0.0
    var = np.zeros(n)
    cov = np.zeros((n, n))
    d = np.zeros(n)
    for t in range(n_t):
        for i in range(n):
            d[i] = y[t, i] - mean[i] if np.isfinite(y[t, i]) else 0.0
        for i in range(n):
            for j in range(i + 1, n):
                cov[i, j] = (1.0 - alpha) * (cov[i, j] + alpha * d[i] * d[j])
        for i in range(n):
            mean[i] += alpha * d[i]
            var[i] = (1.0 - alpha) * (var[i] + alpha * d[i] * d[i])
        if t + 1 < warm:
            continue
        for i in range(n):
            for j in range(i + 1, n):
                den = var[i] * var[j]
                rho = cov[i, j] / math.sqrt(den) if den > 0 else 0.0
                rho = min(1.0, max(-1.0, rho))
                val = 1.0 / max(var[i] + var[j] - 2.0 * rho * math.sqrt(den), floor)
                out[t, i, j] = val
                out[t, j, i] = val
    return out


def pair_precisions(
    y: np.ndarray,
    dt: float,
    *,
    window: float = 30.0,
    weighting: str = "boxcar",
) -> np.ndarray:
    """eq (2) precision of every pair at every time from the samples up to then, (T, N, N).

    NaN where the window is not yet full (or, for a boxcar, holds fewer than half its samples),
    and on the diagonal. The variance floor is 1e-6 times the mean variance of the series.
    """
    weighting = check_choice("weighting", weighting, WEIGHTINGS)
    window = check_positive("window", window)
    dt = check_positive("dt", dt)
    y = np.ascontiguousarray(y, float)
    floor = 1e-6 * float(np.nanmean(np.nanvar(y, axis=0)) or 1.0)
    samples = round(window / dt)
    if weighting == "boxcar":
        if samples < 3:
            raise ParameterError("window", f"at least 3 samples at dt = {dt:g} s", window)
        if samples >= y.shape[0]:
            raise ParameterError(
                "window", f"shorter than the series ({y.shape[0] * dt:g} s)", window
            )
        return _boxcar(y, samples, max(3, samples // 2), floor)
    alpha = min(1.0, dt / window)
    return _exponential(y, alpha, max(1, samples), floor)


def gate_deviations(omega: np.ndarray, adjacency: np.ndarray) -> np.ndarray:
    """``D(t)`` with ``L(t) = L0 - g D(t)``: ``A_ij (omega_ij / mean_i - 1) / deg_i``.

    ``mean_i`` is the network-weighted mean of row i over the pairs with a precision; pairs
    without one (NaN) get weight 1 (no gating), as do all pairs before the first full window.
    Each row of ``D(t)`` sums to zero, so the total pull of each person stays ``c``.
    """
    a = np.asarray(adjacency, float).copy()
    np.fill_diagonal(a, 0.0)
    deg = a.sum(axis=1)
    valid = np.isfinite(omega) & (a[None] > 0)
    om = np.where(valid, omega, 0.0)
    weight = np.where(valid, a[None], 0.0)
    wsum = weight.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(wsum > 0, (weight * om).sum(axis=2) / np.where(wsum > 0, wsum, 1), np.nan)
        ratio = np.where(valid & (mean[..., None] > 0), om / mean[..., None], 1.0)
        inv_deg = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    dev = a[None] * (ratio - 1.0) * inv_deg[None, :, None]
    return np.ascontiguousarray(dev)
