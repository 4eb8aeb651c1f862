"""Figures of the model part (matplotlib). One function per figure; each returns the Figure.

They work on the Dataset of a :class:`~syntony.model.results.SimulationResult` (``.dataset``)
for the agent loop; :func:`plot_dyad`, :func:`plot_crowd_filter` and
:func:`plot_crowd_covariances` cover the published models and :func:`plot_sweep` a sweep's
per-run summaries. Every figure is at most 10 inches wide (1,000 px at 100 dpi).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr
    from matplotlib.figure import Figure

__all__ = [
    "plot_agents",
    "plot_crowd_covariances",
    "plot_crowd_filter",
    "plot_defensive",
    "plot_dyad",
    "plot_figures",
    "plot_network_snapshot",
    "plot_summaries",
    "plot_sweep",
]


def _figure(nrows: int = 1, ncols: int = 1, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", (7, 2.4 * nrows)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def _summary_time(ds: xr.Dataset) -> np.ndarray:
    return ds["summary_time"].values if "summary_time" in ds.coords else ds["time"].values


def plot_agents(ds: xr.Dataset, *, max_agents: int = 30, show_mean: bool = True) -> Figure:
    """Body state x (thin) and prediction mu (dashed) of stored agents, one panel per channel.

    With ``show_mean`` the crowd means (over every agent, not only the stored ones) are drawn
    on top in thick dark lines.
    """
    channels = list(ds["channel"].values)
    fig, axes = _figure(len(channels), 1, sharex=True)
    time = ds["time"].values
    agents = ds["agent"].values[:max_agents]
    for ax, channel in zip(axes[:, 0], channels, strict=True):
        x = ds["x"].sel(channel=channel, agent=agents).values
        mu = ds["mu"].sel(channel=channel, agent=agents).values
        ax.plot(time, x, lw=0.6, alpha=0.5, color="tab:blue")
        ax.plot(time, mu, lw=0.6, alpha=0.5, color="tab:orange", ls="--")
        if show_mean and "mean_x" in ds:
            when = _summary_time(ds)
            ax.plot(when, ds["mean_x"].sel(channel=channel).values, lw=2, color="navy",
                    label="crowd mean x")  # fmt: skip
            ax.plot(when, ds["mean_mu"].sel(channel=channel).values, lw=2, color="saddlebrown",
                    ls="--", label="crowd mean mu")  # fmt: skip
            ax.legend(loc="upper right", fontsize="small")
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


def plot_network_snapshot(ds: xr.Dataset, *, channel: int = 0, seed: int = 0) -> Figure:
    """The snapshot of the network (``node``, ``link``) coloured by body state and mode.

    Left: body state x of one channel; right: P(defensive mode). The layout is a spring
    layout (networkx) of the snapshot's links, fixed by ``seed``.
    """
    import networkx as nx

    nodes = ds["node"].values
    graph = nx.Graph()
    graph.add_nodes_from(nodes.tolist())
    graph.add_edges_from(
        zip(ds["link_source"].values.tolist(), ds["link_target"].values.tolist(), strict=True)
    )
    layout = nx.spring_layout(graph, seed=seed)
    xy = np.array([layout[a] for a in nodes.tolist()]).reshape(-1, 2)
    fig, axes = _figure(1, 2, figsize=(10, 4.2))
    name = str(ds["channel"].values[channel])
    panels = (
        (ds["snapshot_x"].values[:, channel], f"body state x ({name})", "coolwarm", None),
        (ds["snapshot_p_defensive"].values, "P(defensive mode)", "Reds", (0.0, 1.0)),
    )
    for ax, (values, label, cmap, limits) in zip(axes[0], panels, strict=True):
        for a, b in zip(ds["link_source"].values, ds["link_target"].values, strict=True):
            pa, pb = layout[int(a)], layout[int(b)]
            ax.plot([pa[0], pb[0]], [pa[1], pb[1]], color="0.75", lw=0.6, zorder=1)
        if limits is None:
            bound = float(np.nanmax(np.abs(values))) if values.size else 1.0
            limits = (-bound or -1.0, bound or 1.0)
        dots = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap=cmap, vmin=limits[0],
                          vmax=limits[1], s=40, edgecolors="0.2", linewidths=0.5, zorder=2)  # fmt: skip
        fig.colorbar(dots, ax=ax, shrink=0.8, label=label)
        ax.set_axis_off()
    fig.suptitle(f"{nodes.size} agents and their {ds.sizes['link']} links at the end of the run")
    return fig


def plot_crowd_covariances(ds: xr.Dataset) -> Figure:
    """The crowd filter's prior variance and covariance over time, and how alike priors stay.

    Top: mean prior variance (diagonal of Sigma) and mean covariance of two people's priors
    (off-diagonal), log scale when positive; bottom: their ratio, the mean correlation of two
    priors. With the final Sigma in the Dataset (``cov``) a third panel shows it as a map.
    """
    time = ds["time"].values
    var = ds["prior_var"].values.mean(axis=1)
    cov = ds["mean_prior_cov"].values
    has_map = "cov" in ds and ds.sizes["agent"] <= 400
    fig, axes = _figure(1, 3 if has_map else 2, figsize=(10, 3.4))
    ax = axes[0, 0]
    ax.plot(time, var, label="mean variance")
    ax.plot(time, cov, label="mean covariance")
    if np.all(var > 0) and np.all(cov[np.isfinite(cov)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("prior Sigma")
    ax.legend(fontsize="small")
    with np.errstate(invalid="ignore", divide="ignore"):
        axes[0, 1].plot(time, cov / var, color="tab:purple")
    axes[0, 1].set_xlabel("time (s)")
    axes[0, 1].set_ylabel("covariance / variance")
    if has_map:
        matrix = ds["cov"].values
        bound = float(np.abs(matrix).max()) or 1.0
        image = axes[0, 2].imshow(matrix, cmap="RdBu_r", vmin=-bound, vmax=bound)
        fig.colorbar(image, ax=axes[0, 2], shrink=0.8)
        axes[0, 2].set_title("final Sigma", fontsize="small")
        axes[0, 2].set_xlabel("agent")
        axes[0, 2].set_ylabel("agent")
    return fig


def plot_sweep(
    runs: pd.DataFrame, keys: list[str], summaries: list[str], *, ncols: int = 3
) -> Figure:
    """Each per-run summary against the first swept key: mean over replicates, min-max band.

    One line per combination of the other keys (and per channel when there are several);
    non-numeric swept values are placed at equal spacing with their labels.
    """
    x_key, others = keys[0], keys[1:]
    by = [*others, *(["channel"] if "channel" in runs and runs["channel"].nunique() > 1 else [])]
    levels = list(dict.fromkeys(runs[x_key].tolist()))
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                  for v in levels)  # fmt: skip
    position = {v: (float(v) if numeric else float(i)) for i, v in enumerate(levels)}
    nrows = -(-len(summaries) // ncols)
    fig, axes = _figure(nrows, ncols, figsize=(10, 2.8 * nrows))
    groups = list(runs.groupby(by, sort=False)) if by else [((), runs)]
    for ax, name in zip(axes.flat, summaries, strict=False):
        for k, (label, part) in enumerate(groups):
            stats = part.groupby(x_key, sort=False)[name].agg(["mean", "min", "max"])
            stats = stats.loc[[v for v in levels if v in stats.index]]
            xs = np.array([position[v] for v in stats.index])
            order = np.argsort(xs)
            text = ", ".join(
                f"{c}={v}"
                for c, v in zip(by, label if isinstance(label, tuple) else (label,), strict=True)
            )
            ax.plot(xs[order], stats["mean"].values[order], marker="o", ms=3, color=f"C{k % 10}",
                    label=text or None)  # fmt: skip
            ax.fill_between(xs[order], stats["min"].values[order], stats["max"].values[order],
                            color=f"C{k % 10}", alpha=0.2, lw=0)  # fmt: skip
        if not np.any(np.isfinite(runs[name].to_numpy(dtype=float))):
            ax.text(0.5, 0.5, "no finite value\n(not reached in any run)", ha="center",
                    va="center", transform=ax.transAxes, fontsize="small", color="0.4")  # fmt: skip
        low, high = min(position.values()), max(position.values())
        pad = 0.05 * (high - low) or 0.5
        ax.set_xlim(low - pad, high + pad)
        ax.set_title(name.replace("_", " "), fontsize="small")
        ax.set_xlabel(x_key)
        if not numeric:
            ax.set_xticks([position[v] for v in levels], [str(v) for v in levels])
    for ax in list(axes.flat)[len(summaries) :]:
        ax.set_visible(False)
    if by and len(groups) > 1:
        axes.flat[0].legend(fontsize="x-small")
    return fig


def plot_figures(ds: xr.Dataset) -> dict[str, Figure]:
    """Every figure that fits the Dataset's model, by file stem."""
    model = ds.attrs.get("model", "agents")
    if model == "dyad":
        return {"dyad": plot_dyad(ds)}
    if model == "crowd_filter" or "mean_prior_cov" in ds:
        return {"crowd_filter": plot_crowd_filter(ds), "covariances": plot_crowd_covariances(ds)}
    figures = {
        "agents": plot_agents(ds),
        "summaries": plot_summaries(ds),
        "defensive": plot_defensive(ds),
    }
    if "node" in ds.dims:
        figures["network"] = plot_network_snapshot(ds)
    return figures
