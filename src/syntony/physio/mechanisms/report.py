"""Report pages of the mechanism results: what the tests say, figures and tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from syntony.physio.mechanisms import text
from syntony.report import Report

__all__ = ["build"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def build(result: Any, report: Report) -> None:
    """Add the sections of ``result`` (any mechanism result) to ``report``."""
    section = report.section("What the tests say")
    for sentence in text.sentences(result):
        section.text(sentence)
    if result.fitted is not None:
        _fitted_section(result, report)
    {
        "gated-fit": _gated,
        "switching-fit": _switching,
        "directed-fit": _directed,
        "pooled-fit": _pooled,
    }[result.kind](result, report)
    section = report.section("Parameters")
    section.table(result.params, caption="Estimates with 95% intervals", name="params", max_rows=40)
    section = report.section("Tests and models")
    section.table(result.tests.dropna(axis=1, how="all"), caption="Tests", name="tests")
    section.table(
        result.models.dropna(axis=1, how="all"),
        caption="Models compared",
        name="models",
        float_format={"loglik": "{:.2f}", "aic": "{:.2f}", "bic": "{:.2f}"},
    )
    for name, caption in (
        ("pseudo", "Statistic of each pseudo-group"),
        ("bootstrap", "Likelihood ratio of each bootstrap series from the one-mode fit"),
    ):
        if name in result.tables:
            _null_figure(result, report, name, caption)


def _fitted_section(result: Any, report: Report) -> None:
    from syntony.physio import plots

    plt = _plt()
    ds = result.fitted
    observed = ds["observed"].transpose("time", "person").to_numpy()
    predicted = ds["predicted"].transpose("time", "person").to_numpy()
    units = str(ds.attrs.get("units", ""))
    label = f"{ds.attrs.get('variable', '')} ({units})" if units else ""
    section = report.section("Fitted against observed")
    fig, axes = plt.subplots(
        1, 2, figsize=(10.5, 3.8), layout="constrained", gridspec_kw={"width_ratios": [2, 1]}
    )
    plots.plot_fit(ds["time"].to_numpy(), observed, predicted, ax=axes[0], ylabel=label)
    axes[0].set_title("Observed (solid) and one-step-ahead fitted (dashed)", fontsize=9)
    plots.plot_fit_scatter(observed, predicted, ax=axes[1], label=units)
    section.figure(
        fig,
        caption="Left: group mean and the first three people, observed and predicted one step "
        "ahead. Right: every prediction against its observation.",
    )


def _gated(result: Any, report: Report) -> None:
    plt = _plt()
    section = report.section("The synchrony gate")
    ds = result.fitted
    fig, axes = plt.subplots(
        1, 2, figsize=(10.5, 3.6), layout="constrained", gridspec_kw={"width_ratios": [3, 2]}
    )
    axes[0].plot(ds["time"].to_numpy(), ds["weight_spread"].to_numpy(), color="tab:purple")
    axes[0].set_xlabel("time (s)")
    axes[0].set_ylabel("SD of w_ij(t)")
    axes[0].set_title("How unequal the gate makes the pulls, over time", fontsize=9)
    weights = result.tables["weights"]
    persons = result.persons
    idx = {p: k for k, p in enumerate(persons)}
    mat = np.full((len(persons), len(persons)), np.nan)
    for row in weights.itertuples(index=False):
        mat[idx[str(row.perceiver)], idx[str(row.perceived)]] = row.mean_weight
    im = axes[1].imshow(mat, cmap="viridis")
    axes[1].set_xlabel("perceived (j)")
    axes[1].set_ylabel("perceiver (i)")
    axes[1].set_title("Mean weight w_ij at the fitted g", fontsize=9)
    if len(persons) <= 16:
        axes[1].set_xticks(range(len(persons)), persons, rotation=90, fontsize=7)
        axes[1].set_yticks(range(len(persons)), persons, fontsize=7)
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    section.figure(
        fig,
        caption="The gate weights w_ij(t) = 1 + g (omega_ij / mean_k omega_ik - 1) at the fitted "
        "g: their spread over pairs at each time (left; zero before the first full window) and "
        "their average per pair (right). At g = 0 every weight is 1.",
    )


def _switching(result: Any, report: Report) -> None:
    plt = _plt()
    section = report.section("Decoded modes over time")
    ds = result.fitted
    time = ds["time"].to_numpy()
    observed = ds["observed"].transpose("time", "person").to_numpy()
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(observed, axis=1)
    fig, axes = plt.subplots(
        2,
        1,
        figsize=(10.5, 4.6),
        layout="constrained",
        sharex=True,
        gridspec_kw={"height_ratios": [2, 1]},
    )
    axes[0].plot(time, mean, color="k", lw=1.0)
    high = ds["p_high"].to_numpy() > 0.5
    axes[0].fill_between(
        time,
        np.nanmin(mean),
        np.nanmax(mean),
        where=high,
        color="tab:red",
        alpha=0.15,
        step="mid",
        label="decoded high mode",
    )
    axes[0].set_ylabel("group mean")
    axes[0].legend(fontsize=8, loc="upper right")
    axes[1].plot(time, ds["p_high"].to_numpy(), color="tab:red", label="smoothed")
    axes[1].plot(
        time, ds["p_high_filtered"].to_numpy(), color="tab:red", lw=0.6, alpha=0.5, label="filtered"
    )
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel("P(high mode)")
    axes[1].set_xlabel("time (s)")
    axes[1].legend(fontsize=8, loc="upper right")
    section.figure(
        fig,
        caption="Top: the group mean with the stretches decoded as the high mode (smoothed "
        "probability above one half). Bottom: the probability of the high mode given all the "
        "data (Kim's smoother) and given the data so far (the filter).",
    )


def _directed(result: Any, report: Report) -> None:
    plt = _plt()
    section = report.section("Who leads, who follows")
    influence = result.influence
    if influence is not None and len(influence):
        n = len(influence)
        fig, axes = plt.subplots(
            1, 2, figsize=(10.5, 0.8 + 0.28 * n), layout="constrained", sharey=True
        )
        ypos = np.arange(n)
        for ax, kind, title in (
            (axes[0], "send", "sender effect (pulls others)"),
            (axes[1], "recv", "receiver effect (is pulled)"),
        ):
            est = influence[kind].to_numpy(float)
            lo = influence[f"{kind}_ci_low"].to_numpy(float)
            hi = influence[f"{kind}_ci_high"].to_numpy(float)
            ax.errorbar(est, ypos, xerr=[est - lo, hi - est], fmt="o", color="tab:blue", ms=4)
            ax.axvline(0, color="0.5", lw=0.8)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("log factor (0 = the group's typical pull)")
        axes[0].set_yticks(ypos, [str(p) for p in influence["person"]], fontsize=8)
        section.figure(fig, caption="Sender and receiver effects with 95% intervals.")
        section.table(
            influence, caption="Effects per person (factor = exp(effect))", name="influence"
        )
    pulls = result.tables["pulls"]
    persons = result.persons
    idx = {p: k for k, p in enumerate(persons)}
    mat = np.full((len(persons), len(persons)), np.nan)
    for row in pulls.itertuples(index=False):
        mat[idx[str(row.perceiver)], idx[str(row.perceived)]] = row.pull
    fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    im = ax.imshow(mat, cmap="magma")
    ax.set_xlabel("sender j")
    ax.set_ylabel("receiver i")
    if len(persons) <= 16:
        ax.set_xticks(range(len(persons)), persons, rotation=90, fontsize=7)
        ax.set_yticks(range(len(persons)), persons, fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8, label="c_ij (1/s)")
    section.figure(fig, caption="Fitted pull of each sender j on each receiver i.")


def _pooled(result: Any, report: Report) -> None:
    plt = _plt()
    groups = result.groups
    params = [p for p in ("c", "g") if f"{p}_shrunk" in groups]
    section = report.section("Groups")
    n = len(groups)
    fig, axes = plt.subplots(
        1,
        len(params),
        figsize=(10.5 if len(params) > 1 else 7, 1.0 + 0.3 * n),
        layout="constrained",
        squeeze=False,
    )
    ypos = np.arange(n)
    for ax, p in zip(axes[0], params, strict=True):
        est = groups[p].to_numpy(float)
        se = groups[f"{p}_se"].to_numpy(float)
        ax.errorbar(est, ypos + 0.15, xerr=1.96 * se, fmt="o", color="0.5", ms=3, label="own fit")
        sh = groups[f"{p}_shrunk"].to_numpy(float)
        lo = groups[f"{p}_shrunk_ci_low"].to_numpy(float)
        hi = groups[f"{p}_shrunk_ci_high"].to_numpy(float)
        ax.errorbar(
            sh,
            ypos - 0.15,
            xerr=[sh - lo, hi - sh],
            fmt="s",
            color="tab:blue",
            ms=3,
            label="shrunken",
        )
        mu = result.estimate(f"mu_{p}")
        mlo, mhi = result.interval(f"mu_{p}")
        ax.axvspan(mlo, mhi, color="tab:orange", alpha=0.2, label="pooled mu (95% CI)")
        ax.axvline(mu, color="tab:orange")
        ax.set_xlabel(p)
        ax.legend(fontsize=7)
    axes[0][0].set_yticks(ypos, [str(g) for g in groups["group"]], fontsize=7)
    section.figure(
        fig,
        caption="Each group's own estimate (grey, 95% Wald interval), its shrunken estimate "
        "(blue) and the pooled mean with its interval (orange band).",
    )
    section.table(groups, caption="Groups", name="groups", max_rows=25)


def _null_figure(result: Any, report: Report, name: str, caption: str) -> None:
    plt = _plt()
    values = result.tables[name]["value"].to_numpy(float)
    row = None
    for _, r in result.tests.iterrows():
        if (name == "pseudo" and "pseudo" in str(r["test"])) or (
            name == "bootstrap" and "bootstrap" in str(r["test"])
        ):
            row = r
    section = report.section(
        "Pseudo-groups" if name == "pseudo" else "Bootstrap of the number of modes"
    )
    fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
    ax.hist(values[np.isfinite(values)], bins=30, color="0.6", label="null")
    if row is not None:
        ax.axvline(float(row["statistic"]), color="k", lw=1.5, label="real group")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    section.figure(fig, caption=caption + " (grey) and the real group's (black line).")
