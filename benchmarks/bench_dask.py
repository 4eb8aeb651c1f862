"""Scale-out benchmark: the execution layer locally and on a Dask LocalCluster.

    .venv/bin/python benchmarks/bench_dask.py                  # issue-13 sizes (long)
    .venv/bin/python benchmarks/bench_dask.py --tiny           # a quick check of the script

Prints, with the machine's core count:

1. Monte Carlo FWE on nbackflanker_all: 1 and 2 local worker processes and a 2-worker Dask
   LocalCluster (wall time, efficiency relative to the 1-worker run, bytes shipped per task;
   the nulls are checked to be identical).
2. A sweep of ``concert_crowd`` (runs x agents): 2 local processes vs a 2-worker LocalCluster.
3. The scheduler's cost per task (empty tasks on the LocalCluster) and the task size that keeps
   it below 1 % of the work.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _noop(item: int) -> int:
    return item


def bench_fwe(n_iters: int, cluster) -> None:
    from bench_ale import load
    from syntony.execution import LocalExecutor
    from syntony.meta.ale import ALE
    from syntony.meta.fwe import BLOCK, monte_carlo_null

    _, studyset = load("nbackflanker_all")
    fitted = ALE(n_iters=0, n_jobs=1).fit(studyset)
    args = dict(n_iters=n_iters, threshold=fitted.threshold_, seed=0)
    monte_carlo_null(fitted.layout_, n_iters=BLOCK, threshold=fitted.threshold_, n_jobs=1)  # jit
    rows, nulls = [], []
    for label, executor in (
        ("local, 1 process", LocalExecutor(1, kind="processes")),
        ("local, 2 processes", LocalExecutor(2, kind="processes")),
        ("Dask LocalCluster, 2 workers", cluster),
    ):
        before = executor.stats.tasks, executor.stats.task_bytes, executor.stats.shared_sends
        start = time.perf_counter()
        nulls.append(monte_carlo_null(fitted.layout_, executor=executor, **args))
        wall = time.perf_counter() - start
        tasks = executor.stats.tasks - before[0]
        shipped = (executor.stats.task_bytes - before[1]) + executor.stats.shared_bytes * (
            executor.stats.shared_sends - before[2]
        )
        rows.append((label, wall, shipped / tasks, executor.stats.shared_bytes, tasks))
    same = all(np.array_equal(nulls[0].max_ale, n.max_ale) and
               np.array_equal(nulls[0].max_mass, n.max_mass) for n in nulls)  # fmt: skip
    print(f"\nMonte Carlo FWE, nbackflanker_all ({studyset.n_experiments} experiments), "
          f"{n_iters} iterations, {rows[0][4]} tasks of {BLOCK}; nulls identical: {same}")  # fmt: skip
    base = rows[0][1]
    for label, wall, per_task, shared, _ in rows:
        workers = 1 if "1 process" in label else 2
        print(f"  {label:30s} {wall:8.2f} s  efficiency {base / wall / workers:5.2f}  "
              f"{per_task / 1e3:8.1f} kB shipped per task (shared data {shared / 1e6:.2f} MB "
              "once per worker)")  # fmt: skip


def bench_sweep(n_runs: int, n_agents: int, steps: int | None, cluster) -> None:
    from syntony.execution import LocalExecutor
    from syntony.model import Scenario, sweep

    base = Scenario.builtin("concert_crowd").with_overrides({"agents.n": n_agents})
    if steps:
        base = base.with_overrides({"simulation.steps": steps})
    grid = {"agents.kappa": list(np.round(np.linspace(0.5, 2.0, n_runs // 4), 4))}
    times = {}
    for label, executor in (("local, 2 processes", LocalExecutor(2, kind="processes")),
                            ("Dask LocalCluster, 2 workers", cluster)):  # fmt: skip
        start = time.perf_counter()
        result = sweep(base, grid, replicates=4, seed=0, executor=executor)
        times[label] = time.perf_counter() - start
    print(f"\nSweep of concert_crowd: {len(result.runs)} runs x {n_agents} agents")
    for label, wall in times.items():
        print(f"  {label:30s} {wall:8.2f} s  ({wall / n_runs:.3f} s per run)")


def bench_scheduler(n_tasks: int, cluster) -> None:
    cluster.map(_noop, range(10))  # warm
    start = time.perf_counter()
    cluster.map(_noop, range(n_tasks))
    per_task = (time.perf_counter() - start) / n_tasks
    print(f"\nScheduler cost: {n_tasks} empty tasks, {per_task * 1e3:.2f} ms per task; tasks of "
          f"at least {per_task * 100:.2f} s keep it under 1 %")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="Small sizes (checks the script).")
    opts = parser.parse_args()
    import distributed  # noqa: F401

    from syntony.execution import DaskExecutor

    print(f"cores: {os.cpu_count()}")
    with DaskExecutor(n_local_workers=2) as cluster:
        if opts.tiny:
            bench_fwe(256, cluster)
            bench_sweep(8, 100, 40, cluster)
            bench_scheduler(200, cluster)
        else:
            bench_fwe(10_000, cluster)
            bench_sweep(64, 2000, None, cluster)
            bench_scheduler(2000, cluster)


if __name__ == "__main__":
    main()
