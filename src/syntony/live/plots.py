"""Figures of a live session's report (matplotlib, Agg)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from syntony.physio.synchrony import fisher_z

__all__ = ["coupling_figure", "matrix_figure", "timeline_figure"]


def _figure(width: float = 10.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100, layout="constrained")


def timeline_figure(windows: pd.DataFrame, nulls: pd.DataFrame):
    """Group synchrony per window, the surrogate bands held until the next, Kuramoto dashed."""
    fig, ax = _figure()
    t = windows["time"].to_numpy(float)
    if not nulls.empty:
        nt = nulls["time"].to_numpy(float)
        stop = np.append(nt[1:], t.max() if t.size else nt[-1])
        for a, b, lo, hi in zip(nt, stop, nulls["q025"], nulls["q975"], strict=True):
            ax.fill_between([a, b], [lo, lo], [hi, hi], color="0.6", alpha=0.35, lw=0)
    ax.plot(t, windows["group"], color="#1f5fbf", lw=1.5, label="group synchrony")
    if "kuramoto" in windows and np.isfinite(windows["kuramoto"].to_numpy(float)).any():
        ax.plot(t, windows["kuramoto"], color="#c0582b", lw=1.0, ls="--", label="Kuramoto order")
    ax.set_xlabel("session time (s)")
    ax.set_ylabel("synchrony")
    ax.legend(loc="upper left", frameon=False)
    return fig


def matrix_figure(matrices: xr.Dataset, persons: list[str]):
    """Pairwise synchrony averaged over windows (mean Fisher z of both directions)."""
    r = matrices["r"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z = np.nanmean(fisher_z(r), axis=0)
    z = 0.5 * (z + z.T)
    np.fill_diagonal(z, np.nan)
    fig, ax = _figure(6.0, 5.0)
    image = ax.imshow(np.tanh(z), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    if len(persons) <= 30:
        ax.set_xticks(range(len(persons)), persons, rotation=90, fontsize=7)
        ax.set_yticks(range(len(persons)), persons, fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8, label="synchrony")
    return fig


def coupling_figure(coupling: pd.DataFrame):
    """Fitted coupling c with its 95% interval over the session."""
    fig, ax = _figure(10.0, 3.0)
    t = coupling["time"].to_numpy(float)
    ax.fill_between(t, coupling["c_ci_low"], coupling["c_ci_high"], color="0.6", alpha=0.35, lw=0)
    ax.plot(t, coupling["c"], "o-", color="#1f5fbf", ms=3, lw=1.2)
    ax.axhline(0.0, color="0.4", lw=0.8)
    ax.set_xlabel("session time (s)")
    ax.set_ylabel("coupling c")
    return fig
