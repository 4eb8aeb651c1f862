"""One way to turn a user's seed into random generators.

Everything random in syntony descends from one :class:`SeedTree` per analysis: each random part
draws from a *named* child of the user's seed (``tree.child("surrogates")``,
``tree.child("fwe", chunk)``), so the same seed gives the same numbers whether the work runs
serially or on many workers, whatever order the parts run in, and two parts never share a stream
by accident. :func:`check_random_state` remains for estimators that accept a Generator.
"""

from __future__ import annotations

import hashlib
import numbers
from typing import Any

import numpy as np

from syntony.errors import ParameterError

__all__ = ["SeedLike", "SeedTree", "check_random_state", "seed_sequence", "spawn_generators"]

SeedLike = int | np.integer | np.random.SeedSequence | np.random.Generator | None


def seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """Return the :class:`numpy.random.SeedSequence` behind ``seed``.

    ``None`` draws fresh OS entropy; the entropy is kept on the returned object so that it can
    be recorded in provenance and the run repeated.
    """
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, SeedTree):
        return seed.seed_sequence
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


def _name_key(name: str | int) -> int:
    """The spawn-key word of a child's name: integers stand for themselves, strings are hashed.

    Strings land above 2**32 so that ``child("3")`` and ``child(3)`` never collide.
    """
    if isinstance(name, bool) or not isinstance(name, (str, numbers.Integral)):
        raise ParameterError("seed child name", "a string or a non-negative integer", name)
    if isinstance(name, numbers.Integral):
        if name < 0:
            raise ParameterError("seed child name", "a non-negative integer", name)
        return int(name)
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return 2**32 + int.from_bytes(digest, "little")


class SeedTree:
    """A user's seed and named, non-consuming child streams derived from it.

    ``SeedTree(seed).child("pseudo-groups")`` is a pure function of the seed and the names on the
    path: asking for a child never changes the parent or its other children (unlike
    :meth:`numpy.random.SeedSequence.spawn`, which counts how often it was called).

    Parameters
    ----------
    seed : int, SeedSequence, Generator or None
        ``None`` draws fresh OS entropy once; :meth:`record` keeps it so the run can be repeated.

    Examples
    --------
    >>> tree = SeedTree(0)
    >>> a = tree.child("surrogates").generator().random()
    >>> b = tree.child("surrogates").generator().random()
    >>> a == b
    True
    """

    __slots__ = ("_path", "_root")

    def __init__(self, seed: SeedLike | SeedTree = None) -> None:
        if isinstance(seed, SeedTree):
            self._root, self._path = seed._root, seed._path
            return
        root = seed_sequence(seed)
        self._root = np.random.SeedSequence(
            root.entropy, spawn_key=tuple(root.spawn_key), pool_size=root.pool_size
        )
        self._path: tuple[str | int, ...] = ()

    @property
    def path(self) -> tuple[str | int, ...]:
        """The names from the user's seed down to this node."""
        return self._path

    @property
    def entropy(self) -> Any:
        """The root entropy (the user's integer seed, or the OS entropy drawn for ``None``)."""
        return self._root.entropy

    @property
    def seed_sequence(self) -> np.random.SeedSequence:
        """A fresh :class:`numpy.random.SeedSequence` for this node (safe to spawn from)."""
        key = tuple(self._root.spawn_key) + tuple(_name_key(n) for n in self._path)
        return np.random.SeedSequence(
            self._root.entropy, spawn_key=key, pool_size=self._root.pool_size
        )

    def child(self, *names: str | int) -> SeedTree:
        """The node reached by following ``names`` (strings or non-negative integers)."""
        for name in names:
            _name_key(name)  # validate early, with the field named
        node = SeedTree.__new__(SeedTree)
        node._root, node._path = self._root, (*self._path, *names)
        return node

    def children(self, name: str, n: int) -> list[SeedTree]:
        """``[self.child(name, 0), ..., self.child(name, n - 1)]``: one node per work item."""
        if n < 0:
            raise ParameterError("n", "a non-negative integer", n)
        return [self.child(name, k) for k in range(n)]

    def generator(self) -> np.random.Generator:
        """A new PCG64 generator for this node; each call starts the same stream afresh."""
        return np.random.default_rng(self.seed_sequence)

    def integer(self, bits: int = 32) -> int:
        """A non-negative integer seed for APIs that take one (``bits`` wide)."""
        if bits not in (32, 63, 64):
            raise ParameterError("bits", "32, 63 or 64", bits)
        word = self.seed_sequence.generate_state(2, np.uint32)
        value = int(word[0]) | (int(word[1]) << 32)
        return value % (2**bits)

    def record(self) -> dict[str, Any]:
        """What provenance needs to rebuild this node: entropy, root spawn key and path."""
        return {
            "entropy": int(self._root.entropy)
            if np.ndim(self._root.entropy) == 0
            else [int(v) for v in np.atleast_1d(self._root.entropy)],
            "spawn_key": [int(k) for k in self._root.spawn_key],
            "path": list(self._path),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SeedTree):
            return NotImplemented
        return self.record() == other.record()

    def __hash__(self) -> int:
        return hash(repr(self.record()))

    def __repr__(self) -> str:
        path = "/".join(map(str, self._path)) or "."
        return f"SeedTree(entropy={self._root.entropy}, path={path!r})"


#: Anything a ``seed=`` / ``random_state=`` argument accepts.
SeedLike = int | np.integer | np.random.SeedSequence | np.random.Generator | SeedTree | None
