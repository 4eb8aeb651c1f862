"""The analytic null distribution of ALE values (Eickhoff et al. 2012).

Under the null hypothesis every experiment's modelled-activation (MA) values are spread
uniformly over the mask, so the null distribution of ALE is obtained by combining the
experiments' MA histograms one after another: a voxel with ALE ``a`` so far and MA ``b`` in the
next experiment gets ``1 - (1 - a)(1 - b)``. Values live on a grid of bins 1e-5 wide; each value
goes to its nearest bin centre, ties upwards, NiMARE's convention.

That exact combination costs (experiments x occupied MA bins x occupied ALE bins): about 20 s
for 900 experiments and hours for the 5,000-article selections of a MACM. Written in
``u = -log(1 - ALE)`` the combination is a plain sum of independent variables, so
:func:`log_space_null` gets the same distribution from FFT convolutions in a few seconds; it is
an option (the exact method stays the default for parity with NiMARE).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from scipy import signal, special

__all__ = [
    "BIN_STEP",
    "NULL_METHODS",
    "HistogramNull",
    "auto_null",
    "bin_index",
    "histogram_null",
    "log_space_null",
    "logp_from_p",
    "nearest_bin",
    "z_from_p",
]

#: Width of the ALE histogram bins.
BIN_STEP = 1e-5
_INV_STEP = 100000


@numba.njit(cache=True, nogil=True)
def nearest_bin(value: float, inv_step: float, n_bins: int) -> int:
    """Nearest bin (ties upwards, NiMARE's rounding) of ``value``, clipped to [0, n_bins)."""
    # Subtracting the floor (instead of floor(x + 0.5)) keeps 0.49999999999999994 below half.
    scaled = value * inv_step
    low = np.floor(scaled)
    idx = int(low) + (1 if scaled - low >= 0.5 else 0)
    if idx < 0:
        return 0
    if idx >= n_bins:
        return n_bins - 1
    return idx


def bin_index(values: np.typing.ArrayLike, inv_step: float, n_bins: int) -> np.ndarray:
    """Nearest-bin index (ties upwards) of ``values``, clipped to ``[0, n_bins)``."""
    scaled = np.asarray(values, dtype=np.float64) * inv_step
    low = np.floor(scaled)
    idx = low.astype(np.int64) + (scaled - low >= 0.5)
    return np.clip(idx, 0, n_bins - 1)


@numba.njit(cache=True)
def _combine(ale_hist, exp_hist, centres, inv_step, out):
    n_bins = centres.shape[0]
    out[:] = 0.0
    ale_idx = np.flatnonzero(ale_hist > 0)
    exp_idx = np.flatnonzero(exp_hist > 0)
    for e in exp_idx:
        keep = 1.0 - centres[e]
        weight = exp_hist[e]
        for a in ale_idx:
            score = 1.0 - keep * (1.0 - centres[a])
            out[nearest_bin(score, inv_step, n_bins)] += weight * ale_hist[a]
    return out


@dataclass(frozen=True, eq=False)
class HistogramNull:
    """Null distribution of ALE on a grid of bin centres.

    Attributes
    ----------
    centres : ndarray
        Bin centres (0, 1e-5, 2e-5, ...).
    weights : ndarray
        Probability of each bin under the null (sums to 1).
    method : str
        How it was computed, for the methods text.
    """

    centres: np.ndarray
    weights: np.ndarray
    method: str = "histogram convolution, bins of 1e-5"

    @property
    def inv_step(self) -> float:
        return 1.0 / (self.centres[1] - self.centres[0])

    def tail(self) -> np.ndarray:
        """P(ALE >= centre) for each bin centre, normalised so that the first entry is 1."""
        w = self.weights / np.sum(self.weights)
        tail = np.cumsum(w[::-1])[::-1]
        return tail / np.max(tail)

    def p_values(self, ale: np.typing.ArrayLike) -> np.ndarray:
        """Uncorrected p of ALE values: the tail at the nearest bin (ties away from zero).

        ALE <= 0 gives p = 1; p is floored at the smallest non-zero tail probability.
        """
        ale = np.asarray(ale)
        tail = self.tail()
        smallest = np.min(tail[tail != 0])
        p = np.ones(ale.shape)
        positive = ale > 0
        scaled = ale[positive] * self.inv_step
        # Round half away from zero (values are positive here).
        idx = np.floor(scaled).astype(np.int64) + (scaled - np.floor(scaled) >= 0.5)
        idx = np.minimum(idx, self.centres.size - 1)
        p[positive] = tail[idx]
        return np.maximum(smallest, np.minimum(p, 1.0))

    def threshold(self, p: float) -> float:
        """The cluster-forming ALE threshold for an uncorrected ``p``.

        The bin centre just below the first bin whose tail probability is <= ``p``; the largest
        centre when no tail is that small.
        """
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.sum() <= 0:
            return float(self.centres[0])
        tail = np.cumsum(weights[::-1])[::-1]
        tail /= tail[0]
        below = np.flatnonzero(tail <= p)
        if below.size == 0:
            return float(self.centres[-1])
        return float(self.centres[max(0, below[0] - 1)])


def histogram_bins(max_ma: np.typing.ArrayLike) -> np.ndarray:
    """Bin centres from 0 to the largest attainable ALE given each experiment's peak MA."""
    peaks = np.ceil(np.asarray(max_ma, dtype=np.float64) * _INV_STEP) / _INV_STEP
    max_ale = 1.0 - np.prod(1.0 - peaks)
    return np.round(np.arange(0, max_ale + 1.5 * BIN_STEP, BIN_STEP), 5)


def histogram_null(ma_counts: np.ndarray, max_ma: np.ndarray, n_mask_voxels: int) -> HistogramNull:
    """Combine per-experiment MA histograms into the null distribution of ALE.

    Parameters
    ----------
    ma_counts : ndarray, shape (n_experiments, n_small_bins)
        For each experiment, the number of in-mask voxels whose MA value falls in each bin
        (nearest bin of width 1e-5; voxels with MA = 0 in bin 0).
    max_ma : ndarray, shape (n_experiments,)
        Largest in-mask MA value of each experiment.
    n_mask_voxels : int
        Number of voxels in the mask.
    """
    centres = histogram_bins(max_ma)
    n_bins = centres.size
    inv_step = 1.0 / (centres[1] - centres[0])
    scale = 1.0 / n_mask_voxels
    ale_hist = None
    out = np.zeros(n_bins)
    for counts in np.asarray(ma_counts, dtype=np.float64):
        exp_hist = np.zeros(n_bins)
        m = min(n_bins, counts.size)
        exp_hist[:m] = counts[:m]
        if counts.size > n_bins:  # values beyond the grid are clipped onto its last bin
            exp_hist[-1] += counts[n_bins:].sum()
        exp_hist *= scale
        if ale_hist is None:
            ale_hist = exp_hist
            continue
        _combine(ale_hist, exp_hist, centres, inv_step, out)
        ale_hist, out = out, ale_hist
    return HistogramNull(centres=centres, weights=ale_hist)


def log_space_null(
    ma_counts: np.ndarray,
    max_ma: np.ndarray,
    n_mask_voxels: int,
    *,
    max_bins: int = 2**21,
    tail_eps: float = 1e-18,
    n_jobs: int | None = None,
) -> HistogramNull:
    """The null of :func:`histogram_null` computed as a sum in log space by FFT convolution.

    With ``u_e = -log(1 - MA_e)``, a null voxel's ALE is ``1 - exp(-sum_e u_e)``: the
    distribution of the sum is the convolution of the experiments' distributions of ``u``.
    Each experiment's MA histogram (same 1e-5 bins as the exact method) is moved onto a
    uniform grid of ``u`` by splitting every bin's mass between its two neighbouring grid
    points (which keeps each experiment's mean exactly), the experiments are convolved
    pairwise with FFTs, and the result is binned back onto the ALE bins of
    :func:`histogram_bins`. The grid ends where a Bernstein bound puts less than ``tail_eps``
    of the mass beyond it, so FFT wrap-around cannot distort the tail; the grid step is
    at most 1e-6 (finer than the ALE bins wherever ALE < 0.9) and grows only when the
    support needs more than ``max_bins`` points. FFT round-off limits the resolvable tail
    probability to about 1e-13: smaller p-values are reported at that floor.

    Parameters
    ----------
    ma_counts, max_ma, n_mask_voxels
        As for :func:`histogram_null`.
    max_bins : int
        Largest number of grid points of the summed distribution.
    tail_eps : float
        Mass allowed beyond the end of the grid.
    n_jobs : int, optional
        Threads for the convolutions (default: all cores).
    """
    counts = np.asarray(ma_counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] < 1:
        raise ValueError("ma_counts must be (n_experiments, n_bins) with at least one row")
    probs = counts / float(n_mask_voxels)
    ma_values = np.minimum(np.arange(counts.shape[1]) * BIN_STEP, 1.0 - 1e-12)
    u_values = -np.log1p(-ma_values)
    mean = probs @ u_values
    var = np.maximum(probs @ u_values**2 - mean**2, 0.0)
    occupied = probs > 0
    u_max = np.array([u_values[row].max() if row.any() else 0.0 for row in occupied])
    # Bernstein: P(sum - mean > t) <= exp(-t^2 / (2 (var + M t / 3))) for terms in [0, M].
    c = np.log(1.0 / tail_eps)
    big = float(u_max.max())
    spread = 2.0 * c * big / 3.0
    t = 0.5 * (spread + np.sqrt(spread**2 + 8.0 * c * float(var.sum())))
    upper = min(float(mean.sum()) + t, float(u_max.sum())) + 1e-12
    step = max(1e-6, upper / (max_bins - 3))
    n_grid = int(np.ceil(upper / step)) + 2

    pieces = []
    for row, top in zip(probs, u_max, strict=True):
        keep = row > 0
        position = u_values[keep] / step
        low = np.floor(position).astype(np.int64)
        frac = position - low
        length = min(int(np.ceil(top / step)) + 2, n_grid)
        low = np.minimum(low, length - 2)
        piece = np.bincount(low, weights=row[keep] * (1.0 - frac), minlength=length)
        piece += np.bincount(low + 1, weights=row[keep] * frac, minlength=length)
        pieces.append(piece[:length])

    def convolve(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return np.maximum(signal.fftconvolve(*pair)[:n_grid], 0.0)

    # Pairwise rounds keep every FFT as short as its operands allow; pocketfft releases the
    # GIL, so the pairs of a round run on all cores.
    with ThreadPoolExecutor(max_workers=n_jobs or os.cpu_count() or 1) as pool:
        while len(pieces) > 1:
            merged = list(pool.map(convolve, zip(pieces[0::2], pieces[1::2], strict=False)))
            if len(pieces) % 2:
                merged.append(pieces[-1])
            pieces = merged
    pmf = pieces[0]
    pmf[pmf < 1e-17] = 0.0  # FFT round-off, not probability

    centres = histogram_bins(max_ma)
    ale = -np.expm1(-np.arange(pmf.size) * step)
    index = bin_index(ale, 1.0 / (centres[1] - centres[0]), centres.size)
    weights = np.bincount(index, weights=pmf, minlength=centres.size)
    return HistogramNull(
        centres=centres,
        weights=weights / weights.sum(),
        method=f"convolution of -log(1 - MA) by FFT on a grid of {step:.2g}, ALE bins of 1e-5",
    )


#: :func:`auto_null` uses the exact combination up to this many experiments.
AUTO_EXACT_MAX_EXPERIMENTS = 500


def auto_null(ma_counts: np.ndarray, max_ma: np.ndarray, n_mask_voxels: int) -> HistogramNull:
    """NiMARE's exact combination for small analyses, :func:`log_space_null` for large ones.

    The exact method's cost grows with the square of the number of experiments (its ALE
    histogram fills up as experiments are added); beyond
    :data:`AUTO_EXACT_MAX_EXPERIMENTS` experiments the log-space convolution is used.
    """
    if np.shape(ma_counts)[0] <= AUTO_EXACT_MAX_EXPERIMENTS:
        return histogram_null(ma_counts, max_ma, n_mask_voxels)
    return log_space_null(ma_counts, max_ma, n_mask_voxels)


#: The analytic-null methods by the names used at the command line.
NULL_METHODS = {"exact": histogram_null, "fft": log_space_null, "auto": auto_null}


def z_from_p(p: np.typing.ArrayLike) -> np.ndarray:
    """One-tailed z of p-values (>= 0 for p <= 0.5), computed in log space."""
    p = np.clip(np.asarray(p, dtype=np.float64), np.finfo(np.float64).tiny, 1.0)
    return np.maximum(-special.ndtri_exp(np.log(p)), 0.0)


def logp_from_p(p: np.typing.ArrayLike) -> np.ndarray:
    """``-log10(p)``, never negative (p = 1 gives 0)."""
    p = np.clip(np.asarray(p, dtype=np.float64), np.finfo(np.float64).tiny, 1.0)
    return np.maximum(np.log(p) / -np.log(10.0) + 0.0, 0.0)
