"""Signal quality per person: what the dashboard shows and the session result keeps.

For each person over the last ``span`` seconds of the raw grid: the share of grid samples that
arrived, whether the signal is flat (a sensor that lost contact often reports one value), the
stream's status (live, or dropped out since the last sample), why their feature was found
implausible (the offline plausibility checks: breathing or heart rate outside the human range,
and so on), and how many samples came too late to be used or twice for the same grid time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["quality_table"]


def quality_table(
    raw,
    persons: list[str],
    status: dict[str, str],
    reasons: dict[str, str],
    grid,
    *,
    raw_fs: float,
    span: float = 10.0,
) -> dict[str, list]:
    """Per-person quality as lists (JSON-ready), persons in column order."""
    n = raw.n
    width = max(1, round(span * raw_fs))
    block = raw.window(max(0, n - width), n)
    if block.shape[1] != len(persons):
        block = np.full((0, len(persons)), np.nan)
    finite = np.isfinite(block)
    rows = max(1, block.shape[0])
    received = finite.sum(axis=0) / rows
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(np.where(finite, block, -np.inf), axis=0) - np.nanmin(
            np.where(finite, block, np.inf), axis=0
        )
    flat = (finite.sum(axis=0) >= 2) & ~(spread > 0)
    return {
        "person": list(persons),
        "status": [status.get(p, "live") for p in persons],
        "received": [round(float(v), 3) for v in received],
        "flat": [bool(v) for v in flat],
        "reason": [reasons.get(p, "") for p in persons],
        "late": [int(v) for v in grid.late[: len(persons)]],
        "duplicate": [int(v) for v in grid.duplicate[: len(persons)]],
    }
