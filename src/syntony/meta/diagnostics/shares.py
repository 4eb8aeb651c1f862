"""Jackknife: how much of each cluster rests on each experiment (NiMARE's ``Jackknife``).

For a cluster C and an experiment e, NiMARE refits the meta-analysis without e and reports the
mean over C's voxels of ``1 - S_without_e / S``, where S is the analysis' statistic (ALE for a
single group, the ALE difference for a contrast). Without e a voxel's log-sum is
``s - log(1 - MA_e)``: one compiled pass over each experiment's kernels, restricted to cluster
voxels, gives the whole experiments x clusters table from the observed log-sums (the same idea
as :mod:`syntony.meta.contributions`), with no refit.

The pass computes, for every experiment e and every cluster voxel v it reaches, the drop of its
group's ALE ``d = ALE(v) - ALE_without_e(v)`` and accumulates ``w(v) * max(0, d - g(v))``; the
statistic decides the weights ``w`` and offsets ``g``:

- ALE: ``S = ALE``, ``w = 1 / (S |C|)``, ``g = 0``.
- Contrast (``S = ALE_A - ALE_B``): an experiment of the group that wins the cluster (A where
  A > B) lowers ``|S|`` by ``d``; one of the other group raises it by ``d``, a negative share.
  ``w = ±1 / (|S| |C|)``, ``g = 0``.
- Conjunction (``S = min(ALE_A, ALE_B)`` inside the conjunction, each map's significance kept
  fixed): dropping e from A lowers S by ``max(0, d - (ALE_A - ALE_B)^+)``, so ``g = (A - B)^+``.

Numbers agree with NiMARE 0.22.1's ``Jackknife`` to about 1e-7 (NiMARE divides float32 maps).

With an ``executor`` (:mod:`syntony.execution`) the experiments are cut into contiguous blocks,
one task each: every row of the table depends only on its own experiment's kernels, so a task
runs the same compiled pass over its block of experiments, with the box-shaped inputs (the foci,
kernels, observed log-sums, cluster columns, weights and offsets) sent once per worker, and the
rows are stacked in experiment order: the same numbers as without an executor. The pass is the
unit of work here, since the jackknife refits nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np
import pandas as pd

from syntony.errors import ParameterError
from syntony.meta.diagnostics.observed import Observed, check_labels, cluster_columns
from syntony.meta.diagnostics.tasks import gather, task_blocks

if TYPE_CHECKING:
    from syntony.execution import Executor

__all__ = [
    "jackknife",
    "jackknife_conjunction",
    "jackknife_contrast",
    "leave_one_out",
]


@numba.njit(cache=True, nogil=True)
def _pass(ijk, foci_start, exp_kernel, logs, starts, halves, column, log_sums, weight, gap, n_col):
    """Accumulate ``weight * max(0, drop - gap)`` per experiment and cluster column.

    ``column`` (flat box) holds each voxel's cluster column (-1 outside the clusters);
    ``logs`` are the float32-rounded ``log1p(-kernel)`` values the observed sums were built
    from, so removing an experiment subtracts exactly what was added.
    """
    nx, ny, nz = log_sums.shape
    flat_logs = log_sums.reshape(-1)
    n_exp = foci_start.shape[0] - 1
    out = np.zeros((n_exp, n_col))
    low = np.zeros(column.size)
    touched = np.empty(column.size, dtype=np.int64)
    for e in range(n_exp):
        k = exp_kernel[e]
        base = starts[k]
        hx, hy, hz = halves[k, 0], halves[k, 1], halves[k, 2]
        sy, sz = 2 * hy + 1, 2 * hz + 1
        n_touched = 0
        for p in range(foci_start[e], foci_start[e + 1]):
            cx, cy, cz = ijk[p, 0], ijk[p, 1], ijk[p, 2]
            for x in range(max(cx - hx, 0), min(cx + hx, nx - 1) + 1):
                for y in range(max(cy - hy, 0), min(cy + hy, ny - 1) + 1):
                    row = (x * ny + y) * nz
                    kb = base + ((x - cx + hx) * sy + (y - cy + hy)) * sz - cz + hz
                    for z in range(max(cz - hz, 0), min(cz + hz, nz - 1) + 1):
                        f = row + z
                        if column[f] < 0:
                            continue
                        v = logs[kb + z]
                        if v >= 0.0:
                            continue
                        if low[f] == 0.0:
                            touched[n_touched] = f
                            n_touched += 1
                        if v < low[f]:
                            low[f] = v
        for t in range(n_touched):
            f = touched[t]
            s = flat_logs[f]
            drop = np.exp(s - low[f]) - np.exp(s)
            h = drop - gap[f]
            if h > 0.0:
                out[e, column[f]] += weight[f] * h
            low[f] = 0.0
    return out


@dataclass(frozen=True, eq=False)
class _PassInputs:
    """The arguments of :func:`_pass` but the experiments (sent once per worker)."""

    ijk: np.ndarray
    foci_start: np.ndarray
    exp_kernel: np.ndarray
    logs: np.ndarray
    starts: np.ndarray
    halves: np.ndarray
    column: np.ndarray
    log_sums: np.ndarray
    weight: np.ndarray
    gap: np.ndarray
    n_col: int

    def run(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo:hi`` (experiments ``lo`` to ``hi - 1``) of the leave-one-out matrix."""
        return _pass(
            self.ijk, np.ascontiguousarray(self.foci_start[lo : hi + 1]),
            np.ascontiguousarray(self.exp_kernel[lo:hi]), self.logs, self.starts, self.halves,
            self.column, self.log_sums, self.weight, self.gap, self.n_col,
        )  # fmt: skip


def _pass_task(item: tuple[int, int], shared: _PassInputs) -> np.ndarray:
    return shared.run(*item)


def leave_one_out(
    observed: Observed,
    labels: np.ndarray,
    weight: np.ndarray,
    *,
    gap: np.ndarray | None = None,
    executor: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Experiments x clusters sums of ``weight * max(0, drop - gap)`` over each cluster.

    Parameters
    ----------
    observed : Observed
        The group whose experiments are left out, one at a time.
    labels : int array (n_mask_voxels,)
        Cluster numbers (0: outside every cluster).
    weight, gap : float arrays (n_mask_voxels,)
        Per-voxel weight and offset (``gap`` defaults to 0).
    executor : Executor, optional
        Run blocks of experiments as tasks (see the module docstring); same numbers.

    Returns
    -------
    matrix : ndarray (n_experiments, n_clusters)
    numbers : ndarray (n_clusters,)
        The cluster numbers of the columns, ascending.
    """
    layout = observed.layout
    labels = check_labels(labels, layout.mask_local.shape[0])
    numbers = np.unique(labels[labels > 0])
    position = np.full(int(labels.max(initial=0)) + 1, -1, dtype=np.int64)
    position[numbers] = np.arange(numbers.size)
    column = observed.to_box(position[labels], fill=-1).reshape(-1)
    weight_box = observed.to_box(np.asarray(weight, dtype=np.float64)).reshape(-1)
    gap_box = (
        np.zeros(column.size)
        if gap is None
        else observed.to_box(np.asarray(gap, dtype=np.float64)).reshape(-1)
    )
    bank = layout.bank
    inputs = _PassInputs(
        np.ascontiguousarray(observed.local_ijk, dtype=np.int64), layout.foci_start,
        bank.experiment_kernel, bank.log_values_f32, bank.starts, bank.half_widths,
        column, observed.log_sums, weight_box, gap_box, int(numbers.size),
    )  # fmt: skip
    n_exp = layout.foci_start.size - 1
    if executor is None:
        return inputs.run(0, n_exp), numbers
    blocks = gather(executor, _pass_task, task_blocks(n_exp, executor), shared=inputs)
    matrix = np.vstack(blocks) if blocks else np.zeros((0, numbers.size))
    return matrix, numbers


def _table(ids: Sequence[str], matrix: np.ndarray, numbers: np.ndarray, prefix: str, **extra):
    columns = {"id": pd.Series(list(ids), dtype="str")}
    for name, values in extra.items():
        columns[name] = pd.Series(list(values), dtype="str")
    for name, col in zip(cluster_columns(numbers, prefix), matrix.T, strict=True):
        columns[name] = pd.Series(col, dtype="float64")
    return pd.DataFrame(columns)


def _sizes(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=int(labels.max(initial=0)) + 1).astype(np.float64)


def jackknife(
    observed: Observed, labels: np.typing.ArrayLike, *, executor: Executor | None = None
) -> pd.DataFrame:
    """Each experiment's share of each cluster of an ALE, as NiMARE's ``Jackknife`` defines it.

    Parameters
    ----------
    observed : Observed
        The analysed studyset on its layout (from the fit, or :meth:`Observed.build`).
    labels : int array (n_mask_voxels,)
        Cluster numbers of the clusters to characterise (the ``clusters`` map of an ALE
        result: the significant clusters, numbered as in ``clusters.tsv``); 0 elsewhere.
    executor : Executor, optional
        Run blocks of experiments as tasks (:mod:`syntony.execution`); same numbers.

    Returns
    -------
    pandas.DataFrame
        One row per experiment (column ``id``) and a column ``cluster_<n>`` per cluster: the
        mean over the cluster's voxels of ``1 - ALE_without / ALE`` (0 for experiments that
        do not reach the cluster).
    """
    labels = check_labels(labels, observed.layout.mask_local.shape[0])
    ale = observed.ale().astype(np.float64)
    sizes = _sizes(labels)
    inside = labels > 0
    weight = np.zeros(labels.size)
    weight[inside] = 1.0 / (ale[inside] * sizes[labels[inside]])
    matrix, numbers = leave_one_out(observed, labels, weight, executor=executor)
    return _table(observed.ids, matrix, numbers, "cluster")


def jackknife_contrast(
    group_a: Observed,
    group_b: Observed,
    a_gt_b: np.typing.ArrayLike,
    b_gt_a: np.typing.ArrayLike,
    *,
    diff: np.ndarray | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Jackknife of an ALE contrast: each experiment's share of each difference cluster.

    The statistic is the ALE difference ``A - B`` (NiMARE's ``stat_desc-group1MinusGroup2``):
    for a cluster where A > B, an experiment of A gets ``mean(1 - diff_without / diff)`` (what
    NiMARE's ``Jackknife`` reports for group 1) and an experiment of B the same quantity,
    which is negative (the difference grows without it); symmetrically for B > A.

    Parameters
    ----------
    group_a, group_b : Observed
        The two groups on the same grid.
    a_gt_b, b_gt_a : int arrays (n_mask_voxels,)
        Cluster numbers of the A > B and B > A clusters (``clusters_a_gt_b.tsv`` /
        ``clusters_b_gt_a.tsv``).
    diff : float32 array, optional
        The contrast's ``diff`` map (default: ``ALE_A - ALE_B`` in float32, as the contrast).
    executor : Executor, optional
        Run blocks of experiments as tasks (:mod:`syntony.execution`); same numbers.

    Returns
    -------
    pandas.DataFrame
        Rows: the experiments of A then B (columns ``id`` and ``group``, "A" or "B");
        columns ``a_gt_b_<n>`` and ``b_gt_a_<n>``.
    """
    n = group_a.layout.mask_local.shape[0]
    _same_grid(group_a, group_b)
    pos = check_labels(a_gt_b, n, "a_gt_b")
    neg = check_labels(b_gt_a, n, "b_gt_a")
    if diff is None:
        diff = group_a.ale() - group_b.ale()
    stat = np.abs(np.asarray(diff, dtype=np.float64))
    blocks = []
    for labels, winner in ((pos, 0), (neg, 1)):
        sizes = _sizes(labels)
        inside = labels > 0
        base = np.zeros(n)
        base[inside] = 1.0 / (stat[inside] * sizes[labels[inside]])
        parts = []
        for g, observed in enumerate((group_a, group_b)):
            matrix, numbers = leave_one_out(
                observed, labels, base if g == winner else -base, executor=executor
            )
            parts.append(matrix)
        blocks.append((np.vstack(parts), numbers))
    ids = [*group_a.ids, *group_b.ids]
    groups = ["A"] * len(group_a.ids) + ["B"] * len(group_b.ids)
    left = _table(ids, blocks[0][0], blocks[0][1], "a_gt_b", group=groups)
    right = _table(ids, blocks[1][0], blocks[1][1], "b_gt_a")
    return pd.concat([left, right.drop(columns="id")], axis=1)


def jackknife_conjunction(
    groups: Sequence[Observed],
    thresholded: Sequence[np.ndarray],
    labels: np.typing.ArrayLike,
    *,
    names: Sequence[str] | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Jackknife of a minimum-statistic conjunction: each experiment's share of each cluster.

    The statistic is ``min_k ALE_k`` at the conjunction's voxels (each map's significance held
    fixed); leaving out an experiment of map k lowers it only where map k is, or becomes, the
    smallest. The value is NiMARE's definition applied to that statistic:
    ``mean over the cluster of 1 - S_without / S``.

    Parameters
    ----------
    groups : sequence of Observed
        The studysets of the combined maps, in the conjunction's order.
    thresholded : sequence of float arrays (n_mask_voxels,)
        Each map's thresholded ALE (0 where not significant), as the conjunction combined them.
    labels : int array (n_mask_voxels,)
        The conjunction's cluster numbers.
    names : sequence of str, optional
        The maps' names for the ``map`` column (default ``"1"``, ``"2"``, ...).
    executor : Executor, optional
        Run blocks of experiments as tasks (:mod:`syntony.execution`); same numbers.

    Returns
    -------
    pandas.DataFrame
        One row per (map, experiment) (columns ``id`` and ``map``; an experiment in two maps has
        two rows) and a column ``cluster_<n>`` per conjunction cluster.
    """
    if len(groups) < 2 or len(groups) != len(thresholded):
        raise ParameterError("groups", "two or more groups with one thresholded map each", groups)
    for g in groups[1:]:
        _same_grid(groups[0], g)
    n = groups[0].layout.mask_local.shape[0]
    labels = check_labels(labels, n)
    names = [str(k + 1) for k in range(len(groups))] if names is None else list(names)
    stack = np.stack([np.asarray(t, dtype=np.float64) for t in thresholded])
    stat = stack.min(axis=0)
    inside = labels > 0
    if np.any(stat[inside] <= 0):
        raise ParameterError(
            "thresholded", "maps above 0 at every conjunction voxel", "a map at 0 inside"
        )
    sizes = _sizes(labels)
    weight = np.zeros(n)
    weight[inside] = 1.0 / (stat[inside] * sizes[labels[inside]])
    parts, ids, maps = [], [], []
    for k, observed in enumerate(groups):
        others = np.delete(stack, k, axis=0).min(axis=0)
        gap = np.where(inside, np.maximum(stack[k] - others, 0.0), 0.0)
        matrix, numbers = leave_one_out(observed, labels, weight, gap=gap, executor=executor)
        parts.append(matrix)
        ids += observed.ids
        maps += [names[k]] * len(observed.ids)
    return _table(ids, np.vstack(parts), numbers, "cluster", map=maps)


def _same_grid(a: Observed, b: Observed) -> None:
    if a.grid.shape != b.grid.shape or not np.array_equal(a.grid.mask, b.grid.mask):
        raise ParameterError("groups", "studysets analysed on the same grid and mask", "two grids")
