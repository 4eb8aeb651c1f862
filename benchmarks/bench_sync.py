"""All-pairs windowed lagged synchrony: syntony vs NeuroKit2's signal_synchrony, side by side.

Problem: 200 people x 1 hour at 4 Hz, 30 s windows, 15 s step, lags -5..+5 s (41 lags).
syntony computes every pair, window and lag in one run (`wlcc_peaks`). NeuroKit2's
`signal_synchrony(method="correlation")` gives a rolling lag-0 correlation for one pair, so the
reference for one pair is 41 calls (one per lag, on lag-shifted copies), read at our window
positions and peak-picked; it runs on a subset of pairs, and the comparison is per pair-window.
The two results are compared on that subset (max abs difference).

Run: .venv/bin/python benchmarks/bench_sync.py [--people 200] [--hours 1] [--ref-pairs 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import neurokit2 as nk
import numpy as np

from syntony.physio.synchrony import wlcc_peaks


def reference_pair(xi, xj, window, starts, max_lag):
    """Peak over lags of NeuroKit2's rolling correlation, at syntony's window starts."""
    n_t = len(xi)
    profile = np.empty((len(starts), 2 * max_lag + 1))
    for k, lag in enumerate(range(-max_lag, max_lag + 1)):
        if lag >= 0:
            a, b = xi[: n_t - lag], xj[lag:]
        else:
            a, b = xi[-lag:], xj[: n_t + lag]
        roll = nk.signal_synchrony(a, b, method="correlation", window_size=window)
        # NeuroKit labels a window by its end sample and then shifts the series back by w/2.
        profile[:, k] = roll[starts + min(lag, 0) + window - 1 - window // 2]
    return profile.max(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--fs", type=float, default=4.0)
    parser.add_argument("--ref-pairs", type=int, default=20)
    parser.add_argument("--float32", action="store_true", help="Also time the float32 variant.")
    args = parser.parse_args()
    fs = args.fs
    n_t = int(args.hours * 3600 * fs)
    window, step, max_lag = int(30 * fs), int(15 * fs), int(5 * fs)
    rng = np.random.default_rng(0)
    # Smooth signals with a shared component (like rates following music) plus individual AR(1).
    shared = np.convolve(rng.standard_normal(n_t), np.ones(20) / 20, mode="same")
    own = rng.standard_normal((n_t, args.people))
    for t in range(1, n_t):
        own[t] += 0.9 * own[t - 1]
    x = 15 + 2 * shared[:, None] + own

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wlcc_peaks(x[:2000, :4], window, step, max_lag)  # compile the numba peak picker first
    t0, c0 = time.perf_counter(), time.process_time()
    r, _lag, starts = wlcc_peaks(x, window, step, max_lag)
    ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_pairs = args.people * (args.people - 1) // 2
    n_win = len(starts)
    print(
        f"problem: {args.people} people x {args.hours:g} h at {fs:g} Hz = {n_t} samples; "
        f"{n_pairs} pairs x {n_win} windows x {2 * max_lag + 1} lags"
    )
    print(f"cores available: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")
    print(
        f"syntony wlcc_peaks (all pairs, both directions): {ours:.2f} s wall, {ours_cpu:.2f} s CPU; "
        f"peak RSS growth {(rss1 - rss0) / 1024:.0f} MB (total {rss1 / 1024:.0f} MB)"
    )
    if args.float32:
        wlcc_peaks(x[:2000, :4], window, step, max_lag, dtype=np.float32)  # compile
        t0, c0 = time.perf_counter(), time.process_time()
        r32, _, _ = wlcc_peaks(x, window, step, max_lag, dtype=np.float32)
        print(
            f"  float32 variant: {time.perf_counter() - t0:.2f} s wall, "
            f"{time.process_time() - c0:.2f} s CPU; max |float32 - float64| "
            f"{np.nanmax(np.abs(r32 - r)):.1e}"
        )

    pairs = [(i, i + 1 + k) for k, i in enumerate(range(0, 2 * args.ref_pairs, 2))]
    pairs = [(i % args.people, j % args.people) for i, j in pairs][: args.ref_pairs]
    t0, c0 = time.perf_counter(), time.process_time()
    ref = [reference_pair(x[:, i], x[:, j], window, starts, max_lag) for i, j in pairs]
    theirs, theirs_cpu = time.perf_counter() - t0, time.process_time() - c0
    diff = max(np.max(np.abs(ref[k] - r[:, i, j])) for k, (i, j) in enumerate(pairs))
    print(
        f"NeuroKit2 signal_synchrony x {2 * max_lag + 1} lags, {len(pairs)} pairs: "
        f"{theirs:.2f} s wall, {theirs_cpu:.2f} s CPU"
    )
    print(f"max |syntony - NeuroKit2| peak correlation on those pairs: {diff:.2e}")
    per_ours = ours / (n_pairs * n_win)
    per_theirs = theirs / (len(pairs) * n_win)
    print(
        f"per pair-window (wall): syntony {per_ours * 1e6:.3f} us, NeuroKit2 "
        f"{per_theirs * 1e6:.1f} us, ratio {per_theirs / per_ours:.0f}x"
    )
    cpu_ratio = (theirs_cpu / len(pairs)) / (ours_cpu / n_pairs)
    print(f"per pair-window (CPU, both cores counted): ratio {cpu_ratio:.0f}x")
    print(
        f"NeuroKit2 extrapolated to all {n_pairs} pairs: {theirs / len(pairs) * n_pairs / 3600:.1f} h"
    )
    print(
        f"target: all pairs within 60 s -> {'met' if ours <= 60 else 'NOT met'}; "
        f"ratio >= 50x -> {'met' if per_theirs / per_ours >= 50 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
