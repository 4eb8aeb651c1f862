"""Is this what the feature claims it is? Physiological plausibility of extracted features.

A feature extractor finds *something* in almost any signal: R peaks in a breathing belt, breaths
in an ECG. What it finds is checked against human physiology before the analysis goes on:

* the median rate of the events (beats, breaths) lies in the human range (:data:`HEART_RATE`,
  :data:`BREATHING_RATE`, per minute);
* most intervals between successive events are plausible (at least :data:`MIN_VALID`);
* for the ECG, R peaks stand out from the rest of the trace (:data:`MIN_R_PROMINENCE`);
* for EDA recorded in microsiemens, the tonic level lies in the human range (:data:`EDA_LEVEL`).

A person failing these is left out with the reason; when most people fail,
:func:`likely_signal` tries the other extractors on a few of them and names the one whose
findings are plausible, so that the error can suggest the right ``--signal``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = [
    "BREATHING_RATE",
    "EDA_LEVEL",
    "HEART_RATE",
    "MIN_R_PROMINENCE",
    "MIN_VALID",
    "event_reason",
    "level_reason",
    "likely_signal",
    "r_prominence",
]

#: Human heart rates (beats per minute) accepted, from deep bradycardia to maximal exercise.
HEART_RATE = (30.0, 220.0)
#: Human breathing rates (breaths per minute) accepted, from slow paced breathing to panting.
BREATHING_RATE = (3.0, 50.0)
#: Share of inter-event intervals that must lie in the range for a person to count as valid.
MIN_VALID = 0.5
#: R peaks must rise this many robust standard deviations above the cleaned ECG's median.
MIN_R_PROMINENCE = 3.0
#: Tonic skin conductance (microsiemens) accepted when the recording's units say microsiemens.
EDA_LEVEL = (0.0, 100.0)
_MICROSIEMENS = {"us", "µs", "μs", "microsiemens", "micro siemens", "usiemens"}


def event_reason(
    what: str,
    unit: str,
    rate_range: tuple[float, float],
    intervals: np.ndarray,
    *,
    prominence: float | None = None,
) -> str | None:
    """Why a person's events (beats, breaths) are not physiological, or None when they are.

    Parameters
    ----------
    what : str
        The quantity in messages ("heart rate", "breathing rate").
    unit : str
        Its unit ("beats/min").
    rate_range : (low, high)
        The human range, per minute.
    intervals : ndarray
        Seconds between successive events (within the stretches analysed).
    prominence : float, optional
        R-peak height in robust standard deviations (ECG only).
    """
    intervals = np.asarray(intervals, float)
    intervals = intervals[np.isfinite(intervals) & (intervals > 0)]
    low, high = rate_range
    events = unit.split("/")[0]
    if intervals.size < 2:
        return f"fewer than 3 {events} found, so no {what}"
    rates = 60.0 / intervals
    median = float(np.median(rates))
    valid = float(np.mean((rates >= low) & (rates <= high)))
    if not low <= median <= high:
        return f"{what} of {median:.3g} {unit} lies outside the human range {low:g}-{high:g}"
    if valid < MIN_VALID:
        return (
            f"only {valid:.0%} of {events} at plausible intervals ({low:g}-{high:g} {unit}; "
            f"at least {MIN_VALID:.0%} needed)"
        )
    if prominence is not None and not prominence >= MIN_R_PROMINENCE:
        return (
            f"R peaks only {prominence:.2g} robust standard deviations above the trace "
            f"(an ECG's stand out by at least {MIN_R_PROMINENCE:g})"
        )
    return None


def r_prominence(clean: np.ndarray, peaks: np.ndarray) -> float:
    """Median R-peak height above the trace's median, in robust standard deviations."""
    clean = np.asarray(clean, float)
    peaks = np.asarray(peaks, int)
    peaks = peaks[(peaks >= 0) & (peaks < clean.size)]
    if peaks.size == 0:
        return float("nan")
    centre = np.median(clean)
    spread = 1.4826 * np.median(np.abs(clean - centre))
    if not spread > 0:
        return float("nan")
    return float((np.median(clean[peaks]) - centre) / spread)


def level_reason(level: float, units: str) -> str | None:
    """Why a tonic skin-conductance level is not human (only checked in microsiemens)."""
    if units.strip().lower() not in _MICROSIEMENS or not np.isfinite(level):
        return None
    low, high = EDA_LEVEL
    if not low < level <= high:
        return (
            f"tonic skin conductance of {level:.3g} uS lies outside the human range "
            f"{low:g}-{high:g} uS"
        )
    return None


def likely_signal(
    signals: Sequence[np.ndarray], fs: float, *, tried: str, seconds: float = 120.0
) -> tuple[str, int, int] | None:
    """Which other feature finds plausible events in these raw signals.

    Runs the ECG and respiration extractors (except ``tried``) on up to five persons' first
    ``seconds`` of finite samples. Returns ``(signal name, persons plausible, persons tried)``
    for the first one plausible for most of them, or None.
    """
    from syntony.physio.features import ECG, Respiration

    pieces = []
    for x in list(signals)[:5]:
        x = np.asarray(x, float)
        x = x[np.isfinite(x)][: int(seconds * fs)]
        if x.size >= 4 and np.std(x) > 0:
            pieces.append(x)
    if not pieces:
        return None
    for name, feature in (("respiration", Respiration()), ("ecg", ECG())):
        if name == tried:
            continue
        good = 0
        for x in pieces:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    parts = feature(x, fs)
            except Exception:  # NeuroKit2 fails on unusable signals
                continue
            if feature.implausible(parts) is None:
                good += 1
        if good * 2 > len(pieces):
            return name, good, len(pieces)
    return None
