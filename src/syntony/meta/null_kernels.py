"""Compiled kernels of the Monte Carlo null: ALE maps of foci placed at random mask positions.

The Monte Carlo FWE loop (:mod:`syntony.meta.fwe`), the null-map threshold
(:mod:`syntony.meta.threshold`) and SCALE (:mod:`syntony.meta.scale`) all build ALE maps of
foci moved to random in-mask positions, experiments and kernels kept. A map is built by
:func:`~syntony.meta.accumulate.accumulate_rows_into` on a z-padded copy of the layout's box:
the same float64 sums, in the same order, as the observed map's
:func:`~syntony.meta.accumulate.accumulate_log_ma_into`, so a replayed null equals NiMARE's bit
for bit.

- :class:`NullProblem`: what an iteration needs (mask, padded box, kernels, cluster-forming
  threshold), built once per analysis; it is what an executor ships once to each worker.
- :meth:`NullProblem.run`: iterations one after the other on one set of scratch buffers (the
  body of an executor task); :meth:`NullProblem.iteration` one iteration on caller-owned
  buffers (the compiled code releases the GIL, so threads run iterations side by side).
- :func:`null_ale_maps`: the in-mask values of null maps, for the null-map threshold.
- :func:`run_batch`: SCALE's loop, for foci drawn from a reference pool instead of the mask.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from syntony.meta.accumulate import accumulate_log_ma_into, accumulate_rows_into
from syntony.meta.clusters import max_cluster_stats

if TYPE_CHECKING:
    from syntony.meta.layout import Layout

__all__ = ["NullProblem", "PaddedBox", "ThreadScratch", "null_ale_maps", "run_batch"]


@numba.njit(parallel=True, cache=True)
def run_batch(
    draws, mask_local, mask_flat, shape, foci_start, exp_kernel, log_values, starts, halves,
    threshold, s_cut, clusters, n_workers, out_ale, out_size, out_mass,
):  # fmt: skip
    """Null iterations for given focus draws (rows of in-mask positions), one volume per worker.

    Iteration ``j`` writes its max ALE and, when ``clusters``, its largest cluster size and
    mass above ``threshold`` into ``out_*[j]``. Used by samplers whose foci do not come from
    the whole mask (SCALE's reference pool); the FWE loop uses :class:`NullProblem`.
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
class PaddedBox:
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
    def build(cls, layout: Layout) -> PaddedBox:
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


@dataclass(frozen=True, eq=False)
class NullProblem:
    """What a null iteration needs, fixed while the foci move (a few MB for a large studyset).

    Built once per analysis by :meth:`build`; when iterations run as executor tasks this is
    the data shipped once to every worker. Draws handed to :meth:`iteration` and :meth:`run`
    are in-mask positions in the layout's experiment-grouped focus order.
    """

    n_foci: int
    shape: tuple[int, int, int]
    mask_local: np.ndarray
    box: PaddedBox
    foci_start: np.ndarray
    exp_kernel: np.ndarray
    logs: np.ndarray
    starts: np.ndarray
    widths: np.ndarray
    halves: np.ndarray
    clusters: bool
    threshold: float  # cluster-forming ALE (2.0, never reached, without clusters)
    s_cut: float  # log-sums above this cannot pass the threshold, even rounded to float32

    @classmethod
    def build(cls, layout: Layout, threshold: float | None = None) -> NullProblem:
        """The problem of ``layout``; ``threshold`` None records the max ALE only."""
        clusters = threshold is not None
        thr = float(threshold) if clusters else 2.0
        if not clusters:
            s_cut = 0.0
        elif thr < 1:
            s_cut = float(np.log1p(-thr) + 1e-6)
        else:
            s_cut = -np.inf
        bank = layout.bank
        logs, starts, widths = bank.folded()
        return cls(
            n_foci=layout.n_foci, shape=tuple(int(v) for v in layout.shape),
            mask_local=layout.mask_local, box=PaddedBox.build(layout),
            foci_start=layout.foci_start, exp_kernel=bank.experiment_kernel, logs=logs,
            starts=starts, widths=widths, halves=bank.half_widths, clusters=clusters,
            threshold=thr, s_cut=s_cut,
        )  # fmt: skip

    @property
    def n_mask(self) -> int:
        return int(self.mask_local.shape[0])

    def buffers(self) -> tuple[np.ndarray, ...]:
        """Fresh scratch for one thread: volume, row accumulator, grouping, labels, foci."""
        nx, ny, nzp, _ = (int(v) for v in self.box.dims)
        most = int(np.diff(self.foci_start).max())
        return (
            np.zeros(nx * ny * nzp),
            np.zeros(nzp),
            np.empty(most, dtype=np.int64),
            np.empty(most, dtype=np.int64),
            np.empty(most, dtype=np.int64),
            np.full(self.shape, -1, dtype=np.int64),
            np.empty((self.n_foci, 3), dtype=np.int64),
            np.empty((self.n_mask, 3), dtype=np.int64),
            np.empty(self.n_mask),
        )

    def iteration(self, draw: np.ndarray, buffers: tuple[np.ndarray, ...]):
        """Max ALE, largest cluster size and mass of the null map of ``draw``."""
        box = self.box
        return _one_iteration(
            draw, self.mask_local, box.dims, box.row_lo, box.row_hi, box.runs, self.foci_start,
            self.exp_kernel, self.logs, self.starts, self.widths, self.halves, self.threshold,
            self.s_cut, self.clusters, *buffers,
        )  # fmt: skip

    def run(self, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The maxima of the null maps of the rows of ``draws``, one after the other."""
        buffers = self.buffers()
        rows = draws.shape[0]
        ale = np.zeros(rows, dtype=np.float32)
        size = np.zeros(rows, dtype=np.int64)
        mass = np.zeros(rows, dtype=np.float64)
        for j in range(rows):
            ale[j], size[j], mass[j] = self.iteration(draws[j], buffers)
        return ale, size, mass

    def map_values(self, draw: np.ndarray, buffers: tuple[np.ndarray, ...], out: np.ndarray):
        """The in-mask ALE of the null map of ``draw`` into ``out`` (float32, mask order)."""
        box = self.box
        flat, acc, parent, members, cover, _labels, ijk, _sijk, _sval = buffers
        _map_values(
            draw, self.mask_local, box.dims, box.row_lo, box.row_hi, box.runs, self.foci_start,
            self.exp_kernel, self.logs, self.starts, self.widths, self.halves, flat, acc,
            parent, members, cover, ijk, out,
        )  # fmt: skip


class ThreadScratch(threading.local):
    """Per-thread buffers of one problem, allocated on a thread's first iteration."""

    def get(self, problem: NullProblem) -> tuple[np.ndarray, ...]:
        if getattr(self, "owner", None) is not problem:
            self.owner = problem
            self.buffers = problem.buffers()
        return self.buffers


def null_ale_maps(layout: Layout, draws: np.ndarray, *, n_jobs: int | None = None) -> np.ndarray:
    """In-mask ALE of the null maps of ``draws`` (n_maps x n_foci in-mask positions).

    Built exactly as the Monte Carlo loop builds its maps (same sums, float64 logs), one map
    per thread at a time; rows of ``draws`` follow the studyset's focus order.

    Returns
    -------
    ndarray float32, shape (n_maps, n_mask_voxels)
    """
    draws = np.ascontiguousarray(np.asarray(draws, dtype=np.int64)[:, layout.focus_order])
    problem = NullProblem.build(layout)
    out = np.empty((draws.shape[0], problem.n_mask), dtype=np.float32)
    scratch = ThreadScratch()

    def one(j: int) -> None:
        problem.map_values(draws[j], scratch.get(problem), out[j])

    with ThreadPoolExecutor(max_workers=int(n_jobs or os.cpu_count() or 1)) as workers:
        list(workers.map(one, range(draws.shape[0])))
    return out
