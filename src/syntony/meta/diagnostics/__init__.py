"""Diagnostics of ALE results: what each cluster rests on and how robust it is.

- :func:`jackknife` (and :func:`jackknife_contrast`, :func:`jackknife_conjunction`): each
  experiment's share of each cluster, NiMARE's leave-one-out definition, from the observed
  log-sums in one compiled pass.
- :func:`focus_counter`: foci of each experiment inside each cluster.
- :func:`focus_filter`: drop the foci outside the mask, and say which.
- :func:`resampled_stability`: how often voxels and clusters survive resampling (NiMARE's
  ``ResampledStability``).
- :func:`fail_safe_n`: the fail-safe N of each cluster (Acar et al. 2018).
- :func:`analysis_warnings`: warnings that cite their source (too few experiments, one
  experiment carrying a cluster, significance out of reach of the iterations).
- :func:`diagnose_ale`, :func:`diagnose_contrast`, :func:`diagnose_conjunction`: any of them
  for a result, as :class:`Diagnostic` bundles that results save and report
  (``result.diagnose(...)``).

Submodules are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Observed": "syntony.meta.diagnostics.observed",
    "jackknife": "syntony.meta.diagnostics.shares",
    "jackknife_contrast": "syntony.meta.diagnostics.shares",
    "jackknife_conjunction": "syntony.meta.diagnostics.shares",
    "leave_one_out": "syntony.meta.diagnostics.shares",
    "focus_counter": "syntony.meta.diagnostics.counts",
    "focus_counts": "syntony.meta.diagnostics.counts",
    "FilteredFoci": "syntony.meta.diagnostics.filtering",
    "focus_filter": "syntony.meta.diagnostics.filtering",
    "Stability": "syntony.meta.diagnostics.stability",
    "resampled_stability": "syntony.meta.diagnostics.stability",
    "FailSafeN": "syntony.meta.diagnostics.failsafe",
    "fail_safe_n": "syntony.meta.diagnostics.failsafe",
    "null_experiments": "syntony.meta.diagnostics.failsafe",
    "bisect_fail_safe": "syntony.meta.diagnostics.failsafe",
    "Diagnostic": "syntony.meta.diagnostics.bundle",
    "DiagnosticSettings": "syntony.meta.diagnostics.apply",
    "diagnose_ale": "syntony.meta.diagnostics.apply",
    "diagnose_contrast": "syntony.meta.diagnostics.apply",
    "diagnose_conjunction": "syntony.meta.diagnostics.apply",
    "parse_diagnostics": "syntony.meta.diagnostics.apply",
    "analysis_warnings": "syntony.meta.diagnostics.checks",
    "dominant_experiments": "syntony.meta.diagnostics.checks",
    "few_experiments": "syntony.meta.diagnostics.checks",
    "unreachable_significance": "syntony.meta.diagnostics.checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'syntony.meta.diagnostics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
