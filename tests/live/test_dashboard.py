"""The live dashboard in headless Chromium, while samples arrive.

The engine is fed in this process (no LSL: the transport is tested in test_lsl.py, inside a
network namespace the browser cannot reach); the page is served on 127.0.0.1 by the real
server and read by the ``browser`` fixture.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from syntony.datasets import load_concert
from syntony.live.dashboard import serve
from syntony.live.engine import LiveEngine, LiveSettings
from syntony.live.sources import feed
from syntony.physio.synchrony import SyncConfig

_READ = """
const g = document.getElementById('group-value');
const rows = Array.from(document.querySelectorAll('#quality tbody tr'));
return {
  window: g.getAttribute('data-window'), value: g.getAttribute('data-value'),
  band: document.getElementById('band-value').getAttribute('data-high'),
  coupling: document.getElementById('coupling-value').getAttribute('data-value'),
  matrix: document.getElementById('matrix').getAttribute('data-window'),
  persons: rows.map(r => [r.getAttribute('data-person'), r.getAttribute('data-status')]),
  scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
  paths: document.querySelectorAll('#timeline path').length
};
"""


def _recording(persons: int, seconds: float):
    ds = load_concert("Sae1")
    fs = ds.attrs["sampling_rate"]
    ds = ds.isel(time=slice(0, int(seconds * fs)), person=slice(0, persons))
    return ds.assign_coords(time=np.arange(ds.sizes["time"]) / fs)


def test_dashboard_shows_live_numbers_that_match_the_session(local_browser, tmp_path):
    browser = local_browser
    settings = LiveSettings(
        signal="raw",
        config=SyncConfig(window=10, step=1, max_lag=2),
        margin=2.0,
        n_surrogates=9,
        surrogate_every=5,
        null_span=40,
        fit_every=10,
        fit_span=40,
        seed=2,
    )
    engine = LiveEngine(tmp_path / "session", settings, raw_fs=25.0, t0=0.0)
    rec = _recording(8, 100.0)
    persons = [str(p) for p in rec.person.values]
    for p in persons:
        engine.add_person(p)
    # One person leaves for a while: the page must say so.
    engine.event(persons[3], "dropout", "test")
    server, url = serve(engine.state, port=0)
    assert url.startswith("http://127.0.0.1:")
    feeder = threading.Thread(target=feed, args=(engine, rec), kwargs={"speed": 12.0})
    try:
        browser.get_log("browser")
        browser.get(url)
        feeder.start()
        seen = []
        deadline = time.monotonic() + 60
        while feeder.is_alive() and time.monotonic() < deadline:
            state = browser.execute_script(_READ)
            if state["window"]:
                seen.append(state)
            time.sleep(0.3)
        feeder.join(timeout=30)
        engine.close()  # the last features, bands and fits, then the files are complete
        engine.state.session(status="finished")
        time.sleep(1.0)  # the last update reaches the page
        final = browser.execute_script(_READ)
        errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        if os.environ.get("SYNTONY_SCREENSHOTS"):
            shot = Path(os.environ["SYNTONY_SCREENSHOTS"]) / "live-dashboard.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(shot))
    finally:
        server.should_exit = True
        if feeder.is_alive():
            feeder.join(timeout=30)
    assert not errors, errors[:3]
    windows = [int(s["window"]) for s in seen]
    assert len(set(windows)) >= 5, "the numbers did not change as samples arrived"
    assert windows == sorted(windows)
    assert final["scroll"] <= final["client"]
    assert final["paths"] >= 2
    # What the page shows is what the session recorded.
    table = pd.read_csv(tmp_path / "session" / "windows.tsv", sep="\t").set_index("window")
    for s in [*seen, final]:
        assert float(s["value"]) == pytest.approx(table.loc[int(s["window"]), "group"], abs=1e-12)
    assert int(final["window"]) == table.index.max()
    assert int(final["matrix"]) == table.index.max()
    bands = pd.read_csv(tmp_path / "session" / "nulls.tsv", sep="\t")
    assert float(final["band"]) == pytest.approx(bands["q975"].iloc[-1], abs=1e-12)
    fits = pd.read_csv(tmp_path / "session" / "coupling.tsv", sep="\t")
    assert float(final["coupling"]) == pytest.approx(fits["c"].iloc[-1], rel=1e-9)
    status = dict(final["persons"])
    assert sorted(status) == sorted(persons)
    assert status[persons[3]] == "dropped"
    assert {status[p] for p in persons if p != persons[3]} == {"live"}
