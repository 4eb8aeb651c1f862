"""Figures for synchrony and fits (matplotlib).

Functions taking ``ax``/``axes`` draw there and return them; :func:`plot_signals` and
:func:`plot_null_distributions` make a figure of many panels and return it.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

__all__ = [
    "plot_fit",
    "plot_fit_scatter",
    "plot_group_synchrony",
    "plot_lags",
    "plot_null_distributions",
    "plot_pseudo_fit",
    "plot_signals",
    "plot_sync_matrix",
]


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


def plot_signals(
    features: xr.Dataset,
    excluded: dict[str, str] | None = None,
    *,
    ncols: int = 5,
    width: float = 10.0,
    max_panels: int = 60,
):
    """Small multiples of every person's feature series; excluded persons get a panel saying why.

    Returns the figure (one panel per person, a shared time axis).
    """
    import textwrap

    import matplotlib.pyplot as plt

    variable = features.attrs.get("feature")
    kept = [str(p) for p in features["person"].to_numpy()]
    excluded = dict(excluded or {})
    names = (kept + list(excluded))[:max_panels]
    ncols = max(1, min(ncols, len(names)))
    nrows = -(-len(names) // ncols)
    height = 0.6 + 1.3 * nrows
    # Fixed margins instead of a layout engine: many small panels make constrained layout slow.
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), sharex=True, squeeze=False)
    fig.subplots_adjust(
        left=0.06,
        right=0.99,
        bottom=0.5 / height,
        top=1 - 0.45 / height,
        wspace=0.25,
        hspace=0.45,
    )
    t = features["time"].to_numpy()
    values = features[variable].transpose("time", "person").to_numpy() if variable else None
    finite = values[np.isfinite(values)] if values is not None else np.array([])
    lo, hi = np.quantile(finite, [0.005, 0.995]) if finite.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo or 1.0)
    for ax, name in zip(axes.flat, names, strict=False):
        ax.set_title(name, fontsize=8, pad=2)
        ax.tick_params(labelsize=6)
        if name in excluded:
            ax.set_facecolor("#f4f4f4")
            ax.set_yticks([])
            reason = textwrap.fill(f"excluded: {excluded[name]}", 28)
            ax.text(
                0.5,
                0.5,
                reason,
                ha="center",
                va="center",
                fontsize=6.5,
                color="tab:red",
                transform=ax.transAxes,
            )
            for side in ax.spines.values():
                side.set_color("tab:red")
            continue
        ax.plot(t, values[:, kept.index(name)], lw=0.6, color="k")
        ax.set_ylim(lo - pad, hi + pad)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=7)
    units = features.attrs.get("units", "")
    fig.suptitle(f"{variable} ({units}) per person", fontsize=9)
    return fig


def plot_lags(sync: xr.Dataset, *, axes=None):
    """Histograms of the peak lags: every pair and window, and each pair's median lag."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
    lag = sync["lag"].to_numpy()
    iu = np.triu_indices(lag.shape[1], 1)
    pairs = lag[:, iu[0], iu[1]]
    every = pairs[np.isfinite(pairs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs without any valid window
        medians = np.nanmedian(pairs, axis=0)
    medians = medians[np.isfinite(medians)]
    max_lag = float(sync.attrs.get("max_lag", np.nanmax(np.abs(every)) if every.size else 1.0))
    fs = float(sync.attrs.get("sampling_rate", 1.0))
    edges = np.arange(-max_lag - 0.5 / fs, max_lag + 0.5 / fs + 1e-9, 1.0 / fs)
    if len(edges) > 61:
        edges = np.linspace(-max_lag, max_lag, 41)
    for ax, data, title in (
        (axes[0], every, "every pair and window"),
        (axes[1], medians, "median per pair"),
    ):
        ax.hist(data, bins=edges, color="0.35")
        ax.axvline(0.0, color="tab:red", lw=0.8)
        ax.set_xlabel("lag of the peak (s; > 0: the second person follows)")
        ax.set_ylabel("count")
        ax.set_title(title, fontsize=9)
    return axes


def plot_null_distributions(tests, nulls: dict[str, np.ndarray], *, width: float = 10.0):
    """One panel per test: the null distribution, its 95% range and the observed value."""
    import matplotlib.pyplot as plt

    rows = [row for _, row in tests.iterrows() if row["method"] in nulls]
    ncols = max(1, min(3, len(rows)))
    nrows = max(1, -(-len(rows) // ncols))
    height = 0.4 + 2.4 * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(
        left=0.06,
        right=0.99,
        bottom=0.3 / height,
        top=1 - 0.35 / height,
        wspace=0.25,
        hspace=0.5,
    )
    for ax, row in zip(axes.flat, rows, strict=False):
        null = np.asarray(nulls[row["method"]], float)
        ax.hist(null[np.isfinite(null)], bins=30, color="0.6")
        ax.axvline(row["observed"], color="k", lw=1.5, label="observed")
        ax.axvspan(
            row["null_q025"], row["null_q975"], color="tab:orange", alpha=0.2, label="null 95%"
        )
        ax.set_title(f"{row['method']} (p = {row['p_value']:.2g})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(rows) :]:
        ax.set_visible(False)
    if rows:
        axes.flat[0].legend(fontsize=7)
    return fig


def plot_fit_scatter(observed: np.ndarray, predicted: np.ndarray, *, ax=None, label: str = ""):
    """Predicted against observed values of every person and time, with the identity line."""
    ax = _axes(ax)
    ok = np.isfinite(observed) & np.isfinite(predicted)
    ax.scatter(observed[ok], predicted[ok], s=3, alpha=0.3, color="tab:blue", rasterized=True)
    if ok.any():
        lo = float(min(observed[ok].min(), predicted[ok].min()))
        hi = float(max(observed[ok].max(), predicted[ok].max()))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
    ax.set_xlabel(f"observed {label}".strip())
    ax.set_ylabel(f"one-step prediction {label}".strip())
    ax.set_title("Predicted against observed", fontsize=9)
    return ax


def plot_pseudo_fit(c_real: float, c_pseudo: np.ndarray, *, ax=None):
    """The pseudo-groups' fitted couplings and the real group's."""
    ax = _axes(ax)
    values = np.asarray(c_pseudo, float)
    ax.hist(values[np.isfinite(values)], bins=30, color="0.6", label="pseudo-groups")
    ax.axvline(c_real, color="k", lw=1.5, label="real group")
    ax.set_xlabel("fitted coupling c")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    return ax
