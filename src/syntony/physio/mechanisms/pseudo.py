"""Pseudo-groups for any mechanism statistic.

A pseudo-group has the real group's size and members drawn from two sessions that share the
stimulus (time since the start of the same piece) but not the room, at least one from each.
Whatever a mechanism model finds in pseudo-groups, the stimulus alone produced. The statistic
of each model (the evidence for the gate, for two modes, for unequal pulls) is computed for
``n_groups`` pseudo-groups and compared with the real group's: the one-sided p-value is
``(1 + #{pseudo >= real}) / (1 + n)``. Chunk ``k`` of pseudo-groups draws its members from
``child("chunk", k)`` of the seed and is checkpointed when a checkpoint is given.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer
from syntony.errors import InputError
from syntony.physio.mechanisms._base import one_blas_thread

__all__ = ["CHUNK", "pseudo_group_statistic"]

#: Pseudo-groups per checkpointed chunk.
CHUNK = 5


def pseudo_group_statistic(
    y: np.ndarray,
    other: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray | None], float],
    *,
    real: float,
    n_groups: int = 100,
    u: np.ndarray | None = None,
    seed: SeedLike | SeedTree = None,
    progress: Callable[[int], None] | None = None,
    checkpoint=None,
    checkpoint_slot: int = 10,
    executor=None,
) -> dict:
    """Compare ``real`` with ``statistic(pseudo_group, u)`` over ``n_groups`` pseudo-groups.

    ``y`` (T, P) and ``other`` (T, Q) are the two sessions on one time base (cut to a common
    length here). Returns the real value, the pseudo values, their mean and 2.5/97.5%
    quantiles, the p-value and ``n``. With an ``executor`` (:mod:`syntony.execution`) the
    chunks run as its tasks, with the same numbers; for worker processes ``statistic`` must
    pickle (a module-level function or a :func:`functools.partial` of one).
    """
    from syntony.physio._chunks import run_chunks

    n_groups = check_integer("n_groups", n_groups, minimum=1)
    y = np.asarray(y, float)
    other = np.asarray(other, float)
    if other.ndim != 2 or other.shape[1] < 1:
        raise InputError("the other session has no persons")
    n_t = min(y.shape[0], other.shape[0])
    n_a = y.shape[1]
    pool = np.concatenate([y[:n_t], other[:n_t]], axis=1)
    session = np.r_[np.zeros(n_a, bool), np.ones(other.shape[1], bool)]
    uu = None if u is None else np.asarray(u, float)[:n_t]
    tree = SeedTree(seed)
    values = run_chunks(
        n_groups,
        CHUNK,
        functools.partial(_chunk, tree, n_a),
        checkpoint=checkpoint,
        slot=checkpoint_slot,
        advance=progress,
        executor=executor,
        shared={"pool": pool, "session": session, "u": uu, "statistic": statistic},
    )["value"]
    finite = values[np.isfinite(values)]
    p = (1.0 + np.sum(finite >= real)) / (1.0 + finite.size)
    return {
        "statistic": float(real),
        "values": values,
        "null_mean": float(finite.mean()) if finite.size else float("nan"),
        "null_q025": float(np.quantile(finite, 0.025)) if finite.size else float("nan"),
        "null_q975": float(np.quantile(finite, 0.975)) if finite.size else float("nan"),
        "p_value": float(p),
        "n": int(finite.size),
    }


def _chunk(tree: SeedTree, n_a: int, k: int, start: int, stop: int, data: dict) -> dict:
    """The statistic of the pseudo-groups ``start:stop`` (chunk ``k``; one executor task)."""
    from syntony.physio._chunks import chunk_generator

    rng = chunk_generator(tree, k)
    pool, session, statistic = data["pool"], data["session"], data["statistic"]
    values = np.empty(stop - start)
    with one_blas_thread():
        for g in range(stop - start):
            while True:
                members = rng.choice(pool.shape[1], size=n_a, replace=False)
                if session[members].any() and (~session[members]).any():
                    break
            try:
                values[g] = statistic(pool[:, members], data["u"])
            except InputError:  # e.g. a pseudo-group member with a flat stretch
                values[g] = np.nan
    return {"value": values}
