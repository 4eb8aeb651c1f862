"""Monte Carlo family-wise error correction for ALE (Eickhoff et al. 2012, 2016).

Each iteration draws every focus uniformly from the mask (experiments and their kernels are
kept), computes the ALE map and records its maximum, and, after thresholding at the
cluster-forming ALE value, the largest cluster size and mass (6-connectivity). Iterations run
in parallel threads (compiled code that releases the GIL), each worker with its own scratch
volume; iteration ``j`` always uses draw ``j``, so results do not depend on the number of
workers. The map of an iteration is built by :func:`~syntony.meta.accumulate.accumulate_rows_into`
on a z-padded copy of the box: the same float64 sums, in the same order, as the observed map's
:func:`~syntony.meta.accumulate.accumulate_log_ma_into`, so replayed nulls equal NiMARE's bit for bit.

Two sources of random foci:

- default: draws are made in fixed blocks of :data:`BLOCK` iterations, block ``b`` from the
  named stream ``SeedTree(seed).child("fwe", b)`` (:class:`syntony._rng.SeedTree`); memory
  stays bounded whatever ``n_iters``, and other random parts of an analysis seeded alike (the
  Monte Carlo threshold's maps) draw from their own streams.
- ``replay_nimare=True``: NiMARE 0.22.1's exact stream for an integer seed (its
  ``correct_fwe_montecarlo`` step), to compare null distributions draw for draw.

With a checkpoint (``monte_carlo_null(..., checkpoint=...)``) each finished block is saved, and a
run killed part-way resumes from the blocks it saved to the numbers of an uninterrupted run
(see :mod:`syntony.meta.chunks`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony.errors import ParameterError
from syntony.meta.accumulate import accumulate_log_ma_into, accumulate_rows_into
from syntony.meta.chunks import load_chunk
from syntony.meta.clusters import max_cluster_stats

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


@numba.njit(parallel=True, cache=True)
def run_batch(
    draws, mask_local, mask_flat, shape, foci_start, exp_kernel, log_values, starts, halves,
    threshold, s_cut, clusters, n_workers, out_ale, out_size, out_mass,
):  # fmt: skip
    """Null iterations for given focus draws (rows of in-mask positions), one volume per worker.

    Iteration ``j`` writes its max ALE and, when ``clusters``, its largest cluster size and
    mass above ``threshold`` into ``out_*[j]``. Used by samplers whose foci do not come from
    the whole mask (SCALE's reference pool); :func:`monte_carlo_null` has its own loop.
    """
    n_iter, n_foci = draws.shape
    n_mask = mask_local.shape[0]
    for w in numba.prange(n_workers):
        volume = np.zeros((shape[0], shape[1], shape[2]), dtype=np.float64)
        flat = volume.reshape(-1)
        scratch = np.zeros((shape[0], shape[1], shape[2]), dtype=np.float64)
        labels = np.full((shape[0], shape[1], shape[2]), -1, dtype=np.int64)
        ijk = np.empty((n_foci, 3), dtype=np.int64)
        supra_ijk = np.empty((n_mask, 3), dtype=np.int64)
        supra_val = np.empty(n_mask, dtype=np.float64)
        for j in range(w, n_iter, n_workers):
            flat[:] = 0.0
            for f in range(n_foci):
                v = draws[j, f]
                ijk[f, 0] = mask_local[v, 0]
                ijk[f, 1] = mask_local[v, 1]
                ijk[f, 2] = mask_local[v, 2]
            accumulate_log_ma_into(
                volume, scratch, ijk, foci_start, exp_kernel, log_values, starts, halves
            )
            smin = 0.0
            n = 0
            for t in range(n_mask):
                s = flat[mask_flat[t]]
                smin = min(smin, s)
                if clusters and s < s_cut:
                    a = np.float64(np.float32(1.0 - np.exp(s)))
                    if a > threshold:
                        supra_ijk[n, 0] = mask_local[t, 0]
                        supra_ijk[n, 1] = mask_local[t, 1]
                        supra_ijk[n, 2] = mask_local[t, 2]
                        supra_val[n] = a
                        n += 1
            out_ale[j] = np.float32(1.0 - np.exp(smin))
            if clusters:
                size, mass = max_cluster_stats(labels, supra_ijk, supra_val, n, threshold)
                out_size[j] = size
                out_mass[j] = mass


@dataclass(frozen=True, eq=False)
class _PaddedBox:
    """The layout's box as the Monte Carlo loop stores it: z rows padded on both sides.

    Kernel rows never need clipping in z (foci are mask voxels, inside the box), the mask is
    read run by run (contiguous z segments, C order) and rows with no mask voxel in a
    window's z range are skipped.
    """

    dims: np.ndarray  # nx, ny, nzp, zoff
    row_lo: np.ndarray  # (nx, ny) lowest / highest in-mask z of each row (lo > hi: empty)
    row_hi: np.ndarray
    runs: np.ndarray  # (n_runs, 4): x, y, z0, z1 of each in-mask z segment, C order

    @classmethod
    def build(cls, layout: Layout) -> _PaddedBox:
        nx, ny, nz = layout.shape
        widths = layout.bank.folded()[2]
        zoff = int(layout.bank.half_widths[:, 2].max())
        nzp = nz + zoff + int(widths.max())
        ijk = layout.mask_local
        row_lo = np.full((nx, ny), nz, dtype=np.int64)
        row_hi = np.full((nx, ny), -1, dtype=np.int64)
        np.minimum.at(row_lo, (ijk[:, 0], ijk[:, 1]), ijk[:, 2])
        np.maximum.at(row_hi, (ijk[:, 0], ijk[:, 1]), ijk[:, 2])
        # A run starts where the next voxel in C order is not the z-neighbour on the same row.
        same_row = np.all(ijk[1:, :2] == ijk[:-1, :2], axis=1)
        breaks = np.flatnonzero(~same_row | (np.diff(ijk[:, 2]) != 1)) + 1
        first = np.concatenate([[0], breaks])
        last = np.concatenate([breaks - 1, [ijk.shape[0] - 1]])
        runs = np.column_stack([ijk[first, 0], ijk[first, 1], ijk[first, 2], ijk[last, 2]])
        dims = np.array([nx, ny, nzp, zoff], dtype=np.int64)
        return cls(dims=dims, row_lo=row_lo, row_hi=row_hi, runs=runs.astype(np.int64))


@numba.njit(cache=True, nogil=True, inline="always")
def _build_map(
    draw, mask_local, dims, row_lo, row_hi, foci_start, exp_kernel, logs, starts, widths,
    halves, flat, acc, parent, members, cover, ijk,
):  # fmt: skip
    """Log-sum map of the foci at in-mask positions ``draw`` into the padded box ``flat``."""
    flat[:] = 0.0
    for f in range(draw.shape[0]):
        v = draw[f]
        ijk[f, 0] = mask_local[v, 0]
        ijk[f, 1] = mask_local[v, 1]
        ijk[f, 2] = mask_local[v, 2]
    accumulate_rows_into(
        flat, dims, ijk, foci_start, exp_kernel, logs, starts, widths, halves, row_lo, row_hi,
        parent, members, cover, acc,
    )  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _one_iteration(
    draw, mask_local, dims, row_lo, row_hi, runs, foci_start, exp_kernel, logs, starts, widths,
    halves, threshold, s_cut, clusters, flat, acc, parent, members, cover, labels, ijk,
    supra_ijk, supra_val,
):  # fmt: skip
    """One Monte Carlo iteration on caller-owned scratch (released GIL: one per thread)."""
    _build_map(
        draw, mask_local, dims, row_lo, row_hi, foci_start, exp_kernel, logs, starts, widths,
        halves, flat, acc, parent, members, cover, ijk,
    )  # fmt: skip
    ny, nzp, zoff = dims[1], dims[2], dims[3]
    smin = 0.0
    n = 0
    for r in range(runs.shape[0]):
        x, y, z0, z1 = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3]
        row = flat[(x * ny + y) * nzp + zoff : (x * ny + y) * nzp + zoff + z1 + 1]
        for z in range(z0, z1 + 1):
            s = row[z]
            smin = min(smin, s)
            if clusters and s < s_cut:
                a = np.float64(np.float32(1.0 - np.exp(s)))
                if a > threshold:
                    supra_ijk[n, 0] = x
                    supra_ijk[n, 1] = y
                    supra_ijk[n, 2] = z
                    supra_val[n] = a
                    n += 1
    size, mass = 0, 0.0
    if clusters:
        size, mass = max_cluster_stats(labels, supra_ijk, supra_val, n, threshold)
    return np.float32(1.0 - np.exp(smin)), size, mass


@numba.njit(cache=True, nogil=True)
def _map_values(
    draw, mask_local, dims, row_lo, row_hi, runs, foci_start, exp_kernel, logs, starts, widths,
    halves, flat, acc, parent, members, cover, ijk, out,
):  # fmt: skip
    """In-mask ALE (float32, mask order) of the null map of one draw, on caller scratch."""
    _build_map(
        draw, mask_local, dims, row_lo, row_hi, foci_start, exp_kernel, logs, starts, widths,
        halves, flat, acc, parent, members, cover, ijk,
    )  # fmt: skip
    ny, nzp, zoff = dims[1], dims[2], dims[3]
    t = 0
    for r in range(runs.shape[0]):  # runs are in C order, as the mask voxels are
        x, y, z0, z1 = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3]
        row = flat[(x * ny + y) * nzp + zoff : (x * ny + y) * nzp + zoff + z1 + 1]
        for z in range(z0, z1 + 1):
            out[t] = np.float32(1.0 - np.exp(row[z]))
            t += 1


def null_ale_maps(layout: Layout, draws: np.ndarray, *, n_jobs: int | None = None) -> np.ndarray:
    """In-mask ALE of the null maps of ``draws`` (n_maps x n_foci in-mask positions).

    Built exactly as the Monte Carlo loop builds its maps (same sums, float64 logs), one map
    per thread at a time; rows of ``draws`` follow the studyset's focus order.

    Returns
    -------
    ndarray float32, shape (n_maps, n_mask_voxels)
    """
    draws = np.ascontiguousarray(np.asarray(draws, dtype=np.int64)[:, layout.focus_order])
    box = _PaddedBox.build(layout)
    bank = layout.bank
    logs, starts, widths = bank.folded()
    out = np.empty((draws.shape[0], layout.mask_local.shape[0]), dtype=np.float32)
    scratch = _ThreadScratch()

    def one(j: int) -> None:
        flat, acc, parent, members, cover, _labels, ijk, _sijk, _sval = scratch.get(layout, box)
        _map_values(
            draws[j], layout.mask_local, box.dims, box.row_lo, box.row_hi, box.runs,
            layout.foci_start, bank.experiment_kernel, logs, starts, widths, bank.half_widths,
            flat, acc, parent, members, cover, ijk, out[j],
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=int(n_jobs or os.cpu_count() or 1)) as workers:
        list(workers.map(one, range(draws.shape[0])))
    return out


class _ThreadScratch(threading.local):
    """Per-thread buffers, allocated on a thread's first iteration."""

    def get(self, layout: Layout, box: _PaddedBox) -> tuple[np.ndarray, ...]:
        if getattr(self, "owner", None) is not box:
            nx, ny, nzp, _ = (int(v) for v in box.dims)
            most = int(np.diff(layout.foci_start).max())
            n_mask = layout.mask_local.shape[0]
            self.owner = box
            self.buffers = (
                np.zeros(nx * ny * nzp),
                np.zeros(nzp),
                np.empty(most, dtype=np.int64),
                np.empty(most, dtype=np.int64),
                np.empty(most, dtype=np.int64),
                np.full(layout.shape, -1, dtype=np.int64),
                np.empty((layout.n_foci, 3), dtype=np.int64),
                np.empty((n_mask, 3), dtype=np.int64),
                np.empty(n_mask),
            )
        return self.buffers


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
        Stop once the FWE thresholds have converged.
    n_jobs : int, optional
        Worker threads (default: all cores).
    progress : bool
        Show a progress bar.
    checkpoint : Checkpoint or CheckpointSlot, optional
        Saves each finished block of :data:`BLOCK` iterations and reuses the blocks an
        interrupted run saved (:class:`syntony._checkpoint.Checkpoint`, or a slot of one from
        :func:`syntony.meta.chunks.slot`): the null equals an uninterrupted run's.
    executor : Executor, optional
        Run the blocks as tasks of an executor (:mod:`syntony.execution`: local processes, a
        Dask cluster) instead of this process' threads. The kernels, mask and box are shipped
        once per worker; each task is one block of :data:`BLOCK` iterations (its index and, for
        NiMARE's stream, its draws) and returns the block's maxima, placed by index. The null
        is the same, bit for bit, with or without an executor.
    """
    if n_iters < 2:
        raise ParameterError("n_iters", "an integer >= 2", n_iters)
    n_workers = int(n_jobs) if n_jobs else (os.cpu_count() or 1)
    if n_workers < 1:
        raise ParameterError("n_jobs", "a positive integer", n_jobs)
    numba.set_num_threads(min(n_workers, numba.config.NUMBA_NUM_THREADS))
    n_mask = layout.mask_local.shape[0]
    n_foci = layout.n_foci
    bank = layout.bank
    clusters = threshold is not None
    thr = float(threshold) if clusters else 2.0
    # Voxels with log-sum above this cannot exceed the threshold even after float32 rounding.
    s_cut = float(np.log1p(-thr) + 1e-6) if clusters and thr < 1 else -np.inf if clusters else 0.0
    box = _PaddedBox.build(layout)
    logs, starts, widths = bank.folded()

    out_ale = np.zeros(n_iters, dtype=np.float32)
    out_size = np.zeros(n_iters, dtype=np.int64)
    out_mass = np.zeros(n_iters, dtype=np.float64)
    if replay_nimare:
        all_draws = nimare_draws(seed, n_mask, n_foci, n_iters)  # type: ignore[arg-type]
        tree = None
    else:
        all_draws = None
        tree = SeedTree(seed)
    batch = BLOCK * max(1, -(-4 * n_workers // BLOCK))
    shared = None
    if executor is not None:
        shared = _BlockShared(
            tree=tree, n_foci=n_foci, n_mask=n_mask, focus_order=layout.focus_order,
            mask_local=layout.mask_local, box=box, foci_start=layout.foci_start,
            exp_kernel=bank.experiment_kernel, logs=logs, starts=starts, widths=widths,
            halves=bank.half_widths, thr=thr, s_cut=s_cut, clusters=clusters,
            shape=tuple(int(v) for v in layout.shape),
        )  # fmt: skip
        if early_stop is None:
            batch = max(batch, n_iters)  # no stopping rule: every block is one task at once
    history: list[dict[str, float]] = []
    done = 0
    finished = checkpoint.done() if checkpoint is not None else set()
    bar = progress_bar(progress, n_iters)
    scratch = _ThreadScratch()
    pool = ThreadPoolExecutor(max_workers=n_workers)
    try:
        while done < n_iters:
            stop = min(n_iters, done + batch)
            todo = []
            for b in range(done // BLOCK, -(-stop // BLOCK)):
                lo, hi = b * BLOCK, min(n_iters, (b + 1) * BLOCK)
                if b in finished:
                    arrays = load_chunk(checkpoint, b, _block_arrays(hi - lo))
                    out_ale[lo:hi] = arrays["max_ale"]
                    out_size[lo:hi] = arrays["max_size"]
                    out_mass[lo:hi] = arrays["max_mass"]
                else:
                    todo.append((b, lo, hi))
            if todo and executor is not None:
                items = [
                    (b, lo, hi, None if all_draws is None else all_draws[:, lo:hi].T.copy())
                    for b, lo, hi in todo
                ]
                for (b, lo, hi), (ale_b, size_b, mass_b) in zip(
                    todo, executor.map(_block_task, items, shared=shared), strict=True
                ):
                    out_ale[lo:hi], out_size[lo:hi], out_mass[lo:hi] = ale_b, size_b, mass_b
                    if checkpoint is not None:
                        checkpoint.save(b, max_ale=ale_b, max_size=size_b, max_mass=mass_b)
            elif todo:
                if all_draws is not None:
                    draws = np.concatenate([all_draws[:, lo:hi].T for _, lo, hi in todo])
                    draws = draws.astype(np.int64)
                else:
                    draws = np.concatenate(
                        [_default_block(tree, b, hi - lo, n_foci, n_mask) for b, lo, hi in todo]
                    )
                # Studyset focus order -> the experiment-grouped order of the layout.
                draws = np.ascontiguousarray(draws[:, layout.focus_order])
                where = np.concatenate([np.arange(lo, hi) for _, lo, hi in todo])

                # Dynamic scheduling over threads (the compiled iteration releases the GIL): a
                # worker slowed by other load on the machine does not hold the others back.
                def run(j: int, draws: np.ndarray = draws, where: np.ndarray = where) -> None:
                    buffers = scratch.get(layout, box)
                    t = where[j]
                    out_ale[t], out_size[t], out_mass[t] = _one_iteration(
                        draws[j], layout.mask_local, box.dims, box.row_lo, box.row_hi, box.runs,
                        layout.foci_start, bank.experiment_kernel, logs, starts, widths,
                        bank.half_widths, thr, s_cut, clusters, *buffers,
                    )  # fmt: skip

                list(pool.map(run, range(draws.shape[0])))
                if checkpoint is not None:
                    for b, lo, hi in todo:
                        checkpoint.save(
                            b, max_ale=out_ale[lo:hi], max_size=out_size[lo:hi],
                            max_mass=out_mass[lo:hi],
                        )  # fmt: skip
            done = stop
            if bar is not None:
                bar[0].update(bar[1], completed=done)
            if early_stop is not None and _converged(
                early_stop, history, out_ale[:done], out_size[:done], out_mass[:done]
            ):
                break
    finally:
        pool.shutdown(wait=True)
        if bar is not None:
            bar[0].stop()
    return FWENull(
        max_ale=out_ale[:done].copy(),
        max_size=out_size[:done].copy(),
        max_mass=out_mass[:done].copy(),
        threshold=float(threshold) if clusters else float("nan"),
        n_requested=n_iters,
    )


@dataclass(frozen=True, eq=False)
class _BlockShared:
    """What every block task needs (shipped once per worker by the executor)."""

    tree: SeedTree | None
    n_foci: int
    n_mask: int
    focus_order: np.ndarray
    mask_local: np.ndarray
    box: _PaddedBox
    foci_start: np.ndarray
    exp_kernel: np.ndarray
    logs: np.ndarray
    starts: np.ndarray
    widths: np.ndarray
    halves: np.ndarray
    thr: float
    s_cut: float
    clusters: bool
    shape: tuple[int, int, int]


def _block_task(
    item: tuple[int, int, int, np.ndarray | None], shared: _BlockShared
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block ``b`` (iterations ``lo:hi``) of the Monte Carlo null, in one worker thread."""
    b, lo, hi, draws = item
    if draws is None:
        draws = _default_block(shared.tree, b, hi - lo, shared.n_foci, shared.n_mask)
    draws = np.ascontiguousarray(np.asarray(draws, dtype=np.int64)[:, shared.focus_order])
    box = shared.box
    nx, ny, nzp, _ = (int(v) for v in box.dims)
    most = int(np.diff(shared.foci_start).max())
    buffers = (
        np.zeros(nx * ny * nzp),
        np.zeros(nzp),
        np.empty(most, dtype=np.int64),
        np.empty(most, dtype=np.int64),
        np.empty(most, dtype=np.int64),
        np.full(shared.shape, -1, dtype=np.int64),
        np.empty((shared.n_foci, 3), dtype=np.int64),
        np.empty((shared.n_mask, 3), dtype=np.int64),
        np.empty(shared.n_mask),
    )
    rows = hi - lo
    ale = np.zeros(rows, dtype=np.float32)
    size = np.zeros(rows, dtype=np.int64)
    mass = np.zeros(rows, dtype=np.float64)
    for j in range(rows):
        ale[j], size[j], mass[j] = _one_iteration(
            draws[j], shared.mask_local, box.dims, box.row_lo, box.row_hi, box.runs,
            shared.foci_start, shared.exp_kernel, shared.logs, shared.starts, shared.widths,
            shared.halves, shared.thr, shared.s_cut, shared.clusters, *buffers,
        )  # fmt: skip
    return ale, size, mass


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
