"""How the diagnostics hand their independent pieces to an executor (:mod:`syntony.execution`).

The jackknife's leave-one-out rows, the resampled stability's null replicates and resamples, and
the fail-safe N's Monte Carlo chunks are each a list of pieces whose numbers depend only on the
piece itself (its experiments, its subset, its own seed stream). :func:`task_blocks` cuts such a
list into contiguous blocks, a few per worker so that a slow or lost worker holds back little;
:func:`gather` runs one function over the blocks with the data every block needs sent once per
worker (``shared``) and returns the blocks' results in block order, advancing a progress bar
as blocks finish. Merging in block order is what makes the numbers the same on every executor:
how the list was cut never changes a piece's result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["BLOCKS_PER_WORKER", "gather", "task_blocks", "worker_count"]

#: Blocks per worker of an executor (more blocks: better balance, more scheduling).
BLOCKS_PER_WORKER = 4


def worker_count(executor: Any) -> int:
    """Workers of ``executor`` (1 for None or an executor that does not say)."""
    if executor is None:
        return 1
    try:
        return max(1, int(getattr(executor, "n_workers", 1) or 1))
    except (TypeError, ValueError):
        return 1


def task_blocks(
    n: int, executor: Any, *, per_worker: int = BLOCKS_PER_WORKER
) -> list[tuple[int, int]]:
    """``range(n)`` as contiguous ``(start, stop)`` blocks, about ``per_worker`` per worker."""
    if n <= 0:
        return []
    count = min(n, worker_count(executor) * max(1, per_worker))
    return [(n * k // count, n * (k + 1) // count) for k in range(count)]


def gather(
    executor: Any,
    fn: Callable[[Any, Any], Any],
    items: Sequence[Any],
    *,
    shared: Any,
    progress: bool = False,
    label: str = "",
    weights: Sequence[int] | None = None,
) -> list[Any]:
    """``fn(item, shared)`` for every item on ``executor``; results in the order of ``items``.

    ``weights`` (default 1 per item) are what the progress bar counts per finished item.
    """
    from syntony.execution import SerialExecutor
    from syntony.meta.fwe import progress_bar

    items = list(items)
    weights = [1] * len(items) if weights is None else list(weights)
    bar = progress_bar(progress, int(sum(weights)), label)
    out: list[Any] = [None] * len(items)
    done = 0
    try:
        for index, result in (executor or SerialExecutor()).imap_unordered(
            fn, items, shared=shared
        ):
            out[index] = result
            done += weights[index]
            if bar is not None:
                bar[0].update(bar[1], completed=done)
    finally:
        if bar is not None:
            bar[0].stop()
    return out
