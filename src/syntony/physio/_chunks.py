"""Long Monte Carlo loops in fixed chunks that a killed run can pick up again.

The surrogate, phase and pseudo-group tests draw their null distributions in chunks of a fixed
size; chunk ``k`` draws only from the seed stream ``child("chunk", k)`` of the test's own
:class:`~syntony._rng.SeedTree`, so its numbers do not depend on which chunks ran before. With a
:class:`~syntony._checkpoint.Checkpoint`, each finished chunk is saved, and a resumed run loads
those and computes the rest: the result equals an uninterrupted run's, bit for bit.

One checkpoint serves every test of an analysis: each test has a *slot*, and its chunk ``k`` is
stored under index ``slot * STRIDE + k``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable

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


def chunk_generator(tree: SeedTree, k: int) -> np.random.Generator:
    """The generator of chunk ``k``: depends on the seed and ``k`` only."""
    return tree.child("chunk", k).generator()


def run_chunks(
    n: int,
    size: int,
    compute: Callable[[int, int, int], dict[str, np.ndarray]],
    *,
    checkpoint=None,
    slot: int = 0,
    advance: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``compute(k, start, stop)`` over chunks of ``size`` items and join the results.

    Parameters
    ----------
    n : int
        Number of items (surrogates, pseudo-groups).
    size : int
        Items per chunk (fixed, so that chunk ``k`` always covers the same items).
    compute : callable
        ``compute(k, start, stop) -> {name: array}``, every array with ``stop - start`` rows.
    checkpoint : Checkpoint, optional
        Where finished chunks are saved and found again.
    slot : int
        This loop's slot in the checkpoint (see :data:`SLOTS`).
    advance : callable, optional
        Called with the number of items of each chunk finished (a progress bar).
    """
    if n < 1 or size < 1:
        raise ParameterError("n", "at least one item in chunks of at least one", (n, size))
    n_chunks = -(-n // size)
    if n_chunks >= STRIDE:
        raise ParameterError("n", f"fewer than {STRIDE * size} items", n)
    done = checkpoint.done() if checkpoint is not None else set()
    parts: list[dict[str, np.ndarray]] = []
    for k in range(n_chunks):
        start, stop = k * size, min(n, (k + 1) * size)
        index = slot * STRIDE + k
        if index in done:
            arrays = _load(checkpoint, index, stop - start)
        else:
            arrays = {name: np.asarray(a) for name, a in compute(k, start, stop).items()}
            if checkpoint is not None:
                checkpoint.save(index, **arrays)
        parts.append(arrays)
        if advance is not None:
            advance(stop - start)
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


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
