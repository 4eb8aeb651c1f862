"""Counter-based Gaussian noise: reproducible for a key whatever the number of threads.

Draw ``k`` of stream ``c`` is a pure function of (key, c, k): a SplitMix64 hash of the counter
gives two uniforms and Marsaglia's polar method turns them into two normals. Any thread can compute any
draw, so a parallel loop gives bit-identical numbers to a serial one, and the loop can skip
storing noise altogether.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from syntony._numba import serial_and_parallel

__all__ = ["counter_normals", "noise_key"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO52 = 2.0 / 9007199254740992.0  # 53-bit integer -> [0, 2)
_TWO_GOLDEN = np.uint64(0x3C6EF372FE94F82A)  # 2 * golden ratio constant, mod 2^64
_RETRY = np.uint64(0xD1B54A32D192ED03)


@numba.njit(inline="always", cache=True)
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(cache=True)
def stream_base(key: np.uint64, counter: np.uint64) -> np.uint64:
    """Starting hash of one stream (one step and one kind of noise)."""
    return _mix(key ^ _mix(counter * _GOLDEN + _GOLDEN))


@numba.njit(inline="always", cache=True)
def normal_pair(base: np.uint64, pair: np.int64) -> tuple[float, float]:
    """The two standard normals of pair number ``pair`` of a stream (Marsaglia's polar method).

    The polar method needs one log, one square root and one division per pair, about half
    the cost of Box–Muller's log, sqrt, sin and cos. A rejected point (probability 1 - pi/4)
    is redrawn from a re-hashed counter, so the result is still a pure function of
    (key, stream, pair).
    """
    c = base + np.uint64(pair) * _TWO_GOLDEN
    while True:
        h1 = _mix(c)
        h2 = _mix(c + _GOLDEN)
        u = np.float64(h1 >> _S11) * _TWO52 - 1.0  # uniform in [-1, 1)
        v = np.float64(h2 >> _S11) * _TWO52 - 1.0
        r2 = u * u + v * v
        if 0.0 < r2 < 1.0:
            f = math.sqrt(-2.0 * math.log(r2) / r2)
            return u * f, v * f
        c = _mix(c ^ _RETRY)


def _fill_py(base: np.uint64, out: np.ndarray) -> None:
    m = out.size
    for p in numba.prange((m + 1) // 2):
        a, b = normal_pair(base, p)
        out[2 * p] = a
        if 2 * p + 1 < m:
            out[2 * p + 1] = b


_fill_serial, _fill_parallel = serial_and_parallel(_fill_py)
#: Parallel filling only pays off for large arrays (thread start-up costs ~ms on a busy machine).
_PARALLEL_SIZE = 50_000


def counter_normals(
    key: int, counter: int, shape: tuple[int, ...] | int, out: np.ndarray | None = None
) -> np.ndarray:
    """Standard normal draws of stream ``counter`` for ``key``, filled in parallel.

    The same (key, counter, size) always gives the same array, whatever the thread count.
    """
    if out is None:
        out = np.empty(shape, dtype=np.float64)
    # numba hands uint64 results back as Python ints; re-wrap so the kernel sees uint64.
    fill = _fill_parallel if out.size >= _PARALLEL_SIZE else _fill_serial
    fill(np.uint64(stream_base(np.uint64(key), np.uint64(counter))), out.reshape(-1))
    return out


def noise_key(seed_seq: np.random.SeedSequence) -> int:
    """A 64-bit key for the counter-based streams, derived from a seed sequence."""
    return int(seed_seq.generate_state(1, dtype=np.uint64)[0])
