"""Warnings about an ALE analysis that cite where the rule comes from.

Each check returns plain sentences (an empty list when all is well) for the ``warnings`` list of
a result and its report; nothing here raises or prints.

- Too few experiments: Eickhoff et al. (2016) simulated ALE on thousands of datasets and found
  that below about 17-20 experiments significant clusters are often driven by a single
  experiment and power is low.
- One experiment carrying a cluster: Müller et al. (2018), citing the same simulations, advise
  checking that no single experiment contributes more than about half of a cluster.
- Significance out of reach: a Monte Carlo (or permutation) p-value is a count over the
  iterations, so with ``n`` iterations the smallest p syntony can report is ``1 / n`` (it
  clips ``#(null >= observed) / n`` to ``[1/n, 1 - 1/n]``, as NiMARE does); when ``1 / n``
  is not below the significance level no cluster can be significant, whatever the data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "MIN_EXPERIMENTS",
    "REFERENCES",
    "analysis_warnings",
    "dominant_experiments",
    "few_experiments",
    "unreachable_significance",
]

#: Fewer experiments than this draw the "too few experiments" warning (Eickhoff et al. 2016).
MIN_EXPERIMENTS = 17

REFERENCES = {
    "eickhoff2016": (
        "Eickhoff SB, Nichols TE, Laird AR, et al. (2016). Behavior, sensitivity, and power of "
        "activation likelihood estimation characterized by massive empirical simulation. "
        "NeuroImage 137:70-85. doi:10.1016/j.neuroimage.2016.04.072"
    ),
    "muller2018": (
        "Müller VI, Cieslik EC, Laird AR, et al. (2018). Ten simple rules for neuroimaging "
        "meta-analysis. Neuroscience and Biobehavioral Reviews 84:151-161. "
        "doi:10.1016/j.neubiorev.2017.11.012"
    ),
}


def few_experiments(
    n_experiments: int, *, minimum: int = MIN_EXPERIMENTS, what: str = ""
) -> list[str]:
    """A warning when an ALE rests on fewer than ``minimum`` experiments."""
    if n_experiments >= minimum:
        return []
    where = f" ({what})" if what else ""
    return [
        f"only {n_experiments} experiments{where}: ALE with fewer than about 17-20 experiments "
        "has little power and its significant clusters are often driven by a single "
        "experiment (Eickhoff et al., 2016); read the clusters with the jackknife and "
        "contribution tables"
    ]


def dominant_experiments(
    shares: pd.DataFrame,
    *,
    limit: float = 50.0,
    clusters: Iterable[int] | None = None,
    label: str = "cluster",
) -> list[str]:
    """Warnings for clusters where one experiment contributes more than ``limit`` percent.

    Parameters
    ----------
    shares : pandas.DataFrame
        Either the long contributions table of an ALE result (columns ``cluster``,
        ``experiment``, ``percent``) or a jackknife table (column ``id`` and one column
        ``<label>_<n>`` per cluster, holding fractions, so ``limit`` is divided by 100).
    limit : float
        Percent above which one experiment "carries" the cluster.
    clusters : iterable of int, optional
        Only these cluster numbers (e.g. the significant ones).
    label : str
        Prefix of the jackknife columns and the word used in the message.
    """
    wanted = None if clusters is None else {int(c) for c in clusters}
    found: list[tuple[int, str, float, str]] = []
    if {"cluster", "experiment", "percent"}.issubset(shares.columns):
        for c, rows in shares.groupby("cluster", sort=True):
            if (wanted is not None and int(c) not in wanted) or rows.empty:
                continue
            top = rows.loc[rows["percent"].idxmax()]
            if float(top["percent"]) > limit:
                found.append((int(c), str(top["experiment"]), float(top["percent"]), "share"))
    else:
        for column in shares.columns:
            if not column.startswith(f"{label}_"):
                continue
            number = int(column.rsplit("_", 1)[1])
            if wanted is not None and number not in wanted:
                continue
            values = shares[column].to_numpy(dtype=float)
            if values.size == 0 or not np.isfinite(values).any():
                continue
            row = int(np.nanargmax(values))
            if values[row] * 100.0 > limit:
                found.append(
                    (number, str(shares["id"].iloc[row]), values[row] * 100.0, "jackknife")
                )
    return [
        f"{label} {c}: experiment {exp} accounts for {pct:.0f}% of it "
        + (
            "(its share of the cluster's ALE)"
            if how == "share"
            else "(mean drop of the statistic without it, jackknife)"
        )
        + f", more than {limit:g}%: the cluster rests on one experiment (Eickhoff et al., 2016; "
        "Müller et al., 2018)"
        for c, exp, pct, how in found
    ]


def unreachable_significance(
    n_iters: int,
    alpha: float,
    *,
    what: str = "Monte Carlo iterations",
    test: str = "cluster-level FWE",
) -> list[str]:
    """A warning when ``n_iters`` resamples cannot give a p-value below ``alpha``.

    The smallest p-value from ``n`` iterations is ``1 / n`` (see the module docstring).
    """
    if n_iters <= 0:
        return []
    smallest = 1.0 / n_iters
    if smallest < alpha:
        return []
    needed = math.floor(1.0 / alpha) + 1
    return [
        f"with {n_iters} {what} the smallest {test} p-value is 1/{n_iters} = {smallest:.3g}, "
        f"not below the significance level {alpha:g}: no cluster can be significant, whatever "
        f"the data; use more than {needed - 1} (5,000-10,000 are usual; Eickhoff et al., 2016)"
    ]


def analysis_warnings(
    *,
    n_experiments: int | dict[str, int],
    n_iters: int | None = None,
    alpha: float | None = None,
    shares: pd.DataFrame | None = None,
    significant: Iterable[int] | None = None,
    iteration_word: str = "Monte Carlo iterations",
    test: str = "cluster-level FWE",
) -> list[str]:
    """Every check that applies, in a fixed order.

    Parameters
    ----------
    n_experiments : int or dict of str -> int
        Experiments of the analysis, or of each of its groups (named).
    n_iters, alpha : optional
        Iterations (or permutations) of the test and its significance level.
    shares : pandas.DataFrame, optional
        Contributions or jackknife table (see :func:`dominant_experiments`).
    significant : iterable of int, optional
        The significant clusters (checks of ``shares`` are limited to them).
    """
    out: list[str] = []
    counts = n_experiments if isinstance(n_experiments, dict) else {"": n_experiments}
    for name, n in counts.items():
        out += few_experiments(int(n), what=name)
    if n_iters is not None and alpha is not None:
        out += unreachable_significance(int(n_iters), float(alpha), what=iteration_word, test=test)
    if shares is not None and len(shares):
        out += dominant_experiments(shares, clusters=significant)
    return out
