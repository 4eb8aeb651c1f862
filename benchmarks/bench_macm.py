"""MACM on a 5,000-experiment NeuroQuery selection: time and peak memory (RSS).

A sphere is grown around a seed until at least 5,000 NeuroQuery articles have a peak in it;
MACM then runs ALE + Monte Carlo FWE on those articles (N = 20 each) with the MACM defaults:
the log-space FFT analytic null (``auto_null``) and the Monte Carlo cluster-forming threshold
(min(100, n_iters) null maps). A NiMARE user reported running out of memory near 2,000
experiments; here the null is streamed in blocks, so memory does not grow with the number of
iterations. The script first fits the observed map alone (n_iters = 0) to split the time into
the fixed part and the per-iteration part, then runs the whole MACM.

    .venv/bin/python benchmarks/bench_macm.py [--n-iters 100] [--target 5000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import psutil


def _data() -> Path:
    root = os.environ.get("SYNTONY_TEST_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "neuroquery"


class PeakRSS:
    """Sample this process's resident memory every 50 ms; keep the peak."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-iters", type=int, default=100)
    parser.add_argument("--target", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    from syntony.meta.ale import ALE
    from syntony.meta.databases import load_neuroquery
    from syntony.meta.macm import macm
    from syntony.meta.null import auto_null
    from syntony.meta.roi import sphere_roi
    from syntony.meta.threshold import MonteCarloThreshold

    def estimator(n_iters: int) -> ALE:
        rule = MonteCarloThreshold(max(1, min(100, args.n_iters)))
        return ALE(n_iters=n_iters, n_jobs=args.jobs, random_state=0, null_method=auto_null,
                   cluster_threshold=rule)  # fmt: skip

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        db = load_neuroquery(_data())
        base = mem.proc.memory_info().rss
        radius = 10.0
        while True:
            roi = sphere_roi((0, 20, 30), radius, name=f"sphere_r{radius:g}")
            n = len(db.experiments_with_focus_in(roi.image()))
            if n >= args.target:
                break
            radius += 2.0
        t1 = time.perf_counter()
        macm(roi, db, default_n=20, estimator=estimator(0))
        t_fixed = time.perf_counter()
        result = macm(roi, db, default_n=20, estimator=estimator(args.n_iters))
        t2 = time.perf_counter()
    p = result.ale.parameters
    print(f"NeuroQuery loaded, ROI: sphere r = {radius:g} mm at (0, 20, 30) -> {n} articles "
          f"({p['n_foci']} foci) in {t1 - t0:.1f} s")  # fmt: skip
    fixed = t_fixed - t1
    per_iter = (t2 - t_fixed - fixed) / max(args.n_iters, 1)
    print(f"observed map, analytic null ({p['null_method']}), cluster-forming threshold "
          f"({p['cluster_threshold']}) and cluster table: {fixed:.1f} s")  # fmt: skip
    print(f"whole MACM with {args.n_iters} FWE iterations ({args.jobs} threads): "
          f"{t2 - t_fixed:.1f} s -> {per_iter:.2f} s per FWE iteration; "
          f"threshold ALE {result.ale.threshold:.4f}")  # fmt: skip
    sig = result.clusters[result.clusters["p_fwe_size"] < 0.05] if len(result.clusters) else []
    print(f"{len(sig)} of {len(result.clusters)} clusters significant at cluster-level FWE 0.05")
    print(f"peak RSS {mem.peak / 2**30:.2f} GiB (after loading NeuroQuery {base / 2**30:.2f} GiB); "
          f"limit 8 GiB -> {'OK' if mem.peak < 8 * 2**30 else 'EXCEEDED'}")  # fmt: skip


if __name__ == "__main__":
    main()
