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

With an ``executor`` (:mod:`syntony.execution`) both loops run as tasks, with the layout, the
coverage and the thresholds sent once per worker: blocks of null replicates (each replicate
drawing from its own stream ``("stability-null", j)`` inside the task; NiMARE's sequential
stream is drawn here and the draws travel with their block), then blocks of resamples, each
returning how many of its replicates kept every voxel and overlapped every cluster. Those are
whole numbers, so adding the blocks in order gives the same map and table as one loop.
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
from syntony.meta.diagnostics.tasks import gather, task_blocks
from syntony.meta.permutation import accumulate_subset

if TYPE_CHECKING:
    from syntony.execution import Executor
    from syntony.meta.layout import Layout
    from syntony.meta.null import HistogramNull
    from syntony.meta.space import Grid

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


def _null_draw(
    rng: np.random.Generator, counts: np.ndarray, target_n: int, space: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One null replicate of the default stream: its experiments and focus positions."""
    n = counts.size
    exps = rng.permutation(n)[:target_n] if target_n < n else np.arange(n)
    draw = space[rng.integers(0, space.size, size=int(counts[exps].sum()))]
    return exps.astype(np.int64), draw


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
        exps, draw = _null_draw(tree.child(j).generator(), counts, target_n, space)
        experiments.append(exps)
        draws.append(draw)
    return experiments, draws


@dataclass(frozen=True, eq=False)
class _NullShared:
    """What every block of null replicates needs (sent once per worker)."""

    layout: Layout
    tree: SeedTree
    counts: np.ndarray
    target_n: int
    space: np.ndarray
    a_min: float


def _null_task(item: tuple[int, int], shared: _NullShared) -> np.ndarray:
    """Null replicates ``lo:hi`` of the default stream, drawn and sized in the worker."""
    from syntony.meta.diagnostics.resampling import null_cluster_sizes

    lo, hi = item
    pairs = [
        _null_draw(shared.tree.child(j).generator(), shared.counts, shared.target_n, shared.space)
        for j in range(lo, hi)
    ]
    experiments = [p[0] for p in pairs]
    draws = [p[1] for p in pairs]
    return null_cluster_sizes(shared.layout, experiments, draws, shared.a_min, n_jobs=1)


def _null_sizes(observed, target_n, space, n_iters, seed, replay, a_min, n_jobs, progress,
                executor):  # fmt: skip
    """Largest null cluster of each null replicate, in replicate order."""
    layout = observed.layout
    if executor is None or replay:
        experiments, draws = _null_draws(observed, target_n, space, n_iters, seed, replay)
        return null_cluster_sizes(layout, experiments, draws, a_min, n_jobs=n_jobs,
                                  progress=progress, executor=executor)  # fmt: skip
    shared = _NullShared(
        layout=layout, tree=SeedTree(seed).child("stability-null"),
        counts=np.diff(layout.foci_start), target_n=target_n, space=space, a_min=a_min,
    )  # fmt: skip
    blocks = task_blocks(n_iters, executor)
    parts = gather(executor, _null_task, blocks, shared=shared, progress=progress,
                   label="Stability null", weights=[hi - lo for lo, hi in blocks])  # fmt: skip
    return np.concatenate(parts)


@dataclass(frozen=True, eq=False)
class _ResampleShared:
    """What every block of resamples needs (sent once per worker)."""

    packed: tuple[np.ndarray, ...]
    mask_local: np.ndarray
    shape: tuple[int, int, int]
    grid: Grid
    a_min: float
    threshold: float
    labels: np.ndarray | None
    numbers: np.ndarray


def _resample_task(
    subsets: list[np.ndarray], shared: _ResampleShared
) -> tuple[np.ndarray, np.ndarray]:
    """For a block of resamples: in how many each voxel survived, and each cluster was hit."""
    where = tuple(shared.mask_local.T)
    volume = np.zeros(shared.shape)
    scratch = np.zeros(shared.shape)
    running = np.zeros(shared.mask_local.shape[0], dtype=np.int64)
    hits = np.zeros(shared.numbers.size, dtype=np.int64)
    for subset in subsets:
        volume[...] = 0.0
        accumulate_subset(volume, scratch, subset, *shared.packed)
        ale = (1.0 - np.exp(volume[where])).astype(np.float32)
        support = supra_clusters(shared.grid, ale >= np.float32(shared.a_min),
                                 shared.threshold) >= 0  # fmt: skip
        running += support
        if shared.numbers.size:
            hit = np.unique(shared.labels[support])
            hits += np.isin(shared.numbers, hit)
    return running, hits


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
    executor: Executor | None = None,
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
    executor : Executor, optional
        Run blocks of null replicates and of resamples as tasks (:mod:`syntony.execution`:
        local processes, a Dask cluster); the map and table are the same as without it.
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
    sizes = _null_sizes(observed, kept, space, n_iters, random_state, replay_nimare, a_min,
                        n_jobs, progress, executor)  # fmt: skip
    threshold = float(np.percentile(sizes, 100.0 * (1.0 - alpha)))

    layout = observed.layout
    bank = layout.bank
    numbers = np.zeros(0, dtype=np.int64) if labels is None else np.unique(labels[labels > 0])
    shared = _ResampleShared(
        packed=(np.ascontiguousarray(observed.local_ijk, dtype=np.int64), layout.foci_start,
                bank.experiment_kernel, bank.log_values_f32, bank.starts, bank.half_widths),
        mask_local=layout.mask_local, shape=layout.shape, grid=grid, a_min=a_min,
        threshold=threshold, labels=labels, numbers=numbers,
    )  # fmt: skip
    if executor is None:
        running, hits = _resample_task(subsets, shared)
    else:
        blocks = [subsets[lo:hi] for lo, hi in task_blocks(len(subsets), executor)]
        parts = gather(executor, _resample_task, blocks, shared=shared)
        running = np.sum([p[0] for p in parts], axis=0)
        hits = np.sum([p[1] for p in parts], axis=0)
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
