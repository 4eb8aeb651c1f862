"""Resampling pieces shared by the resampled stability and the balanced contrast.

Both come from JALE (Frahm et al.) by way of NiMARE 0.22.1, and both need the same four things:

- which experiments each replicate keeps (:func:`subset_schedule`, NiMARE's
  ``generate_subset_schedule`` for ``replay_nimare``, else a named seed stream);
- where null foci may fall (:func:`coverage_positions`: the whole mask, or NiMARE's grey-matter
  prior, the MNI152 grey-matter template resampled to the grid and thresholded at 0.1);
- the ALE above which a voxel is supra-threshold under an analytic null
  (:func:`supra_threshold_ale`: the smallest float32 ALE whose z exceeds the voxel threshold,
  evaluated exactly as NiMARE turns ALE into p and z);
- the largest null cluster of random experiments (:func:`null_cluster_sizes`, compiled and run
  on worker threads, or as blocks of replicates on an executor, iteration ``j`` on its own draws
  so the result depends on neither).
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from math import comb
from typing import TYPE_CHECKING

import numba
import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony.errors import ParameterError
from syntony.meta.accumulate import accumulate_log_ma_into
from syntony.meta.clusters import label_supra, max_cluster_stats
from syntony.meta.diagnostics.tasks import gather, task_blocks
from syntony.meta.null import BIN_STEP, z_from_p

if TYPE_CHECKING:
    from syntony.execution import Executor
    from syntony.meta.layout import Layout
    from syntony.meta.null import HistogramNull
    from syntony.meta.space import Grid

__all__ = [
    "COVERAGES",
    "coverage_positions",
    "experiment_histograms",
    "histogram_bin_count",
    "null_cluster_sizes",
    "resolve_target_n",
    "subset_schedule",
    "supra_clusters",
    "supra_threshold_ale",
]

#: Where random foci may fall: the whole mask, or grey matter (NiMARE's and JALE's default).
COVERAGES = ("gm", "brain")
POLICIES = ("subsample", "leave_1_out", "leave_k_out")


def resolve_target_n(
    policy: str, n_total: int, *, k: int | None = None, target_n: int | None = None
) -> int:
    """Experiments kept per replicate under a resampling ``policy`` (NiMARE's rules)."""
    if policy == "leave_1_out":
        if n_total < 2:
            raise ParameterError("policy", "a studyset of at least 2 experiments", n_total)
        return n_total - 1
    if policy == "leave_k_out":
        if k is None or isinstance(k, bool) or not 0 < int(k) < n_total:
            raise ParameterError("k", f"an integer from 1 to {n_total - 1}", k)
        return n_total - int(k)
    if policy == "subsample":
        value = n_total if target_n is None else target_n
        if isinstance(value, bool) or not 0 < int(value) <= n_total:
            raise ParameterError("target_n", f"an integer from 1 to {n_total}", target_n)
        return int(value)
    raise ParameterError("policy", "'subsample', 'leave_1_out' or 'leave_k_out'", policy)


def subset_schedule(
    n_total: int,
    target_n: int,
    n_samples: int | None,
    *,
    seed: SeedLike | SeedTree = None,
    replay_nimare: bool = False,
    exhaustive_limit: int = 1000,
) -> list[np.ndarray]:
    """The experiments (sorted indices) each replicate keeps.

    Keeping all but one gives the ``n_total`` leave-one-out sets; when every combination fits
    in ``n_samples`` (or ``n_samples`` is None and there are at most ``exhaustive_limit``)
    all combinations are used, in lexicographic order; otherwise ``n_samples`` distinct random
    subsets, sorted. With ``replay_nimare`` the random subsets are NiMARE 0.22.1's for the
    integer ``seed`` (``RandomState(seed).choice`` without replacement until enough distinct
    sets); otherwise each candidate subset ``j`` is drawn from the named stream
    ``SeedTree(seed).child("subset", j)``.
    """
    if not 0 < target_n <= n_total:
        raise ParameterError("target_n", f"an integer from 1 to {n_total}", target_n)
    if target_n == n_total - 1:
        return [np.delete(np.arange(n_total), i).astype(np.int64) for i in range(n_total)]
    total = comb(n_total, target_n)
    if n_samples is None:
        if total > exhaustive_limit:
            raise ParameterError(
                "n_resamples", f"a number of resamples ({total} subsets are too many to list)",
                None,
            )  # fmt: skip
        n_samples = total
    n_samples = min(int(n_samples), total)
    if n_samples < 1:
        raise ParameterError("n_resamples", "a positive integer", n_samples)
    if n_samples == total and total <= exhaustive_limit:
        return [np.asarray(c, dtype=np.int64) for c in combinations(range(n_total), target_n)]
    found: set[tuple[int, ...]] = set()
    if replay_nimare:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise ParameterError("random_state", "None or an integer to replay NiMARE", seed)
        rng = np.random.RandomState(seed)
        while len(found) < n_samples:
            found.add(tuple(np.sort(rng.choice(n_total, size=target_n, replace=False)).tolist()))
    else:
        tree = SeedTree(seed)
        j = 0
        while len(found) < n_samples:
            draw = tree.child("subset", j).generator().choice(n_total, target_n, replace=False)
            found.add(tuple(np.sort(draw).tolist()))
            j += 1
    return [np.asarray(s, dtype=np.int64) for s in sorted(found)]


@functools.cache
def _gm_prior(shape: tuple[int, ...], affine: tuple[float, ...], threshold: float) -> np.ndarray:
    import nibabel as nib
    from nilearn import datasets, image

    target = nib.Nifti1Image(np.ones(shape, dtype=np.int8), np.asarray(affine).reshape(4, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = datasets.load_mni152_gm_template(resolution=2)
        resampled = image.resample_to_img(gm, target, interpolation="continuous")
    return np.asarray(resampled.dataobj) > threshold


def coverage_positions(
    grid: Grid, coverage: str = "gm", *, gm_threshold: float = 0.1
) -> np.ndarray:
    """In-mask positions (ascending, i.e. C order) of the voxels where null foci may fall.

    ``"brain"``: every mask voxel. ``"gm"``: mask voxels where the MNI152 grey-matter template
    shipped with nilearn, resampled to the grid (continuous interpolation), exceeds
    ``gm_threshold`` — NiMARE 0.22.1's ``mask_coverage="gm"``, which JALE introduced.
    """
    if coverage == "brain":
        return np.arange(grid.n_voxels, dtype=np.int64)
    if coverage != "gm":
        raise ParameterError("coverage", "'gm' or 'brain'", coverage)
    prior = _gm_prior(grid.shape, tuple(np.asarray(grid.affine, float).ravel()), gm_threshold)
    return np.flatnonzero(prior[grid.mask]).astype(np.int64)


def supra_threshold_ale(null: HistogramNull, voxel_p: float) -> float:
    """The smallest float32 ALE whose z under ``null`` exceeds the z of ``voxel_p``.

    NiMARE thresholds JALE-style replicates with ``z > norm.ppf(1 - voxel_p)`` where z comes
    from the histogram null's p of the float32 ALE and is stored as float32. That is a
    monotone rule in ALE; this finds its boundary by bisection over the float32 numbers, so
    the compiled loops can test ``ale >= boundary`` and decide exactly as NiMARE does.
    Returns ``inf`` when no ALE qualifies.
    """
    from scipy.stats import norm

    z_cut = norm.ppf(1.0 - voxel_p)

    def passes(bits: int) -> bool:
        value = np.array([bits], dtype=np.int32).view(np.float32)
        z = z_from_p(null.p_values(value)).astype(np.float32).astype(np.float64)
        return bool(z[0] > z_cut)

    lo = 0  # bits of +0.0
    hi = int(np.array([1.0], dtype=np.float32).view(np.int32)[0])
    if not passes(hi):
        return float("inf")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return float(np.array([hi], dtype=np.int32).view(np.float32)[0])


class _LabelScratch(threading.local):
    def volume(self, shape: tuple[int, ...]) -> np.ndarray:
        if getattr(self, "shape", None) != shape:
            self.shape = shape
            self.labels = np.full(shape, -1, dtype=np.int64)
        return self.labels


_LABELS = _LabelScratch()


def supra_clusters(grid: Grid, supra: np.ndarray, min_size: float) -> np.ndarray:
    """In-mask 6-connected clusters of ``supra`` larger than ``min_size`` voxels (strictly,
    NiMARE's rule): each kept voxel holds the mask position of its cluster's first voxel
    (C order), others -1."""
    where = np.flatnonzero(supra)
    out = np.full(supra.size, -1, dtype=np.int64)
    if where.size == 0:
        return out
    ijk = np.ascontiguousarray(grid.mask_ijk[where], dtype=np.int64)
    root = label_supra(_LABELS.volume(grid.shape), ijk, where.size)
    sizes = np.bincount(root, minlength=where.size)
    keep = sizes[root] > min_size
    out[where[keep]] = where[root[keep]]
    return out


@numba.njit(cache=True, nogil=True)
def _null_iteration(
    draw, exps, mask_local, foci_start, exp_kernel, logs, starts, halves, a_min,
    volume, scratch, labels, ijk, supra_ijk, supra_val,
):  # fmt: skip
    """Largest supra-threshold cluster of experiments ``exps`` with foci at ``draw``."""
    _, ny, nz = volume.shape
    flat = volume.reshape(-1)
    flat[:] = 0.0
    n_sel = exps.shape[0]
    sub_start = np.empty(n_sel + 1, dtype=np.int64)
    sub_kernel = np.empty(n_sel, dtype=np.int64)
    p = 0
    for k in range(n_sel):
        e = exps[k]
        sub_start[k] = p
        sub_kernel[k] = exp_kernel[e]
        for _ in range(foci_start[e], foci_start[e + 1]):
            v = draw[p]
            ijk[p, 0] = mask_local[v, 0]
            ijk[p, 1] = mask_local[v, 1]
            ijk[p, 2] = mask_local[v, 2]
            p += 1
    sub_start[n_sel] = p
    accumulate_log_ma_into(volume, scratch, ijk[:p], sub_start, sub_kernel, logs, starts, halves)
    # A voxel whose log-sum is above s_cut cannot reach a_min even after float32 rounding.
    s_cut = np.log1p(-np.float64(a_min)) + 1e-6 if a_min < 1.0 else -np.inf
    n = 0
    for t in range(mask_local.shape[0]):
        x, y, z = mask_local[t, 0], mask_local[t, 1], mask_local[t, 2]
        s = flat[(x * ny + y) * nz + z]
        if s >= s_cut:
            continue
        a = np.float32(1.0 - np.exp(s))
        if a >= a_min:
            supra_ijk[n, 0] = x
            supra_ijk[n, 1] = y
            supra_ijk[n, 2] = z
            supra_val[n] = 0.0
            n += 1
    size, _mass = max_cluster_stats(labels, supra_ijk, supra_val, n, 0.0)
    return size


class _Scratch(threading.local):
    def get(self, layout: Layout, n_foci: int) -> tuple[np.ndarray, ...]:
        if getattr(self, "owner", None) is not layout:
            n_mask = layout.mask_local.shape[0]
            self.owner = layout
            self.buffers = (
                np.zeros(layout.shape),
                np.zeros(layout.shape),
                np.full(layout.shape, -1, dtype=np.int64),
                np.empty((layout.n_foci, 3), dtype=np.int64),
                np.empty((n_mask, 3), dtype=np.int64),
                np.empty(n_mask),
            )
        return self.buffers


def null_cluster_sizes(
    layout: Layout,
    experiments: list[np.ndarray],
    draws: list[np.ndarray],
    a_min: float | np.ndarray,
    *,
    n_jobs: int | None = None,
    progress: bool = False,
    executor: Executor | None = None,
) -> np.ndarray:
    """Largest supra-threshold (ALE >= ``a_min``) cluster of each null replicate.

    Replicate ``j`` places the foci of ``experiments[j]`` (indices into ``layout``'s
    experiments, summed in that order) at the in-mask positions ``draws[j]`` (one per focus,
    experiment by experiment). Experiments keep their kernels. Clusters are 6-connected.
    ``a_min`` is one threshold for all replicates or one per replicate.

    With an ``executor`` (:mod:`syntony.execution`) blocks of replicates are tasks carrying
    their experiments and draws, the layout goes once per worker, and the sizes come back in
    replicate order: the same numbers as on threads.
    """
    thresholds = np.broadcast_to(np.asarray(a_min, dtype=np.float32), (len(draws),))
    if executor is not None:
        items = [
            (list(experiments[lo:hi]), list(draws[lo:hi]), np.array(thresholds[lo:hi]))
            for lo, hi in task_blocks(len(draws), executor)
        ]
        parts = gather(executor, _sizes_task, items, shared=layout, progress=progress,
                       label="Stability null", weights=[len(i[1]) for i in items])  # fmt: skip
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    bank = layout.bank
    sizes = np.zeros(len(draws), dtype=np.int64)
    scratch = _Scratch()
    from syntony.meta.fwe import progress_bar

    bar = progress_bar(progress, len(draws), "Stability null")
    done = [0]
    lock = threading.Lock()

    def run(j: int) -> None:
        buffers = scratch.get(layout, layout.n_foci)
        sizes[j] = _null_iteration(
            np.ascontiguousarray(draws[j], dtype=np.int64),
            np.ascontiguousarray(experiments[j], dtype=np.int64),
            layout.mask_local, layout.foci_start, bank.experiment_kernel, bank.log_values_f32,
            bank.starts, bank.half_widths, thresholds[j], *buffers,
        )  # fmt: skip
        if bar is not None:
            with lock:
                done[0] += 1
                bar[0].update(bar[1], completed=done[0])

    try:
        with ThreadPoolExecutor(max_workers=int(n_jobs or os.cpu_count() or 1)) as pool:
            list(pool.map(run, range(len(draws))))
    finally:
        if bar is not None:
            bar[0].stop()
    return sizes


def _sizes_task(
    item: tuple[list[np.ndarray], list[np.ndarray], np.ndarray], shared: Layout
) -> np.ndarray:
    """A block of null replicates in one worker (one thread)."""
    experiments, draws, thresholds = item
    return null_cluster_sizes(shared, experiments, draws, thresholds, n_jobs=1)


def histogram_bin_count(layout: Layout) -> int:
    """Number of 1e-5 MA bins that hold every kernel value of ``layout`` (as the ALE fit)."""
    return int(np.ceil(float(max(k.max() for k in layout.bank.kernels)) / BIN_STEP)) + 2


def experiment_histograms(
    layout: Layout,
    local_ijk: np.ndarray,
    *,
    experiments: np.ndarray | None = None,
    index: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per experiment: in-mask MA counts per nearest 1e-5 bin, and the peak MA.

    The input of :func:`~syntony.meta.null.histogram_null` (zeros counted in bin 0), computed
    as the ALE fit computes it. ``experiments`` (default: all of ``layout``'s, in order) picks
    the experiments, whose foci ``local_ijk`` lists experiment by experiment in that order; the
    foci may lie anywhere (a null replicate). ``index`` is ``layout.mask_index_volume()`` when
    the caller has it.
    """
    bank = layout.bank
    if experiments is None:
        foci_start, kernels = layout.foci_start, bank.experiment_kernel
    else:
        exps = np.asarray(experiments, dtype=np.int64)
        counts = np.diff(layout.foci_start)[exps]
        foci_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        kernels = bank.experiment_kernel[exps]
    from syntony.meta.ale import ma_histograms  # the ALE fit's own kernel (no import cycle)

    return ma_histograms(
        np.ascontiguousarray(local_ijk, dtype=np.int64), foci_start, kernels, bank.values,
        bank.starts, bank.half_widths, layout.mask_index_volume() if index is None else index,
        histogram_bin_count(layout), 1.0 / (np.round(BIN_STEP, 5) - 0.0),
    )  # fmt: skip
