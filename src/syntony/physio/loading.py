"""From a recording (a file, a folder or a Dataset) to features on a common grid, in one call.

:func:`load_features` is the first step of every physio analysis: it reads the recording when
given a path, computes the feature (breathing rate, heart rate, skin conductance or the raw
series) for every person, and returns the notes of what was left out and why.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import xarray as xr

from syntony.errors import InputError, ParameterError
from syntony.physio.features import (
    ECG,
    EDA,
    Feature,
    Raw,
    Respiration,
    SignalExclusionWarning,
    extract_features,
)

__all__ = [
    "SIGNALS",
    "Recording",
    "describe_recording",
    "exclusions",
    "feature_for",
    "load_features",
    "missing_notes",
]

#: Names of the features a recording can be analysed by.
SIGNALS = ("ecg", "respiration", "eda", "raw")
_FEATURES = {"ecg": ECG, "respiration": Respiration, "eda": EDA, "raw": Raw}

#: What the analyses accept as a recording: a path (file or BIDS folder) or a Dataset.
Recording = str | os.PathLike[str] | xr.Dataset


def feature_for(signal: str | Feature) -> tuple[Feature, str]:
    """The feature strategy for ``signal`` and its short name.

    ``signal`` is one of :data:`SIGNALS` or a feature object (e.g. ``Respiration(method=...)``).
    """
    if isinstance(signal, str):
        key = signal.lower()
        if key not in _FEATURES:
            raise ParameterError("signal", f"one of {', '.join(SIGNALS)}", signal)
        return _FEATURES[key](), key
    if not callable(signal) or not hasattr(signal, "name"):
        raise ParameterError("signal", f"one of {', '.join(SIGNALS)} or a feature object", signal)
    return signal, type(signal).__name__.lower()


def describe_recording(recording: Recording | None) -> str | None:
    """A short, JSON-able description of a recording argument (its path, or its source)."""
    if recording is None:
        return None
    if isinstance(recording, xr.Dataset):
        source = recording.attrs.get("source")
        return f"<Dataset from {source}>" if source else "<Dataset>"
    return str(recording)


def _is_features(ds: xr.Dataset) -> bool:
    name = ds.attrs.get("feature")
    return name is not None and name in ds and "signal" not in ds


def load_features(
    recording: Recording,
    signal: str | Feature = "raw",
    *,
    fs: float = 4.0,
    channel: str | None = None,
    resample: float | None = None,
) -> tuple[xr.Dataset, list[str]]:
    """Features of every person of a group recording, and notes on who was left out and why.

    Parameters
    ----------
    recording : path or Dataset
        A file or BIDS folder (read with :func:`syntony.physio.io.read_recording`), a Dataset
        from one of the readers (variable ``signal`` (time, person, channel)), or features
        already computed (returned as they are when their rate is ``fs``).
    signal : str or Feature
        ``"respiration"``, ``"ecg"``, ``"eda"``, ``"raw"`` or a feature object. A wide or long
        table's single channel is named after it.
    fs : float
        Rate of the features (Hz).
    channel : str, optional
        The channel to use when the recording has several (BIDS files name theirs).
    resample : float, optional
        Common raw rate (Hz) for BIDS files recorded at different rates (or for a Dataset).

    Returns
    -------
    features : Dataset
        From :func:`syntony.physio.features.extract_features`; ``attrs["excluded_reasons"]``
        says why each excluded person was left out.
    notes : list of str
        Every exclusion and every stretch the feature could not be computed on.
    """
    feature, label = feature_for(signal)
    if isinstance(recording, xr.Dataset):
        if _is_features(recording):
            rate = float(recording.attrs.get("sampling_rate", float("nan")))
            if abs(rate - fs) > 1e-9:
                raise ParameterError("fs", f"{rate:g} Hz, the rate of the features given", fs)
            return recording, _exclusion_notes(recording) + missing_notes(recording)
        if "signal" not in recording:
            raise InputError(
                "expected a recording (variable 'signal') or features (attrs 'feature')",
                source=recording.attrs.get("source") or None,
            )
        ds = recording
        if resample is not None:
            from syntony.physio.io import resample as resample_to

            ds = resample_to(ds, resample)
    else:
        from syntony.physio.io import read_recording

        path = Path(recording)
        bids = path.is_dir() or path.name.endswith(("_physio.tsv.gz", "_physio.tsv"))
        # BIDS files name their own channels; a wide or long table's one channel gets the name
        # of the signal.
        kwargs: dict[str, Any] = {"resample_to": resample} if bids else {"channel": label}
        ds = read_recording(path, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SignalExclusionWarning)
        feats = extract_features(ds, feature, channel=channel, fs=fs)
    for w in caught:
        if not issubclass(w.category, SignalExclusionWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    notes = [str(w.message) for w in caught if issubclass(w.category, SignalExclusionWarning)]
    return feats, notes + missing_notes(feats)


def exclusions(features: xr.Dataset) -> dict[str, str]:
    """``{person: reason}`` for everyone the features left out."""
    reasons = json.loads(features.attrs.get("excluded_reasons", "{}"))
    names = json.loads(features.attrs.get("excluded", "[]"))
    return {str(p): str(reasons.get(p, "excluded")) for p in names}


def missing_notes(features: xr.Dataset) -> list[str]:
    """One note per person with missing samples: how many the file left empty or marked n/a,
    how many were interpolated across short gaps and how many stayed missing."""
    in_file = json.loads(features.attrs.get("missing_values", "{}"))
    gaps: dict[str, dict[str, int]] = {}
    for key, counts in json.loads(features.attrs.get("gaps", "{}")).items():
        person = key.rsplit("/", 1)[0]
        total = gaps.setdefault(person, {"interpolated": 0, "missing": 0})
        for name in total:
            total[name] += int(counts.get(name, 0))
    excluded = set(exclusions(features))
    notes = []
    for person in dict.fromkeys([*in_file, *gaps]):
        if person in excluded:
            continue
        parts = []
        if in_file.get(person):
            parts.append(f"{in_file[person]} empty or n/a value(s) in the file")
        counts = gaps.get(person, {})
        if counts.get("interpolated"):
            parts.append(f"{counts['interpolated']} sample(s) interpolated across short gaps")
        if counts.get("missing"):
            parts.append(f"{counts['missing']} sample(s) left missing (gaps too long to fill)")
        if parts:
            notes.append(f"person {person!r}: " + ", ".join(parts))
    return notes


def _exclusion_notes(features: xr.Dataset) -> list[str]:
    return [f"person {p!r} excluded: {why}" for p, why in exclusions(features).items()]
