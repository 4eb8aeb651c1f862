"""Resampled stability: how often each voxel and cluster survives when experiments are resampled.

This is NiMARE 0.22.1's ``ResampledStability`` for ALE (after JALE's probabilistic ALE,
Frahm et al.), computed from the observed layout without refitting:

1. A schedule of replicates, each keeping ``target_n`` experiments (policy ``"subsample"``,
   ``"leave_1_out"`` or ``"leave_k_out"``; see :func:`~.resampling.subset_schedule`).
2. One cluster-size threshold for all replicates: ``n_iters`` null replicates place the foci
   of ``target_n`` randomly chosen experiments at random voxels of the coverage (grey matter
   by default, as NiMARE and JALE), threshold their ALE at the voxel level ``voxel_p`` under
   the full studyset's analytic null, and record the largest 6-connected cluster; the
   threshold is the ``1 - alpha`` percentile (linear interpolation) of those sizes.
3. Each replicate's ALE (its experiments' log-sums, in ascending order as NiMARE sums them)
   is thresholded the same way; clusters strictly larger than the threshold are its support.
4. The stability map is the fraction of replicates whose support holds the voxel; for each
   cluster of the analysed result, the table gives its mean and largest stability and the
   fraction of replicates in which some surviving cluster overlaps it.

``replay_nimare=True`` draws the schedule and the null exactly as NiMARE 0.22.1 does for the
same integer seed (two ``RandomState(seed)`` streams), which the tests use to compare maps; the
experiments must then be in NiMARE's order (sorted ids for its JSON and Sleuth readers).
Otherwise the schedule draws from ``SeedTree(seed).child("subset", j)`` and null replicate
``j`` from ``SeedTree(seed).child("stability-null", j)``, so any number of workers gives the
same numbers.

NiMARE models the null experiments with kernels of the integer part of their sample sizes;
here they keep the kernels of the observed experiments (identical for whole sample sizes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer, check_probability
from syntony.errors import ParameterError
from syntony.meta.diagnostics.observed import Observed, check_labels
from syntony.meta.diagnostics.resampling import (
    coverage_positions,
    null_cluster_sizes,
    resolve_target_n,
    subset_schedule,
    supra_clusters,
    supra_threshold_ale,
)
from syntony.meta.permutation import accumulate_subset

if TYPE_CHECKING:
    from syntony.meta.null import HistogramNull

__all__ = ["Stability", "resampled_stability"]


@dataclass(frozen=True, eq=False)
class Stability:
    """Outcome of :func:`resampled_stability`.

    Attributes
    ----------
    map : ndarray float32 (n_mask_voxels,)
        Fraction of replicates in which the voxel lies in a surviving cluster.
    clusters : pandas.DataFrame
        Per cluster of the analysed result: ``cluster``, ``size_voxels``, ``mean_stability``,
        ``max_stability``, ``replicate_rate`` (fraction of replicates in which a surviving
        cluster overlaps it).
    subsets : list of int arrays
        The experiments each replicate kept.
    null_sizes : ndarray
        Largest null cluster of each null replicate.
    cluster_threshold : float
        Clusters had to be strictly larger than this (voxels).
    supra_ale : float
        Voxels were supra-threshold at ALE >= this value.
    parameters : dict
    """

    map: np.ndarray
    clusters: pd.DataFrame
    subsets: list[np.ndarray]
    null_sizes: np.ndarray
    cluster_threshold: float
    supra_ale: float
    parameters: dict[str, Any] = field(default_factory=dict)


def _null_draws(observed, target_n, space, n_iters, seed, replay):
    """Each null replicate's experiments (summation order) and focus positions (in-mask)."""
    counts = np.diff(observed.layout.foci_start)
    n = counts.size
    experiments, draws = [], []
    if replay:
        rng = np.random.RandomState(seed)
        for _ in range(n_iters):
            exps = rng.permutation(n)[:target_n] if target_n < n else np.arange(n)
            picks = [rng.randint(0, space.size, size=int(counts[e])) for e in exps]
            experiments.append(exps.astype(np.int64))
            draws.append(space[np.concatenate(picks)])
        return experiments, draws
    tree = SeedTree(seed).child("stability-null")
    for j in range(n_iters):
        rng = tree.child(j).generator()
        exps = rng.permutation(n)[:target_n] if target_n < n else np.arange(n)
        draws.append(space[rng.integers(0, space.size, size=int(counts[exps].sum()))])
        experiments.append(exps.astype(np.int64))
    return experiments, draws


def resampled_stability(
    observed: Observed,
    null: HistogramNull,
    *,
    labels: np.typing.ArrayLike | None = None,
    policy: str = "subsample",
    target_n: int | None = None,
    k: int | None = None,
    n_resamples: int | None = None,
    voxel_p: float = 0.001,
    alpha: float = 0.05,
    n_iters: int = 5000,
    coverage: str = "gm",
    replay_nimare: bool = False,
    random_state: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
) -> Stability:
    """Stability of an ALE under resampling of its experiments (NiMARE's semantics).

    Parameters
    ----------
    observed : Observed
        The analysed studyset on its layout.
    null : HistogramNull
        The full studyset's analytic null (the ALE result's ``null``); every replicate is
        thresholded under it, as JALE and NiMARE do.
    labels : int array (n_mask_voxels,), optional
        Clusters of the analysed result to summarise (numbers as in ``clusters.tsv``).
    policy : {"subsample", "leave_1_out", "leave_k_out"}
        How replicates are formed; ``target_n`` (subsample) or ``k`` (leave-k-out) set the
        number of experiments kept.
    n_resamples : int, optional
        Number of replicates (None: every subset, up to 1,000).
    voxel_p : float
        Uncorrected voxel threshold of every replicate and null replicate.
    alpha : float
        The cluster-size threshold is the ``1 - alpha`` percentile of the null sizes.
    n_iters : int
        Null replicates for the cluster-size threshold.
    coverage : {"gm", "brain"}
        Where null foci fall: grey matter of the mask (NiMARE's default) or the whole mask.
    replay_nimare : bool
        Reproduce NiMARE 0.22.1's random streams for the integer ``random_state``.
    random_state : int, SeedSequence or None
    n_jobs : int, optional
        Worker threads for the null (results do not depend on it).
    progress : bool
    """
    check_probability("voxel_p", voxel_p)
    check_probability("alpha", alpha)
    if not 0 < alpha < 1 or not 0 < voxel_p < 1:
        raise ParameterError("alpha/voxel_p", "probabilities in (0, 1)", (alpha, voxel_p))
    check_integer("n_iters", n_iters, minimum=1)
    n_total = observed.studyset.n_experiments
    kept = resolve_target_n(policy, n_total, k=k, target_n=target_n)
    subsets = subset_schedule(
        n_total, kept, n_resamples, seed=random_state, replay_nimare=replay_nimare
    )
    grid = observed.grid
    n_vox = grid.n_voxels
    labels = None if labels is None else check_labels(labels, n_vox)
    space = coverage_positions(grid, coverage)
    a_min = supra_threshold_ale(null, voxel_p)
    experiments, draws = _null_draws(observed, kept, space, n_iters, random_state, replay_nimare)
    sizes = null_cluster_sizes(
        observed.layout, experiments, draws, a_min, n_jobs=n_jobs, progress=progress
    )
    threshold = float(np.percentile(sizes, 100.0 * (1.0 - alpha)))

    layout = observed.layout
    bank = layout.bank
    packed = (np.ascontiguousarray(observed.local_ijk, dtype=np.int64), layout.foci_start,
              bank.experiment_kernel, bank.log_values_f32, bank.starts, bank.half_widths)  # fmt: skip
    where = tuple(layout.mask_local.T)
    volume = np.zeros(layout.shape)
    scratch = np.zeros(layout.shape)
    running = np.zeros(n_vox)
    numbers = np.zeros(0, dtype=np.int64) if labels is None else np.unique(labels[labels > 0])
    hits = np.zeros(numbers.size, dtype=np.int64)
    for subset in subsets:
        volume[...] = 0.0
        accumulate_subset(volume, scratch, subset, *packed)
        ale = (1.0 - np.exp(volume[where])).astype(np.float32)
        support = supra_clusters(grid, ale >= np.float32(a_min), threshold) >= 0
        running += support
        if numbers.size:
            hit = np.unique(labels[support])
            hits += np.isin(numbers, hit)
    stability = (running / len(subsets)).astype(np.float32)
    rows = []
    for c, h in zip(numbers, hits, strict=True):
        inside = labels == c
        rows.append(
            {
                "cluster": int(c),
                "size_voxels": int(inside.sum()),
                "mean_stability": float(stability[inside].astype(np.float64).mean()),
                "max_stability": float(stability[inside].max()),
                "replicate_rate": float(h / len(subsets)),
            }
        )
    table = pd.DataFrame(
        rows,
        columns=["cluster", "size_voxels", "mean_stability", "max_stability", "replicate_rate"],
    ).astype({"cluster": "int64", "size_voxels": "int64"})
    parameters = {
        "policy": policy,
        "target_n": kept,
        "k": k,
        "n_resamples": len(subsets),
        "voxel_p": voxel_p,
        "alpha": alpha,
        "n_iters": n_iters,
        "coverage": coverage,
        "n_coverage_voxels": int(space.size),
        "replay_nimare": replay_nimare,
        "cluster_threshold_voxels": threshold,
        "supra_threshold_ale": a_min,
    }
    return Stability(
        map=stability, clusters=table, subsets=subsets, null_sizes=sizes,
        cluster_threshold=threshold, supra_ale=a_min, parameters=parameters,
    )  # fmt: skip
