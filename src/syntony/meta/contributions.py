"""Each experiment's share of a cluster's ALE (GingerALE's "contributions").

For a cluster C and an experiment e the contribution is the sum over C of ALE minus the ALE
computed without e; the shares are those contributions normalised to 100 % over the
experiments that reach the cluster. Without e a voxel's log-sum is ``s - log(1 - MA_e)``, so
one pass over each experiment's kernels, restricted to cluster voxels, gives the whole
experiments x clusters matrix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:
    from syntony.meta.layout import Layout

__all__ = ["contribution_matrix", "contributions"]


@numba.njit(cache=True, nogil=True)
def _matrix(ijk, foci_start, exp_kernel, values, starts, halves, labels, log_sums, n_clusters):
    nx, ny, nz = labels.shape
    flat_labels = labels.reshape(-1)
    flat_logs = log_sums.reshape(-1)
    n_exp = foci_start.shape[0] - 1
    out = np.zeros((n_exp, n_clusters + 1))
    reached = np.zeros((n_exp, n_clusters + 1), dtype=np.bool_)
    ma = np.zeros(flat_labels.size)
    touched = np.empty(flat_labels.size, dtype=np.int64)
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
                    for z in range(max(cz - hz, 0), min(cz + hz, nz - 1) + 1):
                        f = row + z
                        if flat_labels[f] <= 0:
                            continue
                        v = np.float64(
                            values[base + ((x - cx + hx) * sy + (y - cy + hy)) * sz + (z - cz + hz)]
                        )
                        if v <= 0.0:
                            continue
                        if ma[f] == 0.0:
                            touched[n_touched] = f
                            n_touched += 1
                        if v > ma[f]:
                            ma[f] = v
        for t in range(n_touched):
            f = touched[t]
            s = flat_logs[f]
            c = flat_labels[f]
            out[e, c] += (1.0 - np.exp(s)) - (1.0 - np.exp(s - np.log1p(-ma[f])))
            reached[e, c] = True
            ma[f] = 0.0
    return out[:, 1:], reached[:, 1:]


def contribution_matrix(
    layout: Layout,
    local_ijk: np.ndarray,
    labels: np.ndarray,
    *,
    log_sums: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw contributions (experiments x clusters) and which experiments reach which cluster.

    Parameters
    ----------
    layout : Layout
        The analysis layout (kernels, experiment grouping, in-mask voxel positions).
    local_ijk : int array (n_foci, 3)
        Foci in the layout's index space.
    labels : int array (n_mask_voxels,)
        Cluster id of each in-mask voxel (0: none), ids 1..n.
    log_sums : float64 array, optional
        ``layout.log_sums(local_ijk)`` when the caller already has it.
    """
    if log_sums is None:
        log_sums = layout.log_sums(local_ijk)
    n_clusters = int(labels.max(initial=0))
    volume = np.zeros(layout.shape, dtype=np.int64)
    volume[tuple(layout.mask_local.T)] = labels
    bank = layout.bank
    return _matrix(
        np.ascontiguousarray(local_ijk, dtype=np.int64), layout.foci_start,
        bank.experiment_kernel, bank.values, bank.starts, bank.half_widths, volume,
        log_sums, n_clusters,
    )  # fmt: skip


def contributions(
    layout: Layout,
    local_ijk: np.ndarray,
    labels: np.ndarray,
    ids: list[str],
    *,
    log_sums: np.ndarray | None = None,
) -> list[dict[str, float]]:
    """Per cluster, ``{experiment id: share in %}``, largest first.

    Experiments that do not reach the cluster are left out; a cluster whose contributions
    sum to zero gets an empty mapping.
    """
    raw, reached = contribution_matrix(layout, local_ijk, labels, log_sums=log_sums)
    out: list[dict[str, float]] = []
    for c in range(raw.shape[1]):
        rows = np.flatnonzero(reached[:, c])
        total = raw[rows, c].sum()
        if not total > 0:
            out.append({})
            continue
        order = rows[np.argsort(-raw[rows, c], kind="stable")]
        out.append({ids[e]: 100.0 * raw[e, c] / total for e in order})
    return out
