"""The live pipeline without transport: files, features, resume, result and report."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from _live_checks import assert_windows_match

from syntony.datasets import load_concert
from syntony.errors import InputError
from syntony.live.engine import LiveEngine, LiveSettings
from syntony.live.grid import SampleGrid, StreamResampler
from syntony.live.recorder import read_matrices, read_table_tail, repair_tail
from syntony.live.result import LiveResult
from syntony.live.resume import reopen
from syntony.live.sources import feed, parse_absent, simulated_crowd
from syntony.physio.features import Respiration, extract_features
from syntony.physio.io import read_recording
from syntony.physio.synchrony import SyncConfig


def _concert(persons: int, seconds: float, start: float = 0.0):
    ds = load_concert("Sae1")
    fs = ds.attrs["sampling_rate"]
    ds = ds.isel(time=slice(int(start * fs), int((start + seconds) * fs)), person=slice(0, persons))
    return ds.assign_coords(time=np.arange(ds.sizes["time"]) / fs)


def _settings(**kw):
    base = dict(
        signal="raw",
        config=SyncConfig(window=15, step=1, max_lag=3),
        margin=2.0,
        n_surrogates=9,
        surrogate_every=10,
        null_span=60,
        fit_every=20,
        fit_span=60,
        seed=4,
    )
    return LiveSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def fed_session(tmp_path_factory):
    out = tmp_path_factory.mktemp("fed") / "session"
    engine = LiveEngine(out, _settings(), raw_fs=25.0, t0=0.0, wait_slow=True)
    rec = _concert(6, 120.0)
    # One person misses 20 s in the middle: missing rows in the recording, NaN features.
    rec["signal"].loc[{"person": rec.person.values[2]}] = np.where(
        (rec.time.values[:, None] > 50) & (rec.time.values[:, None] < 70),
        np.nan,
        rec["signal"].sel(person=rec.person.values[2]).to_numpy(),
    )
    feed(engine, rec)
    engine.close()
    return out, rec


def test_fed_session_windows_equal_offline_and_recording_is_exact(fed_session):
    out, rec = fed_session
    result = LiveResult.from_session(out)
    assert assert_windows_match(result) > 90
    got = read_recording(out / "recording.tsv")
    assert got.sizes["time"] == rec.sizes["time"]
    np.testing.assert_array_equal(
        got["signal"].sel(person=rec.person.values).to_numpy(), rec["signal"].to_numpy()
    )
    quality = result.quality().set_index("person")
    for person in rec.person.values:
        sent = np.isfinite(rec["signal"].sel(person=person).to_numpy()).sum()
        assert quality.loc[str(person), "samples"] == sent
    assert quality.loc[str(rec.person.values[2]), "share_of_session"] < 0.9
    bands = pd.read_csv(out / "nulls.tsv", sep="\t")
    assert len(bands) >= 5 and (bands.q025 <= bands.q975).all()
    fits = pd.read_csv(out / "coupling.tsv", sep="\t")
    assert len(fits) >= 1 and (fits.c_ci_low <= fits.c).all() and (fits.c <= fits.c_ci_high).all()
    # Every fit that was due either gave a row or left a note saying why not.
    failed = [n for n in json.loads((out / "session.json").read_text())["notes"] if "fit" in n]
    assert len(fits) + len(failed) == len(range(20, len(result.windows), 20))


def test_band_and_fit_are_reproducible_from_the_recorded_features(fed_session):
    """A window's band and coupling depend only on the features, the seed and the window."""
    from syntony._rng import SeedTree
    from syntony.live.slow import fit_coupling, surrogate_band

    out, _ = fed_session
    result = LiveResult.from_session(out)
    s = result.settings
    feats = result.features()["raw"].to_numpy()
    config = SyncConfig(window=s["window"], step=s["step"], max_lag=s["max_lag"])
    w, st, lag = config.samples(s["fs"])
    band = result.nulls.iloc[-1]
    end = lag + int(band.window) * st + w + lag
    again = surrogate_band(
        feats[end - int(s["null_span"] * s["fs"]) : end],
        s["fs"],
        config,
        n_surrogates=s["n_surrogates"],
        tree=SeedTree(s["seed"]).child("surrogates", int(band.window)),
    )
    assert again["q975"] == pytest.approx(band.q975, abs=1e-12)
    fit = result.coupling.iloc[-1]
    end = lag + int(fit.window) * st + w + lag
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = fit_coupling(
            feats[end - int(s["fit_span"] * s["fs"]) : end],
            s["fs"],
            fit_fs=s["fit_fs"],
            tree=SeedTree(s["seed"]).child("fit", int(fit.window)),
        )
    assert refit["c"] == pytest.approx(fit.c, rel=1e-9)


def test_result_saves_loads_and_reports(fed_session, tmp_path, check_report):
    out, _ = fed_session
    result = LiveResult.from_session(out)
    written = result.save(tmp_path / "copy")
    assert {p.name for p in written} >= {"recording.tsv", "report.html", "result.json"}
    back = LiveResult.load(tmp_path / "copy")
    assert back.summary() == result.summary()
    assert "mean group synchrony" in back.summary()
    pd.testing.assert_frame_equal(back.windows, result.windows)
    page = check_report(tmp_path / "copy" / "report.html")
    assert page["n_images"] >= 3
    quality = next(t for t in page["tables"] if "share_of_session" in t["header"])
    assert len(quality["rows"]) == 6


def test_online_respiration_features_agree_with_offline_extraction(tmp_path):
    """Breathing rate from 60 s buffers, emitted 20 s behind the newest sample, against
    NeuroKit2 on the whole recording: the tolerance stated in docs/live.md."""
    rec = _concert(5, 300.0, start=60.0)
    settings = _settings(signal="respiration", margin=20.0, update_every=5.0, n_surrogates=0)
    engine = LiveEngine(tmp_path / "s", settings, raw_fs=25.0, t0=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feed(engine, rec)
        engine.close()
        offline = extract_features(read_recording(tmp_path / "s" / "recording.tsv"),
                                   Respiration(), fs=4.0)  # fmt: skip
    live = LiveResult.from_session(tmp_path / "s").features()
    persons = [p for p in live.person.values if p in offline.person.values]
    n = min(live.sizes["time"], offline.sizes["time"])
    skip = 60 * 4  # the first buffer: its left edge is the recording's start, not a buffer edge
    a = live["breathing_rate"].sel(person=persons).to_numpy()[skip:n]
    b = offline["breathing_rate"].sel(person=persons).to_numpy()[skip:n]
    both = np.isfinite(a) & np.isfinite(b)
    assert both.mean() > 0.9
    d = np.abs(a - b)[both]
    assert np.median(d) < 0.05  # breaths/min
    assert np.mean(d < 0.5) > 0.9


def test_resume_after_a_crash_continues_the_same_windows(tmp_path):
    rec = _concert(4, 150.0)
    out = tmp_path / "s"
    engine = LiveEngine(out, _settings(n_surrogates=0), raw_fs=25.0, t0=0.0)
    feed(engine, rec.isel(time=slice(0, 25 * 70)))
    engine.flush(wait=True)
    # The crash: the process dies mid-line, nothing is closed.
    with open(out / "recording.tsv", "a") as stream:
        stream.write("70.04\tAU8")
    with open(out / "matrices.bin", "ab") as stream:
        stream.write(b"SYNM\x01")
    engine, _ = reopen(out)
    assert engine.grid.committed == 25 * 70
    assert list(engine.persons) == [str(p) for p in rec.person.values]
    # 25 s (longer than a window) are lost while nothing runs; then the streams come back,
    # and the first commit after the gap completes many windows at once.
    rest = rec.isel(time=slice(25 * 95, None))
    data = rest["signal"].isel(channel=0).to_numpy()
    for a in range(0, data.shape[0], 5):
        b = min(a + 5, data.shape[0])
        for p in range(data.shape[1]):
            engine.grid.place(p, np.arange(25 * 95 + a, 25 * 95 + b), data[a:b, p])
        engine.commit(25 * 95 + b)
    engine.close()
    got = read_recording(out / "recording.tsv")
    assert got.sizes["time"] == rec.sizes["time"]
    assert np.isnan(got["signal"].to_numpy()[25 * 70 : 25 * 95]).all()
    result = LiveResult.from_session(out)
    assert assert_windows_match(result) > 100
    assert np.isfinite(result.windows["kuramoto"]).sum() > 80
    assert len(json.loads((out / "session.json").read_text())["resumed"]) == 1


def test_repair_and_tails(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("time\tvalue\n0.0\t1\n0.5\t2\n1.0\t3\n1.5\t4")
    assert repair_tail(path) == len("1.5\t4")
    assert repair_tail(path) == 0
    assert read_table_tail(path, since=0.5)["value"].tolist() == [2, 3]
    assert read_matrices(tmp_path / "none.bin") == {}
    (tmp_path / "bad.bin").write_bytes(b"XXXX" + b"\0" * 30)
    with pytest.raises(InputError, match="corrupt"):
        read_matrices(tmp_path / "bad.bin")


def test_grid_places_resamples_and_counts_late_samples():
    grid = SampleGrid(10.0, t0=100.0)
    a, b = grid.add_person(), grid.add_person()
    grid.place(a, grid.index([100.0, 100.1, 100.1, 100.2]), [1.0, 2.0, 9.0, 3.0])
    assert grid.duplicate[a] == 1
    rows = grid.commit(2)
    np.testing.assert_array_equal(rows[:, a], [1.0, 2.0])
    assert np.isnan(rows[:, b]).all()
    grid.place(b, [0, 5], [1.0, 2.0])
    assert grid.late[b] == 1
    # A 4 Hz stream onto the 10 Hz grid: interpolated between its samples, across chunks.
    slow = StreamResampler(grid, 4.0)
    i1, v1 = slow.convert(np.array([100.5, 100.75]), np.array([0.0, 1.0]))
    i2, v2 = slow.convert(np.array([101.0]), np.array([2.0]))
    np.testing.assert_array_equal(np.concatenate([i1, i2]), [5, 6, 7, 8, 9, 10])
    np.testing.assert_allclose(np.concatenate([v1, v2]), [0.0, 0.4, 0.8, 1.2, 1.6, 2.0])


def test_simulated_crowd_and_absent_specs():
    crowd = simulated_crowd("concert_crowd", n=5, duration=20.0, seed=1, coupling=0.0)
    again = simulated_crowd("concert_crowd", n=5, duration=20.0, seed=1, coupling=0.0)
    assert crowd["signal"].shape == (501, 5, 1)
    assert crowd.attrs["gamma_soc"] == 0.0
    np.testing.assert_array_equal(crowd["signal"].to_numpy(), again["signal"].to_numpy())
    state = simulated_crowd("concert_crowd", n=5, duration=20.0, seed=1, kind="state")
    assert state.channel.values.tolist() == ["state"]
    assert parse_absent(["A:1-2", "A:5-6.5"]) == {"A": [(1.0, 2.0), (5.0, 6.5)]}
    with pytest.raises(Exception, match="PERSON:START-STOP"):
        parse_absent(["A:5-1"])


def test_raw_features_for_many_persons_at_once_equal_one_by_one():
    """The vectorised path for complete columns equals the offline Raw + resampling per person."""
    from syntony.live.features import _raw_batch, to_grid
    from syntony.physio.features import Raw

    rng = np.random.default_rng(5)
    x = np.cumsum(rng.standard_normal((1500, 6)), axis=0) + 400.0
    t = np.arange(250, 1750) / 25.0
    grid = np.arange(41, 69 * 4) / 4.0
    for at_start in (True, False):
        values, phase = _raw_batch(x, t, grid, 25.0, 4.0, at_start=at_start)
        for p in range(x.shape[1]):
            parts = Raw()(x[:, p], 25.0)
            v = to_grid(t, parts["raw"], grid, 25.0, 4.0, angle=False, at_start=at_start)
            ph = to_grid(t, parts["phase"], grid, 25.0, 4.0, angle=True, at_start=at_start)
            np.testing.assert_array_equal(np.isnan(v), np.isnan(values[:, p]))
            np.testing.assert_allclose(values[:, p], v, rtol=0, atol=1e-9)
            d = np.angle(np.exp(1j * (phase[:, p] - ph)))
            assert np.nanmax(np.abs(d)) < 1e-9
