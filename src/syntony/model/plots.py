"""Figures of a simulation Dataset (matplotlib). One function per figure; each returns the Figure.

They work on the Dataset that :func:`~syntony.model.simulate.simulate` returns for the agent
loop; :func:`plot_dyad` and :func:`plot_crowd_filter` cover the published models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

__all__ = [
    "plot_agents",
    "plot_crowd_filter",
    "plot_defensive",
    "plot_dyad",
    "plot_figures",
    "plot_summaries",
]


def _figure(nrows: int = 1, ncols: int = 1, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", (7, 2.4 * nrows)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def _summary_time(ds: xr.Dataset) -> np.ndarray:
    return ds["summary_time"].values if "summary_time" in ds.coords else ds["time"].values


def plot_agents(ds: xr.Dataset, *, max_agents: int = 30) -> Figure:
    """Body state x (thin) and prediction mu (dashed) of the stored agents, one panel per channel."""
    channels = list(ds["channel"].values)
    fig, axes = _figure(len(channels), 1, sharex=True)
    time = ds["time"].values
    agents = ds["agent"].values[:max_agents]
    for ax, channel in zip(axes[:, 0], channels, strict=True):
        x = ds["x"].sel(channel=channel, agent=agents).values
        mu = ds["mu"].sel(channel=channel, agent=agents).values
        ax.plot(time, x, lw=0.6, alpha=0.6, color="tab:blue")
        ax.plot(time, mu, lw=0.6, alpha=0.6, color="tab:orange", ls="--")
        ax.set_ylabel(f"{channel}\nx (—), mu (- -)")
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"{len(agents)} of {ds.sizes['agent']} stored agents")
    return fig


def plot_summaries(ds: xr.Dataset) -> Figure:
    """Group synchrony R(t), dispersion D(t) and contagion reach f(t), per channel."""
    fig, axes = _figure(3, 1, sharex=True)
    time = _summary_time(ds)
    for name, ax, label in (
        ("synchrony", axes[0, 0], "R(t): mean rho"),
        ("dispersion", axes[1, 0], "D(t) = var(mu)"),
        ("reach", axes[2, 0], "f(t): reach"),
    ):
        for channel in ds["channel"].values:
            ax.plot(time, ds[name].sel(channel=channel).values, label=str(channel))
        ax.set_ylabel(label)
    conv = ds["convergence_time"].values
    for t in conv[np.isfinite(conv)]:
        axes[1, 0].axvline(t, color="grey", ls=":", lw=1)
    if ds.sizes["channel"] > 1:
        axes[0, 0].legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("time (s)")
    return fig


def plot_defensive(ds: xr.Dataset, *, max_agents: int = 30) -> Figure:
    """P(defensive) of the stored agents and the fraction of the crowd in the defensive mode."""
    fig, axes = _figure(2, 1, sharex=True)
    time = ds["time"].values
    agents = ds["agent"].values[:max_agents]
    axes[0, 0].plot(time, ds["p_defensive"].sel(agent=agents).values, lw=0.6, alpha=0.6)
    axes[0, 0].axhline(0.5, color="grey", ls=":", lw=1)
    axes[0, 0].set_ylabel("P(defensive)")
    axes[1, 0].plot(_summary_time(ds), ds["fraction_defensive"].values, color="tab:red")
    axes[1, 0].set_ylabel("fraction defensive")
    axes[1, 0].set_ylim(-0.02, 1.02)
    axes[-1, 0].set_xlabel("time (s)")
    return fig


def plot_dyad(ds: xr.Dataset) -> Figure:
    """The published dyad: signals and predictions, then rho(t) and omega(t)."""
    fig, axes = _figure(2, 1, sharex=True)
    time = ds["time"].values
    for k, agent in enumerate(ds["agent"].values):
        axes[0, 0].plot(time, ds["s"].sel(agent=agent).values, lw=0.5, alpha=0.5, color=f"C{k}")
        axes[0, 0].plot(
            time, ds["mu"].sel(agent=agent).values, lw=1.2, color=f"C{k}", label=f"mu {agent}"
        )
    axes[0, 0].set_ylabel("s, mu")
    axes[0, 0].legend(fontsize="small")
    axes[1, 0].plot(time, ds["rho"].values, label="rho")
    axes[1, 0].plot(time, ds["omega"].values, label="omega")
    axes[1, 0].legend(fontsize="small")
    axes[-1, 0].set_xlabel("time (s)")
    return fig


def plot_crowd_filter(ds: xr.Dataset) -> Figure:
    """The crowd filter: predictions mu(t) and the mean Kalman gain (hardening priors)."""
    fig, axes = _figure(2, 1, sharex=True)
    time = ds["time"].values
    axes[0, 0].plot(time, ds["mu"].values, lw=0.6, alpha=0.7)
    axes[0, 0].set_ylabel("mu")
    axes[1, 0].plot(time, ds["mean_gain"].values)
    axes[1, 0].set_ylabel("mean gain tr(K)/N")
    axes[1, 0].set_yscale("log")
    axes[-1, 0].set_xlabel("time (s)")
    return fig


def plot_figures(ds: xr.Dataset) -> dict[str, Figure]:
    """Every figure that fits the Dataset's model, by file stem."""
    model = ds.attrs.get("model", "agents")
    if model == "dyad":
        return {"dyad": plot_dyad(ds)}
    if model == "crowd_filter":
        return {"crowd_filter": plot_crowd_filter(ds)}
    return {
        "agents": plot_agents(ds),
        "summaries": plot_summaries(ds),
        "defensive": plot_defensive(ds),
    }
