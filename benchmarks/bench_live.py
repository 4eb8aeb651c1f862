"""Live synchrony: end-to-end latency over LSL, CPU, and incremental vs from-scratch windows.

Part 1 (LSL, real time). A publisher process streams a crowd simulated by syntony.model
(breathing waves at 25 Hz whose rate follows each agent's state) as LSL outlets, ``--hub``
persons per multichannel stream. A `syntony live` session in this process follows them with
all pairs, 30 s windows refreshed every 1 s, lags of +/-5 s, features at 4 Hz (the raw wave,
emitted ``--margin`` s behind the newest sample), the surrogate band every 10 s and the coupling
fit every 30 s on the worker thread, and the dashboard server; a Server-Sent-Events client
(standing in for the browser) time-stamps each window as it arrives. Latency of a window: from
the push of the raw sample at the time of the newest feature sample the window uses, to the
window's arrival at the client (so it includes the feature margin, LSL transport, the wait for
the step, the computation and the dashboard's delivery). Reported after a warm-up: p50, p99,
max; CPU of the session process (user + system seconds per wall second, i.e. cores busy) and of
the publisher. The largest group whose p99 holds 1 s is read off the scan over ``--people``.

Part 2 (no transport). Time per 1 s step of the incremental update (running sums) against
recomputing the newest window from scratch with the offline ``wlcc_peaks`` (float64, as the
live numbers are; and float32), for the same groups, with the largest difference between them.

Network safety: the script re-runs itself inside a private network namespace with loopback
only (``unshare -n``; skipped only where the system refuses it) with ``LSLAPICFG`` naming the
loopback-only configuration shipped with syntony. The dashboard binds 127.0.0.1.

Run: .venv/bin/python benchmarks/bench_live.py [--people 250 500 1000 1500] [--hub 50]
     [--warmup 45] [--measure 60] [--margin 0.25] [--skip-lsl] [--skip-scratch]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

_PUBLISHER = """
import json, resource, sys
from syntony.live.sources import publish, simulated_crowd
n, hub, seconds, log = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
crowd = simulated_crowd("concert_crowd", n=n, duration=seconds, seed=7)
pushes = []
stats = publish(crowd, hub=hub, lead=3.0, on_push=lambda sent, wall: pushes.append((sent, wall)),
                source_prefix="bench")
cpu = resource.getrusage(resource.RUSAGE_SELF)
with open(log, "w") as f:
    json.dump({"pushes": pushes, "cpu": cpu.ru_utime + cpu.ru_stime, "t0": stats.t0,
               "started": stats.started, "finished": stats.finished}, f)
"""


def _isolate() -> None:
    """Re-run this script in a loopback-only network namespace with the local LSL config."""
    if os.environ.get("SYNTONY_BENCH_ISOLATED"):
        return
    from syntony.live.lsl import LOCAL_CONFIG

    env = {**os.environ, "SYNTONY_BENCH_ISOLATED": "1", "LSLAPICFG": str(LOCAL_CONFIG)}
    command = [sys.executable, *sys.argv]
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare and ip:
        probe = subprocess.run([unshare, "-n", "true"], capture_output=True)
        if probe.returncode == 0:
            quoted = " ".join(_quote(a) for a in command)
            command = [unshare, "-n", "sh", "-c", f"{ip} link set lo up && exec {quoted}"]
        else:
            print("(no network namespace available: loopback-only LSL configuration only)")
    sys.exit(subprocess.call(command, env=env))


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _sse_client(url: str, arrivals: dict, stop: threading.Event) -> None:
    """Read /api/events; note when each window first arrives."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url + "api/events", timeout=5) as stream:
                for raw in stream:
                    line = raw.decode().strip()
                    if line.startswith("data: "):
                        snap = json.loads(line[6:])
                        now = time.time()
                        for w in snap.get("windows", [])[-5:]:
                            arrivals.setdefault(w["window"], now)
                    if stop.is_set():
                        return
        except OSError:
            time.sleep(0.2)


def run_lsl(n: int, args) -> dict:
    from syntony.live import LiveOptions, LiveSettings, run_live
    from syntony.physio.synchrony import SyncConfig

    seconds = args.warmup + args.measure
    work = Path(tempfile.mkdtemp(prefix=f"bench-live-{n}-"))
    log = work / "pushes.json"
    publisher = subprocess.Popen(
        [sys.executable, "-c", _PUBLISHER, str(n), str(args.hub), str(seconds + 5), str(log)]
    )
    published: dict = {}
    arrivals: dict = {}
    stop = threading.Event()
    url_box: dict = {}

    def ready(url: str) -> None:
        url_box["url"] = url
        threading.Thread(target=_sse_client, args=(url, arrivals, stop), daemon=True).start()

    def on_window(update, wall: float) -> None:
        published[update.index] = (update.start, wall)

    settings = LiveSettings(
        signal="raw",
        fs=4.0,
        config=SyncConfig(window=30, step=1, max_lag=5),
        margin=args.margin,
        seed=1,
    )
    options = LiveOptions(
        stream_type="Resp",
        duration=seconds,
        idle_stop=15.0,
        wait=120.0,
        port=0,
        on_window=on_window,
        on_ready=ready,
    )
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.time()
    result = run_live(work / "session", settings, options)
    wall = time.time() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    publisher.wait(timeout=120)
    pub = json.loads(log.read_text())
    pushes = np.array(pub["pushes"], float)  # (sent, wall)
    state = result.state
    fs, raw_fs = 4.0, float(state["raw_fs"])
    w, lag = 120, 20
    # The session's grid origin is the first stamp it received; the publisher stamps sample k
    # at T0 + k / fs.
    first_index = round((float(state["t0"]) - pub["t0"]) * raw_fs)
    lat, lat_published = [], []
    warm = args.warmup
    for index, (start, pub_wall) in sorted(published.items()):
        newest = (start + w + lag - 1) / fs  # session time of the newest feature sample used
        if newest < warm or index not in arrivals:
            continue
        k = round(newest * raw_fs) + first_index
        pos = np.searchsorted(pushes[:, 0], k + 1)
        if pos >= len(pushes):
            continue
        pushed = pushes[pos, 1]
        lat.append(arrivals[index] - pushed)
        lat_published.append(pub_wall - pushed)
    lat = np.array(lat)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "people": n,
        "streams": -(-n // args.hub),
        "windows": int(lat.size),
        "p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "p99": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "max": float(lat.max()) if lat.size else float("nan"),
        "p99_published": float(np.percentile(lat_published, 99)) if lat.size else float("nan"),
        "cpu_session": cpu / wall,
        "cpu_publisher": pub["cpu"] / max(1e-9, pub["finished"] - pub["started"]),
        "notes": result.notes[:3],
    }


def run_scratch(n: int, steps: int = 5) -> dict:
    from syntony.live.incremental import IncrementalSynchrony
    from syntony.physio.synchrony import SyncConfig, wlcc_peaks

    rng = np.random.default_rng(0)
    config = SyncConfig(window=30, step=1, max_lag=5)
    fs = 4.0
    w, st, lag = config.samples(fs)
    n_t = w + 2 * lag + (steps + 50) * st
    shared = np.convolve(rng.standard_normal(n_t), np.ones(8) / 8, mode="same")
    x = 15 + shared[:, None] + rng.standard_normal((n_t, n)).cumsum(axis=0) * 0.1
    inc = IncrementalSynchrony(config, fs, capacity=n)
    for p in range(n):
        inc.add_person(f"p{p}")
    head = n_t - steps * st
    inc.append(x[:head])
    times, diffs = [], []
    scratch64, scratch32 = [], []
    for k in range(steps):
        a = head + k * st
        t = time.perf_counter()
        updates = inc.append(x[a : a + st])
        times.append(time.perf_counter() - t)
        u = updates[-1]
        seg = x[u.start - lag : u.start + w + lag]
        t = time.perf_counter()
        r64, _, _ = wlcc_peaks(seg, w, st, lag)
        scratch64.append(time.perf_counter() - t)
        t = time.perf_counter()
        wlcc_peaks(seg, w, st, lag, dtype=np.float32)
        scratch32.append(time.perf_counter() - t)
        diffs.append(float(np.nanmax(np.abs(r64[0] - u.r))))
    return {
        "people": n,
        "incremental_ms": 1e3 * float(np.median(times)),
        "scratch64_ms": 1e3 * float(np.median(scratch64)),
        "scratch32_ms": 1e3 * float(np.median(scratch32)),
        "max_diff": max(diffs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[250, 500, 1000, 1500])
    parser.add_argument("--hub", type=int, default=50, help="Persons per LSL stream.")
    parser.add_argument("--warmup", type=float, default=45.0)
    parser.add_argument("--measure", type=float, default=60.0)
    parser.add_argument("--margin", type=float, default=0.25, help="Feature margin (s).")
    parser.add_argument("--skip-lsl", action="store_true")
    parser.add_argument("--skip-scratch", action="store_true")
    args = parser.parse_args()
    if not args.skip_lsl:
        _isolate()
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.2f}")
    if not args.skip_lsl:
        print("\nPart 1: LSL end to end, real time (latency = push -> window at the client)")
        print(f"{'people':>7} {'streams':>7} {'windows':>7} {'p50 s':>7} {'p99 s':>7} "
              f"{'max s':>7} {'p99 pub':>8} {'cpu live':>9} {'cpu pub':>8}")  # fmt: skip
        held = None
        for n in args.people:
            r = run_lsl(n, args)
            print(f"{r['people']:>7} {r['streams']:>7} {r['windows']:>7} {r['p50']:>7.3f} "
                  f"{r['p99']:>7.3f} {r['max']:>7.3f} {r['p99_published']:>8.3f} "
                  f"{r['cpu_session']:>9.2f} {r['cpu_publisher']:>8.2f}", flush=True)  # fmt: skip
            for note in r["notes"]:
                print(f"        note: {note}")
            if r["p99"] <= 1.0:
                held = n
        print(f"largest group whose p99 held 1 s: {held if held is not None else 'none'}")
    if not args.skip_scratch:
        print("\nPart 2: one 1 s step, incremental vs the newest window from scratch")
        print(f"{'people':>7} {'pairs':>9} {'incr ms':>9} {'scratch f64':>12} "
              f"{'scratch f32':>12} {'ratio':>6} {'max |diff|':>11}")  # fmt: skip
        for n in args.people:
            r = run_scratch(n)
            print(f"{n:>7} {n * (n - 1) // 2:>9} {r['incremental_ms']:>9.1f} "
                  f"{r['scratch64_ms']:>12.1f} {r['scratch32_ms']:>12.1f} "
                  f"{r['scratch64_ms'] / r['incremental_ms']:>6.1f} {r['max_diff']:>11.2e}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
