"""Cluster tables that say which clusters are significant, and by which test.

Every meta result's cluster table has a ``significant`` column (nullable boolean: missing when
no test judged the clusters, never a misleading False) and a ``significance_test`` column
naming the test, so that clusters above a cluster-forming threshold are never read as if they
had all survived. An analysis that finds no cluster still has a table with its header.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "NOT_TESTED",
    "clusters_with_header",
    "count_significant",
    "mark_significance",
]

#: ``significance_test`` of clusters that no test has judged.
NOT_TESTED = "not tested (no Monte Carlo iterations)"

# -- cluster tables ----------------------------------------------------------------------------
_TEXT_COLUMNS = ("contributions", "label")
_INT_COLUMNS = ("cluster", "size_voxels", "n_experiments")


def _empty_cluster_table(*, fwe: bool, contributions: bool, labels: bool) -> pd.DataFrame:
    """The header (and column types) of a cluster table with no rows."""
    columns = ["cluster", "size_voxels", "size_mm3", "mass", "peak_x", "peak_y", "peak_z",
               "peak_tal_x", "peak_tal_y", "peak_tal_z", "max_ale", "peak_z_score"]  # fmt: skip
    if fwe:
        columns += ["p_fwe_size", "p_fwe_mass"]
    if contributions:
        columns += ["n_experiments", "contributions"]
    if labels:
        columns.append("label")
    return pd.DataFrame(
        {
            c: pd.Series(
                dtype="int64" if c in _INT_COLUMNS else "str" if c in _TEXT_COLUMNS else "float64"
            )
            for c in columns
        }
    )


def clusters_with_header(table: pd.DataFrame, **shape: bool) -> pd.DataFrame:
    """``table``, or the empty table with its header when no cluster was found."""
    return table if len(table.columns) else _empty_cluster_table(**shape)


def mark_significance(
    table: pd.DataFrame, significant: np.ndarray | bool | None, test: str
) -> pd.DataFrame:
    """Insert ``significant`` (nullable boolean) and ``significance_test`` after ``cluster``.

    ``significant`` is one flag per row, a flag for every row, or None when no test was run
    (the column then holds missing values, never a misleading False).
    """
    table = table.copy()
    n = len(table)
    if significant is None:
        flags = pd.array([pd.NA] * n, dtype="boolean")
    else:
        flags = pd.array(np.broadcast_to(np.asarray(significant, dtype=bool), (n,)), "boolean")
    for column in ("significant", "significance_test"):
        if column in table.columns:
            table = table.drop(columns=column)
    at = 1 if "cluster" in table.columns else 0
    table.insert(at, "significant", flags)
    table.insert(at + 1, "significance_test", pd.Series([test] * n, dtype="str"))
    return table


def count_significant(table: pd.DataFrame) -> int | None:
    """Number of significant rows, or None when the table's clusters were not tested."""
    if "significant" not in table.columns or len(table) == 0:
        return 0 if "significant" in table.columns else None
    flags = table["significant"]
    if flags.isna().all():
        return None
    return int(flags.fillna(False).astype(bool).sum())
