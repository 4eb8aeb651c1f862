"""Long Monte Carlo loops in fixed chunks that a killed run can pick up again.

The surrogate, phase and pseudo-group tests draw their null distributions in chunks of a fixed
size; chunk ``k`` draws only from the seed stream ``child("chunk", k)`` of the test's own
:class:`~syntony._rng.SeedTree`, so its numbers do not depend on which chunks ran before. With a
:class:`~syntony._checkpoint.Checkpoint`, each finished chunk is saved, and a resumed run loads
those and computes the rest: the result equals an uninterrupted run's, bit for bit.

One checkpoint serves every test of an analysis: each test has a *slot*, and its chunk ``k`` is
stored under index ``slot * STRIDE + k``.

With an executor (:mod:`syntony.execution`) the chunks still to do become tasks: the chunk
function and the data every chunk needs travel once to each worker, each task carries only its
chunk's bounds, and the chunks are joined in their own order whichever finished first, so the
numbers are those of the serial loop.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from syntony._rng import SeedTree
from syntony.errors import InputError, ParameterError

__all__ = ["SLOTS", "STRIDE", "chunk_generator", "run_chunks"]

#: Chunk indices of one test within a checkpoint (tests use disjoint ranges).
STRIDE = 1_000_000
#: The slot of each test of the physio analyses.
SLOTS = {
    "circular-shift": 0,
    "segment-shuffle": 1,
    "kuramoto": 2,
    "cluster-phase": 3,
    "pseudo-groups": 4,
    "fit-pseudo-groups": 5,
}

_NO_SHARED = object()


def chunk_generator(tree: SeedTree, k: int) -> np.random.Generator:
    """The generator of chunk ``k``: depends on the seed and ``k`` only."""
    return tree.child("chunk", k).generator()


@dataclass(frozen=True)
class _Job:
    """What every worker receives once: the chunk function and its shared data."""

    compute: Callable[..., dict[str, np.ndarray]]
    shared: Any
    has_shared: bool


def _compute(job: _Job, k: int, start: int, stop: int) -> dict[str, np.ndarray]:
    out = job.compute(k, start, stop, job.shared) if job.has_shared else job.compute(k, start, stop)
    return {name: np.asarray(a) for name, a in out.items()}


def _chunk_task(bounds: tuple[int, int, int], job: _Job) -> dict[str, np.ndarray]:
    """One chunk as an executor task (module level, so that it pickles)."""
    return _compute(job, *bounds)


def run_chunks(
    n: int,
    size: int,
    compute: Callable[..., dict[str, np.ndarray]],
    *,
    checkpoint=None,
    slot: int = 0,
    advance: Callable[[int], None] | None = None,
    executor=None,
    shared: Any = _NO_SHARED,
) -> dict[str, np.ndarray]:
    """Run ``compute(k, start, stop)`` over chunks of ``size`` items and join the results.

    Parameters
    ----------
    n : int
        Number of items (surrogates, pseudo-groups).
    size : int
        Items per chunk (fixed, so that chunk ``k`` always covers the same items).
    compute : callable
        ``compute(k, start, stop) -> {name: array}``, every array with ``stop - start`` rows;
        called as ``compute(k, start, stop, shared)`` when ``shared`` is given. With an
        executor of processes or Dask it must pickle: a module-level function, or a
        :func:`functools.partial` of one.
    checkpoint : Checkpoint, optional
        Where finished chunks are saved and found again.
    slot : int
        This loop's slot in the checkpoint (see :data:`SLOTS`).
    advance : callable, optional
        Called with the number of items of each chunk finished (a progress bar).
    executor : Executor, optional
        Run the chunks not already in the checkpoint as tasks of this executor
        (:mod:`syntony.execution`); each is saved to the checkpoint as it arrives. Without
        one the chunks run here, one after the other. The result is the same either way.
    shared : object, optional
        Data every chunk needs (recordings, windows); passed to ``compute`` as its fourth
        argument and sent once to each worker, not with every task.
    """
    if n < 1 or size < 1:
        raise ParameterError("n", "at least one item in chunks of at least one", (n, size))
    n_chunks = -(-n // size)
    if n_chunks >= STRIDE:
        raise ParameterError("n", f"fewer than {STRIDE * size} items", n)
    job = _Job(compute, None if shared is _NO_SHARED else shared, shared is not _NO_SHARED)
    done = checkpoint.done() if checkpoint is not None else set()
    bounds = [(k, k * size, min(n, (k + 1) * size)) for k in range(n_chunks)]
    parts: list[dict[str, np.ndarray] | None] = [None] * n_chunks

    def finish(k: int, arrays: dict[str, np.ndarray], *, save: bool) -> None:
        _, start, stop = bounds[k]
        if save and checkpoint is not None:
            checkpoint.save(slot * STRIDE + k, **arrays)
        parts[k] = arrays
        if advance is not None:
            advance(stop - start)

    if executor is None:
        for k, start, stop in bounds:
            index = slot * STRIDE + k
            if index in done:
                finish(k, _load(checkpoint, index, stop - start), save=False)
            else:
                finish(k, _compute(job, k, start, stop), save=True)
    else:
        _check_picklable(executor, job)
        todo = []
        for k, start, stop in bounds:
            index = slot * STRIDE + k
            if index in done:
                finish(k, _load(checkpoint, index, stop - start), save=False)
            else:
                todo.append(bounds[k])
        if todo:
            for i, arrays in executor.imap_unordered(_chunk_task, todo, shared=job):
                finish(todo[i][0], {name: np.asarray(a) for name, a in arrays.items()}, save=True)
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _check_picklable(executor, job: _Job) -> None:
    """A chunk function that worker processes cannot receive fails here, in words."""
    if getattr(executor, "kind", None) != "processes":
        return  # in-process pools share it; Dask pickles closures itself (cloudpickle)
    try:
        pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise ParameterError(
            "executor",
            "functions worker processes can receive (module-level functions, not lambdas or "
            "local functions; a custom surrogate or statistic too), or a thread or Dask executor",
            str(error),
        ) from error


def _load(checkpoint, index: int, rows: int) -> dict[str, np.ndarray]:
    try:
        arrays = checkpoint.load(index)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        arrays = None
    if not arrays or any(np.shape(a)[:1] != (rows,) for a in arrays.values()):
        raise InputError(
            f"checkpoint chunk {index} is damaged or does not fit this run; rerun with --force "
            "to start over",
            source=checkpoint.directory,
        )
    return arrays
