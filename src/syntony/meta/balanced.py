"""Balanced ALE contrast: equal-size subsampling and probabilistic maps (JALE, NiMARE 0.22.1).

An ordinary ALE contrast compares groups of different sizes, and ALE grows with the number of
experiments, so the larger group wins voxels it would not win at equal size. JALE (Frahm et
al.) and NiMARE's ``BalancedALESubtraction`` compare equal numbers ``target_n`` of experiments
(by default the smaller group's size):

- **Probabilistic maps.** For each group, a cluster-size threshold from ``n_iters`` null
  replicates (``target_n`` experiments with foci at random voxels of the coverage, thresholded
  at the voxel level ``voxel_p`` under their own analytic null; the ``1 - alpha`` percentile of
  the largest cluster), then the fraction of ``n_subsamples`` subsamples of ``target_n``
  experiments (each thresholded under its own analytic null) in which a voxel lies in a
  cluster larger than that threshold. Their voxelwise minimum is a conjunction map.
- **Balanced difference.** The mean, over ``difference_iterations`` draws of ``target_n``
  experiments from each group, of ``ALE_A - ALE_B`` on the coverage voxels.
- **Its null.** ``n_iters`` times: either both groups' foci are placed at random voxels of the
  coverage (``null="random-foci"``, the default: subsampling breaks the exchangeability of
  experiments between groups) or the experiments are shuffled between groups
  (``"label-permutation"``), and the same mean balanced difference is taken; its smallest and
  largest values form two extreme-value nulls. A voxel whose difference exceeds the
  ``1 - alpha / 2`` percentile of the maxima (or falls below the ``alpha / 2`` percentile of the
  minima) gets the fraction of null extremes beyond it as its p (at least ``1 / n_iters``);
  other voxels get p = 1.

Everything runs on the observed layout in compiled code: subset ALE maps from the experiments'
log-sums, the balanced differences as sparse float32 products that repeat NiMARE's dense
float32 products exactly. ``replay_nimare=True`` draws every random number as NiMARE 0.22.1
does for the same integer seed (``RandomState(seed)`` for group A's map and the differences,
``seed + 1`` for group B's map), so the maps can be compared with NiMARE's; the groups are
then ordered by id, as NiMARE orders them. Otherwise group ``g``'s null replicate ``j`` draws
from ``SeedTree(seed).child("balanced", "map", g, "null", j)``, its subsamples from
``("balanced", "map", g)``, the observed differences from ``("balanced", "difference")`` and
null replicate ``j`` of the difference from ``("balanced", "null", j)``: the same seed gives
the same maps whatever the number of workers.

NiMARE gives null experiments kernels of the integer part of their sample sizes; here they
keep the observed experiments' kernels (identical for whole sample sizes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer, check_probability
from syntony.errors import InputError, ParameterError
from syntony.meta.balanced_kernels import ma_rows, mean_balanced_difference
from syntony.meta.diagnostics.observed import Observed
from syntony.meta.diagnostics.resampling import (
    coverage_positions,
    experiment_histograms,
    null_cluster_sizes,
    subset_schedule,
    supra_clusters,
    supra_threshold_ale,
)
from syntony.meta.null import histogram_null, logp_from_p, z_from_p
from syntony.meta.permutation import accumulate_subset

if TYPE_CHECKING:
    from syntony.meta.contrast import ContrastResult
    from syntony.meta.kernel import ALEKernel
    from syntony.meta.space import Grid
    from syntony.meta.studyset import Studyset

__all__ = [
    "Balanced",
    "BalancedFit",
    "balanced_contrast",
    "balanced_result",
    "mean_balanced_difference",
]

FRAHM = (
    "Frahm L, Cieslik EC, Hoffstaedter F, et al. (2022). Evaluation of thresholding methods "
    "for activation likelihood estimation meta-analysis via large-scale simulations. Human "
    "Brain Mapping 43:3987-3997. doi:10.1002/hbm.25898"
)


@dataclass(frozen=True)
class Balanced:
    """The balanced contrast of :mod:`syntony.meta.balanced` (options, NiMARE's defaults).

    Parameters
    ----------
    target_n : int, optional
        Experiments drawn from each group (default: the smaller group's size).
    n_subsamples : int
        Subsamples of each group's probabilistic map.
    difference_iterations : int
        Paired draws averaged into one balanced difference.
    n_iters : int
        Null replicates (of each probabilistic map's cluster threshold and of the difference).
    voxel_p : float
        Voxel-level threshold of the probabilistic maps.
    null : {"random-foci", "label-permutation"}
    coverage : {"gm", "brain"}
        Voxels where the difference is computed and null foci fall.
    alpha : float
        Level of the cluster threshold and of the two-sided extreme-value test.
    min_cluster_mm3 : float
        Clusters of significant voxels smaller than this are dropped from the cluster tables.
    """

    target_n: int | None = None
    n_subsamples: int = 2500
    difference_iterations: int = 1000
    n_iters: int = 1000
    voxel_p: float = 0.001
    null: str = "random-foci"
    coverage: str = "gm"
    alpha: float = 0.05
    min_cluster_mm3: float = 0.0

    def __post_init__(self) -> None:
        if self.target_n is not None:
            check_integer("target_n", self.target_n, minimum=1)
        check_integer("n_subsamples", self.n_subsamples, minimum=1)
        check_integer("difference_iterations", self.difference_iterations, minimum=1)
        check_integer("n_iters", self.n_iters, minimum=1)
        check_probability("voxel_p", self.voxel_p)
        check_probability("alpha", self.alpha)
        if not 0 < self.alpha < 1 or not 0 < self.voxel_p < 1:
            raise ParameterError(
                "alpha/voxel_p", "probabilities in (0, 1)", (self.alpha, self.voxel_p)
            )
        if self.null not in ("random-foci", "label-permutation"):
            raise ParameterError("null", "'random-foci' or 'label-permutation'", self.null)
        if self.coverage not in ("gm", "brain"):
            raise ParameterError("coverage", "'gm' or 'brain'", self.coverage)
        if not self.min_cluster_mm3 >= 0:
            raise ParameterError("min_cluster_mm3", "a volume >= 0", self.min_cluster_mm3)

    one_sided = False

    @property
    def p_threshold(self) -> float:
        return self.alpha

    def describe(self) -> str:
        where = "grey-matter" if self.coverage == "gm" else "brain-mask"
        null = (
            "both groups' foci placed at random"
            if self.null == "random-foci"
            else "experiments shuffled between the groups"
        )
        return (
            "Following JALE's balanced subtraction as implemented in NiMARE's "
            "BalancedALESubtraction (Frahm et al., 2022; Salo et al., 2023), the difference was "
            f"averaged over {self.difference_iterations} draws of equally many experiments from "
            f"each group, on {where} voxels, and compared with the extremes of {self.n_iters} "
            f"null differences ({null}); voxels beyond the {100 * (1 - self.alpha / 2):g}th "
            "percentile of the null maxima (or below that of the minima) were significant. "
            f"Probabilistic maps give, for each group, the fraction of {self.n_subsamples} "
            "equal-size subsamples in which a voxel lies in a cluster above a Monte Carlo "
            f"cluster-size threshold (voxel p < {self.voxel_p:g})."
        )


@dataclass(frozen=True, eq=False)
class BalancedFit:
    """What :func:`balanced_contrast` computed (in-mask arrays, float32).

    ``diff`` (mean balanced ``ALE_A - ALE_B``, 0 off the coverage), ``p``, ``z`` (signed),
    ``logp``, ``prob_a``, ``prob_b``, ``conjunction`` (their minimum), ``coverage`` (bool);
    ``null_min`` / ``null_max`` (the extreme-value nulls), ``low`` / ``high`` (their
    thresholds), ``cluster_threshold`` (each probabilistic map's, voxels), ``target_n`` and
    the ``parameters``.
    """

    diff: np.ndarray
    p: np.ndarray
    z: np.ndarray
    logp: np.ndarray
    prob_a: np.ndarray
    prob_b: np.ndarray
    conjunction: np.ndarray
    coverage: np.ndarray
    null_min: np.ndarray
    null_max: np.ndarray
    low: float
    high: float
    cluster_threshold: tuple[float, float]
    target_n: int
    parameters: dict[str, Any] = field(default_factory=dict)


# -- helpers ------------------------------------------------------------------------------------
def _column_box(observed: Observed, positions: np.ndarray) -> np.ndarray:
    """Box volume: column (0..n-1) of each coverage voxel, -1 elsewhere."""
    columns = np.full(observed.grid.n_voxels, -1, dtype=np.int64)
    columns[positions] = np.arange(positions.size)
    return observed.to_box(columns, fill=-1)


def _rows(observed: Observed, local_ijk: np.ndarray, column_box: np.ndarray):
    bank = observed.layout.bank
    hint = int(local_ijk.shape[0]) * 6000 + 1
    return ma_rows(
        np.ascontiguousarray(local_ijk, dtype=np.int64), observed.layout.foci_start,
        bank.experiment_kernel, bank.values, bank.starts, bank.half_widths, column_box, hint,
    )  # fmt: skip


def _random_positions(rng: Any, counts: np.ndarray, order: np.ndarray, space: np.ndarray, replay):
    """Positions of random foci for experiments ``order`` (NiMARE: one randint per experiment)."""
    if replay:
        picks = [rng.randint(0, space.size, size=int(counts[e])) for e in order]
        return space[np.concatenate(picks)] if picks else np.zeros(0, np.int64)
    return space[rng.integers(0, space.size, size=int(counts[order].sum()))]


def _draw_pairs(rng: Any, n1: int, n2: int, t: int, d: int, replay: bool):
    a = np.empty((d, t), dtype=np.int64)
    b = np.empty((d, t), dtype=np.int64)
    for i in range(d):
        a[i] = rng.choice(n1, size=t, replace=False)
        b[i] = rng.choice(n2, size=t, replace=False)
    return a, b


def _probabilistic_map(observed, target_n, test, space, seed, replay, n_jobs, progress):
    """Fraction of equal-size subsamples in which a voxel lies in a surviving cluster."""
    layout, grid = observed.layout, observed.grid
    n = observed.studyset.n_experiments
    counts = np.diff(layout.foci_start)
    index = layout.mask_index_volume()
    # Null replicates: target_n experiments with random foci, each under its own null.
    experiments, draws = [], []
    if replay:
        rng = np.random.RandomState(seed)
    for j in range(test.n_iters):
        if not replay:
            rng = SeedTree(seed).child("null", j).generator()
        exps = rng.permutation(n)[:target_n] if target_n < n else np.arange(n)
        draws.append(_random_positions(rng, counts, exps, space, replay))
        experiments.append(exps.astype(np.int64))
    thresholds = np.empty(test.n_iters, dtype=np.float32)
    for j, (exps, draw) in enumerate(zip(experiments, draws, strict=True)):
        local = np.ascontiguousarray(layout.mask_local[draw], dtype=np.int64)
        hist, peak = experiment_histograms(layout, local, experiments=exps, index=index)
        null = histogram_null(hist, peak, grid.n_voxels)
        thresholds[j] = np.float32(supra_threshold_ale(null, test.voxel_p))
    sizes = null_cluster_sizes(layout, experiments, draws, thresholds, n_jobs=n_jobs,
                               progress=progress)  # fmt: skip
    cluster_threshold = float(np.percentile(sizes, 100.0 * (1.0 - test.alpha)))
    subsets = subset_schedule(n, target_n, test.n_subsamples, seed=seed, replay_nimare=replay,
                              exhaustive_limit=10000)  # fmt: skip
    hist_all, peak_all = experiment_histograms(layout, observed.local_ijk, index=index)
    bank = layout.bank
    packed = (np.ascontiguousarray(observed.local_ijk, dtype=np.int64), layout.foci_start,
              bank.experiment_kernel, bank.log_values_f32, bank.starts, bank.half_widths)  # fmt: skip
    where = tuple(layout.mask_local.T)
    volume = np.zeros(layout.shape)
    scratch = np.zeros(layout.shape)
    running = np.zeros(grid.n_voxels)
    for subset in subsets:
        null = histogram_null(hist_all[subset], peak_all[subset], grid.n_voxels)
        a_min = supra_threshold_ale(null, test.voxel_p)
        volume[...] = 0.0
        accumulate_subset(volume, scratch, subset, *packed)
        ale = (1.0 - np.exp(volume[where])).astype(np.float32)
        running += supra_clusters(grid, ale >= np.float32(a_min), cluster_threshold) >= 0
    return (running / len(subsets)).astype(np.float32), cluster_threshold, len(subsets)


def _null_extremes(rows_a, rows_b, obs_a, obs_b, column_box, space, test, draw, n_jobs):
    """Smallest and largest mean balanced difference of each null replicate.

    ``draw(j)`` returns what replicate ``j`` drew: ``("foci", positions_a, positions_b, idx_a,
    idx_b)`` or ``("labels", perm, idx_a, idx_b)``; draws are made in order (NiMARE's stream is
    serial) and the replicates computed on worker threads.
    """
    n1 = obs_a.studyset.n_experiments
    pooled = None
    if test.null == "label-permutation":
        ptr = np.concatenate([rows_a[0], rows_a[0][-1] + rows_b[0][1:]])
        pooled = (
            ptr,
            np.concatenate([rows_a[1], rows_b[1]]),
            np.concatenate([rows_a[2], rows_b[2]]),
        )
    low = np.zeros(test.n_iters, dtype=np.float32)
    high = np.zeros(test.n_iters, dtype=np.float32)

    def one(j: int, drawn: tuple) -> None:
        if drawn[0] == "foci":
            _, pos_a, pos_b, idx_a, idx_b = drawn
            null_a = _rows(obs_a, obs_a.layout.mask_local[pos_a], column_box)
            null_b = _rows(obs_b, obs_b.layout.mask_local[pos_b], column_box)
            diff = mean_balanced_difference(null_a, null_b, idx_a, idx_b, space.size)
        else:
            _, perm, idx_a, idx_b = drawn
            diff = mean_balanced_difference(pooled, pooled, perm[:n1][idx_a], perm[n1:][idx_b],
                                            space.size)  # fmt: skip
        low[j], high[j] = float(np.min(diff)), float(np.max(diff))

    batch = 4 * int(n_jobs or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=int(n_jobs or os.cpu_count() or 1)) as pool:
        for start in range(0, test.n_iters, batch):
            stop = min(test.n_iters, start + batch)
            drawn = [draw(j) for j in range(start, stop)]  # in order: NiMARE's stream is serial
            list(pool.map(one, range(start, stop), drawn))
    return low, high


def balanced_contrast(
    group_a: Studyset,
    group_b: Studyset,
    test: Balanced | None = None,
    *,
    grid: Grid | None = None,
    kernel: ALEKernel | None = None,
    replay_nimare: bool = False,
    random_state: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
) -> BalancedFit:
    """The balanced contrast of two groups of experiments (see the module docstring).

    Parameters
    ----------
    group_a, group_b : Studyset
        The groups (disjoint experiment ids).
    test : Balanced, optional
        Its options (default :class:`Balanced`, NiMARE's defaults).
    grid : Grid, optional
    kernel : ALEKernel, optional
    replay_nimare : bool
        Draw every random number as NiMARE 0.22.1's ``BalancedALESubtraction`` does for the
        integer ``random_state`` (groups are then ordered by id).
    random_state : int, SeedSequence or None
    n_jobs : int, optional
        Worker threads (results do not depend on them).
    progress : bool
    """
    test = test or Balanced()
    for g, label in ((group_a, "group A"), (group_b, "group B")):
        if g.n_experiments < 1:
            raise InputError(f"{label} has no experiments", source=g.source or g.name)
    shared = sorted(set(group_a.ids) & set(group_b.ids))
    if shared:
        raise InputError(
            f"{len(shared)} experiment id(s) are in both groups (e.g. {shared[:3]}); a contrast "
            "needs disjoint groups",
            source=f"{group_a.name} vs {group_b.name}",
        )
    if replay_nimare:
        if random_state is not None and (
            isinstance(random_state, bool) or not isinstance(random_state, int | np.integer)
        ):
            raise ParameterError(
                "random_state", "None or an integer to replay NiMARE", random_state
            )
        group_a = group_a.select(sorted(group_a.ids))
        group_b = group_b.select(sorted(group_b.ids))
    obs_a = Observed.build(group_a, grid=grid, kernel=kernel)
    obs_b = Observed.build(group_b, grid=grid, kernel=kernel)
    grid = obs_a.grid
    n1, n2 = group_a.n_experiments, group_b.n_experiments
    target_n = test.target_n or min(n1, n2)
    if target_n > min(n1, n2):
        raise ParameterError(
            "target_n", f"at most the smaller group's size ({min(n1, n2)})", target_n
        )
    space = coverage_positions(grid, test.coverage)
    if replay_nimare:
        seed_a = random_state
        seed_b = None if random_state is None else int(random_state) + 1
        tree = None
    else:
        tree = SeedTree(random_state).child("balanced")
        seed_a, seed_b = tree.child("map", "a"), tree.child("map", "b")
    prob_a, thr_a, n_sub_a = _probabilistic_map(obs_a, target_n, test, space, seed_a,
                                                replay_nimare, n_jobs, progress)  # fmt: skip
    prob_b, thr_b, n_sub_b = _probabilistic_map(obs_b, target_n, test, space, seed_b,
                                                replay_nimare, n_jobs, progress)  # fmt: skip
    column_box = _column_box(obs_a, space)
    rows_a = _rows(obs_a, obs_a.local_ijk, column_box)
    rows_b = _rows(obs_b, obs_b.local_ijk, column_box)
    d = test.difference_iterations
    rng = (
        np.random.RandomState(random_state)
        if replay_nimare
        else tree.child("difference").generator()
    )
    idx_a, idx_b = _draw_pairs(rng, n1, n2, target_n, d, replay_nimare)
    observed = mean_balanced_difference(rows_a, rows_b, idx_a, idx_b, space.size)
    counts_a, counts_b = np.diff(obs_a.layout.foci_start), np.diff(obs_b.layout.foci_start)

    def draw(j: int) -> tuple:
        r = rng if replay_nimare else tree.child("null", j).generator()
        if test.null == "random-foci":
            pos_a = _random_positions(r, counts_a, np.arange(n1), space, replay_nimare)
            pos_b = _random_positions(r, counts_b, np.arange(n2), space, replay_nimare)
            return ("foci", pos_a, pos_b, *_draw_pairs(r, n1, n2, target_n, d, replay_nimare))
        perm = r.permutation(n1 + n2)
        return ("labels", perm, *_draw_pairs(r, n1, n2, target_n, d, replay_nimare))

    null_min, null_max = _null_extremes(rows_a, rows_b, obs_a, obs_b, column_box, space, test,
                                        draw, n_jobs)  # fmt: skip
    half = test.alpha / 2.0
    low = np.percentile(null_min, 100.0 * half)
    high = np.percentile(null_max, 100.0 * (1.0 - half))
    diff = np.zeros(grid.n_voxels, dtype=np.float32)
    diff[space] = observed
    smallest = 1.0 / float(test.n_iters)
    p = np.ones(grid.n_voxels, dtype=np.float32)
    z = np.zeros(grid.n_voxels, dtype=np.float32)
    pos = np.flatnonzero(diff > high)
    neg = np.flatnonzero(diff < low)
    if pos.size:
        tail = np.sort(null_max)
        frac = (tail.size - np.searchsorted(tail, diff[pos], side="left")) / tail.size
        p_pos = np.maximum(np.float32(smallest), frac.astype(np.float32))
        p[pos] = p_pos
        z[pos] = z_from_p(p_pos)
    if neg.size:
        tail = np.sort(null_min)
        frac = np.searchsorted(tail, diff[neg], side="right") / tail.size
        p_neg = np.maximum(np.float32(smallest), frac.astype(np.float32))
        p[neg] = np.minimum(p[neg], p_neg)
        z[neg] = -z_from_p(p_neg)
    parameters = {
        "target_n": int(target_n),
        "n_experiments": [n1, n2],
        "n_subsamples": [n_sub_a, n_sub_b],
        "difference_iterations": d,
        "n_iters": test.n_iters,
        "voxel_p": test.voxel_p,
        "null": test.null,
        "coverage": test.coverage,
        "n_coverage_voxels": int(space.size),
        "alpha": test.alpha,
        "replay_nimare": replay_nimare,
        "cluster_threshold_voxels": [thr_a, thr_b],
        "null_low": float(low),
        "null_high": float(high),
    }
    covered = np.zeros(grid.n_voxels, dtype=bool)
    covered[space] = True
    return BalancedFit(
        diff=diff, p=p, z=z, logp=logp_from_p(p).astype(np.float32), prob_a=prob_a,
        prob_b=prob_b, conjunction=np.minimum(prob_a, prob_b), coverage=covered,
        null_min=null_min, null_max=null_max, low=float(low), high=float(high),
        cluster_threshold=(thr_a, thr_b), target_n=int(target_n), parameters=parameters,
    )  # fmt: skip


# -- as a contrast result -----------------------------------------------------------------------
def balanced_result(
    fit: BalancedFit,
    group_a: Studyset,
    group_b: Studyset,
    test: Balanced,
    *,
    grid: Grid,
    kernel: ALEKernel,
    labeller: Any = None,
    seed: Any = None,
    references: Sequence[str] = (),
) -> ContrastResult:
    """The :class:`~syntony.meta.contrast.ContrastResult` of a balanced contrast.

    Maps as an ordinary contrast (``diff`` is the mean balanced difference, ``tested`` the
    coverage, ``ale_a``/``ale_b`` each group's full ALE) plus ``prob_a``, ``prob_b`` and
    ``conjunction``; a voxel is significant beyond the extreme-value thresholds, and clusters
    smaller than ``test.min_cluster_mm3`` are dropped from the tables.
    """
    from syntony._provenance import provenance
    from syntony.meta.clusters import cluster_table, label_min_size
    from syntony.meta.contrast import ContrastResult
    from syntony.meta.diagnostics.checks import few_experiments
    from syntony.meta.layout import Layout
    from syntony.meta.result_files import seed_record
    from syntony.meta.significance import clusters_with_header, mark_significance
    from syntony.report import methods_text

    voxel_mm3 = float(np.prod(grid.voxel_size))
    min_voxels = int(np.ceil(test.min_cluster_mm3 / voxel_mm3 - 1e-9))
    significant = fit.p < 1
    pos = label_min_size(grid, significant & (fit.z > 0), min_voxels)
    neg = label_min_size(grid, significant & (fit.z < 0), min_voxels)
    z_thr = np.where((pos > 0) | (neg > 0), fit.z, 0).astype(np.float32)
    ale = {}
    for key, group in (("a", group_a), ("b", group_b)):
        layout = Layout.build(grid, kernel, group)
        ale[key] = layout.ale(layout.local_ijk(grid.mm_to_ijk(group.coordinates)))
    maps = {
        "diff": fit.diff, "p": fit.p, "z": fit.z, "logp": fit.logp, "z_thresholded": z_thr,
        "a_gt_b": pos, "b_gt_a": neg, "ale_a": ale["a"], "ale_b": ale["b"],
        "tested": fit.coverage.astype(np.int32), "prob_a": fit.prob_a, "prob_b": fit.prob_b,
        "conjunction": fit.conjunction,
    }  # fmt: skip
    rule = (
        f"balanced difference beyond the {100 * (1 - test.alpha / 2):g}th percentile of "
        f"{test.n_iters} null extremes, clusters >= {test.min_cluster_mm3:g} mm3"
    )
    tables = {}
    for name, labels, sign in (("clusters_a_gt_b", pos, 1.0), ("clusters_b_gt_a", neg, -1.0)):
        table = cluster_table(grid, labels, sign * fit.diff, sign * fit.z, 0.0, labeller=labeller)
        table = clusters_with_header(table, fwe=False, contributions=False,
                                     labels=labeller is not None)  # fmt: skip
        table = table.rename(columns={"max_ale": "max_diff", "mass": "sum_diff"})
        tables[name] = mark_significance(table, True, rule)

    def group_info(g: Studyset) -> dict[str, Any]:
        return {"name": g.name, "source": g.source, "n_experiments": g.n_experiments,
                "n_foci": g.n_foci}  # fmt: skip

    parameters = {
        "group_a": group_info(group_a), "group_b": group_info(group_b), "test": "Balanced",
        "p_threshold": test.alpha, "min_cluster_mm3": test.min_cluster_mm3,
        "main_effect_level": None, "n_tested_voxels": int(fit.coverage.sum()),
        "n_permutations": test.n_iters, "replay_nimare": fit.parameters["replay_nimare"],
        "kernel": {"fwhm": kernel.fwhm, "sample_size": kernel.sample_size}, "grid": repr(grid),
        "balanced": fit.parameters,
    }  # fmt: skip
    methods = methods_text(
        f"ALE maps of group A ({group_a.name}: {group_a.n_experiments} experiments, "
        f"{group_a.n_foci} foci) and group B ({group_b.name}: {group_b.n_experiments} "
        f"experiments, {group_b.n_foci} foci) were contrasted at equal size: "
        f"{fit.target_n} experiments were drawn from each group. Each experiment used "
        f"{kernel.describe()}. {test.describe()} Computed with syntony.",
        references=[*references, FRAHM],
    )
    extremes = np.maximum(np.abs(fit.null_min), np.abs(fit.null_max)).astype(np.float32)
    checks = few_experiments(group_a.n_experiments, what="group A") + few_experiments(
        group_b.n_experiments, what="group B"
    )
    return ContrastResult(
        grid=grid, maps=maps, tables=tables, parameters=parameters, methods=methods,
        arrays={"max_abs_diff": extremes, "null_min": fit.null_min, "null_max": fit.null_max},
        provenance=provenance(parameters=parameters, seed=seed_record(seed)), warnings=checks,
    )  # fmt: skip
