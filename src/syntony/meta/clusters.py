"""Clusters of supra-threshold voxels (6-connectivity) and the cluster table.

Only the supra-threshold voxels are labelled, with a union-find over face neighbours; this is
what makes cluster statistics cheap inside the Monte Carlo loop. Voxels are visited in C order,
so per-cluster sums (cluster mass) are accumulated in the same order as a label-image
``bincount`` would, and agree with NiMARE's to the last bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numba
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from syntony.meta.space import Grid

__all__ = ["cluster_table", "label_clusters", "label_min_size"]


@numba.njit(cache=True, nogil=True)
def _find(parent, t):
    root = t
    while parent[root] != root:
        root = parent[root]
    while parent[t] != root:  # path compression
        nxt = parent[t]
        parent[t] = root
        t = nxt
    return root


@numba.njit(cache=True, nogil=True)
def label_supra(labels, ijk, n):
    """Union-find labels of the first ``n`` voxels ``ijk`` (C order) of a volume.

    ``labels`` is an int64 volume filled with -1; it is used as scratch and restored to -1.
    Returns ``root`` (n,): for each voxel, the position of the first voxel of its cluster.
    """
    parent = np.arange(n)
    for t in range(n):
        x, y, z = ijk[t, 0], ijk[t, 1], ijk[t, 2]
        labels[x, y, z] = t
    for t in range(n):
        x, y, z = ijk[t, 0], ijk[t, 1], ijk[t, 2]
        for d in range(3):
            if d == 0:
                if x == 0:
                    continue
                other = labels[x - 1, y, z]
            elif d == 1:
                if y == 0:
                    continue
                other = labels[x, y - 1, z]
            else:
                if z == 0:
                    continue
                other = labels[x, y, z - 1]
            if other >= 0:
                a, b = _find(parent, t), _find(parent, other)
                if a != b:
                    # The lower index becomes the root: the root is the cluster's first voxel.
                    if a < b:
                        parent[b] = a
                    else:
                        parent[a] = b
    root = np.empty(n, dtype=np.int64)
    for t in range(n):
        root[t] = _find(parent, t)
        x, y, z = ijk[t, 0], ijk[t, 1], ijk[t, 2]
        labels[x, y, z] = -1
    return root


@numba.njit(cache=True, nogil=True)
def max_cluster_stats(labels, ijk, values, n, threshold):
    """Largest cluster size (voxels) and mass (sum of value - threshold) of ``n`` voxels."""
    if n == 0:
        return 0, 0.0
    root = label_supra(labels, ijk, n)
    size = np.zeros(n, dtype=np.int64)
    mass = np.zeros(n, dtype=np.float64)
    for t in range(n):
        r = root[t]
        size[r] += 1
        mass[r] += values[t] - threshold
    best_size = 0
    best_mass = 0.0
    for t in range(n):
        if size[t] > 0:
            best_size = max(best_size, size[t])
            best_mass = max(best_mass, mass[t])
    return best_size, best_mass


def label_clusters(supra: np.ndarray) -> tuple[np.ndarray, int]:
    """Label a boolean volume's 6-connected clusters, 1..n by decreasing size (0 = none).

    Ties in size are broken by C-order position of the cluster's first voxel.
    """
    supra = np.asarray(supra, dtype=bool)
    ijk = np.argwhere(supra).astype(np.int64)
    labels = np.full(supra.shape, -1, dtype=np.int64)
    root = label_supra(labels, ijk, ijk.shape[0])
    out = np.zeros(supra.shape, dtype=np.int32)
    if ijk.shape[0] == 0:
        return out, 0
    roots, inverse, counts = np.unique(root, return_inverse=True, return_counts=True)
    order = np.lexsort((roots, -counts))  # biggest first
    rank = np.empty(roots.size, dtype=np.int32)
    rank[order] = np.arange(1, roots.size + 1, dtype=np.int32)
    out[tuple(ijk.T)] = rank[inverse]
    return out, int(roots.size)


def label_min_size(grid: Grid, supra: np.ndarray, min_voxels: int) -> np.ndarray:
    """In-mask labels 1..n (by decreasing size) of 6-connected clusters of >= ``min_voxels``.

    ``supra`` is an in-mask boolean vector of ``grid``; smaller clusters get label 0 and the
    survivors are renumbered without gaps.
    """
    labels_vol, n = label_clusters(grid.unmask(supra))
    labels = labels_vol[grid.mask]
    if n == 0:
        return labels.astype(np.int32)
    sizes = np.bincount(labels, minlength=n + 1)
    keep = np.flatnonzero(sizes[1:] >= max(min_voxels, 1)) + 1
    renumber = np.zeros(n + 1, dtype=np.int32)
    renumber[keep] = np.arange(1, keep.size + 1, dtype=np.int32)
    return renumber[labels]


def cluster_table(
    grid: Grid,
    labels: np.ndarray,
    ale: np.ndarray,
    z: np.ndarray,
    threshold: float,
    *,
    size_p: np.ndarray | None = None,
    mass_p: np.ndarray | None = None,
    contributions: Sequence[dict[str, float]] | None = None,
    labeller: Callable[[np.ndarray], list[str]] | None = None,
) -> pd.DataFrame:
    """One row per cluster: size, peak, ALE, z, FWE p, contributing experiments, label.

    Parameters
    ----------
    grid : Grid
        The voxel grid.
    labels : ndarray (n_voxels,) int
        In-mask cluster labels (1..n, 0 outside clusters).
    ale, z : ndarray (n_voxels,)
        In-mask ALE and z maps.
    threshold : float
        The cluster-forming ALE threshold (for the mass column).
    size_p, mass_p : ndarray (n_clusters,), optional
        Cluster-level FWE p of each cluster (by size and by mass).
    contributions : list of dict, optional
        For each cluster, experiment id -> share of the cluster's ALE (percent).
    labeller : callable, optional
        Maps (n, 3) MNI mm peaks to anatomical labels.
    """
    from syntony.meta.space import mni_to_tal

    n = int(labels.max()) if labels.size else 0
    rows = []
    volume_mm3 = float(np.prod(grid.voxel_size))
    ijk = grid.mask_ijk
    for c in range(1, n + 1):
        where = np.flatnonzero(labels == c)
        peak = where[np.argmax(ale[where])]
        xyz = grid.ijk_to_mm(ijk[peak])
        tal = mni_to_tal(xyz)
        row = {
            "cluster": c,
            "size_voxels": int(where.size),
            "size_mm3": where.size * volume_mm3,
            "mass": float(np.sum(ale[where].astype(np.float64) - threshold)),
            "peak_x": float(xyz[0]),
            "peak_y": float(xyz[1]),
            "peak_z": float(xyz[2]),
            "peak_tal_x": round(float(tal[0]), 1),
            "peak_tal_y": round(float(tal[1]), 1),
            "peak_tal_z": round(float(tal[2]), 1),
            "max_ale": float(ale[peak]),
            "peak_z_score": float(z[peak]),
        }
        if size_p is not None:
            row["p_fwe_size"] = float(size_p[c - 1])
        if mass_p is not None:
            row["p_fwe_mass"] = float(mass_p[c - 1])
        if contributions is not None:
            # Experiments whose kernels only graze the cluster (< 0.05 %) are not listed,
            # as in GingerALE's report; the full shares are in ``contributions``.
            shares = {k: v for k, v in contributions[c - 1].items() if v >= 0.05}
            row["n_experiments"] = len(shares)
            row["contributions"] = "; ".join(f"{k} ({v:.1f}%)" for k, v in shares.items())
        rows.append(row)
    table = pd.DataFrame(rows)
    if labeller is not None and len(table):
        peaks = table[["peak_x", "peak_y", "peak_z"]].to_numpy()
        table["label"] = labeller(peaks)
    return table
