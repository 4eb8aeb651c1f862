"""One way to turn a user's seed into random generators.

Everything random in syntony goes through :func:`check_random_state`, and parallel work gets
independent streams from :func:`spawn_generators`, so that a seed gives the same numbers
whether the work runs serially or on many workers.
"""

from __future__ import annotations

import numbers

import numpy as np

from syntony.errors import ParameterError

__all__ = ["SeedLike", "check_random_state", "seed_sequence", "spawn_generators"]

SeedLike = int | np.integer | np.random.SeedSequence | np.random.Generator | None


def seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """Return the :class:`numpy.random.SeedSequence` behind ``seed``.

    ``None`` draws fresh OS entropy; the entropy is kept on the returned object so that it can
    be recorded in provenance and the run repeated.
    """
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        # A generator carries its own seed sequence; spawning from it keeps streams independent.
        return seed.bit_generator.seed_seq  # type: ignore[return-value]
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise ParameterError(
        "seed", "None, a non-negative integer, a SeedSequence or a Generator", seed
    )


def check_random_state(seed: SeedLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``seed``.

    A Generator is returned as is (so callers can share one stream); anything else seeds a new
    PCG64 generator.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed_sequence(seed))


def spawn_generators(seed: SeedLike, n: int) -> list[np.random.Generator]:
    """Return ``n`` statistically independent generators derived from ``seed``.

    Work item ``k`` always gets generator ``k``, whatever the number of workers, which is what
    makes parallel runs reproducible.
    """
    if n < 0:
        raise ParameterError("n", "a non-negative integer", n)
    return [np.random.default_rng(s) for s in seed_sequence(seed).spawn(n)]
