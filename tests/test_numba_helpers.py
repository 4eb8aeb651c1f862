"""The serial and parallel builds of a kernel never share a numba cache entry."""

from __future__ import annotations

import numba
import numpy as np

from syntony._numba import serial_and_parallel
from syntony.model import _kernels, _noise


def _double(out):
    for i in numba.prange(out.size):
        out[i] = 2.0 * i


def test_twins_compute_the_same_and_have_distinct_cache_identities():
    serial, parallel = serial_and_parallel(_double)
    a, b = np.empty(1000), np.empty(1000)
    serial(a)
    parallel(b)
    assert np.array_equal(a, b)
    # numba names cache files after the qualified name: distinct names, distinct entries
    assert serial.py_func.__qualname__ != parallel.py_func.__qualname__
    assert parallel.targetoptions.get("parallel") is True
    assert not serial.targetoptions.get("parallel")


def test_model_kernels_use_distinct_parallel_twins():
    _kernels.kernels(0, record=True, n_channels=1)  # builds one specialised edge pass
    pairs = [*_kernels._OBSERVE, *_kernels._INTERACT.values()]
    pairs.append((_noise._fill_serial, _noise._fill_parallel))
    pairs.append(_kernels._FIND_PARTNERS)
    assert len(pairs) >= 4
    for serial, parallel in pairs:
        assert serial.py_func.__qualname__ != parallel.py_func.__qualname__
        assert parallel.targetoptions.get("parallel") is True
