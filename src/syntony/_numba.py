"""Numba helpers shared by the compiled kernels."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numba

__all__ = ["serial_and_parallel"]


def serial_and_parallel(func: Callable[..., Any]) -> tuple[Any, Any]:
    """Compile ``func`` twice, serial and ``parallel=True``, each with its own disk cache.

    Numba names a cache entry after the function's qualified name and first line, and does not
    key it on the ``parallel`` flag: two dispatchers of one Python function share an entry, so
    the parallel one can load the serial machine code from an earlier run and silently run on
    one core. The parallel copy therefore gets a qualified name of its own.
    """
    twin = types.FunctionType(
        func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__
    )
    twin.__qualname__ = f"{func.__qualname__}__parallel"
    twin.__module__ = func.__module__
    return numba.njit(cache=True)(func), numba.njit(parallel=True, cache=True)(twin)
