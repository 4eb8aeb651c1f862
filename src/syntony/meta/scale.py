"""SCALE: a Monte Carlo null whose foci come from a reference database (Langner et al. 2014).

Uniform null foci treat every brain voxel as equally likely to be reported, although some
regions are reported far more often than others in any task. SCALE instead draws each null
focus from the pooled coordinates of a reference database (with their multiplicity), so a
cluster is significant only if it exceeds what the database's general activation base rate
predicts. Everything else (experiments, kernels, cluster-forming threshold, statistics) is as
in :func:`syntony.meta.fwe.monte_carlo_null`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numba
import numpy as np

from syntony._numba import serial_and_parallel
from syntony._rng import SeedLike, SeedTree
from syntony.errors import InputError, ParameterError
from syntony.meta.ale import ALE
from syntony.meta.ale_record import build_result
from syntony.meta.chunks import load_chunk
from syntony.meta.fwe import BLOCK, FWENull, progress_bar, run_batch
from syntony.meta.results import ALEResult
from syntony.meta.threshold import AnalyticThreshold

if TYPE_CHECKING:
    from syntony.meta.kernel import ALEKernel
    from syntony.meta.layout import Layout
    from syntony.meta.null import HistogramNull
    from syntony.meta.space import Grid
    from syntony.meta.studyset import Studyset
    from syntony.report import Report

__all__ = ["SCALE", "SCALEResult", "reference_pool", "scale_null"]

_LANGNER = (
    "Langner R, Rottschy C, Laird AR, Fox PT, Eickhoff SB (2014). Meta-analytic connectivity "
    "modeling revisited: controlling for activation base rates. NeuroImage 99:559-570. "
    "doi:10.1016/j.neuroimage.2014.06.007"
)


def reference_pool(reference: Any, grid: Grid) -> np.ndarray:
    """In-mask voxel positions of a reference's coordinates (with repeats), int64.

    Parameters
    ----------
    reference : ReferenceDatabase, Studyset or array (n, 3)
        Anything with MNI mm ``coordinates`` (or the coordinates themselves). Coordinates
        that fall outside the mask are not drawn (they could not carry a null focus in the
        mask either); at least one must be inside.
    grid : Grid
    """
    xyz = np.asarray(getattr(reference, "coordinates", reference), dtype=float)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ParameterError("reference", "a database, a studyset or (n, 3) coordinates", xyz.shape)
    ijk = grid.mm_to_ijk(xyz)
    inside = np.all((ijk >= 0) & (ijk < np.array(grid.shape)), axis=1)
    index = np.full(grid.shape, -1, dtype=np.int64)
    index[grid.mask] = np.arange(grid.n_voxels)
    pos = np.full(xyz.shape[0], -1, dtype=np.int64)
    pos[inside] = index[ijk[inside, 0], ijk[inside, 1], ijk[inside, 2]]
    pool = pos[pos >= 0]
    if pool.size == 0:
        raise InputError("no reference coordinate falls inside the brain mask")
    return pool


def scale_null(
    layout: Layout,
    pool: np.ndarray,
    *,
    n_iters: int,
    threshold: float | None,
    seed: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
    checkpoint: Any = None,
    executor: Any = None,
) -> FWENull:
    """Monte Carlo null with foci drawn from ``pool`` (in-mask voxel positions).

    Iteration ``j`` always uses the same draws for the same seed whatever ``n_jobs``: block
    ``b`` of :data:`~syntony.meta.fwe.BLOCK` iterations draws from
    ``SeedTree(seed).child("fwe", b)``, the stream of the same block of the uniform null.

    Parameters
    ----------
    layout : Layout
        Grid, kernels and experiment grouping of the fitted studyset.
    pool : ndarray of int
        In-mask voxel positions null foci are drawn from (:func:`reference_pool`).
    n_iters : int
        Iterations (>= 2).
    threshold : float or None
        Cluster-forming ALE; None records only the maximum ALE of each iteration.
    seed : int, SeedSequence, SeedTree or None
        Root of the blocks' streams.
    n_jobs : int, optional
        Worker threads without an executor (default all cores).
    progress : bool
        Show a progress bar.
    checkpoint : Checkpoint or CheckpointSlot, optional
        Saves each finished block and reuses the blocks of an interrupted run, which then ends
        with the null of an uninterrupted one (:mod:`syntony.meta.chunks`).
    executor : Executor, optional
        Run the blocks as tasks (:mod:`syntony.execution`: local threads or processes, a Dask
        cluster): the pool, kernels and mask are shipped once per worker, a task is a block's
        index and draws its own foci, and its maxima are placed by index. The null is the same,
        bit for bit, with or without an executor.
    """
    if n_iters < 2:
        raise ParameterError("n_iters", "an integer >= 2", n_iters)
    pool = np.asarray(pool, dtype=np.int64)
    n_mask = layout.mask_local.shape[0]
    if pool.size == 0 or pool.min() < 0 or pool.max() >= n_mask:
        raise ParameterError("pool", f"in-mask voxel positions in [0, {n_mask})", pool.size)
    n_workers = int(n_jobs) if n_jobs else (os.cpu_count() or 1)
    if n_workers < 1:
        raise ParameterError("n_jobs", "a positive integer", n_jobs)
    bank = layout.bank
    clusters = threshold is not None
    thr = float(threshold) if clusters else 2.0
    s_cut = float(np.log1p(-thr) + 1e-6) if clusters and thr < 1 else -np.inf if clusters else 0.0
    shared = _ScaleShared(
        tree=SeedTree(seed), pool=pool, n_iters=n_iters, focus_order=layout.focus_order,
        mask_local=layout.mask_local,
        mask_flat=np.ravel_multi_index(tuple(layout.mask_local.T), layout.shape).astype(np.int64),
        shape=np.asarray(layout.shape, dtype=np.int64), foci_start=layout.foci_start,
        exp_kernel=bank.experiment_kernel, log_values=bank.log_values, starts=bank.starts,
        halves=bank.half_widths, thr=thr, s_cut=s_cut, clusters=clusters,
    )  # fmt: skip
    out_ale = np.zeros(n_iters, dtype=np.float32)
    out_size = np.zeros(n_iters, dtype=np.int64)
    out_mass = np.zeros(n_iters, dtype=np.float64)
    n_blocks = -(-n_iters // BLOCK)
    finished = checkpoint.done() if checkpoint is not None else set()
    bar = progress_bar(progress, n_iters)
    done = 0

    def place(b: int, ale: np.ndarray, size: np.ndarray, mass: np.ndarray) -> None:
        nonlocal done
        lo = b * BLOCK
        out_ale[lo : lo + ale.size], out_size[lo : lo + ale.size] = ale, size
        out_mass[lo : lo + ale.size] = mass
        done += ale.size
        if bar is not None:
            bar[0].update(bar[1], completed=done)

    try:
        for b in sorted(finished & set(range(n_blocks))):
            rows = min(BLOCK, n_iters - b * BLOCK)
            arrays = load_chunk(checkpoint, b, _block_arrays(rows))
            place(b, arrays["max_ale"], arrays["max_size"], arrays["max_mass"])
        todo = [b for b in range(n_blocks) if b not in finished]
        if executor is not None:
            for i, (ale, size, mass) in executor.imap_unordered(_block_task, todo, shared=shared):
                if checkpoint is not None:
                    checkpoint.save(todo[i], max_ale=ale, max_size=size, max_mass=mass)
                place(todo[i], ale, size, mass)
        else:
            numba.set_num_threads(min(n_workers, numba.config.NUMBA_NUM_THREADS))
            batch = max(1, -(-4 * n_workers // BLOCK))  # blocks per call of the threaded loop
            for first in range(0, len(todo), batch):
                blocks = todo[first : first + batch]
                draws = np.concatenate([_draws(shared, b) for b in blocks])
                ale = np.zeros(draws.shape[0], dtype=np.float32)
                size = np.zeros(draws.shape[0], dtype=np.int64)
                mass = np.zeros(draws.shape[0], dtype=np.float64)
                run_batch(*_kernel_args(shared, draws), n_workers, ale, size, mass)
                lo = 0
                for b in blocks:
                    hi = lo + min(BLOCK, n_iters - b * BLOCK)
                    if checkpoint is not None:
                        checkpoint.save(b, max_ale=ale[lo:hi], max_size=size[lo:hi],
                                        max_mass=mass[lo:hi])  # fmt: skip
                    place(b, ale[lo:hi], size[lo:hi], mass[lo:hi])
                    lo = hi
    finally:
        if bar is not None:
            bar[0].stop()
    return FWENull(
        max_ale=out_ale,
        max_size=out_size,
        max_mass=out_mass,
        threshold=float(threshold) if clusters else float("nan"),
        n_requested=n_iters,
    )


# The loop of :func:`syntony.meta.fwe.run_batch` compiled without threads (and releasing the
# GIL): what a task runs, so that a worker never starts a thread team of its own (a forked
# worker must not touch the OpenMP runtime its parent used). Same source, same numbers.
_run_serial, _ = serial_and_parallel(run_batch.py_func, suffix="_scale_task", nogil=True)


@dataclass(frozen=True, eq=False)
class _ScaleShared:
    """What every block of the SCALE null needs (shipped once per worker by an executor)."""

    tree: SeedTree
    pool: np.ndarray
    n_iters: int
    focus_order: np.ndarray
    mask_local: np.ndarray
    mask_flat: np.ndarray
    shape: np.ndarray
    foci_start: np.ndarray
    exp_kernel: np.ndarray
    log_values: np.ndarray
    starts: np.ndarray
    halves: np.ndarray
    thr: float
    s_cut: float
    clusters: bool


def _draws(shared: _ScaleShared, b: int) -> np.ndarray:
    """Block ``b``'s null foci (rows: iterations; columns: foci in the layout's order)."""
    rows = min(BLOCK, shared.n_iters - b * BLOCK)
    n_foci = shared.focus_order.size
    pick = shared.tree.child("fwe", b).generator().integers(
        0, shared.pool.size, (rows, n_foci), dtype=np.int64
    )  # fmt: skip
    return np.ascontiguousarray(shared.pool[pick][:, shared.focus_order])


def _kernel_args(shared: _ScaleShared, draws: np.ndarray) -> tuple[Any, ...]:
    """The arguments of :func:`~syntony.meta.fwe.run_batch` before ``n_workers``."""
    return (
        draws, shared.mask_local, shared.mask_flat, shared.shape, shared.foci_start,
        shared.exp_kernel, shared.log_values, shared.starts, shared.halves, shared.thr,
        shared.s_cut, shared.clusters,
    )  # fmt: skip


def _block_task(b: int, shared: _ScaleShared) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block ``b`` of the SCALE null on one thread: its maxima."""
    draws = _draws(shared, b)
    ale = np.zeros(draws.shape[0], dtype=np.float32)
    size = np.zeros(draws.shape[0], dtype=np.int64)
    mass = np.zeros(draws.shape[0], dtype=np.float64)
    _run_serial(*_kernel_args(shared, draws), 1, ale, size, mass)
    return ale, size, mass


def _block_arrays(rows: int) -> dict[str, tuple[tuple[int, ...], type]]:
    """What a checkpointed block holds: its iterations' maxima (as the uniform null's)."""
    return {
        "max_ale": ((rows,), np.float32),
        "max_size": ((rows,), np.int64),
        "max_mass": ((rows,), np.float64),
    }


@dataclass(eq=False)
class SCALEResult(ALEResult):
    """An ALE result whose Monte Carlo null drew its foci from a reference database.

    The maps, tables and files are those of :class:`~syntony.meta.results.ALEResult`; the
    parameters name the reference and the size of its pool of in-mask coordinates.
    """

    kind: ClassVar[str] = "scale"
    title: ClassVar[str] = "SCALE meta-analysis"

    def summary(self) -> str:
        lines = super().summary().splitlines()
        p = self.parameters
        lines.insert(
            1,
            f"null foci drawn from {p.get('reference_pool_size')} in-mask coordinates of "
            f"{p.get('reference')} (SCALE)",
        )
        return "\n".join(lines)

    def _build_report(self, report: Report) -> None:
        from syntony.meta.reporting import ale_sections

        p = self.parameters
        report.section("Reference").text(
            f"The Monte Carlo null of this analysis placed its foci at coordinates drawn from "
            f"{p.get('reference')} ({p.get('reference_pool_size')} coordinates inside the "
            "mask, with their multiplicity), so a cluster must exceed the base rate at which "
            "the reference reports each region (SCALE; Langner et al., 2014)."
        )
        ale_sections(self, report)


class SCALE(ALE):
    """ALE whose family-wise error null draws foci from a reference database (SCALE).

    The maps are fitted exactly as by :class:`~syntony.meta.ale.ALE`; only the source of the
    null foci (of the Monte Carlo cluster-forming threshold and of the FWE null) differs.

    Parameters
    ----------
    reference : ReferenceDatabase, Studyset or array (n, 3)
        The coordinates null foci are drawn from (e.g. all of NeuroQuery).
    **params
        Every parameter of :class:`~syntony.meta.ale.ALE` except ``replay_nimare`` and
        ``early_stop`` (not applicable to this null).
    """

    def __init__(self, *, reference: Any = None, **params: Any) -> None:
        for bad in ("replay_nimare", "early_stop"):
            if params.get(bad):
                raise ParameterError(bad, "not set for SCALE", params[bad])
        super().__init__(**params)
        self.reference = reference

    def fit(self, studyset: Studyset, *, checkpoint: Any = None, executor: Any = None) -> SCALE:
        """As :meth:`ALE.fit`, with the SCALE null for the FWE maps and cluster table.

        Parameters
        ----------
        studyset : Studyset
            The experiments.
        checkpoint : Checkpoint or CheckpointSlot, optional
            Saves the finished blocks of the SCALE null and reuses those of an interrupted
            run (:func:`scale_null`): the result equals an uninterrupted run's.
        executor : Executor, optional
            Runs the blocks of the SCALE null as tasks (:mod:`syntony.execution`); the null
            is the same as without it.

        Returns
        -------
        self
            As :meth:`ALE.fit`, plus ``pool_size_`` (in-mask reference coordinates) and a
            :class:`SCALEResult` as ``result_``.
        """
        if self.reference is None:
            raise ParameterError("reference", "a database, studyset or coordinates", None)
        super().fit(studyset, checkpoint=checkpoint, executor=executor)
        return self

    def _cluster_forming(self, layout: Layout, null: HistogramNull) -> float:
        self.pool_ = reference_pool(self.reference, layout.grid)
        self.pool_size_ = int(self.pool_.size)
        return (self.cluster_threshold or AnalyticThreshold())(
            layout, null, self.cluster_p, seed=self.seed_, n_jobs=self.n_jobs, pool=self.pool_
        )

    def _monte_carlo(self, layout: Layout) -> FWENull:
        return scale_null(
            layout, self.pool_, n_iters=self.n_iters, threshold=self.threshold_, seed=self.seed_,
            n_jobs=self.n_jobs, progress=self.progress,
            checkpoint=getattr(self, "checkpoint_", None),
            executor=getattr(self, "executor_", None),
        )  # fmt: skip

    def _build_result(self, studyset: Studyset, kernel: ALEKernel, local: np.ndarray) -> ALEResult:
        name = str(getattr(self.reference, "name", "reference coordinates"))
        record = replace(
            self._record(studyset, kernel, local),
            null_foci=f"foci were drawn from the {self.pool_size_} in-mask coordinates of "
            f"{name} (SCALE; Langner et al., 2014)",
            references=(_LANGNER,),
            extra={"null": "SCALE", "reference": name, "reference_pool_size": self.pool_size_},
        )
        return build_result(record, result_type=SCALEResult)

    def __repr__(self) -> str:
        return f"SCALE(n_iters={self.n_iters}, cluster_p={self.cluster_p}, reference={self.reference!r})"
