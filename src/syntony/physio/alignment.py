"""Two sessions on one time base: the span they share, cut to equal length.

Pseudo-groups mix members of two sessions who heard the same stimulus (time since the start of
the same piece) in different rooms. :func:`align_sessions` puts both sessions' feature series on
the span they share, and says where that span starts in the first session, so that per-window
results of the two can be laid side by side.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xarray as xr

from syntony.errors import InputError

__all__ = ["AlignedSessions", "align_sessions"]


class AlignedSessions(NamedTuple):
    """The two sessions on their common span.

    Attributes
    ----------
    x : ndarray (T, P)
        The first session's series.
    other : ndarray (T, Q)
        The second session's series, same length and grid as ``x``.
    offset : int
        Samples of the first session before the common span starts.
    """

    x: np.ndarray
    other: np.ndarray
    offset: int


def align_sessions(a: xr.Dataset, b: xr.Dataset, variable: str | None = None) -> AlignedSessions:
    """Cut two feature Datasets (time, person) to the time span they share.

    Parameters
    ----------
    a, b : Dataset
        Features of two sessions (e.g. from :func:`syntony.physio.features.extract_features`),
        with ``attrs["sampling_rate"]`` and a ``time`` coordinate in seconds on the same time
        base.
    variable : str, optional
        The variable to align; defaults to ``a.attrs["feature"]``.

    Returns
    -------
    AlignedSessions
        ``(x, other, offset)``.

    Raises
    ------
    InputError
        The sessions have different rates, lack the variable, or do not overlap in time.
    """
    variable = variable or a.attrs.get("feature")
    for ds, label in ((a, "first"), (b, "second")):
        if variable is None or variable not in ds:
            raise InputError(
                f"the {label} session has no variable {variable!r}",
                source=ds.attrs.get("source") or None,
                field=str(variable),
            )
    fs_a, fs_b = float(a.attrs["sampling_rate"]), float(b.attrs["sampling_rate"])
    if abs(fs_a - fs_b) > 1e-9:
        raise InputError(
            f"sessions at {fs_a:g} Hz and {fs_b:g} Hz; put both on the same grid (fs=, --fs)",
            source=b.attrs.get("source") or None,
        )
    start = max(float(a.time[0]), float(b.time[0]))
    stop = min(float(a.time[-1]), float(b.time[-1]))
    if stop <= start:
        raise InputError(
            "the two sessions do not overlap in time", source=b.attrs.get("source") or None
        )
    half = 0.5 / fs_a
    span = slice(start - half, stop + half)
    xa = a[variable].transpose("time", "person").sel(time=span).to_numpy()
    xb = b[variable].transpose("time", "person").sel(time=span).to_numpy()
    n = min(len(xa), len(xb))
    offset = round((start - float(a.time[0])) * fs_a)
    return AlignedSessions(np.asarray(xa[:n], float), np.asarray(xb[:n], float), int(offset))
