"""Coordinate-based meta-analysis: activation likelihood estimation (ALE) and friends.

The ALE engine reproduces NiMARE 0.22.1's numbers (maps, null bins, FWE nulls for the same
random draws) and runs its Monte Carlo loop in parallel compiled code::

    from syntony.meta import ALE, read_studyset
    result = ALE(n_iters=10_000, random_state=0).fit(read_studyset("foci.txt")).result_
    result.save("out/")

Submodules are imported lazily, so ``import syntony.meta`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ALE": "syntony.meta.ale",
    "ale_map": "syntony.meta.ale",
    "ALEKernel": "syntony.meta.kernel",
    "ale_fwhm": "syntony.meta.kernel",
    "gaussian_kernel": "syntony.meta.kernel",
    "HistogramNull": "syntony.meta.null",
    "EarlyStop": "syntony.meta.fwe",
    "FWENull": "syntony.meta.fwe",
    "monte_carlo_null": "syntony.meta.fwe",
    "ALEResult": "syntony.meta.results",
    "Grid": "syntony.meta.space",
    "mni152_grid": "syntony.meta.space",
    "mni_to_tal": "syntony.meta.space",
    "tal_to_mni": "syntony.meta.space",
    "Studyset": "syntony.meta.studyset",
    "read_studyset": "syntony.meta.readers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'syntony.meta' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
