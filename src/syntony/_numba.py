"""Numba helpers shared by the compiled kernels."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["aligned_empty", "prefetch", "serial_and_parallel"]


def _copy(func: Callable[..., Any], qualname: str, globals_: dict[str, Any]) -> Any:
    twin = types.FunctionType(
        func.__code__, globals_, func.__name__, func.__defaults__, func.__closure__
    )
    twin.__qualname__ = qualname
    twin.__module__ = func.__module__
    return twin


def serial_and_parallel(
    func: Callable[..., Any],
    *,
    suffix: str = "",
    constants: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[Any, Any]:
    """Compile ``func`` twice, serial and ``parallel=True``, each with its own disk cache.

    Numba names a cache entry after the function's qualified name and first line, and does not
    key it on the ``parallel`` flag: two dispatchers of one Python function share an entry, so
    the parallel one can load the serial machine code from an earlier run and silently run on
    one core. The parallel copy therefore gets a qualified name of its own.

    ``constants`` overrides module globals for this copy only (numba freezes globals as
    compile-time constants, so branches on them vanish from the machine code); ``suffix``
    must then name the combination, to give the copy cache entries of its own. Other keyword
    ``options`` go to ``numba.njit``.
    """
    globals_ = func.__globals__
    if constants:
        globals_ = {**globals_, **constants}
    base = f"{func.__qualname__}{suffix}"
    serial = _copy(func, base, globals_) if (suffix or constants) else func
    parallel = _copy(func, f"{base}__parallel", globals_)
    return (
        numba.njit(cache=True, **options)(serial),
        numba.njit(parallel=True, cache=True, **options)(parallel),
    )


@intrinsic
def prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """Hint the CPU to load ``array[index]`` (1-D array) into cache; no effect on results.

    A gather over a network's neighbours misses the cache at every long-range edge, and the
    loop's unpredictable row ends keep the processor from running far enough ahead to overlap
    those misses on its own; asking for the element some edges early hides their latency.
    """
    if not (isinstance(array, numba.types.Array) and array.ndim == 1):
        return None
    if not isinstance(index, numba.types.Integer):
        return None
    sig = numba.types.void(array, index)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array_type, index_type = signature.args
        ary = context.make_array(array_type)(context, builder, args[0])
        ind = context.cast(builder, args[1], index_type, numba.types.intp)
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides),
            layout=array_type.layout,
            inds=[ind],
            wraparound=False,
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read access, high temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


def aligned_empty(shape: int | tuple[int, ...], dtype: Any = np.float64, align: int = 64) -> Any:
    """An uninitialised C-contiguous array whose first byte is ``align``-byte aligned.

    numpy only guarantees 16 bytes; records of 32 bytes then straddle two cache lines every
    other time, which doubles the misses of a random gather.
    """
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start : start + nbytes].view(dtype).reshape(shape)
