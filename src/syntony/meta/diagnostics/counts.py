"""Focus counter: how many foci of each experiment lie in each cluster (NiMARE's ``FocusCounter``).

A focus counts for a cluster when its nearest voxel (the voxel the ALE kernel is centred on,
coordinates rounded half to even as NiMARE rounds them) belongs to the cluster. NiMARE 0.22.1
counts foci "within one voxel" of a cluster, measured from the rounded focus: only the focus's
own voxel is strictly closer than one voxel, so the rule is the same. Foci outside the grid or
the mask count for no cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from syntony.errors import ParameterError
from syntony.meta.diagnostics.observed import check_labels, cluster_columns
from syntony.meta.space import Grid
from syntony.meta.studyset import Studyset

__all__ = ["focus_counter", "focus_counts"]


def focus_counts(studyset: Studyset, labels: np.typing.ArrayLike, grid: Grid) -> tuple[
    np.ndarray, np.ndarray
]:  # fmt: skip
    """Experiments x clusters focus counts and the cluster numbers of the columns.

    Parameters
    ----------
    studyset : Studyset
    labels : int array (n_mask_voxels,)
        Cluster numbers on ``grid`` (0: outside every cluster).
    grid : Grid
    """
    labels = check_labels(labels, grid.n_voxels)
    numbers = np.unique(labels[labels > 0])
    volume = grid.unmask(labels)
    ijk = grid.mm_to_ijk(studyset.coordinates).reshape(-1, 3)
    inside = np.all((ijk >= 0) & (ijk < np.array(grid.shape)), axis=1)
    focus_label = np.zeros(ijk.shape[0], dtype=np.int64)
    focus_label[inside] = volume[tuple(ijk[inside].T)]
    position = np.full(int(labels.max(initial=0)) + 1, -1, dtype=np.int64)
    position[numbers] = np.arange(numbers.size)
    column = position[focus_label]
    hit = column >= 0
    counts = np.zeros((studyset.n_experiments, numbers.size), dtype=np.int64)
    np.add.at(counts, (studyset.focus_experiment[hit], column[hit]), 1)
    return counts, numbers


def focus_counter(
    studysets: Studyset | Sequence[Studyset],
    labels: np.typing.ArrayLike | Sequence[np.typing.ArrayLike],
    grid: Grid,
    *,
    prefixes: Sequence[str] = ("cluster",),
    group_names: Sequence[str] | None = None,
    group_column: str = "group",
) -> pd.DataFrame:
    """Foci of each experiment in each cluster, one row per experiment (column ``id``).

    Parameters
    ----------
    studysets : Studyset or sequence of Studyset
        The analysed experiments (several for a contrast or a conjunction: rows follow them in
        order, with a ``group`` column named by ``group_names``).
    labels : int array or sequence of int arrays (n_mask_voxels,)
        Cluster numbers; several label maps (a contrast's A > B and B > A) give one block of
        columns each, named ``<prefix>_<n>``.
    grid : Grid
    prefixes : sequence of str
        Column prefix of each label map.
    group_names : sequence of str, optional
        Values of the group column, one per studyset (required with several studysets).
    group_column : str
        Name of that column.
    """
    parts = [studysets] if isinstance(studysets, Studyset) else list(studysets)
    maps = list(labels) if isinstance(labels, (list, tuple)) else [labels]
    if len(prefixes) != len(maps):
        raise ParameterError("prefixes", f"{len(maps)} prefix(es), one per label map", prefixes)
    if len(parts) > 1 and (group_names is None or len(group_names) != len(parts)):
        raise ParameterError("group_names", f"{len(parts)} names, one per studyset", group_names)
    frame: dict[str, pd.Series] = {"id": pd.Series([i for s in parts for i in s.ids], dtype="str")}
    if len(parts) > 1:
        frame[group_column] = pd.Series(
            [g for s, g in zip(parts, group_names, strict=True) for _ in s.ids], dtype="str"
        )
    for prefix, lab in zip(prefixes, maps, strict=True):
        blocks = [focus_counts(s, lab, grid) for s in parts]
        counts = np.vstack([b[0] for b in blocks])
        for name, col in zip(cluster_columns(blocks[0][1], prefix), counts.T, strict=True):
            frame[name] = pd.Series(col, dtype="int64")
    return pd.DataFrame(frame)
