"""The compiled label-permutation engine behind :class:`~syntony.meta.contrast.ALEContrast`.

Each experiment's ``log(1 - MA)`` at the tested voxels is computed once and stored as a sparse
row (:func:`experiment_entries`); a permutation then adds the rows of the smaller permuted group
only, and the other group's log-sum is the pooled log-sum minus that one (``log(1 - ALE)`` is
additive over experiments). :func:`permutation_counts` runs the permutations in batches of
:data:`BATCH`, on this process' threads or as the tasks of an executor
(:mod:`syntony.execution`: local workers or a Dask cluster, with the same numbers), and returns,
per tested voxel, how often the permuted difference reached the observed one from above and
from below, and the maximum absolute difference of each permutation.

``replay_nimare=True`` reproduces NiMARE 0.22.1's permutations for the same integer seed (its
seeds, shuffles and summation order), so null distributions can be compared draw for draw; each
permutation then sums both groups directly.

With a checkpoint, each finished batch of :data:`BATCH` permutations is saved, and a killed run
resumes from the saved batches to the counts of an uninterrupted run (:mod:`syntony.meta.chunks`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from syntony._numba import serial_and_parallel
from syntony._rng import SeedLike, SeedTree
from syntony.errors import ParameterError
from syntony.meta.accumulate import accumulate_log_ma_into
from syntony.meta.chunks import load_chunk
from syntony.meta.fwe import progress_bar

if TYPE_CHECKING:
    from syntony.meta.layout import Layout

__all__ = [
    "accumulate_subset",
    "experiment_entries",
    "permutation_counts",
    "permutation_seeds",
    "permute_batch",
    "permute_serial",
    "shuffles",
]

_NIMARE_STREAM = "alesubtraction_permutations"
#: Permutations shuffled and run per batch (bounds the memory of the shuffle table).
BATCH = 128


def permutation_seeds(
    random_state: SeedLike | SeedTree, n: int, *, replay_nimare: bool = False
) -> list[Any]:
    """Seed of each permutation (permutation ``j`` is shuffled by ``default_rng(seeds[j])``).

    With ``replay_nimare`` these are NiMARE 0.22.1's: the iteration indices when
    ``random_state`` is None, else the children of ``SeedSequence([seed, stream key])``.
    Otherwise the named streams ``SeedTree(random_state).child("permutation", j)``
    (:class:`syntony._rng.SeedTree`; independent of how many workers run).
    """
    if replay_nimare:
        if random_state is None:
            return list(range(n))
        if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
            raise ParameterError(
                "random_state", "None or an integer to replay NiMARE", random_state
            )
        key = int.from_bytes(hashlib.sha256(_NIMARE_STREAM.encode()).digest()[:8], "big")
        entropy: Any = [int(random_state) % 2**64, key]
    else:
        tree = SeedTree(random_state)
        return [node.seed_sequence for node in tree.children("permutation", n)]
    return [np.random.SeedSequence(entropy, spawn_key=(j,)) for j in range(n)]


def shuffles(seeds: list[Any], n_total: int, n_first: int) -> np.ndarray:
    """Each row: the experiments of permuted group 1 then group 2, in NiMARE's sum order.

    Within a permuted group, experiments that came from group 1 are summed first (in shuffled
    order), then those from group 2, which is the order of NiMARE's partition sums.
    """
    out = np.empty((len(seeds), n_total), dtype=np.int64)
    for j, seed in enumerate(seeds):
        idx = np.arange(n_total)
        np.random.default_rng(seed).shuffle(idx)
        out[j] = idx
    for lo, hi in ((0, n_first), (n_first, n_total)):
        part = out[:, lo:hi]
        order = np.argsort(part >= n_first, axis=1, kind="stable")
        out[:, lo:hi] = np.take_along_axis(part, order, axis=1)
    return out


@numba.njit(cache=True, nogil=True)
def accumulate_subset(
    volume, scratch, exps, ijk, foci_start, exp_kernel, log_values, starts, halves
):
    """Add log(1 - MA) of the experiments ``exps`` (in that order) to ``volume``."""
    n_sel = exps.shape[0]
    n_foci = 0
    for k in range(n_sel):
        e = exps[k]
        n_foci += foci_start[e + 1] - foci_start[e]
    sub_ijk = np.empty((n_foci, 3), dtype=np.int64)
    sub_start = np.empty(n_sel + 1, dtype=np.int64)
    sub_kernel = np.empty(n_sel, dtype=np.int64)
    p = 0
    for k in range(n_sel):
        e = exps[k]
        sub_start[k] = p
        sub_kernel[k] = exp_kernel[e]
        for f in range(foci_start[e], foci_start[e + 1]):
            sub_ijk[p, 0] = ijk[f, 0]
            sub_ijk[p, 1] = ijk[f, 1]
            sub_ijk[p, 2] = ijk[f, 2]
            p += 1
    sub_start[n_sel] = p
    accumulate_log_ma_into(
        volume, scratch, sub_ijk, sub_start, sub_kernel, log_values, starts, halves
    )


def experiment_entries(layout: Layout, packed: tuple, test_flat: np.ndarray):
    """Each experiment's log(1 - MA) at the tested voxels, as CSR rows (ptr, pos, val).

    ``packed`` is ``(ijk, foci_start, experiment_kernel, log_values, starts, half_widths)`` as
    :func:`accumulate_subset` takes it; ``test_flat`` the tested voxels' flat indices in the
    layout's box. ``pos`` indexes the tested voxels; ``val`` holds the float32 logs (exact: they
    are float32 numbers). Entries of an experiment are in voxel order, and summing the rows of a
    group in experiment order gives, voxel by voxel, the same float64 sums as accumulating its
    kernels.
    """
    shape = np.asarray(layout.shape)
    where_test = np.full(int(np.prod(shape)), -1, dtype=np.int64)
    where_test[test_flat] = np.arange(test_flat.size)
    ijk, starts_f, exp_kernel = packed[0], packed[1], packed[2]
    halves = packed[5]
    vol = np.zeros(layout.shape)
    scratch = np.zeros(layout.shape)
    ptr = [0]
    pos_parts, val_parts = [], []
    for e in range(starts_f.size - 1):
        foci = ijk[starts_f[e] : starts_f[e + 1]]
        half = halves[exp_kernel[e]]
        lo = np.maximum(foci.min(axis=0) - half, 0)
        hi = np.minimum(foci.max(axis=0) + half, shape - 1)
        if np.any(lo > hi):
            ptr.append(ptr[-1])
            continue
        accumulate_subset(vol, scratch, np.array([e]), *packed)
        box = tuple(slice(int(a), int(b) + 1) for a, b in zip(lo, hi, strict=True))
        sub = vol[box]
        local = np.nonzero(sub)
        flat = np.ravel_multi_index(tuple(c + a for c, a in zip(local, lo, strict=True)),
                                    layout.shape)  # fmt: skip
        pos = where_test[flat]
        keep = pos >= 0
        pos_parts.append(pos[keep].astype(np.int32))
        val_parts.append(sub[local][keep].astype(np.float32))
        sub[...] = 0.0
        ptr.append(ptr[-1] + int(keep.sum()))
    pos = np.concatenate(pos_parts) if pos_parts else np.zeros(0, np.int32)
    val = np.concatenate(val_parts) if val_parts else np.zeros(0, np.float32)
    return np.asarray(ptr, dtype=np.int64), pos, val


@numba.njit(cache=True, nogil=True, inline="always")
def _add_rows(sums, exps, ptr, pos, val):
    for k in range(exps.shape[0]):
        e = exps[k]
        for t in range(ptr[e], ptr[e + 1]):
            sums[pos[t]] += np.float64(val[t])


def _permute_batch(
    perms, n_first, direct, ptr, pos, val, total, observed, n_workers, out_max, upper, lower,
):  # fmt: skip
    """Run permutations ``perms`` (rows); count tails per tested voxel, record each maximum.

    ``upper[w, t]`` / ``lower[w, t]`` count, for worker ``w``, the permutations whose difference
    at tested voxel ``t`` is >= / <= the observed one. ``direct`` sums both groups (NiMARE's
    order) instead of deriving the larger group from ``total``. ``out_max[j]`` receives the
    largest absolute difference of permutation ``j`` over the tested voxels.
    """
    n_iter, n_total = perms.shape
    n_test = total.shape[0]
    small_first = n_first <= n_total - n_first
    for w in numba.prange(n_workers):
        sums1 = np.zeros(n_test, dtype=np.float64)
        sums2 = np.zeros(n_test, dtype=np.float64)
        for j in range(w, n_iter, n_workers):
            sums1[:] = 0.0
            if direct:
                sums2[:] = 0.0
                _add_rows(sums1, perms[j, :n_first], ptr, pos, val)
                _add_rows(sums2, perms[j, n_first:], ptr, pos, val)
            elif small_first:
                _add_rows(sums1, perms[j, :n_first], ptr, pos, val)
            else:
                _add_rows(sums1, perms[j, n_first:], ptr, pos, val)
            biggest = 0.0
            for t in range(n_test):
                if direct:
                    s1 = sums1[t]
                    s2 = sums2[t]
                elif small_first:
                    s1 = sums1[t]
                    s2 = total[t] - s1
                else:
                    s2 = sums1[t]
                    s1 = total[t] - s2
                d = (1.0 - np.exp(s1)) - (1.0 - np.exp(s2))
                biggest = max(biggest, abs(d))
                obs = observed[t]
                if d >= obs:
                    upper[w, t] += 1
                if d <= obs:
                    lower[w, t] += 1
            out_max[j] = biggest


# One source, two machine codes: ``permute_batch`` spreads a batch over this process' threads;
# ``permute_serial`` (the same loop compiled without threads, releasing the GIL) is what a task
# of an executor runs, so a worker never starts a thread team of its own (a forked worker must
# not touch the OpenMP runtime its parent used).
permute_serial, permute_batch = serial_and_parallel(_permute_batch, nogil=True)


def permutation_counts(
    entries: tuple[np.ndarray, np.ndarray, np.ndarray],
    total: np.ndarray,
    observed: np.ndarray,
    seeds: list[Any],
    n_first: int,
    *,
    direct: bool = False,
    n_jobs: int | None = None,
    progress: bool = False,
    checkpoint: Any = None,
    executor: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run one permutation per seed; return tail counts per tested voxel and the null of max.

    Parameters
    ----------
    entries : (ptr, pos, val)
        The experiments' rows from :func:`experiment_entries`.
    total : float64 array (n_test,)
        Pooled ``log(1 - ALE)`` of all experiments at the tested voxels.
    observed : float64 array (n_test,)
        Observed difference ALE A - ALE B at the tested voxels.
    seeds : list
        One seed per permutation (:func:`permutation_seeds`).
    n_first : int
        Size of group A (the first ``n_first`` experiments).
    direct : bool
        Sum both permuted groups directly (NiMARE's summation order, for replay).
    n_jobs : int, optional
        Worker threads (default all cores); results do not depend on it.
    progress : bool
        Show a progress bar.
    checkpoint : Checkpoint or CheckpointSlot, optional
        Saves each finished batch of :data:`BATCH` permutations (its tail counts and maxima)
        and reuses the batches an interrupted run saved: the counts equal an uninterrupted
        run's (see :mod:`syntony.meta.chunks`).
    executor : Executor, optional
        Run the batches as tasks of an executor (:mod:`syntony.execution`: local threads or
        processes, a Dask cluster) instead of this process' threads. The experiments' rows,
        the pooled and observed values and the seeds are shipped once per worker; a task is
        one batch's index and returns its tail counts and maxima, saved to the checkpoint as
        it arrives. The counts are whole numbers, so their sum does not depend on the order
        the batches finish in, and the maxima are placed by index: the result equals the
        run without an executor, bit for bit.

    Returns
    -------
    upper, lower : int64 arrays (n_test,)
        How many permutations reached a difference >= / <= the observed one.
    null_max : float64 array (n_permutations,)
        Largest absolute difference over the tested voxels of each permutation.
    """
    n_workers = int(n_jobs) if n_jobs else (os.cpu_count() or 1)
    if n_workers < 1:
        raise ParameterError("n_jobs", "a positive integer", n_jobs)
    ptr, pos, val = entries
    n_perm = len(seeds)
    n_total = ptr.size - 1
    n_test = total.size
    upper = np.zeros(n_test, dtype=np.int64)
    lower = np.zeros(n_test, dtype=np.int64)
    null_max = np.zeros(n_perm, dtype=np.float64)
    finished = checkpoint.done() if checkpoint is not None else set()
    starts = list(range(0, n_perm, BATCH))
    bar = progress_bar(progress, n_perm, "Permutations")
    completed = 0

    def merge(k: int, up: np.ndarray, lo: np.ndarray, maxima: np.ndarray) -> None:
        nonlocal completed
        start = starts[k]
        null_max[start : start + maxima.size] = maxima
        np.add(upper, up, out=upper)
        np.add(lower, lo, out=lower)
        completed += maxima.size
        if bar is not None:
            bar[0].update(bar[1], completed=completed)

    try:
        for k in sorted(finished & set(range(len(starts)))):
            rows = min(n_perm, starts[k] + BATCH) - starts[k]
            arrays = load_chunk(checkpoint, k, _batch_arrays(rows, n_test))
            merge(k, arrays["upper"], arrays["lower"], arrays["null_max"])
        todo = [k for k in range(len(starts)) if k not in finished]
        if executor is not None:
            shared = _BatchShared(seeds=list(seeds), n_total=n_total, n_first=n_first,
                                  direct=direct, ptr=ptr, pos=pos, val=val, total=total,
                                  observed=observed)  # fmt: skip
            results = executor.imap_unordered(_batch_task, todo, shared=shared)
            for i, (up, lo, maxima) in results:
                if checkpoint is not None:
                    checkpoint.save(todo[i], upper=up, lower=lo, null_max=maxima)
                merge(todo[i], up, lo, maxima)
        else:
            numba.set_num_threads(min(n_workers, numba.config.NUMBA_NUM_THREADS))
            for k in todo:
                start, stop = starts[k], min(n_perm, starts[k] + BATCH)
                perms = shuffles(seeds[start:stop], n_total, n_first)
                maxima = np.zeros(stop - start, dtype=np.float64)
                up_w = np.zeros((n_workers, n_test), dtype=np.uint32)
                lo_w = np.zeros((n_workers, n_test), dtype=np.uint32)
                permute_batch(
                    perms, n_first, direct, ptr, pos, val, total, observed, n_workers, maxima,
                    up_w, lo_w,
                )  # fmt: skip
                # At most BATCH (128) permutations per batch: the counts fit in a byte.
                up = up_w.sum(axis=0).astype(np.uint8)
                lo = lo_w.sum(axis=0).astype(np.uint8)
                if checkpoint is not None:
                    checkpoint.save(k, upper=up, lower=lo, null_max=maxima)
                merge(k, up, lo, maxima)
    finally:
        if bar is not None:
            bar[0].stop()
    return upper, lower, null_max


@dataclass(frozen=True, eq=False)
class _BatchShared:
    """What every batch task needs (shipped once per worker by the executor)."""

    seeds: list[Any]
    n_total: int
    n_first: int
    direct: bool
    ptr: np.ndarray
    pos: np.ndarray
    val: np.ndarray
    total: np.ndarray
    observed: np.ndarray


def _batch_task(k: int, shared: _BatchShared) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch ``k`` of the permutations, on one thread: its tail counts and maxima."""
    start = k * BATCH
    stop = min(len(shared.seeds), start + BATCH)
    perms = shuffles(shared.seeds[start:stop], shared.n_total, shared.n_first)
    n_test = shared.total.size
    maxima = np.zeros(stop - start, dtype=np.float64)
    up = np.zeros((1, n_test), dtype=np.uint32)
    lo = np.zeros((1, n_test), dtype=np.uint32)
    permute_serial(
        perms, shared.n_first, shared.direct, shared.ptr, shared.pos, shared.val, shared.total,
        shared.observed, 1, maxima, up, lo,
    )  # fmt: skip
    return up[0].astype(np.uint8), lo[0].astype(np.uint8), maxima


def _batch_arrays(rows: int, n_test: int) -> dict[str, tuple[tuple[int, ...], type]]:
    """What a checkpointed batch holds: its tail counts per tested voxel and its maxima."""
    return {
        "upper": ((n_test,), np.uint8),
        "lower": ((n_test,), np.uint8),
        "null_max": ((rows,), np.float64),
    }
