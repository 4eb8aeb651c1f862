"""Finished chunks of the meta-analysis loops, kept so that a killed run resumes.

The Monte Carlo FWE null runs in blocks of :data:`syntony.meta.fwe.BLOCK` iterations, block
``b`` from its own seed stream; the contrast's permutations run in batches of
:data:`syntony.meta.permutation.BATCH`, permutation ``j`` from its own stream. A block or batch
therefore has the same numbers whichever blocks ran before it, and a resumed run that loads
the finished ones and computes the rest ends with the numbers of an uninterrupted run.

One :class:`~syntony._checkpoint.Checkpoint` serves a whole analysis: each loop in it (the
permutations, the Monte Carlo null of each main effect, the null of each MACM region) is given
a :class:`CheckpointSlot`, a disjoint range of chunk indices.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from syntony.errors import InputError, ParameterError

__all__ = ["STRIDE", "CheckpointSlot", "load_chunk", "slot"]

#: Chunk indices of one slot (loops of one checkpoint use disjoint ranges).
STRIDE = 1_000_000


class CheckpointSlot:
    """Chunks ``number * STRIDE + k`` of a checkpoint, seen as chunks ``k`` of one loop.

    Has the methods the loops use: ``done()``, ``save(k, **arrays)``, ``load(k)``.

    Parameters
    ----------
    checkpoint : Checkpoint
        The analysis' checkpoint (:class:`syntony._checkpoint.Checkpoint`).
    number : int
        The slot (0, 1, ...).
    """

    def __init__(self, checkpoint: Any, number: int) -> None:
        if isinstance(checkpoint, CheckpointSlot):
            raise ParameterError("checkpoint", "a Checkpoint, not a slot of one", checkpoint)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ParameterError("slot", "a non-negative integer", number)
        self.checkpoint = checkpoint
        self.number = number
        self.directory = getattr(checkpoint, "directory", None)

    def _index(self, k: int) -> int:
        if not 0 <= int(k) < STRIDE:
            raise ParameterError("chunk", f"an index in [0, {STRIDE})", k)
        return self.number * STRIDE + int(k)

    def done(self) -> set[int]:
        """The chunks of this slot already finished."""
        base = self.number * STRIDE
        return {i - base for i in self.checkpoint.done() if base <= i < base + STRIDE}

    def save(self, k: int, **arrays: np.ndarray) -> None:
        """Record chunk ``k`` of this slot (atomically)."""
        self.checkpoint.save(self._index(k), **arrays)

    def load(self, k: int) -> dict[str, np.ndarray]:
        """The arrays of finished chunk ``k`` of this slot."""
        return self.checkpoint.load(self._index(k))

    def __repr__(self) -> str:
        return f"CheckpointSlot({self.directory}, {self.number})"


def slot(checkpoint: Any, number: int) -> CheckpointSlot | None:
    """Slot ``number`` of ``checkpoint``, or None without a checkpoint."""
    return None if checkpoint is None else CheckpointSlot(checkpoint, number)


def load_chunk(
    checkpoint: Any, k: int, expected: Mapping[str, tuple[tuple[int, ...], np.dtype | type]]
) -> dict[str, np.ndarray]:
    """Load chunk ``k`` and check that it holds the arrays ``expected`` (name -> shape, dtype).

    A chunk that cannot be read, or whose arrays differ in name, shape or type from what this
    run computes, is refused: it was not written by this loop.
    """
    try:
        arrays = checkpoint.load(k)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        arrays = None
    fits = arrays is not None and set(arrays) == set(expected)
    if fits:
        for name, (shape, dtype) in expected.items():
            a = arrays[name]
            if a.shape != tuple(shape) or a.dtype != np.dtype(dtype):
                fits = False
                break
    if not fits:
        raise InputError(
            f"checkpoint chunk {k} is damaged or does not fit this run; rerun with --force to "
            "start over",
            source=getattr(checkpoint, "directory", None),
        )
    return arrays
