"""Figures for synchrony and fits (matplotlib; each function draws on an Axes and returns it)."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

__all__ = ["plot_fit", "plot_group_synchrony", "plot_sync_matrix"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 5))
    return ax


def plot_sync_matrix(sync: xr.Dataset, *, ax=None):
    """Heat map of each pair's synchrony (tanh of the mean Fisher z of ``rho`` over windows)."""
    from syntony.physio.synchrony import fisher_z

    ax = _axes(ax)
    with np.errstate(invalid="ignore"):
        mat = np.tanh(np.nanmean(fisher_z(sync["rho"].to_numpy()), axis=0))
    np.fill_diagonal(mat, np.nan)
    lim = float(np.nanmax(np.abs(mat))) if np.isfinite(mat).any() else 1.0
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim)
    names = [str(p) for p in sync.person.values]
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_title(f"Peak lagged correlation ({sync.attrs.get('variable', '')})")
    ax.figure.colorbar(im, ax=ax, label="synchrony r")
    return ax


def plot_group_synchrony(
    sync: xr.Dataset,
    *,
    null_windows: dict[str, np.ndarray] | None = None,
    ax=None,
):
    """Group synchrony per window against the 2.5-97.5% band of each null distribution."""
    ax = _axes(ax)
    t = sync["time"].to_numpy()
    for (label, windows), colour in zip(
        (null_windows or {}).items(), ("0.6", "tab:orange", "tab:green"), strict=False
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # windows without a band
            lo, hi = np.nanquantile(windows, [0.025, 0.975], axis=0)
        ax.fill_between(t, lo, hi, color=colour, alpha=0.35, label=f"{label} 95% band")
    ax.plot(t, sync["group"].to_numpy(), color="k", lw=1.5, label="real group")
    ax.set_xlabel("time (s, window centre)")
    ax.set_ylabel("mean pairwise synchrony")
    ax.legend(fontsize=8)
    return ax


def plot_fit(
    time: np.ndarray,
    observed: np.ndarray,
    predicted: np.ndarray,
    *,
    ax=None,
    n_persons: int = 3,
    ylabel: str = "",
):
    """Observed vs one-step-ahead predicted series: group mean and the first few persons."""
    ax = _axes(ax)
    with warnings.catch_warnings():
        # The first row has no one-step prediction (all NaN).
        warnings.simplefilter("ignore", RuntimeWarning)
        obs_mean, pred_mean = np.nanmean(observed, axis=1), np.nanmean(predicted, axis=1)
    ax.plot(time, obs_mean, color="k", lw=1.5, label="observed group mean")
    ax.plot(time, pred_mean, color="tab:red", lw=1.2, label="fitted (one-step)")
    for k in range(min(n_persons, observed.shape[1])):
        line = ax.plot(time, observed[:, k], lw=0.6, alpha=0.5)[0]
        ax.plot(time, predicted[:, k], lw=0.6, ls="--", color=line.get_color())
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title("Observed (solid) and one-step-ahead fitted (dashed) series")
    ax.legend(fontsize=8)
    return ax
