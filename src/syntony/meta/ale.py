"""Activation likelihood estimation (Eickhoff et al. 2009, 2012; Turkeltaub et al. 2012).

:class:`ALE` follows scikit-learn's estimator contract: parameters in ``__init__``, ``fit``
returns the estimator, fitted state ends in ``_``; ``result_`` bundles everything for saving.
Numbers match NiMARE 0.22.1 (same kernels, same float32 maps, same null bins, same random
stream in replay mode).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from syntony._rng import SeedLike, seed_sequence
from syntony._validate import check_integer, check_probability
from syntony.errors import InputError, ParameterError
from syntony.meta.accumulate import subvoxel_maps
from syntony.meta.kernel import ALEKernel, focus_weights
from syntony.meta.layout import Layout
from syntony.meta.null import (
    BIN_STEP,
    HistogramNull,
    histogram_null,
    logp_from_p,
    nearest_bin,
    z_from_p,
)
from syntony.meta.results import collects_warnings
from syntony.meta.space import Grid, mni152_grid
from syntony.meta.threshold import AnalyticThreshold, MonteCarloThreshold

if TYPE_CHECKING:
    from syntony.meta.ale_record import ALEFit
    from syntony.meta.fwe import EarlyStop, FWENull
    from syntony.meta.results import ALEResult
    from syntony.meta.studyset import Studyset

__all__ = ["ALE", "ale_map", "check_experiments", "ma_histograms"]


def ale_map(
    studyset: Studyset, *, kernel: ALEKernel | None = None, grid: Grid | None = None
) -> np.ndarray:
    """In-mask ALE values (n_voxels,) float32 of a studyset (no inference)."""
    grid = grid or mni152_grid()
    layout = Layout.build(grid, kernel or ALEKernel(), studyset)
    local = layout.local_ijk(grid.mm_to_ijk(studyset.coordinates))
    if kernel is not None and kernel.subvoxel:
        n_small = int(np.ceil(float(max(k.max() for k in layout.bank.kernels)) / BIN_STEP)) + 2
        return _subvoxel(layout, studyset, local, n_small, 1.0 / BIN_STEP)[0]
    return layout.ale(local)


@numba.njit(cache=True, nogil=True)
def ma_histograms(ijk, foci_start, exp_kernel, values, starts, halves, index, n_small, inv_step):
    """Per experiment: counts of in-mask MA values per nearest 1e-5 bin, and the peak MA."""
    nx, ny, nz = index.shape
    n_exp = foci_start.shape[0] - 1
    counts = np.zeros((n_exp, n_small), dtype=np.int64)
    peak = np.zeros(n_exp, dtype=np.float32)
    n_mask = 0
    for x in range(nx):
        for y in range(ny):
            for z in range(nz):
                if index[x, y, z] >= 0:
                    n_mask += 1
    scratch = np.zeros(n_mask, dtype=np.float32)
    stamp = np.zeros(n_mask, dtype=np.int64)
    touched = np.empty(n_mask, dtype=np.int64)
    for e in range(n_exp):
        k = exp_kernel[e]
        base = starts[k]
        hx, hy, hz = halves[k, 0], halves[k, 1], halves[k, 2]
        sy, sz = 2 * hy + 1, 2 * hz + 1
        n_touch = 0
        tag = e + 1
        for p in range(foci_start[e], foci_start[e + 1]):
            cx, cy, cz = ijk[p, 0], ijk[p, 1], ijk[p, 2]
            for x in range(max(cx - hx, 0), min(cx + hx, nx - 1) + 1):
                for y in range(max(cy - hy, 0), min(cy + hy, ny - 1) + 1):
                    for z in range(max(cz - hz, 0), min(cz + hz, nz - 1) + 1):
                        col = index[x, y, z]
                        if col < 0:
                            continue
                        v = values[base + ((x - cx + hx) * sy + (y - cy + hy)) * sz + (z - cz + hz)]
                        if stamp[col] != tag:
                            stamp[col] = tag
                            scratch[col] = v
                            touched[n_touch] = col
                            n_touch += 1
                        elif v > scratch[col]:
                            scratch[col] = v
        best = np.float32(0.0)
        for t in range(n_touch):
            v = scratch[touched[t]]
            best = max(best, v)
            counts[e, nearest_bin(np.float64(v), inv_step, n_small)] += 1
        counts[e, 0] += n_mask - n_touch
        peak[e] = best
    return counts, peak


def _subvoxel(layout: Layout, studyset: Studyset, local: np.ndarray, n_small: int, inv_step: float):
    """In-mask ALE and MA histograms with kernels centred at the exact focus positions."""
    grid, bank = layout.grid, layout.bank
    offsets = grid.mm_to_continuous(studyset.coordinates) - grid.mm_to_ijk(studyset.coordinates)
    exp_kernel = bank.experiment_kernel
    focus_kernel = exp_kernel[studyset.focus_experiment][layout.focus_order]
    weights = focus_weights(bank, focus_kernel, offsets[layout.focus_order], grid.voxel_size)
    logs, counts, peak = subvoxel_maps(
        layout.mask_index_volume(), local, weights, layout.foci_start,
        bank.half_widths[exp_kernel], inv_step, n_small,
    )  # fmt: skip
    return (1.0 - np.exp(logs)).astype(np.float32), counts, peak


def check_experiments(studyset: Studyset, *, what: str = "the studyset", minimum: int = 2) -> None:
    """Refuse fewer than ``minimum`` experiments; warn what the studyset's reader dropped or
    filled in (its ``notes``), so that an analysis' result lists it among its warnings.

    The analyses (:mod:`syntony.meta.analyses`, the contrast, MACM) refuse fewer than two
    experiments: the ALE of one experiment is just its modelled activation. :meth:`ALE.fit`
    itself only needs one (and its result warns below about 17).
    """
    where = studyset.source or studyset.name
    n = studyset.n_experiments
    if n < minimum:
        raise InputError(
            f"{what} has {n} experiment{'s' if n != 1 else ''}; an ALE meta-analysis needs at "
            f"least {max(minimum, 2)} (and about 17 or more for useful power, Eickhoff et al. "
            "2016)",
            source=where,
        )
    for text in getattr(studyset, "notes", ()):
        warnings.warn(text, UserWarning, stacklevel=3)


class ALE:
    """Activation likelihood estimation with analytic p-values and Monte Carlo FWE.

    Parameters
    ----------
    kernel : ALEKernel
        How foci are blurred; by default each experiment's kernel follows its sample size.
    grid : Grid, optional
        Voxel grid and mask; default the MNI152 2 mm grid with NiMARE's brain mask.
    n_iters : int
        Monte Carlo iterations for family-wise error correction (0: uncorrected maps only).
    cluster_p : float
        Cluster-forming (uncorrected) voxel threshold.
    fwe_alpha : float
        Family-wise error rate for the thresholded cluster map.
    replay_nimare : bool
        Draw the null foci exactly as NiMARE 0.22.1 does for the same integer seed (one big
        draw matrix; memory grows with n_iters x n_foci). Otherwise draws are streamed in
        fixed blocks of independent seeded streams.
    early_stop : EarlyStop, optional
        Stop the Monte Carlo loop once the FWE thresholds have converged (off by default).
    n_jobs : int, optional
        Worker threads (default: all cores). Results do not depend on it.
    random_state : int, SeedSequence or None
        Seed of the Monte Carlo null.
    progress : bool
        Show a progress bar over iterations.
    labeller : callable, optional
        Maps (n, 3) MNI peaks to anatomical labels for the cluster table.
    null_method : callable
        Builds the analytic null from the experiments' MA histograms:
        :func:`~syntony.meta.null.histogram_null` (NiMARE's exact binning, the default),
        :func:`~syntony.meta.null.log_space_null` (FFT convolution in log space: seconds
        instead of hours for thousands of experiments) or
        :func:`~syntony.meta.null.auto_null` (the first up to 500 experiments, else the second).
    cluster_threshold : AnalyticThreshold or MonteCarloThreshold, optional
        How the cluster-forming ALE for ``cluster_p`` is found: from the analytic null (None,
        the default, as NiMARE and GingerALE) or from Monte Carlo null maps, which keeps cluster
        inference calibrated when experiments report many overlapping foci (database
        articles, MACM); see :mod:`syntony.meta.threshold`.
    """

    def __init__(
        self,
        *,
        kernel: ALEKernel | None = None,
        grid: Grid | None = None,
        n_iters: int = 10_000,
        cluster_p: float = 0.001,
        fwe_alpha: float = 0.05,
        replay_nimare: bool = False,
        early_stop: EarlyStop | None = None,
        n_jobs: int | None = None,
        random_state: SeedLike = None,
        progress: bool = False,
        labeller: Any = None,
        null_method: Callable[[np.ndarray, np.ndarray, int], HistogramNull] = histogram_null,
        cluster_threshold: AnalyticThreshold | MonteCarloThreshold | None = None,
    ) -> None:
        self.kernel = kernel
        self.grid = grid
        self.n_iters = n_iters
        self.cluster_p = cluster_p
        self.fwe_alpha = fwe_alpha
        self.replay_nimare = replay_nimare
        self.early_stop = early_stop
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress
        self.labeller = labeller
        self.null_method = null_method
        self.cluster_threshold = cluster_threshold

    def _check_params(self) -> None:
        check_integer("n_iters", self.n_iters, minimum=0)
        check_probability("cluster_p", self.cluster_p)
        check_probability("fwe_alpha", self.fwe_alpha)
        if self.cluster_p <= 0 or self.fwe_alpha <= 0:
            raise ParameterError(
                "cluster_p/fwe_alpha", "probabilities in (0, 1]", (self.cluster_p, self.fwe_alpha)
            )
        if self.kernel is not None and not isinstance(self.kernel, ALEKernel):
            raise ParameterError("kernel", "an ALEKernel", self.kernel)
        if self.n_iters == 1:
            raise ParameterError("n_iters", "0 (no FWE) or at least 2", self.n_iters)
        if self.cluster_threshold is not None and not isinstance(
            self.cluster_threshold, (AnalyticThreshold, MonteCarloThreshold)
        ):
            raise ParameterError(
                "cluster_threshold", "AnalyticThreshold() or MonteCarloThreshold()",
                self.cluster_threshold,
            )  # fmt: skip
        if not callable(self.null_method):
            raise ParameterError(
                "null_method", "a function such as syntony.meta.null.histogram_null",
                self.null_method,
            )  # fmt: skip

    @collects_warnings
    def fit(self, studyset: Studyset, *, checkpoint: Any = None, executor: Any = None) -> ALE:
        """Compute ALE, p, z and -log10 p maps, and (n_iters > 0) the Monte Carlo FWE null.

        Parameters
        ----------
        studyset : Studyset
            At least one experiment (fewer than about 17 draw a warning; the analyses of
            :mod:`syntony.meta.analyses` refuse fewer than two). What its reader dropped or
            filled in (``studyset.notes``) is repeated in the result's warnings.
        checkpoint : Checkpoint or CheckpointSlot, optional
            Saves the finished blocks of the Monte Carlo null and reuses those of an
            interrupted run (:func:`syntony.meta.fwe.monte_carlo_null`): the result equals an
            uninterrupted run's.
        executor : Executor, optional
            Runs the Monte Carlo blocks as tasks (:mod:`syntony.execution`: local processes or
            a Dask cluster); the null is the same as without it.

        Returns
        -------
        self
            With ``ale_``, ``p_``, ``z_``, ``logp_`` (in-mask float arrays), ``null_``
            (:class:`HistogramNull`), ``threshold_`` (cluster-forming ALE), ``fwe_``
            (:class:`FWENull` or None) and ``result_`` (:class:`ALEResult`).

        Raises
        ------
        InputError
            A studyset without experiments.
        """
        self._check_params()
        check_experiments(studyset, minimum=1)
        self.checkpoint_ = checkpoint
        self.executor_ = executor
        grid = self.grid or mni152_grid()
        kernel = self.kernel or ALEKernel()
        layout = Layout.build(grid, kernel, studyset)
        local = layout.local_ijk(grid.mm_to_ijk(studyset.coordinates))
        # Voxel-centred log-sums: the map (unless sub-voxel) and the cluster contributions.
        log_sums = layout.log_sums(local)

        bank = layout.bank
        inv_step = 1.0 / (np.round(BIN_STEP, 5) - 0.0)
        n_small = int(np.ceil(float(max(k.max() for k in bank.kernels)) / BIN_STEP)) + 2
        if kernel.subvoxel:
            ale, counts, peak = _subvoxel(layout, studyset, local, n_small, inv_step)
        else:
            ale = layout.ale_from_log_sums(log_sums)
            counts, peak = ma_histograms(
                local, layout.foci_start, bank.experiment_kernel, bank.values, bank.starts,
                bank.half_widths, layout.mask_index_volume(), n_small, inv_step,
            )  # fmt: skip
        null = self.null_method(counts, peak, grid.n_voxels)
        p = null.p_values(ale)
        self.layout_ = layout
        self.log_sums_ = log_sums
        self.ale_ = ale
        self.p_ = p
        self.z_ = z_from_p(p)
        self.logp_ = logp_from_p(p)
        self.null_ = null
        self.seed_ = (
            seed_sequence(self.random_state) if not self.replay_nimare else self.random_state
        )
        self.threshold_ = self._cluster_forming(layout, null)
        self.fwe_: FWENull | None = self._monte_carlo(layout) if self.n_iters > 0 else None
        self.result_: ALEResult = self._build_result(studyset, kernel, local)
        return self

    # -- where null foci come from (SCALE draws them from a reference instead) ----------------
    def _cluster_forming(self, layout: Layout, null: HistogramNull) -> float:
        """The cluster-forming ALE of the fitted maps."""
        return (self.cluster_threshold or AnalyticThreshold())(
            layout, null, self.cluster_p, seed=self.seed_, n_jobs=self.n_jobs
        )

    def _monte_carlo(self, layout: Layout) -> FWENull:
        """The Monte Carlo FWE null (foci uniform in the mask)."""
        from syntony.meta.fwe import monte_carlo_null

        return monte_carlo_null(
            layout,
            n_iters=self.n_iters,
            threshold=self.threshold_,
            seed=self.seed_,
            replay_nimare=self.replay_nimare,
            early_stop=self.early_stop,
            n_jobs=self.n_jobs,
            progress=self.progress,
            checkpoint=getattr(self, "checkpoint_", None),
            executor=getattr(self, "executor_", None),
        )

    # -- the result (see syntony.meta.results) -------------------------------------------------
    def _record(self, studyset: Studyset, kernel: ALEKernel, local: np.ndarray) -> ALEFit:
        """What the fit computed, handed to :func:`~syntony.meta.ale_record.build_result`."""
        from syntony.meta.ale_record import ALEFit, StudysetSummary

        rule = self.cluster_threshold or AnalyticThreshold()
        return ALEFit(
            layout=self.layout_, local_ijk=local, log_sums=self.log_sums_, ale=self.ale_,
            p=self.p_, z=self.z_, logp=self.logp_, null=self.null_, threshold=self.threshold_,
            threshold_rule=rule.describe(self.cluster_p), fwe=self.fwe_,
            cluster_p=self.cluster_p, fwe_alpha=self.fwe_alpha,
            studyset=StudysetSummary.of(studyset), kernel=kernel, labeller=self.labeller,
            seed=self.seed_,
            settings={
                "n_iters": self.n_iters,
                "replay_nimare": self.replay_nimare,
                "early_stop": None if self.early_stop is None else vars(self.early_stop),
            },
        )  # fmt: skip

    def _build_result(self, studyset: Studyset, kernel: ALEKernel, local: np.ndarray) -> ALEResult:
        from syntony.meta.ale_record import build_result

        return build_result(self._record(studyset, kernel, local))

    def __repr__(self) -> str:
        return (
            f"ALE(n_iters={self.n_iters}, cluster_p={self.cluster_p}, fwe_alpha={self.fwe_alpha}, "
            f"replay_nimare={self.replay_nimare})"
        )


__all__ += ["HistogramNull"]
