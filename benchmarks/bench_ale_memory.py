"""Peak memory of ALE + Monte Carlo FWE: NiMARE 0.22.1 and syntony side by side.

Usage::

    SYNTONY_TEST_DATA=../shared/data python benchmarks/bench_ale_memory.py \
        [--dataset nbackflanker_all] [--n-iters 10000] [--n-jobs 2] [--nimare-seconds 240]

Each package runs in its own child process (the fit, then the FWE loop with cluster
statistics, ``n_jobs`` workers) while this process samples the resident memory of the child
and all of its descendants (NiMARE's workers are separate processes) with psutil every
``--interval`` seconds; the kernel's own peak (``ru_maxrss`` of the child, from ``wait4``) is
printed too. NiMARE draws every random focus of every iteration up front, so its peak comes
before the first iteration; at 10,000 iterations its loop takes over an hour here, so
``--nimare-seconds S`` stops it after S seconds and reports the peak reached by then (the output
says so, with the iterations it had done). syntony always runs to completion.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

GB = 1024**3


def _data_dir() -> Path:
    value = os.environ.get("SYNTONY_TEST_DATA")
    if value:
        return Path(value)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def _sleuth(dataset: str) -> Path:
    return _data_dir() / "nimare" / f"{dataset}_sleuth_MNI.txt"


def child_nimare(dataset: str, n_iters: int, n_jobs: int) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    from nimare.correct import FWECorrector
    from nimare.io import convert_sleuth_to_dataset
    from nimare.meta.cbma.ale import ALE

    dset = convert_sleuth_to_dataset(str(_sleuth(dataset)), target="mni152_2mm")
    result = ALE(random_state=0).fit(dset)
    print("FIT_DONE", flush=True)
    FWECorrector(method="montecarlo", n_iters=n_iters, n_cores=n_jobs).transform(result)
    print(f"ITERS_DONE {n_iters}", flush=True)


def child_syntony(dataset: str, n_iters: int, n_jobs: int) -> None:
    from syntony.meta.ale import ALE
    from syntony.meta.sleuth import read_sleuth

    studyset = read_sleuth(_sleuth(dataset))
    est = ALE(n_iters=n_iters, n_jobs=n_jobs, random_state=0).fit(studyset)
    print(f"ITERS_DONE {est.fwe_.n_iters}", flush=True)


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(package: str, args: argparse.Namespace, limit: float | None) -> dict:
    """Run one package in a child process, sampling its memory; stop it after ``limit`` s."""
    import psutil

    cmd = [sys.executable, __file__, "--_child", package, args.dataset, str(args.n_iters)]
    cmd += ["--n-jobs", str(args.n_jobs)]
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_ale_memory_{package}_{os.getpid()}.log"
    with open(log, "w") as sink:
        child = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
        proc = psutil.Process(child.pid)
        start = time.perf_counter()
        peak, peak_at, stopped = 0, 0.0, False
        while True:
            # wait4 (not Popen.poll) reaps the child, so its rusage (peak RSS) is not lost.
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            try:
                rss = _tree_rss(proc)
            except psutil.NoSuchProcess:
                rss = 0
            if rss > peak:
                peak, peak_at = rss, time.perf_counter() - start
            if limit is not None and time.perf_counter() - start > limit and not stopped:
                stopped = True
                for p in [*proc.children(recursive=True), proc]:
                    try:
                        p.kill()
                    except psutil.NoSuchProcess:
                        pass
            time.sleep(args.interval)
        child.returncode = status
        elapsed = time.perf_counter() - start
    text = log.read_text(errors="replace")
    log.unlink()
    if not stopped and status != 0:
        raise SystemExit(f"{package} child failed (status {status}):\n{text[-3000:]}")
    done = re.findall(r"ITERS_DONE (\d+)", text)
    bars = re.findall(r"(\d+)/(\d+) \[", text)  # tqdm progress of NiMARE's loop
    if done:
        iters = int(done[-1])
    elif bars:
        iters = int(bars[-1][0])
    else:
        iters = 0
    return {
        "peak": peak,
        "peak_at": peak_at,
        "maxrss": usage.ru_maxrss * 1024,
        "elapsed": elapsed,
        "stopped": stopped,
        "iters": iters,
        "fit_done": "FIT_DONE" in text or package == "syntony",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="nbackflanker_all")
    parser.add_argument("--n-iters", type=int, default=10_000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--nimare-seconds", type=float, default=None)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--skip-nimare", action="store_true")
    parser.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        package, dataset, n_iters = args._child
        run = child_nimare if package == "nimare" else child_syntony
        run(dataset, int(n_iters), args.n_jobs)
        return

    print(f"{args.dataset}: fit + Monte Carlo FWE (max ALE, cluster size and mass), "
          f"{args.n_iters} iterations, {args.n_jobs} workers; load {os.getloadavg()}")  # fmt: skip
    results = {}
    if not args.skip_nimare:
        results["NiMARE"] = measure("nimare", args, args.nimare_seconds)
    print(f"  (load before syntony: {os.getloadavg()})")
    results["syntony"] = measure("syntony", args, None)
    for name, r in results.items():
        status = (
            f"stopped after {r['elapsed']:.0f} s at iteration {r['iters']} of {args.n_iters}"
            if r["stopped"]
            else f"ran to completion ({r['iters']} iterations) in {r['elapsed']:.0f} s"
        )
        print(
            f"  {name:8s} peak RSS (process tree, sampled) {r['peak'] / GB:6.3f} GB "
            f"at {r['peak_at']:.0f} s; main process ru_maxrss {r['maxrss'] / GB:6.3f} GB; {status}"
        )
    if "NiMARE" in results:
        # The larger of the two measures: sampling can miss a short peak, ru_maxrss misses
        # NiMARE's worker processes.
        nimare, ours = (max(r["peak"], r["maxrss"]) for r in results.values())
        ratio = ours / nimare
        print(
            f"  peak (larger of the two): NiMARE {nimare / GB:.3f} GB, syntony {ours / GB:.3f} GB, "
            f"ratio {ratio:.3f} ({'within' if ratio <= 0.25 else 'above'} the 1/4 target)"
        )
        if results["NiMARE"]["stopped"]:
            print(
                "  NiMARE was stopped early: its figure is the peak reached by then (its draws "
                "for all iterations are allocated before the first one)."
            )


if __name__ == "__main__":
    main()
