"""Checks shared by the live tests: a session's windows against the offline analysis."""

from __future__ import annotations

import warnings

import numpy as np

from syntony.live.result import LiveResult
from syntony.physio.synchrony import IdenticalSignalsWarning, SyncConfig, synchrony

#: Live windows must equal the offline windows of the recorded features to this (the issue's bar).
TOL = 1e-9


def offline_of(result: LiveResult):
    s = result.settings
    config = SyncConfig(window=s["window"], step=s["step"], max_lag=s["max_lag"], peak=s["peak"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdenticalSignalsWarning)
        return synchrony(result.features(), config)


def assert_windows_match(result: LiveResult) -> int:
    """Offline synchrony of the recorded feature series == the live windows (1e-9).

    Compares every window's group synchrony and Kuramoto order, and the peak correlation and
    lag of every pair in every window whose matrices were kept. Returns the number of windows.
    """
    off = offline_of(result)
    live = result.windows
    assert len(live) == off.sizes["window"], (len(live), off.sizes["window"])
    assert live["window"].tolist() == list(range(len(live)))
    np.testing.assert_allclose(live["time"], off["time"].to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(live["group"], off["group"].to_numpy(), rtol=0, atol=TOL)
    if "kuramoto" in off:
        np.testing.assert_allclose(live["kuramoto"], off["kuramoto"].to_numpy(), rtol=0, atol=TOL)
    mats = result.matrices()
    assert mats.sizes["window"] > 0
    wins = mats["window"].to_numpy()
    r_off = off["r"].to_numpy()[wins]
    r_live = mats["r"].to_numpy()
    np.testing.assert_array_equal(np.isnan(r_live), np.isnan(r_off))
    np.testing.assert_allclose(r_live, r_off, rtol=0, atol=TOL)
    lag_off = off["lag"].to_numpy()[wins]
    np.testing.assert_array_equal(mats["lag"].to_numpy(), lag_off)
    return len(live)
