"""Features with NeuroKit2 on signals of known rate, gaps, and the real concert respiration."""

from __future__ import annotations

import json
import warnings

import neurokit2 as nk
import numpy as np
import pytest
import xarray as xr

from syntony.errors import InputError
from syntony.physio.features import (
    ECG,
    EDA,
    Raw,
    Respiration,
    SignalExclusionWarning,
    extract_features,
)
from syntony.physio.io import read_wide


def _group(signals, fs, channel="x"):
    values = np.column_stack(signals)[:, :, None]
    t = np.arange(values.shape[0]) / fs
    return xr.Dataset(
        {"signal": (("time", "person", "channel"), values)},
        coords={
            "time": t,
            "person": [f"p{k}" for k in range(values.shape[1])],
            "channel": [channel],
        },
        attrs={"sampling_rate": float(fs), "source": "synthetic"},
    )


def test_heart_rate_from_simulated_ecg():
    fs = 250
    ecg = [
        nk.ecg_simulate(duration=60, sampling_rate=fs, heart_rate=hr, random_state=k)
        for k, hr in enumerate((60, 80))
    ]
    out = extract_features(_group(ecg, fs), ECG(), fs=4.0)
    med = np.nanmedian(out["heart_rate"].values[20:-20], axis=0)
    np.testing.assert_allclose(med, [60, 80], atol=3)
    assert out.attrs["units"] == "beats/min" and out.attrs["sampling_rate"] == 4.0


def test_breathing_rate_and_phase_from_simulated_respiration():
    fs = 50
    rsp = [
        nk.rsp_simulate(duration=180, sampling_rate=fs, respiratory_rate=rr, random_state=k)
        for k, rr in enumerate((12, 18))
    ]
    out = extract_features(_group(rsp, fs), Respiration(), fs=4.0)
    med = np.nanmedian(out["breathing_rate"].values[40:-40], axis=0)
    np.testing.assert_allclose(med, [12, 18], atol=1.0)
    # Phase advances by about one cycle per breath: count the wraps.
    wraps = np.sum(np.diff(np.unwrap(out["phase"].values[:, 0])) > 0) / out.sizes["time"]
    assert wraps > 0.9
    cycles = (
        np.unwrap(out["phase"].values[:, 1])[-1] - np.unwrap(out["phase"].values[:, 1])[0]
    ) / (2 * np.pi)
    assert cycles == pytest.approx(18 * 3, rel=0.1)


def test_eda_tonic_follows_slow_level():
    fs = 50
    t = np.arange(0, 120, 1 / fs)
    level = 2 + t / 60  # 2 -> 4 uS
    phasic = sum(0.3 * np.exp(-(t - c) / 2) * (t >= c) for c in (20, 50, 90))
    out = extract_features(_group([level + phasic, 3 + 0 * t + phasic], fs), EDA(), fs=2.0)
    tonic = out["eda_tonic"].values[:, 0]
    ok = np.isfinite(tonic)
    assert (
        np.corrcoef(tonic[ok][20:-20], np.interp(out.time.values, t, level)[ok][20:-20])[0, 1] > 0.9
    )


def test_long_gap_splits_processing_and_is_reported():
    fs = 50
    rsp = nk.rsp_simulate(duration=200, sampling_rate=fs, respiratory_rate=15, random_state=3)
    gapped = rsp.copy()
    gapped[80 * fs : 100 * fs] = np.nan
    flat = np.full_like(rsp, np.nan)
    with pytest.warns(SignalExclusionWarning, match="'p2' excluded"):
        out = extract_features(_group([rsp, gapped, flat], fs), Respiration(), fs=4.0)
    assert list(out.person.values) == ["p0", "p1"]
    assert json.loads(out.attrs["excluded"]) == ["p2"]
    assert json.loads(out.attrs["gaps"])["p1/0"]["missing"] == 20 * fs
    rate = out["breathing_rate"].sel(person="p1").values
    tt = out.time.values
    assert np.isnan(rate[(tt > 81) & (tt < 99)]).all()
    assert np.nanmedian(rate[(tt > 120) & (tt < 180)]) == pytest.approx(15, abs=1.0)


def test_channel_choice_is_required_for_multichannel():
    ds = _group([np.random.default_rng(0).standard_normal(100)] * 2, 10)
    two = xr.concat([ds, ds.assign_coords(channel=["y"])], dim="channel")
    with pytest.raises(InputError, match="choose one"):
        extract_features(two, Raw())
    with pytest.raises(InputError, match="no channel 'z'"):
        extract_features(two, Raw(), channel="z")


def test_concert_breathing_rates_are_plausible(shared_data):
    ds = read_wide(
        shared_data / "concert_respiration" / "Case1_Saev_OtherResp.csv", channel="respiration"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = extract_features(ds, Respiration(), fs=4.0)
    assert out.sizes["person"] == 18
    med = np.nanmedian(out["breathing_rate"].values, axis=0)
    # Resting adult breathing: about 8-25 breaths/min; a seated audience sits in that range.
    assert np.all((med > 6) & (med < 30)), med
    assert 10 < np.median(med) < 22
