"""LSL scenarios run in a child process (inside a private network namespace when possible).

Usage: ``python lsl_scenarios.py SCENARIO OUTDIR``. The child has ``LSLAPICFG`` pointing at the
loopback-only configuration before pylsl is loaded; it publishes short streams, runs a live
session on them and writes what the test must check into ``OUTDIR`` (the session directory and
``observed.json``). The test process then checks the files; it never loads pylsl itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np


def _concert(persons: int, seconds: float):
    from syntony.datasets import load_concert

    ds = load_concert("Sae1")
    n = int(seconds * ds.attrs["sampling_rate"])
    ds = ds.isel(time=slice(0, n), person=slice(0, persons))
    return ds.assign_coords(time=np.arange(ds.sizes["time"]) / ds.attrs["sampling_rate"])


def _watch(url_box: dict, seen: list, stop: threading.Event) -> None:
    """Poll the dashboard's state (inside the namespace) while the session runs."""
    while not stop.is_set():
        url = url_box.get("url")
        if url:
            try:
                with urllib.request.urlopen(url + "api/state", timeout=2) as resp:
                    snap = json.loads(resp.read())
                if snap.get("latest"):
                    seen.append(
                        {
                            "version": snap["version"],
                            "window": snap["latest"]["window"],
                            "group": snap["latest"]["group"],
                            "persons": len(snap["quality"]["person"]) if snap["quality"] else 0,
                            "status": snap["quality"]["status"] if snap["quality"] else [],
                        }
                    )
            except OSError:
                pass
        time.sleep(0.25)


def basic(out: Path) -> None:
    """Six persons at 8x: one joins 30 s late, one drops out for 20 s and comes back."""
    from syntony.live import LiveOptions, LiveSettings, publish, run_live
    from syntony.physio.synchrony import SyncConfig

    ds = _concert(6, 110.0)
    persons = [str(p) for p in ds.person.values]
    absent = {persons[1]: [(0.0, 30.0)], persons[2]: [(45.0, 65.0)]}
    ds.to_netcdf(out / "published.nc")
    publisher = threading.Thread(
        target=publish,
        kwargs={"recording": ds, "speed": 8.0, "absent": absent, "lead": 2.0},
        daemon=True,
    )
    url_box: dict = {}
    seen: list = []
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(url_box, seen, stop), daemon=True)
    watcher.start()
    publisher.start()
    settings = LiveSettings(
        signal="raw",
        config=SyncConfig(window=20, step=1, max_lag=3),
        margin=2.0,
        n_surrogates=9,
        surrogate_every=10,
        null_span=60,
        fit_every=20,
        fit_span=60,
        seed=3,
    )
    options = LiveOptions(
        stream_type="Resp",
        idle_stop=4.0,
        wait=30.0,
        dropout_after=1.0,
        port=0,
        on_ready=lambda url: url_box.update(url=url),
    )
    run_live(out / "session", settings, options)
    stop.set()
    publisher.join(timeout=30)
    (out / "observed.json").write_text(json.dumps({"seen": seen, "absent": absent}))


def hubs(out: Path) -> None:
    """A simulated crowd of six on two multichannel streams (three persons each)."""
    from syntony.live import LiveOptions, LiveSettings, publish, run_live, simulated_crowd
    from syntony.physio.synchrony import SyncConfig

    crowd = simulated_crowd("concert_crowd", n=6, duration=60.0, seed=5, kind="state")
    crowd.to_netcdf(out / "published.nc")
    publisher = threading.Thread(
        target=publish,
        kwargs={"recording": crowd, "speed": 10.0, "hub": 3, "lead": 2.0, "stream_type": "Sim"},
        daemon=True,
    )
    publisher.start()
    settings = LiveSettings(
        signal="raw", config=SyncConfig(window=10, step=1, max_lag=2), n_surrogates=0, seed=1
    )
    options = LiveOptions(stream_type="Sim", duration=45.0, idle_stop=10.0, wait=30.0, port=None)
    run_live(out / "session", settings, options)
    publisher.join(timeout=30)


def crash(out: Path) -> None:
    """The command line end to end: replay at 6x, `syntony live` killed with SIGKILL midway,
    then `syntony live --resume` continues the same recording."""
    from syntony.live import LOCAL_CONFIG

    ds = _concert(4, 100.0)
    table = out / "group.csv"
    frame = ds["signal"].isel(channel=0).to_pandas()
    frame.insert(0, "time", frame.index.to_numpy())
    frame.to_csv(table, index=False)
    cli = [sys.executable, "-c", "from syntony.cli import main; main()"]
    env = {**os.environ, "LSLAPICFG": str(LOCAL_CONFIG)}
    session = out / "session"
    live_args = ["live", "--type", "Resp", "--local-only", "--out", str(session), "--signal",
                 "raw", "--window", "15", "--max-lag", "2", "--margin", "2", "--surrogates", "0",
                 "--no-dashboard", "-q"]  # fmt: skip
    replay = subprocess.Popen(
        [*cli, "stream", "replay", str(table), "--speed", "6", "--local-only", "-q"], env=env
    )
    first = subprocess.Popen([*cli, *live_args, "--wait", "30"], env=env)
    deadline = time.monotonic() + 60
    # Kill once the session has recorded some windows.
    while time.monotonic() < deadline:
        windows = session / "windows.tsv"
        if windows.exists() and windows.read_text().count("\n") > 12:
            break
        time.sleep(0.2)
    first.kill()
    first.wait()
    killed_lines = (session / "recording.tsv").read_text().count("\n")
    time.sleep(1.5)  # some samples are lost while nothing runs: the gap
    second = subprocess.run(
        [*cli, *[a for a in live_args if a != "--force"], "--resume", "--idle-stop", "3"],
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
    )
    replay.wait(timeout=60)
    (out / "observed.json").write_text(
        json.dumps(
            {
                "killed_lines": killed_lines,
                "resume_rc": second.returncode,
                "resume_err": second.stderr[-2000:],
            }
        )
    )
    ds.to_netcdf(out / "published.nc")


if __name__ == "__main__":
    name, target = sys.argv[1], Path(sys.argv[2])
    target.mkdir(parents=True, exist_ok=True)
    {"basic": basic, "hubs": hubs, "crash": crash}[name](target)
