"""Monte Carlo family-wise error correction for ALE (Eickhoff et al. 2012, 2016).

Each iteration draws every focus uniformly from the mask (experiments and their kernels are
kept), computes the ALE map and records its maximum, and, after thresholding at the
cluster-forming ALE value, the largest cluster size and mass (6-connectivity). The maps are
built by the compiled kernels of :mod:`syntony.meta.null_kernels`, bit for bit as NiMARE
builds them. Iteration ``j`` always uses draw ``j``, so the null does not depend on how the
iterations are run: in this process' threads (the compiled iteration releases the GIL) or as
tasks of an executor (:mod:`syntony.execution`), one block of :data:`BLOCK` iterations per task.

Two sources of random foci:

- default: draws are made in fixed blocks of :data:`BLOCK` iterations, block ``b`` from the
  named stream ``SeedTree(seed).child("fwe", b)`` (:class:`syntony._rng.SeedTree`); memory
  stays bounded whatever ``n_iters``, and other random parts of an analysis seeded alike (the
  Monte Carlo threshold's maps) draw from their own streams.
- ``replay_nimare=True``: NiMARE 0.22.1's exact stream for an integer seed (its
  ``correct_fwe_montecarlo`` step), to compare null distributions draw for draw.

Blocks may finish in any order; they are taken in block order, so an early stop
(:class:`EarlyStop`, checked after every block) ends at the same iteration everywhere. With a
checkpoint (``monte_carlo_null(..., checkpoint=...)``) each finished block is saved, and a run
killed part-way resumes from the blocks it saved to the numbers of an uninterrupted run (see
:mod:`syntony.meta.chunks`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony.errors import ParameterError
from syntony.meta.chunks import load_chunk
from syntony.meta.null_kernels import NullProblem, ThreadScratch, null_ale_maps, run_batch
from syntony.meta.null_kernels import PaddedBox as _PaddedBox  # noqa: F401  (older imports)

if TYPE_CHECKING:
    from syntony.meta.layout import Layout

__all__ = [
    "BLOCK",
    "EarlyStop",
    "FWENull",
    "monte_carlo_null",
    "nimare_draws",
    "null_ale_maps",
    "null_to_p",
    "progress_bar",
    "run_batch",
]

#: Iterations per independent random stream in the default (non-replay) mode.
BLOCK = 64
_NIMARE_STREAM = b"correct_fwe_montecarlo"


@dataclass(frozen=True)
class EarlyStop:
    """Stop the Monte Carlo loop once the FWE thresholds have settled.

    After each batch of iterations the (1 - alpha) quantiles of the max-ALE, max-size and
    max-mass nulls are compared with those ``patience`` batches earlier; when every relative
    change is below ``tol`` and at least ``min_iters`` iterations are done, the loop stops.
    """

    tol: float = 0.01
    min_iters: int = 1000
    patience: int = 3
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not (0 < self.tol < 1):
            raise ParameterError("early_stop.tol", "a number in (0, 1)", self.tol)
        if self.min_iters < 2 or self.patience < 1:
            raise ParameterError("early_stop", "min_iters >= 2 and patience >= 1", self)


def exceedances(values: np.typing.ArrayLike, null: np.ndarray) -> np.ndarray:
    """How many null draws are at least each value (the exact count behind a Monte Carlo p)."""
    null = np.sort(np.asarray(null))
    return null.size - np.searchsorted(null, np.asarray(values), side="left")


def null_to_p(values: np.typing.ArrayLike, null: np.ndarray) -> np.ndarray:
    """Upper-tail Monte Carlo p: #(null >= value) / n, clipped to [1/n, (n - 1)/n].

    The p-value is one division of whole numbers, so a count of 5 in 100 gives exactly the
    double nearest 0.05 (NiMARE's ``1 - index / n`` gives 0.050000000000000044), and comparing
    it with a level decides as the exact fraction would.
    """
    n = np.asarray(null).size
    counts = np.clip(exceedances(values, null), 1, n - 1)
    return counts / n


@dataclass(frozen=True, eq=False)
class FWENull:
    """Monte Carlo null distributions (one value per iteration).

    Attributes
    ----------
    max_ale : ndarray float32
        Largest ALE of each null map.
    max_size : ndarray int64
        Largest cluster (voxels) above the cluster-forming threshold.
    max_mass : ndarray float64
        Largest cluster mass (sum of ALE - threshold).
    threshold : float
        The cluster-forming ALE threshold used.
    n_requested : int
        Iterations asked for (more than were run if the loop stopped early).
    """

    max_ale: np.ndarray
    max_size: np.ndarray
    max_mass: np.ndarray
    threshold: float
    n_requested: int

    @property
    def n_iters(self) -> int:
        return int(self.max_ale.size)

    @property
    def stopped_early(self) -> bool:
        return self.n_iters < self.n_requested

    def voxel_p(self, ale: np.typing.ArrayLike) -> np.ndarray:
        return null_to_p(ale, self.max_ale)

    def size_p(self, sizes: np.typing.ArrayLike) -> np.ndarray:
        return null_to_p(sizes, self.max_size)

    def mass_p(self, masses: np.typing.ArrayLike) -> np.ndarray:
        return null_to_p(masses, self.max_mass)

    def critical(self, alpha: float) -> dict[str, float]:
        """(1 - alpha) quantiles: the FWE-corrected voxel, cluster-size and mass thresholds."""
        q = 1.0 - alpha
        return {
            "ale": float(np.quantile(self.max_ale, q)),
            "size": float(np.quantile(self.max_size, q)),
            "mass": float(np.quantile(self.max_mass, q)),
        }

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        return {
            "max_ale": self.max_ale,
            "max_cluster_size": self.max_size,
            "max_cluster_mass": self.max_mass,
            "cluster_forming_threshold": np.array(self.threshold),
        }


def nimare_draws(
    seed: int, n_mask_voxels: int, n_foci: int, n_iters: int, *, chunk_rows: int = 256
) -> np.ndarray:
    """NiMARE 0.22.1's FWE draws for an integer ``seed``: (n_foci, n_iters) in-mask indices.

    The generator is seeded with ``SeedSequence([seed, stream key])`` and draws
    ``choice(n_mask_voxels, size=(n_foci, n_iters))``; drawing row blocks gives the same
    numbers and keeps the temporary int64 array small; the result is stored as int32.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParameterError("random_state", "an integer seed to replay NiMARE's stream", seed)
    key = int.from_bytes(hashlib.sha256(_NIMARE_STREAM).digest()[:8], "big")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) % 2**64, key]))
    out = np.empty((n_foci, n_iters), dtype=np.int32)
    for r0 in range(0, n_foci, chunk_rows):
        r1 = min(n_foci, r0 + chunk_rows)
        out[r0:r1] = rng.choice(n_mask_voxels, size=(r1 - r0, n_iters))
    return out


def _default_block(
    seed: SeedLike | SeedTree, block: int, n_rows: int, n_foci: int, n_mask: int
) -> np.ndarray:
    """Block ``block`` of the default stream: (n_rows, n_foci) in-mask positions."""
    rng = SeedTree(seed).child("fwe", block).generator()
    return rng.integers(0, n_mask, size=(n_rows, n_foci), dtype=np.int64)


def monte_carlo_null(
    layout: Layout,
    *,
    n_iters: int,
    threshold: float | None,
    seed: SeedLike = None,
    replay_nimare: bool = False,
    early_stop: EarlyStop | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    checkpoint: Any = None,
    executor: Any = None,
) -> FWENull:
    """Run the Monte Carlo FWE null for the experiments and kernels of ``layout``.

    Parameters
    ----------
    layout : Layout
        Grid, kernels and experiment grouping (see :class:`syntony.meta.layout.Layout`).
    n_iters : int
        Number of iterations (>= 2).
    threshold : float or None
        Cluster-forming ALE threshold; None records only the max ALE.
    seed : int, SeedSequence, SeedTree or None
        Seed; with ``replay_nimare`` it must be an int (NiMARE's ``random_state``). Otherwise
        block ``b`` draws from ``SeedTree(seed).child("fwe", b)``.
    replay_nimare : bool
        Use NiMARE 0.22.1's random stream (see :func:`nimare_draws`).
    early_stop : EarlyStop, optional
        Stop once the FWE thresholds have converged. The rule is checked after every block of
        :data:`BLOCK` iterations, in block order, so the run stops at the same iteration
        whatever the number of workers or the executor.
    n_jobs : int, optional
        Worker threads (default: all cores).
    progress : bool
        Show a progress bar.
    checkpoint : Checkpoint or CheckpointSlot, optional
        Saves each finished block of :data:`BLOCK` iterations and reuses the blocks an
        interrupted run saved (:class:`syntony._checkpoint.Checkpoint`, or a slot of one from
        :func:`syntony.meta.chunks.slot`): the null equals an uninterrupted run's. With
        ``early_stop`` it holds exactly the blocks the null is made of.
    executor : Executor, optional
        Run the blocks as tasks of an executor (:mod:`syntony.execution`: local processes, a
        Dask cluster) instead of this process' threads. The kernels, mask and box
        (:class:`~syntony.meta.null_kernels.NullProblem`) are shipped once per worker; each
        task is one block of :data:`BLOCK` iterations (its index and, for NiMARE's stream, its
        draws) and returns the block's maxima. All blocks are submitted at once and saved to
        the checkpoint as they finish; with ``early_stop`` the tasks still queued when the rule
        is met are cancelled. The null is the same, bit for bit, with or without an executor.
    """
    if n_iters < 2:
        raise ParameterError("n_iters", "an integer >= 2", n_iters)
    n_workers = int(n_jobs) if n_jobs else (os.cpu_count() or 1)
    if n_workers < 1:
        raise ParameterError("n_jobs", "a positive integer", n_jobs)
    numba.set_num_threads(min(n_workers, numba.config.NUMBA_NUM_THREADS))
    problem = NullProblem.build(layout, threshold)
    if replay_nimare:
        all_draws = nimare_draws(seed, problem.n_mask, problem.n_foci, n_iters)  # type: ignore[arg-type]
        tree = None
    else:
        all_draws = None
        tree = SeedTree(seed)
    blocks = [(b, b * BLOCK, min(n_iters, (b + 1) * BLOCK)) for b in range(-(-n_iters // BLOCK))]
    saved = checkpoint.done() if checkpoint is not None else set()
    todo = [block for block in blocks if block[0] not in saved]
    if executor is not None:
        shared = _BlockShared(problem=problem, tree=tree, focus_order=layout.focus_order)
        items = [
            (b, lo, hi, None if all_draws is None else all_draws[:, lo:hi].T.copy())
            for b, lo, hi in todo
        ]
        computed = _as_blocks(executor.imap_unordered(_block_task, items, shared=shared), todo)
    else:
        computed = _on_threads(problem, todo, tree, all_draws, layout.focus_order, n_workers)

    out = _Maxima.zeros(n_iters)
    history: list[dict[str, float]] = []
    arrived: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    done = counted = 0
    bar = progress_bar(progress, n_iters)
    try:
        # Blocks are taken in order (the stopping rule sees the iterations in order) while
        # they arrive in any order; without a stopping rule each is saved as it arrives.
        for b, lo, hi in blocks:
            if b in saved:
                arrays = load_chunk(checkpoint, b, _block_arrays(hi - lo))
                values = (arrays["max_ale"], arrays["max_size"], arrays["max_mass"])
                counted += hi - lo
            else:
                while b not in arrived:
                    k, values_k = next(computed)
                    arrived[k] = values_k
                    counted += values_k[0].size
                    if checkpoint is not None and early_stop is None:
                        _save_block(checkpoint, k, values_k)
                    if bar is not None:
                        bar[0].update(bar[1], completed=counted)
                values = arrived.pop(b)
                if checkpoint is not None and early_stop is not None:
                    _save_block(checkpoint, b, values)
            out.ale[lo:hi], out.size[lo:hi], out.mass[lo:hi] = values
            done = hi
            if bar is not None:
                bar[0].update(bar[1], completed=max(counted, done))
            if early_stop is not None and _converged(
                early_stop, history, out.ale[:done], out.size[:done], out.mass[:done]
            ):
                break
    finally:
        computed.close()  # cancels what an executor still has queued
        if bar is not None:
            bar[0].stop()
    return FWENull(
        max_ale=out.ale[:done].copy(),
        max_size=out.size[:done].copy(),
        max_mass=out.mass[:done].copy(),
        threshold=float(threshold) if problem.clusters else float("nan"),
        n_requested=n_iters,
    )


@dataclass(frozen=True)
class _Maxima:
    """Per-iteration maxima: max ALE, largest cluster size and mass."""

    ale: np.ndarray
    size: np.ndarray
    mass: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> _Maxima:
        return cls(np.zeros(n, np.float32), np.zeros(n, np.int64), np.zeros(n, np.float64))


def _on_threads(
    problem: NullProblem,
    todo: list[tuple[int, int, int]],
    tree: SeedTree | None,
    all_draws: np.ndarray | None,
    focus_order: np.ndarray,
    n_workers: int,
) -> Generator[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]], None, None]:
    """Blocks ``todo`` run in this process' threads, in order: ``(block, maxima)`` pairs.

    Blocks run a batch at a time (enough iterations for every thread to have a few) and the
    next batch starts only when asked for, so a loop that stopped early computes no more.
    Iterations are scheduled dynamically over the threads (the compiled iteration releases
    the GIL): a thread slowed by other load on the machine does not hold the others back.
    """
    per_batch = max(1, -(-4 * n_workers // BLOCK))
    scratch = ThreadScratch()
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        for first in range(0, len(todo), per_batch):
            batch = todo[first : first + per_batch]
            if all_draws is not None:
                draws = np.concatenate([all_draws[:, lo:hi].T for _, lo, hi in batch])
                draws = draws.astype(np.int64)
            else:
                n_foci, n_mask = problem.n_foci, problem.n_mask
                draws = np.concatenate(
                    [_default_block(tree, b, hi - lo, n_foci, n_mask) for b, lo, hi in batch]
                )
            # Studyset focus order -> the experiment-grouped order of the layout.
            draws = np.ascontiguousarray(draws[:, focus_order])
            out = _Maxima.zeros(draws.shape[0])

            def run(j: int, draws: np.ndarray = draws, out: _Maxima = out) -> None:
                out.ale[j], out.size[j], out.mass[j] = problem.iteration(
                    draws[j], scratch.get(problem)
                )

            list(pool.map(run, range(draws.shape[0])))
            at = 0
            for b, lo, hi in batch:
                rows = slice(at, at + hi - lo)
                at += hi - lo
                yield b, (out.ale[rows], out.size[rows], out.mass[rows])


def _as_blocks(
    results: Generator[tuple[int, Any], None, None], todo: list[tuple[int, int, int]]
) -> Generator[tuple[int, Any], None, None]:
    """An executor's ``(task index, maxima)`` pairs as ``(block, maxima)``; closing it closes
    the executor's stream (which cancels the tasks not yet run)."""
    try:
        for k, values in results:
            yield todo[k][0], values
    finally:
        results.close()


@dataclass(frozen=True, eq=False)
class _BlockShared:
    """What every block task needs (shipped once per worker by the executor)."""

    problem: NullProblem
    tree: SeedTree | None
    focus_order: np.ndarray


def _block_task(
    item: tuple[int, int, int, np.ndarray | None], shared: _BlockShared
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block ``b`` (iterations ``lo:hi``) of the Monte Carlo null, in one worker thread."""
    b, lo, hi, draws = item
    problem = shared.problem
    if draws is None:
        draws = _default_block(shared.tree, b, hi - lo, problem.n_foci, problem.n_mask)
    draws = np.ascontiguousarray(np.asarray(draws, dtype=np.int64)[:, shared.focus_order])
    return problem.run(draws)


def _save_block(checkpoint: Any, b: int, values: tuple[np.ndarray, ...]) -> None:
    checkpoint.save(b, max_ale=values[0], max_size=values[1], max_mass=values[2])


def _block_arrays(rows: int) -> dict[str, tuple[tuple[int, ...], type]]:
    """What a checkpointed block holds: its iterations' maxima."""
    return {
        "max_ale": ((rows,), np.float32),
        "max_size": ((rows,), np.int64),
        "max_mass": ((rows,), np.float64),
    }


def _converged(rule: EarlyStop, history: list[dict[str, float]], ale, size, mass) -> bool:
    q = 1.0 - rule.alpha
    now = {"ale": np.quantile(ale, q), "size": np.quantile(size, q), "mass": np.quantile(mass, q)}
    history.append(now)
    if ale.size < rule.min_iters or len(history) <= rule.patience:
        return False
    before = history[-1 - rule.patience]
    changes = [abs(now[k] - before[k]) / max(abs(now[k]), 1e-12) for k in now]
    return max(changes) < rule.tol


def progress_bar(show: bool, total: int, label: str = "Monte Carlo FWE"):
    """A started rich progress bar and its task id, or None when ``show`` is false.

    Callers advance it with ``bar.update(task, completed=n)`` and must call ``bar.stop()``.
    """
    if not show:
        return None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
    )
    bar.start()
    return bar, bar.add_task(label, total=total)
