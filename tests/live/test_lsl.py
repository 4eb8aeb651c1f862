"""Live sessions over real LSL streams (loopback only; see conftest.py), checked end to end."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _live_checks import assert_windows_match
from click.testing import CliRunner

from syntony.cli import app
from syntony.live.result import LiveResult
from syntony.physio.features import Raw, extract_features
from syntony.physio.io import read_recording

pytestmark = pytest.mark.slow


def test_liblsl_loads_the_loopback_only_configuration(tmp_path, lsl_available):
    """The configuration every LSL test uses is the one liblsl reads (a copy that logs it)."""
    from _lsl_isolation import run_isolated

    from syntony.live.lsl import LOCAL_CONFIG

    text = LOCAL_CONFIG.read_text()
    for line in ("ResolveScope = machine", "KnownPeers = {127.0.0.1}", "IPv6 = disable",
                 "ListenAddress = 127.0.0.1"):  # fmt: skip
        assert line in text
    loud = tmp_path / "lsl_api.cfg"
    loud.write_text(text.replace("level = -3", "level = 0"))
    code = (
        "import ctypes, pylsl\n"
        "o = pylsl.StreamOutlet(pylsl.StreamInfo('x', 'Probe', 1, 1.0, 'float32', 'probe'))\n"
        "ctypes.CDLL(None).fflush(None)\n"  # liblsl logs through C stdio
    )
    proc = run_isolated(["-c", code], config=loud, timeout=60)
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert f"Configuration loaded from {loud}" in proc.stderr
    assert "rolling back to defaults" not in proc.stderr


def _published(directory):
    return xr.load_dataset(directory / "published.nc")


def test_recording_holds_exactly_what_was_published(lsl_scenario):
    out = lsl_scenario("basic")
    rec = read_recording(out / "session" / "recording.tsv")
    pub = _published(out)
    fs = pub.attrs["sampling_rate"]
    assert rec.attrs["sampling_rate"] == pytest.approx(fs)
    for person in rec.person.values:
        got = rec["signal"].sel(person=person).isel(channel=0).to_numpy()
        k = np.rint(rec["time"].to_numpy() * fs).astype(int)
        inside = k < pub.sizes["time"]
        sent = pub["signal"].sel(person=person).isel(channel=0).to_numpy()[k[inside]]
        ok = np.isfinite(got[inside])
        # Stamps map back to the published sample exactly (same clock, double precision).
        np.testing.assert_array_equal(got[inside][ok], sent[ok])
        assert ok.mean() > 0.4


def test_late_joiner_dropout_and_return_are_logged(lsl_scenario):
    out = lsl_scenario("basic")
    observed = json.loads((out / "observed.json").read_text())
    events = pd.read_csv(out / "session" / "events.tsv", sep="\t", keep_default_na=False)
    absent = observed["absent"]
    late = next(p for p, spans in absent.items() if spans[0][0] == 0.0)
    gone, ((a, b),) = next((p, s) for p, s in absent.items() if s[0][0] > 0)
    join = events[(events.person == late) & (events.event == "join")]
    assert len(join) == 1 and float(join.time.iloc[0]) >= 30.0 - 0.5
    assert not ((events.person == late) & (events.event == "dropout") & (events.time < 30)).any()
    drop = events[(events.person == gone) & (events.event == "dropout")]
    back = events[(events.person == gone) & (events.event == "rejoin")]
    assert abs(float(drop.time.iloc[0]) - a) < 0.5  # logged at the last sample before leaving
    assert float(back.time.iloc[0]) >= b
    rec = read_recording(out / "session" / "recording.tsv")
    t = rec["time"].to_numpy()
    during = (t > a + 0.5) & (t < b)
    assert np.isnan(rec["signal"].sel(person=gone).to_numpy()[during]).all()
    # The dashboard saw the dropout while it lasted.
    statuses = [s["status"] for s in observed["seen"]]
    assert any("dropped" in s for s in statuses)


def test_live_windows_equal_offline_synchrony_of_recorded_features(lsl_scenario):
    out = lsl_scenario("basic")
    result = LiveResult.load(out / "session")
    assert assert_windows_match(result) > 50


def test_online_raw_features_equal_offline_extraction(lsl_scenario):
    """Raw features: exact (the box average and interpolation are local); phase: within the
    tolerance stated in docs/live.md (Hilbert phase of a 60 s buffer 2 s from its end vs of
    the whole recording)."""
    out = lsl_scenario("basic")
    result = LiveResult.load(out / "session")
    live = result.features()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        off = extract_features(result.recording(), Raw(), fs=4.0)
    n = min(live.sizes["time"], off.sizes["time"])
    persons = [p for p in live.person.values if p in off.person.values]
    a = live["raw"].sel(person=persons).to_numpy()[:n]
    b = off["raw"].sel(person=persons).to_numpy()[:n]
    both = np.isfinite(a) & np.isfinite(b)
    assert both.mean() > 0.7
    np.testing.assert_allclose(a[both], b[both], rtol=0, atol=1e-9)
    pa = live["phase"].sel(person=persons).to_numpy()[:n]
    pb = off["phase"].sel(person=persons).to_numpy()[:n]
    d = np.abs(np.angle(np.exp(1j * (pa - pb))))[both]
    assert np.median(d) < 0.15
    assert np.quantile(d, 0.9) < 0.6


def test_dashboard_numbers_change_and_match_the_recording(lsl_scenario):
    out = lsl_scenario("basic")
    seen = json.loads((out / "observed.json").read_text())["seen"]
    windows = pd.read_csv(out / "session" / "windows.tsv", sep="\t").set_index("window")
    assert len({s["window"] for s in seen}) > 10
    assert [s["window"] for s in seen] == sorted(s["window"] for s in seen)
    for s in seen:
        expected = windows.loc[s["window"], "group"]
        if s["group"] is None:  # JSON null: a window with no defined pair
            assert np.isnan(expected)
        else:
            assert s["group"] == pytest.approx(expected, abs=1e-12)


def test_recording_is_read_by_syntony_sync(lsl_scenario, tmp_path):
    out = lsl_scenario("basic")
    res = CliRunner().invoke(
        app,
        ["sync", str(out / "session" / "recording.tsv"), "--signal", "raw", "--out",
         str(tmp_path / "sync"), "--surrogates", "0", "--window", "20", "--step", "5", "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "sync" / "report.html").exists()


def test_multichannel_hubs_give_one_person_per_channel(lsl_scenario):
    out = lsl_scenario("hubs")
    result = LiveResult.load(out / "session")
    assert sorted(result.persons) == [f"S{k:04d}" for k in range(6)]
    # --duration counts seconds of recording from the grid's first sample.
    assert result.state["grid_samples"] / 25.0 == pytest.approx(45.0, abs=1.0)
    assert assert_windows_match(result) > 20
    rec = result.recording()
    pub = _published(out)
    got = rec["signal"].sel(person="S0004").isel(channel=0).to_numpy()
    k = np.rint(rec["time"].to_numpy() * 25.0).astype(int)
    sent = pub["signal"].sel(person="S0004").isel(channel=0).to_numpy()[k]
    ok = np.isfinite(got)
    np.testing.assert_array_equal(got[ok], sent[ok])


def test_killed_session_resumes_the_same_recording(lsl_scenario):
    out = lsl_scenario("crash")
    observed = json.loads((out / "observed.json").read_text())
    assert observed["resume_rc"] == 0, observed["resume_err"]
    session = out / "session"
    state = json.loads((session / "session.json").read_text())
    assert len(state["resumed"]) == 1
    assert (session / "result.json").exists()
    assert (session / "recording.tsv").read_text().count("\n") > observed["killed_lines"]
    # One regular grid across the kill: the outage is missing samples, not a break in time.
    rec = read_recording(session / "recording.tsv")
    gap = np.isnan(rec["signal"].to_numpy()).all(axis=(1, 2))
    assert gap.any()
    result = LiveResult.load(session)
    assert assert_windows_match(result) > 30
    events = pd.read_csv(session / "events.tsv", sep="\t", keep_default_na=False)
    assert (events.event == "resume").sum() == 1
    assert (events.event == "rejoin").sum() >= 1


def test_resume_gives_up_when_no_stream_comes(tmp_path, lsl_available):
    """--wait also bounds a resumed session that nobody streams to (no endless loop)."""
    from _lsl_isolation import run_isolated

    from syntony.live.engine import LiveEngine, LiveSettings
    from syntony.live.sources import feed
    from syntony.physio.synchrony import SyncConfig

    rec = xr.Dataset(
        {"signal": (("time", "person", "channel"), np.random.default_rng(0).random((500, 3, 1)))},
        coords={"time": np.arange(500) / 25.0, "person": ["a", "b", "c"], "channel": ["x"]},
        attrs={"sampling_rate": 25.0},
    )
    settings = LiveSettings(signal="raw", config=SyncConfig(window=5, step=1, max_lag=1))
    engine = LiveEngine(tmp_path / "s", settings, raw_fs=25.0, t0=0.0)
    feed(engine, rec)
    engine.close()
    cli = "from syntony.cli import main; main()"
    args = ["live", "--out", str(tmp_path / "s"), "--resume", "--wait", "2", "--no-dashboard",
            "--local-only", "-q"]  # fmt: skip
    proc = run_isolated(["-c", cli, *args], timeout=120)
    assert proc.returncode == 2, proc.stderr[-800:]
    assert "delivered anything within 2 s" in proc.stderr
