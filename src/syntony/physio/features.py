"""Physiological features per person with NeuroKit2, on a common time grid, gaps made explicit.

A feature is an object (``Respiration()``, ``ECG()``, ``EDA()``, ``Raw()``) that turns one
person's raw 1-D signal at ``fs`` Hz into named series at the same rate. :func:`extract_features`
applies it to every person of a group recording, processes each contiguous stretch of valid
samples separately (NeuroKit2 cannot see NaN), resamples to a common rate and records what was
interpolated, left missing or excluded in ``attrs``.

The steps it applies to one column (:func:`runs`, :func:`bridge_gaps`,
:func:`stretch_features`, :func:`to_grid`) are public so that the live path
(:mod:`syntony.live.features`) treats each buffer exactly as this module treats a recording;
they are not part of the package's API.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np
import xarray as xr
from scipy.signal import hilbert

from syntony._validate import check_nonnegative, check_positive
from syntony.errors import InputError
from syntony.physio.plausibility import (
    BREATHING_RATE,
    HEART_RATE,
    event_reason,
    level_reason,
    likely_signal,
    r_prominence,
)

__all__ = [
    "ECG",
    "EDA",
    "Feature",
    "Raw",
    "Respiration",
    "SignalExclusionWarning",
    "clean_gaps",
    "extract_features",
]


class SignalExclusionWarning(UserWarning):
    """A person was left out of the analysis because their signal had no usable samples."""


class Feature(Protocol):
    """What :func:`extract_features` needs from a feature strategy."""

    name: str
    units: str
    min_duration: float

    def __call__(self, signal: np.ndarray, fs: float) -> dict[str, np.ndarray]: ...


def _phase(x: np.ndarray) -> np.ndarray:
    return np.angle(hilbert(x - np.mean(x)))


@dataclass(frozen=True)
class Respiration:
    """Breathing rate (breaths/min) and breathing phase (rad) from a respiration wave.

    What is found is checked (:mod:`syntony.physio.plausibility`): a person whose breaths come
    at rates outside ``rate_range`` (per minute), or mostly at implausible intervals, is left
    out with the reason.
    """

    method: str = "khodadad2018"
    name: str = "breathing_rate"
    units: str = "breaths/min"
    min_duration: float = 20.0
    rate_range: tuple[float, float] = BREATHING_RATE

    def __call__(self, signal: np.ndarray, fs: float) -> dict[str, np.ndarray]:
        import neurokit2 as nk

        clean = nk.rsp_clean(signal, sampling_rate=fs, method=self.method)
        _, info = nk.rsp_peaks(clean, sampling_rate=fs, method=self.method)
        troughs = np.asarray(info["RSP_Troughs"], dtype=np.int64)
        intervals = np.diff(troughs) / fs
        if troughs.size < 3:
            rate = np.full(len(signal), np.nan)
        else:
            rate = nk.rsp_rate(clean, troughs=troughs, sampling_rate=fs, method="trough")
        return {
            self.name: np.asarray(rate, float),
            "phase": _phase(np.asarray(clean, float)),
            "_intervals": intervals,
        }

    def implausible(self, parts: dict[str, np.ndarray], units: str = "") -> str | None:
        """Why the breaths found are not human breathing (None when they are)."""
        return event_reason(
            "breathing rate", "breaths/min", self.rate_range, parts.get("_intervals", [])
        )


@dataclass(frozen=True)
class ECG:
    """Heart rate (beats/min) from an ECG.

    A person whose R peaks come at rates outside ``rate_range`` (per minute), mostly at
    implausible intervals, or barely above the rest of the trace is left out with the reason.
    """

    method: str = "neurokit"
    name: str = "heart_rate"
    units: str = "beats/min"
    min_duration: float = 10.0
    rate_range: tuple[float, float] = HEART_RATE

    def __call__(self, signal: np.ndarray, fs: float) -> dict[str, np.ndarray]:
        import neurokit2 as nk

        clean = nk.ecg_clean(signal, sampling_rate=fs, method=self.method)
        _, info = nk.ecg_peaks(clean, sampling_rate=fs, method=self.method)
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
        if peaks.size < 3:
            rate = np.full(len(signal), np.nan)
        else:
            rate = nk.ecg_rate(peaks, sampling_rate=fs, desired_length=len(signal))
        return {
            self.name: np.asarray(rate, float),
            "_intervals": np.diff(peaks) / fs,
            "_prominence": np.array([r_prominence(clean, peaks)]),
        }

    def implausible(self, parts: dict[str, np.ndarray], units: str = "") -> str | None:
        """Why the beats found are not a human heartbeat (None when they are)."""
        prominence = np.asarray(parts.get("_prominence", [np.nan]), float)
        return event_reason(
            "heart rate",
            "beats/min",
            self.rate_range,
            parts.get("_intervals", []),
            prominence=float(np.nanmedian(prominence)) if np.isfinite(prominence).any() else None,
        )


@dataclass(frozen=True)
class EDA:
    """Tonic skin-conductance level (the slow component of EDA).

    When the recording's units are microsiemens, a tonic level outside the human range is
    refused for that person.
    """

    name: str = "eda_tonic"
    units: str = "uS"
    min_duration: float = 10.0

    def __call__(self, signal: np.ndarray, fs: float) -> dict[str, np.ndarray]:
        import neurokit2 as nk

        clean = nk.eda_clean(signal, sampling_rate=fs)
        parts = nk.eda_phasic(clean, sampling_rate=fs, method="highpass")
        tonic = parts["EDA_Tonic"].to_numpy(dtype=float)
        return {self.name: tonic, "_level": np.array([np.nanmedian(tonic)])}

    def implausible(self, parts: dict[str, np.ndarray], units: str = "") -> str | None:
        """Why the tonic level is not human skin conductance (checked in microsiemens only)."""
        level = np.asarray(parts.get("_level", [np.nan]), float)
        return level_reason(
            float(np.nanmedian(level)) if np.isfinite(level).any() else np.nan, units
        )


@dataclass(frozen=True)
class Raw:
    """The signal itself (already a feature, e.g. a rate series), plus its Hilbert phase."""

    name: str = "raw"
    units: str = "a.u."
    min_duration: float = 0.0

    def __call__(self, signal: np.ndarray, fs: float) -> dict[str, np.ndarray]:
        return {self.name: np.asarray(signal, float), "phase": _phase(signal)}


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start/stop indices of the runs of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def bridge_gaps(col: np.ndarray, max_gap: float, fs: float) -> tuple[np.ndarray, int, int]:
    """One column's gaps: those of at most ``max_gap`` seconds with samples on both sides are
    interpolated linearly, the others (and infinite values) become NaN.

    Returns the column (``col`` itself when it has no gap or no valid sample, else a copy) and
    the numbers of samples interpolated and left missing (0, 0 when it has no valid sample).
    """
    bad = ~np.isfinite(col)
    if not bad.any() or bad.all():
        return col, 0, 0
    col = col.copy()
    idx = np.arange(len(col))
    filled = missing = 0
    for a, b in runs(bad):
        # Gaps touching the ends cannot be interpolated and stay missing.
        if (b - a) / fs <= max_gap and a > 0 and b < len(col):
            col[a:b] = np.interp(idx[a:b], idx[~bad], col[~bad])
            filled += b - a
        else:
            col[a:b] = np.nan
            missing += b - a
    return col, filled, missing


class Stretches(NamedTuple):
    """A feature computed over the valid stretches of one column (:func:`stretch_features`)."""

    series: dict[str, np.ndarray]  # name -> the column's length, NaN outside the stretches
    private: dict[str, np.ndarray]  # the "_"-prefixed outputs of every stretch, concatenated
    failures: list[tuple[int, int, Exception]]  # start, stop and error of failed stretches


def stretch_features(feature: Feature, col: np.ndarray, fs: float) -> Stretches:
    """``feature`` on each run of finite samples of ``col`` long enough for it (at least
    ``feature.min_duration`` seconds and 4 samples), NeuroKit2's warnings silenced."""
    min_len = max(int(np.ceil(feature.min_duration * fs)), 4)
    series: dict[str, np.ndarray] = {}
    private: dict[str, list[np.ndarray]] = {}
    failures: list[tuple[int, int, Exception]] = []
    for a, b in runs(np.isfinite(col)):
        if b - a < min_len:
            continue
        try:
            with warnings.catch_warnings():
                # NeuroKit2's own warnings ("too few peaks") become the caller's reasons.
                warnings.simplefilter("ignore")
                parts = dict(feature(col[a:b], fs))
        except Exception as exc:  # NeuroKit2 raises bare errors on bad stretches
            failures.append((a, b, exc))
            continue
        for key in [k for k in parts if k.startswith("_")]:
            private.setdefault(key, []).append(np.atleast_1d(parts.pop(key)))
        for key, val in parts.items():
            full = series.setdefault(key, np.full(len(col), np.nan))
            full[a:b] = val
    merged = {k: np.concatenate(v) for k, v in private.items()}
    return Stretches(series, merged, failures)


def clean_gaps(ds: xr.Dataset, *, max_gap: float = 1.0, variable: str = "signal") -> xr.Dataset:
    """Interpolate short NaN gaps, keep long ones, and exclude persons with no valid signal.

    Parameters
    ----------
    ds : Dataset
        With ``variable`` of dims (time, person[, channel]) and ``attrs["sampling_rate"]``.
    max_gap : float
        Longest gap (seconds) bridged by linear interpolation; longer gaps stay NaN.

    Returns
    -------
    Dataset
        With ``attrs["gaps"]`` (JSON: per person and channel, samples interpolated and left
        missing), ``attrs["excluded"]`` (JSON list of persons dropped because every sample was
        missing or the signal was constant) and ``attrs["excluded_reasons"]`` (JSON object:
        person -> why). A :class:`SignalExclusionWarning` names each one.
    """
    max_gap = check_nonnegative("max_gap", max_gap)
    fs = float(ds.attrs["sampling_rate"])
    data = ds[variable].transpose("time", "person", ...)
    values = data.to_numpy().copy()
    flat = values.reshape(values.shape[0], values.shape[1], -1)
    persons = [str(p) for p in ds.person.values]
    report: dict[str, dict[str, int]] = {}
    excluded: list[str] = []
    reasons: dict[str, str] = {}
    for p, person in enumerate(persons):
        usable = False
        for c in range(flat.shape[2]):
            if not np.isfinite(flat[:, p, c]).any():
                continue
            col, filled, missing = bridge_gaps(flat[:, p, c], max_gap, fs)
            flat[:, p, c] = col
            if np.nanstd(col) > 0:
                usable = True
            if filled or missing:
                report[f"{person}/{c}"] = {"interpolated": filled, "missing": missing}
        if not usable:
            excluded.append(person)
            reasons[person] = "no valid (non-missing, non-constant) signal"
            warnings.warn(
                f"person {person!r} excluded: {reasons[person]}",
                SignalExclusionWarning,
                stacklevel=2,
            )
    if len(excluded) == len(persons):
        raise InputError(
            "no person has a valid signal", source=ds.attrs.get("source"), field=variable
        )
    out = ds.copy()
    out[variable] = (data.dims, values)
    out = out.sel(person=[p for p in ds.person.values if str(p) not in excluded])
    previous = json.loads(ds.attrs.get("excluded", "[]"))
    previous_reasons = json.loads(ds.attrs.get("excluded_reasons", "{}"))
    out.attrs = {
        **ds.attrs,
        "gaps": json.dumps(report),
        "excluded": json.dumps(previous + excluded),
        "excluded_reasons": json.dumps({**previous_reasons, **reasons}),
    }
    return out


def extract_features(
    ds: xr.Dataset,
    feature: Feature,
    *,
    channel: str | None = None,
    fs: float = 4.0,
    max_gap: float = 1.0,
) -> xr.Dataset:
    """Compute ``feature`` for every person of a group recording on a common ``fs`` Hz grid.

    Parameters
    ----------
    ds : Dataset
        From :mod:`syntony.physio.io` (variable ``signal`` (time, person, channel)).
    feature : Feature
        E.g. ``Respiration()``, ``ECG()``, ``EDA()`` or ``Raw()``.
    channel : str, optional
        Which channel to use; required when the recording has more than one.
    fs : float, default 4
        Output sampling rate (Hz).
    max_gap : float, default 1
        NaN gaps up to this length (s) are interpolated before processing; longer ones split the
        signal into stretches processed separately, and stay NaN in the output.

    Returns
    -------
    Dataset
        Variables ``feature.name`` (time, person) and, when the feature has one, ``phase``;
        attrs ``sampling_rate``, ``units``, ``gaps``, ``excluded`` (JSON list) and
        ``excluded_reasons`` (JSON object: person -> why they were left out).
    """
    fs = check_positive("fs", fs)
    src_fs = float(ds.attrs["sampling_rate"])
    channels = [str(c) for c in ds.channel.values]
    if channel is None:
        if len(channels) > 1:
            raise InputError(
                f"the recording has channels {channels}; choose one (channel=, --channel)",
                source=ds.attrs.get("source"),
            )
        channel = channels[0]
    if channel not in channels:
        raise InputError(
            f"no channel {channel!r} (have {channels})",
            source=ds.attrs.get("source"),
            field=channel,
        )
    one = ds.sel(channel=[channel])
    one = clean_gaps(one, max_gap=max_gap)
    raw = one["signal"].isel(channel=0).transpose("time", "person").to_numpy()
    t = one["time"].to_numpy()
    n_out = int(np.floor((t[-1] - t[0]) * fs + 1e-9)) + 1
    grid = t[0] + np.arange(n_out) / fs
    outputs: dict[str, np.ndarray] = {}
    excluded = json.loads(one.attrs["excluded"])
    reasons = json.loads(one.attrs["excluded_reasons"])
    kept = []
    check = getattr(feature, "implausible", None)
    units = _channel_units(one, channel)
    failed: dict[str, str] = {}
    for p, person in enumerate(str(p) for p in one.person.values):
        series, private, failures = stretch_features(feature, raw[:, p], src_fs)
        reason = None
        if check is not None and (series or private):
            reason = check(private, units)
        if reason is None and (not series or not np.isfinite(series[feature.name]).any()):
            reason = (
                "; ".join(
                    f"{feature.name} failed on {t[a]:g}-{t[b - 1]:g} s ({_short(exc)})"
                    for a, b, exc in failures
                )
                if failures
                else f"no stretch of at least {feature.min_duration:g} s for {feature.name}"
            )
        if reason is not None:
            excluded.append(person)
            reasons[person] = failed[person] = reason
            warnings.warn(
                f"person {person!r} excluded: {reason}", SignalExclusionWarning, stacklevel=2
            )
            continue
        kept.append(person)
        for key, val in series.items():
            outputs.setdefault(key, []).append(
                to_grid(t, val, grid, src_fs, fs, angle=key == "phase")
            )  # type: ignore[union-attr]
    tried = one.sizes["person"]
    if failed and (len(failed) * 2 > tried or not kept):
        _refuse_most(one, raw, src_fs, feature, failed, tried)
    if not kept:
        raise InputError(
            f"no person has a usable {feature.name} signal", source=ds.attrs.get("source")
        )
    data_vars = {
        key: (
            ("time", "person"),
            np.column_stack(cols),
            {"units": feature.units if key == feature.name else "rad"},
        )
        for key, cols in outputs.items()
    }
    out = xr.Dataset(
        data_vars,
        coords={"time": ("time", grid, {"units": "s"}), "person": kept},
        attrs={
            "sampling_rate": fs,
            "units": feature.units,
            "feature": feature.name,
            "channel": channel,
            "source": str(ds.attrs.get("source", "")),
            "gaps": one.attrs["gaps"],
            "missing_values": one.attrs.get("missing_values", "{}"),
            "excluded": json.dumps(excluded),
            "excluded_reasons": json.dumps(reasons),
        },
    )
    return out


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _channel_units(ds: xr.Dataset, channel: str) -> str:
    if "units" in ds.coords and "channel" in ds["units"].dims:
        return str(ds["units"].sel(channel=channel).values.ravel()[0])
    return str(ds.attrs.get("units", ""))


def _source_label(ds: xr.Dataset) -> str | None:
    source = str(ds.attrs.get("source") or "")
    if not source:
        return None
    parts = source.split(";")
    return parts[0] + (f" (and {len(parts) - 1} more files)" if len(parts) > 1 else "")


def _refuse_most(
    ds: xr.Dataset,
    raw: np.ndarray,
    fs: float,
    feature: Feature,
    failed: dict[str, str],
    tried: int,
) -> None:
    """Stop: most persons give no plausible feature; say what the recording looks like."""
    person, reason = next(iter(failed.items()))
    guess = likely_signal(
        [raw[:, k] for k in range(raw.shape[1])], fs, tried=type(feature).__name__.lower()
    )
    if guess is not None:
        name, good, n = guess
        label = "ECG" if name == "ecg" else name
        hint = (
            f"the signals look like {label} ({label} features are plausible for {good} of "
            f"{n} persons tried): use --signal {name}"
        )
    else:
        hint = (
            "the signals look like neither ECG nor respiration; check the --channel, or use "
            "--signal eda or raw for skin conductance or a series already computed"
        )
    raise InputError(
        f"{len(failed)} of {tried} persons give no plausible {feature.name} "
        f"(e.g. {person!r}: {reason}); {hint}",
        source=_source_label(ds),
    )


def to_grid(
    t: np.ndarray,
    values: np.ndarray,
    grid: np.ndarray,
    src_fs: float,
    fs: float,
    *,
    angle: bool,
    hold_start: bool = True,
    hold_end: bool = True,
) -> np.ndarray:
    """Resample one series to ``grid`` (box-averaged when downsampling); NaN stays NaN.

    Where the box average does not fit (the first and last half-width of the series) the
    nearest averaged value is held, or with ``hold_start`` / ``hold_end`` False the samples are
    left missing (the live path's buffers, whose edges are not the recording's).
    """
    if angle:
        # Interpolate the unit phasor, not the wrapped angle.
        kw = {"angle": False, "hold_start": hold_start, "hold_end": hold_end}
        re = to_grid(t, np.cos(values), grid, src_fs, fs, **kw)
        im = to_grid(t, np.sin(values), grid, src_fs, fs, **kw)
        return np.arctan2(im, re)
    if fs < src_fs:
        # An odd width keeps the moving average centred (no half-sample shift).
        width = max(1, round(src_fs / fs)) | 1
        kernel = np.ones(width) / width
        # NaN-aware moving average: a bin with any NaN becomes NaN (gaps are not bridged).
        values = np.convolve(values, kernel, mode="same")
        half = width // 2
        first = values[half] if hold_start and np.isfinite(values[half]) else np.nan
        values[:half] = first
        last = values[len(values) - half - 1] if hold_end else np.nan
        values[len(values) - half :] = last
    return np.interp(grid, t, values, left=np.nan, right=np.nan)
