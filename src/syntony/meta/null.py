"""The analytic null distribution of ALE values (Eickhoff et al. 2012).

Under the null hypothesis every experiment's modelled-activation (MA) values are spread
uniformly over the mask, so the null distribution of ALE is obtained by combining the
experiments' MA histograms one after another: a voxel with ALE ``a`` so far and MA ``b`` in the
next experiment gets ``1 - (1 - a)(1 - b)``. Values live on a grid of bins 1e-5 wide; each value
goes to its nearest bin centre, ties upwards, NiMARE's convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy import special

__all__ = [
    "BIN_STEP",
    "HistogramNull",
    "bin_index",
    "histogram_null",
    "logp_from_p",
    "z_from_p",
]

#: Width of the ALE histogram bins.
BIN_STEP = 1e-5
_INV_STEP = 100000


@numba.njit(cache=True, nogil=True)
def _nearest(value: float, inv_step: float, n_bins: int) -> int:
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
            out[_nearest(score, inv_step, n_bins)] += weight * ale_hist[a]
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
    """

    centres: np.ndarray
    weights: np.ndarray

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


def z_from_p(p: np.typing.ArrayLike) -> np.ndarray:
    """One-tailed z of p-values (>= 0 for p <= 0.5), computed in log space."""
    p = np.clip(np.asarray(p, dtype=np.float64), np.finfo(np.float64).tiny, 1.0)
    return np.maximum(-special.ndtri_exp(np.log(p)), 0.0)


def logp_from_p(p: np.typing.ArrayLike) -> np.ndarray:
    """``-log10(p)``, never negative (p = 1 gives 0)."""
    p = np.clip(np.asarray(p, dtype=np.float64), np.finfo(np.float64).tiny, 1.0)
    return np.maximum(np.log(p) / -np.log(10.0) + 0.0, 0.0)
