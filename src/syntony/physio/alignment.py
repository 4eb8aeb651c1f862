"""Two sessions on one time base: the span they share, cut to equal length.

Pseudo-groups mix members of two sessions who heard the same stimulus (time since the start of
the same piece) in different rooms. :func:`align_sessions` puts both sessions' feature series on
the span they share, and says where that span starts in the first session, so that per-window
results of the two can be laid side by side. :func:`check_overlap` refuses a shared span too
short to stand for the recording analysed (the test would then speak of a small part of it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xarray as xr

from syntony.errors import InputError, ParameterError

__all__ = ["MIN_OVERLAP", "MIN_WINDOWS", "AlignedSessions", "align_sessions", "check_overlap"]

#: Default smallest share of the analysed recording the two sessions must share.
MIN_OVERLAP = 0.5
#: Smallest number of synchrony windows in the shared span (unless ``min_overlap=0``).
MIN_WINDOWS = 3


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
    fs : float
        Sampling rate (Hz).
    n_first, n_second : int
        Samples of each session's whole recording.
    """

    x: np.ndarray
    other: np.ndarray
    offset: int
    fs: float = 1.0
    n_first: int = 0
    n_second: int = 0

    @property
    def overlap(self) -> float:
        """Seconds both sessions share (the span the pseudo-groups use)."""
        return len(self.x) / self.fs

    @property
    def fraction(self) -> float:
        """The shared span as a share of the first (analysed) session's recording."""
        return len(self.x) / self.n_first if self.n_first else float("nan")

    def describe(self) -> str:
        """One sentence on the span used, for the notes of a result."""
        return (
            f"pseudo-groups use the {self.overlap:g} s both sessions share: "
            f"{self.fraction:.0%} of this recording ({self.n_first / self.fs:g} s) and "
            f"{len(self.x) / self.n_second:.0%} of the other ({self.n_second / self.fs:g} s)"
        )


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
        ``(x, other, offset, fs, n_first, n_second)``.

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
            f"the two sessions do not overlap in time ({float(a.time[0]):g}-"
            f"{float(a.time[-1]):g} s and {float(b.time[0]):g}-{float(b.time[-1]):g} s)",
            source=b.attrs.get("source") or None,
        )
    half = 0.5 / fs_a
    span = slice(start - half, stop + half)
    xa = a[variable].transpose("time", "person").sel(time=span).to_numpy()
    xb = b[variable].transpose("time", "person").sel(time=span).to_numpy()
    n = min(len(xa), len(xb))
    offset = round((start - float(a.time[0])) * fs_a)
    return AlignedSessions(
        np.asarray(xa[:n], float),
        np.asarray(xb[:n], float),
        int(offset),
        fs_a,
        int(a.sizes["time"]),
        int(b.sizes["time"]),
    )


def check_overlap(
    aligned: AlignedSessions,
    min_overlap: float,
    *,
    window: int | None = None,
    step: int | None = None,
    max_lag: int = 0,
    source: str | None = None,
) -> None:
    """Refuse a shared span below ``min_overlap`` of the analysed recording.

    With ``window``/``step`` (samples), the span must also hold :data:`MIN_WINDOWS` synchrony
    windows. ``min_overlap = 0`` accepts any overlap (the windows rule included).
    """
    if not 0.0 <= min_overlap <= 1.0:
        raise ParameterError("min_overlap", "a share of the recording in [0, 1]", min_overlap)
    if min_overlap == 0.0:
        return
    if aligned.fraction < min_overlap:
        raise InputError(
            f"the other session shares only {aligned.overlap:g} s with this recording "
            f"({aligned.fraction:.0%} of its {aligned.n_first / aligned.fs:g} s; at least "
            f"{min_overlap:.0%} is required); pass a lower --min-overlap (min_overlap=), 0 to "
            "accept any overlap",
            source=source,
        )
    if window is not None and step is not None:
        n_windows = (len(aligned.x) - window - 2 * max_lag) // step + 1
        if n_windows < MIN_WINDOWS:
            raise InputError(
                f"the {aligned.overlap:g} s both sessions share hold {max(n_windows, 0)} "
                f"synchrony window(s); at least {MIN_WINDOWS} are needed (shorter --window, or "
                "--min-overlap 0 to accept it)",
                source=source,
            )
