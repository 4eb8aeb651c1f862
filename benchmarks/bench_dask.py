"""Scale-out benchmark: the execution layer on local worker processes and on a Dask LocalCluster.

    SYNTONY_TEST_DATA=../shared/data .venv/bin/python benchmarks/bench_dask.py --markdown
    .venv/bin/python benchmarks/bench_dask.py --tiny     # small sizes: checks the script
    .venv/bin/python benchmarks/bench_dask.py --fwe-iters 640 --sweep-runs 8 --agents 500

Prints, with the machine's core count and load (wall times on a busy machine mean little, so
every run also reports the CPU seconds its workers used):

1. Monte Carlo FWE on nbackflanker_all (10,000 iterations): 1 and 2 local worker processes and
   a 2-worker Dask LocalCluster. Wall time, efficiency relative to the 1-process run, worker
   CPU, bytes shipped per task (the task's own bytes, and with the shared data's copies spread
   over the tasks); the three nulls must be identical, and their first blocks equal to a run in
   this process. Start-up costs are measured apart, before the clock: the LocalCluster's start,
   each Dask worker's import of syntony and first call of the compiled kernels (loaded from
   numba's cache, or compiled), and a local pool's start with the shared data.
2. A 64-run sweep of ``concert_crowd`` at 2,000 agents: 2 local processes vs the LocalCluster,
   against one run in this process (efficiency = runs x one run / (workers x wall)).
3. The scheduler's cost per task (empty tasks, all submitted at once, and one at a time), the
   task sizes it implies, and what an idle cluster costs.

The LocalCluster is started only for its own runs, so the local runs do not share the cores
with an idle cluster. ``--markdown`` ends the output with the numbers as a block for
docs/scaling.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS: dict[str, dict] = {}


# -- functions run inside the workers (module level: shipped by reference or by value) ---------


def _noop(item: int) -> int:
    return item


def _pid(item: int, shared: object) -> int:
    time.sleep(0.2)  # long enough for every worker to take one
    return os.getpid()


def _cpu() -> float:
    return time.process_time()


def _shared_copy(item: int, shared: object) -> tuple[int, int]:
    """Which process ran the task and which copy of the shared data it saw."""
    time.sleep(0.2)
    return os.getpid(), id(shared)


def _import_part(module: str) -> tuple[float, float]:
    """Wall and CPU seconds to import ``module`` in this worker (0 when already imported)."""
    import importlib

    t, c = time.perf_counter(), time.process_time()
    importlib.import_module(module)
    return time.perf_counter() - t, time.process_time() - c


def _first_calls(problem, draws: np.ndarray) -> tuple[float, float, float, bool]:
    """CPU seconds of the first and the second one-iteration call of the compiled FWE kernels
    in this process (the difference is the cache load or the compilation), and whether numba
    started a thread pool (it must not: an FWE task is one thread)."""
    from numba.np.ufunc import parallel

    c = time.process_time()
    problem.run(draws[:1])
    first = time.process_time() - c
    c = time.process_time()
    problem.run(draws[1:2])
    second = time.process_time() - c
    return first, second, first - second, bool(parallel._is_initialized)


# -- measuring helpers --------------------------------------------------------------------------


class _Clock:
    """Wall time, this process' CPU, its reaped children's CPU and the Dask workers' CPU."""

    def __init__(self, cluster=None) -> None:
        self.cluster = cluster

    def _workers(self) -> float:
        if self.cluster is None:
            return 0.0
        return float(sum(self.cluster.client.run(_cpu).values()))

    def __enter__(self) -> _Clock:
        times = os.times()
        self.load0 = os.getloadavg()[0]
        self.workers0 = self._workers()
        self.children0 = times.children_user + times.children_system
        self.own0 = time.process_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.own = time.process_time() - self.own0
        times = os.times()
        # A local pool is joined when its call ends, so its processes' CPU is the children's.
        self.worker_cpu = times.children_user + times.children_system - self.children0
        self.worker_cpu += self._workers() - self.workers0
        self.load = max(self.load0, os.getloadavg()[0])


def _snapshot(executor) -> tuple[int, int, int]:
    return executor.stats.tasks, executor.stats.task_bytes, executor.stats.shared_sends


def _stats_delta(executor, before) -> tuple[int, float, float, int]:
    """Tasks, own bytes per task, bytes per task with the shared copies, shared copies."""
    s = executor.stats
    tasks = s.tasks - before[0]
    own = s.task_bytes - before[1]
    copies = s.shared_sends - before[2]
    return tasks, own / max(tasks, 1), (own + s.shared_bytes * copies) / max(tasks, 1), copies


def _start_cluster():
    """A 2-worker LocalCluster, started only for the Dask runs."""
    from syntony.execution import DaskExecutor

    t = time.perf_counter()
    cluster = DaskExecutor(n_local_workers=2)
    cluster.started_in = time.perf_counter() - t
    print(f"Dask LocalCluster of 2 workers started in {cluster.started_in:.2f} s wall")
    return cluster


def _same_frames(a, b) -> bool:
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=True)
    except AssertionError:
        return False
    return True


# -- 1. Monte Carlo FWE -------------------------------------------------------------------------


def bench_fwe(n_iters: int) -> None:
    from bench_ale import load
    from syntony.execution import LocalExecutor
    from syntony.meta.ale import ALE
    from syntony.meta.fwe import BLOCK, monte_carlo_null
    from syntony.meta.null_kernels import NullProblem

    t = time.perf_counter()
    _, studyset = load("nbackflanker_all")
    fitted = ALE(n_iters=0, n_jobs=1).fit(studyset)
    layout, threshold = fitted.layout_, fitted.threshold_
    print(f"\n## 1. Monte Carlo FWE: nbackflanker_all ({studyset.n_experiments} experiments, "
          f"{layout.n_foci} foci, {layout.mask_local.shape[0]} mask voxels), {n_iters} "
          f"iterations in {-(-n_iters // BLOCK)} tasks of {BLOCK}")  # fmt: skip
    print(f"data and ALE fit: {time.perf_counter() - t:.1f} s")

    # Start-up, apart from the clock: this process first (a forked local worker inherits its
    # imports and compiled kernels), then a local pool's start, later every Dask worker.
    problem = NullProblem.build(layout, threshold)
    draws = np.random.default_rng(0).integers(0, problem.n_mask, size=(2, problem.n_foci))
    first, second, load_cost, _ = _first_calls(problem, draws)
    print(f"this process: first kernel call {first:.2f} s CPU, next one-iteration call "
          f"{second:.3f} s (cache load or compilation {load_cost:.2f} s)")  # fmt: skip
    ref_iters = min(n_iters, 2 * BLOCK)
    with _Clock() as clock:
        reference = monte_carlo_null(layout, n_iters=ref_iters, threshold=threshold, seed=0,
                                     n_jobs=1)  # fmt: skip
    per_iter = clock.own / ref_iters
    print(f"in this process, 1 thread: {ref_iters} iterations in {clock.wall:.2f} s wall, "
          f"{clock.own:.2f} s CPU = {per_iter * 1e3:.1f} ms CPU per iteration, "
          f"{per_iter * BLOCK:.2f} s per task of {BLOCK}")  # fmt: skip
    warm = LocalExecutor(2, kind="processes")
    with _Clock() as clock:
        pids = warm.map(_pid, range(2), shared=problem)
    pool_start = clock.wall
    print(f"local pool of 2 processes (forked: imports and compiled kernels inherited) started "
          f"with the shared data ({warm.stats.shared_bytes / 1e6:.2f} MB each) in "
          f"{pool_start:.2f} s wall ({len(set(pids))} processes answered); every local run "
          "pays this once, inside its clock")  # fmt: skip
    copies = warm.map(_shared_copy, range(8), shared=problem)
    print(f"local pool, 8 tasks: {len(set(copies))} copies of the shared data in "
          f"{len({pid for pid, _ in copies})} processes")  # fmt: skip

    rows, nulls = [], []

    def clocked(label: str, workers: int, executor, cluster=None) -> None:
        before = _snapshot(executor)
        with _Clock(cluster) as clock:
            nulls.append(monte_carlo_null(layout, n_iters=n_iters, threshold=threshold, seed=0,
                                          executor=executor))  # fmt: skip
        tasks, own_bytes, per_task, copies = _stats_delta(executor, before)
        rows.append(dict(label=label, workers=workers, wall=clock.wall, cpu=clock.worker_cpu,
                         parent=clock.own, load=clock.load, tasks=tasks, own_bytes=own_bytes,
                         per_task=per_task, shared=executor.stats.shared_bytes, copies=copies))  # fmt: skip

    clocked("local, 1 process", 1, LocalExecutor(1, kind="processes"))
    clocked("local, 2 processes", 2, LocalExecutor(2, kind="processes"))
    with _start_cluster() as cluster:
        imports = cluster.client.run(_import_part, "syntony.meta.fwe")
        calls = cluster.client.run(_first_calls, problem, draws)
        startup = []
        for k, (address, (wall, cpu)) in enumerate(sorted(imports.items())):
            f1, _, f_load, threads = calls[address]
            startup.append(dict(import_wall=wall, import_cpu=cpu, kernels=f_load))
            print(f"Dask worker {k}: import syntony.meta.fwe {wall:.2f} s wall / {cpu:.2f} s "
                  f"CPU; first kernel call {f1:.2f} s CPU (cache load or compilation "
                  f"{f_load:.2f} s); numba thread pool started: {threads}")  # fmt: skip
        copies = cluster.map(_shared_copy, range(8), shared=problem)
        print(f"Dask, 8 tasks: {len(set(copies))} copies of the shared data in "
              f"{len({pid for pid, _ in copies})} worker processes")  # fmt: skip
        clocked("Dask LocalCluster, 2 workers", 2, cluster, cluster)

    identical = all(
        np.array_equal(nulls[0].max_ale, n.max_ale)
        and np.array_equal(nulls[0].max_size, n.max_size)
        and np.array_equal(nulls[0].max_mass, n.max_mass)
        for n in nulls
    )
    prefix = all(
        np.array_equal(reference.max_ale, n.max_ale[:ref_iters])
        and np.array_equal(reference.max_mass, n.max_mass[:ref_iters])
        for n in nulls
    )
    base = rows[0]
    print(
        "\n| executor | wall s | efficiency | worker CPU s | CPU / 1 process | CPU ms/iter "
        "| parent CPU s | load | B/task own | kB/task incl. shared | shared MB x copies |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        r["efficiency"] = base["wall"] / (r["workers"] * r["wall"])
        print(f"| {r['label']} | {r['wall']:.1f} | {r['efficiency']:.2f} | {r['cpu']:.1f} | "
              f"{r['cpu'] / base['cpu']:.2f} | {r['cpu'] / n_iters * 1e3:.1f} | "
              f"{r['parent']:.1f} | {r['load']:.1f} | {r['own_bytes']:.0f} | "
              f"{r['per_task'] / 1e3:.1f} | {r['shared'] / 1e6:.2f} x {r['copies']} |")  # fmt: skip
    print(f"nulls identical on the three executors: {identical}; first {ref_iters} iterations "
          f"equal to this process' run: {prefix}")  # fmt: skip
    RESULTS["fwe"] = dict(n_iters=n_iters, rows=rows, identical=identical and prefix,
                          ms_per_iter=per_iter * 1e3, block_s=per_iter * BLOCK,
                          pool_start=pool_start, cluster_start=cluster.started_in,
                          startup=startup)  # fmt: skip


# -- 2. Sweep -----------------------------------------------------------------------------------


def bench_sweep(n_runs: int, n_agents: int, steps: int | None) -> None:
    from syntony.execution import LocalExecutor
    from syntony.model import Scenario, simulate, sweep

    replicates = 4 if n_runs % 4 == 0 else 1
    base = Scenario.builtin("concert_crowd").with_overrides({"agents.n": n_agents})
    if steps:
        base = base.with_overrides({"simulation.steps": steps})
    kappas = [float(v) for v in np.round(np.linspace(0.5, 2.0, n_runs // replicates), 4)]
    grid = {"agents.kappa": kappas}
    print(f"\n## 2. Sweep of concert_crowd: {n_runs} runs ({len(kappas)} kappa values x "
          f"{replicates} replicates), {n_agents} agents, {base.simulation.steps} steps")  # fmt: skip
    with _Clock() as clock:
        simulate(base, seed=0)
    one = clock.own
    print(f"one run in this process: {clock.wall:.2f} s wall, {one:.2f} s CPU")
    rows, results = [], []

    def clocked(label: str, executor, cluster=None) -> None:
        before = _snapshot(executor)
        with _Clock(cluster) as clock:
            results.append(sweep(base, grid, replicates=replicates, seed=0, executor=executor))
        _, own_bytes, _, _ = _stats_delta(executor, before)
        rows.append(dict(label=label, wall=clock.wall, cpu=clock.worker_cpu, load=clock.load,
                         own_bytes=own_bytes, efficiency=n_runs * one / (2 * clock.wall)))  # fmt: skip

    clocked("local, 2 processes", LocalExecutor(2, kind="processes"))
    with _start_cluster() as cluster:
        imports = cluster.client.run(_import_part, "syntony.model")
        for k, (_, (wall, cpu)) in enumerate(sorted(imports.items())):
            print(f"Dask worker {k}: import syntony.model {wall:.2f} s wall / {cpu:.2f} s CPU")
        clocked("Dask LocalCluster, 2 workers", cluster, cluster)
    same = _same_frames(results[0].runs, results[1].runs) and results[0].dataset.equals(
        results[1].dataset
    )
    print("\n| executor | wall s | s per run | efficiency | worker CPU s | load | kB/task |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['label']} | {r['wall']:.1f} | {r['wall'] / n_runs:.2f} | "
              f"{r['efficiency']:.2f} | {r['cpu']:.1f} | {r['load']:.1f} | "
              f"{r['own_bytes'] / 1e3:.1f} |")  # fmt: skip
    print(f"runs and summaries identical on both executors: {same}")
    RESULTS["sweep"] = dict(n_runs=n_runs, n_agents=n_agents, one_run_s=one, rows=rows,
                            identical=same)  # fmt: skip


# -- 3. Scheduler -------------------------------------------------------------------------------


def bench_scheduler(n_tasks: int) -> None:
    print(f"\n## 3. Scheduler cost (LocalCluster, 2 workers; client, scheduler and workers share "
          f"the {os.cpu_count()} cores)")  # fmt: skip
    with _start_cluster() as cluster:
        cluster.map(_noop, range(20))  # warm
        with _Clock(cluster) as idle:
            time.sleep(5.0)
        t = time.perf_counter()
        cluster.map(_noop, range(n_tasks))
        per_task = (time.perf_counter() - t) / n_tasks
        n_one = min(100, n_tasks)
        t = time.perf_counter()
        for k in range(n_one):
            cluster.map(_noop, [k])
        latency = (time.perf_counter() - t) / n_one
    print(f"- idle for {idle.wall:.1f} s, the cluster used {idle.own / idle.wall * 100:.1f} % of "
          f"a core in this process (scheduler, nannies, client) and "
          f"{idle.worker_cpu / idle.wall * 100:.1f} % in its 2 workers")  # fmt: skip
    print(f"- {n_tasks} empty tasks submitted at once: c = {per_task * 1e3:.2f} ms per task "
          f"(about {1 / per_task:.0f} tasks per second through one scheduler)")  # fmt: skip
    print(f"- one empty task at a time, submit to result: {latency * 1e3:.1f} ms")
    print(f"- a task of t seconds loses c / t to the scheduler: under 1 % for t >= 100 c = "
          f"{100 * per_task:.2f} s; one scheduler keeps W workers fed while t >= W c "
          f"(W = 100: {100 * per_task:.2f} s, W = 3,200: {3200 * per_task:.1f} s)")  # fmt: skip
    for name, label in (("fwe", "an FWE task"), ("sweep", "a sweep run")):
        seconds = RESULTS.get(name, {}).get("block_s" if name == "fwe" else "one_run_s")
        if seconds:
            print(f"- {label} ({seconds:.2f} s of CPU here) loses "
                  f"{per_task / seconds * 100:.3f} % to it")  # fmt: skip
    RESULTS["scheduler"] = dict(n_tasks=n_tasks, per_task_s=per_task, latency_s=latency,
                                idle_parent=idle.own / idle.wall,
                                idle_workers=idle.worker_cpu / idle.wall)  # fmt: skip


def _markdown() -> None:
    print("\n<!-- bench:start -->")
    print(f"Measured with `benchmarks/bench_dask.py` on {os.cpu_count()} cores "
          f"({platform.machine()}), {time.strftime('%Y-%m-%d')}, load average at the end "
          f"{os.getloadavg()[0]:.1f}.")  # fmt: skip
    fwe = RESULTS.get("fwe")
    if fwe:
        print(f"\nMonte Carlo FWE, nbackflanker_all, {fwe['n_iters']:,} iterations "
              f"({fwe['ms_per_iter']:.1f} ms of CPU per iteration, {fwe['block_s']:.1f} s per "
              f"task of 64; nulls identical: {'yes' if fwe['identical'] else 'NO'}):\n")  # fmt: skip
        print("| executor | wall | efficiency | worker CPU | bytes per task (own / with shared "
              "copies) |")  # fmt: skip
        print("|---|---:|---:|---:|---:|")
        for r in fwe["rows"]:
            print(f"| {r['label']} | {r['wall']:.0f} s | {r['efficiency']:.2f} | "
                  f"{r['cpu']:.0f} s | {r['own_bytes']:.0f} B / "
                  f"{r['per_task'] / 1e3:.0f} kB |")  # fmt: skip
        s = fwe["startup"]
        print(f"\nStart-up, outside the clock: LocalCluster {fwe['cluster_start']:.1f} s; per "
              f"Dask worker, importing syntony.meta.fwe {max(x['import_cpu'] for x in s):.1f} s "
              f"of CPU and loading the compiled kernels {max(x['kernels'] for x in s):.2f} s; a "
              f"local pool of 2 forked processes with the shared data {fwe['pool_start']:.2f} s "
              "(inside every local run's clock).")  # fmt: skip
    sweep = RESULTS.get("sweep")
    if sweep:
        print(f"\nSweep of concert_crowd, {sweep['n_runs']} runs x {sweep['n_agents']:,} agents "
              f"(one run {sweep['one_run_s']:.1f} s of CPU; identical: "
              f"{'yes' if sweep['identical'] else 'NO'}):\n")  # fmt: skip
        print("| executor | wall | per run | efficiency |")
        print("|---|---:|---:|---:|")
        for r in sweep["rows"]:
            print(f"| {r['label']} | {r['wall']:.0f} s | {r['wall'] / sweep['n_runs']:.2f} s | "
                  f"{r['efficiency']:.2f} |")  # fmt: skip
    sched = RESULTS.get("scheduler")
    if sched:
        print(f"\nScheduler: c = {sched['per_task_s'] * 1e3:.2f} ms per task when many are "
              f"queued, {sched['latency_s'] * 1e3:.1f} ms for one task alone; an idle cluster "
              f"uses {sched['idle_parent'] * 100:.1f} % of a core in the client's process and "
              f"{sched['idle_workers'] * 100:.1f} % in its workers.")  # fmt: skip
    print("<!-- bench:end -->")


def _autogroup() -> bool:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="Small sizes (checks the script).")
    parser.add_argument("--fwe-iters", type=int, help="FWE iterations (default 10,000).")
    parser.add_argument("--sweep-runs", type=int, help="Sweep runs (default 64).")
    parser.add_argument("--agents", type=int, help="Agents per sweep run (default 2,000).")
    parser.add_argument("--steps", type=int, help="Steps per sweep run (default: scenario's).")
    parser.add_argument("--tasks", type=int, help="Empty tasks for the scheduler (default 2,000).")
    parser.add_argument("--only", default="fwe,sweep,scheduler", help="Parts to run.")
    parser.add_argument("--markdown", action="store_true", help="End with a docs block.")
    opts = parser.parse_args()
    tiny = dict(fwe_iters=256, sweep_runs=8, agents=100, steps=40, tasks=200)
    full = dict(fwe_iters=10_000, sweep_runs=64, agents=2000, steps=None, tasks=2000)
    sizes = {k: getattr(opts, k) or (tiny if opts.tiny else full)[k] for k in full}
    parts = set(opts.only.split(","))

    import distributed
    import numba

    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    print(f"# syntony scale-out benchmark, {time.strftime('%Y-%m-%d %H:%M')}")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"cores: {os.cpu_count()} (usable by this process: {usable}; autogroup scheduling "
          f"{'on' if _autogroup() else 'off'}); load average at start "
          f"{' / '.join(f'{v:.1f}' for v in os.getloadavg())}; Python "
          f"{platform.python_version()}, numba {numba.__version__}, distributed "
          f"{distributed.__version__}")  # fmt: skip
    print(f"sizes: {sizes}")
    if _autogroup() and os.getloadavg()[0] > 0.5:
        print("WARNING: the kernel's autogroup scheduling is on and the machine is not idle: "
              "the CPU is shared between sessions first, so this benchmark's worker processes "
              "(one session) share one session's slice, and 2 workers cannot be compared with "
              "1. Run it on a quiet machine.")  # fmt: skip
    start = time.perf_counter()
    if "fwe" in parts:
        bench_fwe(sizes["fwe_iters"])
    if "sweep" in parts:
        bench_sweep(sizes["sweep_runs"], sizes["agents"], sizes["steps"])
    if "scheduler" in parts:
        bench_scheduler(sizes["tasks"])
    print(f"\ntotal: {time.perf_counter() - start:.0f} s wall; load average at the end "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    if opts.markdown:
        _markdown()


if __name__ == "__main__":
    main()
