"""Benchmark of the agent-based contagion loop.

1. The target run: 10^6 agents on a small-world network of mean degree 10 (Watts–Strogatz,
   k = 5 per side, 10% rewired), 1,000 steps, modes and online synchrony (tau_rho = 2 s) on, storing the
   summaries every step and a sample of 1,000 agents every 10 steps. Prints wall time, peak
   memory and edge-updates per second.
2. A side-by-side ratio at a smaller size: the same steps with the reference engine (plain
   numpy + scipy.sparse, one pure function per stage, no fusion) and with the fused numba
   engine, on the same network and noise; prints time per edge-update of each and the ratio,
   and checks that both give the same states.

With ``--general`` every agent gets its own parameters and every edge its own weight, so the
fused engine cannot use its shortcuts for a homogeneous crowd on an unweighted network (one
shared row of agent constants, one number for A_ij * trust_ij) and reads them per agent and
per edge instead.

Usage: python benchmarks/bench_agents.py [--agents 1000000] [--steps 1000] [--ref-agents 100000]
       [--general]
"""

from __future__ import annotations

import argparse
import resource
import time

import numba
import numpy as np
import psutil

from syntony.model import network as net
from syntony.model.agents import LoopParams, initial_state
from syntony.model.loop import NumbaEngine, NumpyEngine, RecordSpec, run_loop


def make_params(n: int, seed: int, general: bool = False) -> LoopParams:
    adjacency = net.watts_strogatz(n, 5, 0.1, seed=seed)
    one = np.ones(n)
    if general:
        rng = np.random.default_rng(seed + 100)
        adjacency.data = rng.uniform(0.5, 1.5, adjacency.nnz)
        one = rng.uniform(0.8, 1.2, n)
    return LoopParams(
        adjacency=adjacency, kappa=one, homeostasis=0.5 * one, q_x=0.1 * one, sigma=0.2 * one,
        gamma_int=one, gamma_soc=one, q=0.01 * one, hazard_def=0.01 * one, hazard_aff=0.01 * one,
        obs=np.array([1.0]), cue_noise=np.array([0.5]), dt=0.1, tau_rho=2.0, beta_threat=0.5,
    )  # fmt: skip


def drive_for(n: int, steps: int):
    stressed = np.zeros((n, 1))
    stressed[: n // 20] = 3.0  # 5% of the crowd gets a stressor during the first 10% of the run

    def drive(t: int):
        return stressed if t < steps // 10 else None

    return drive


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--ref-agents", type=int, default=100_000)
    parser.add_argument("--ref-steps", type=int, default=30)
    parser.add_argument(
        "--general", action="store_true", help="per-agent parameters and per-edge weights"
    )
    parser.add_argument(
        "--pass-steps",
        type=int,
        default=50,
        help="after the target run, time each kernel pass separately over this many steps",
    )
    args = parser.parse_args()
    print(
        f"threads: numba {numba.get_num_threads()}, cpus {psutil.cpu_count()}, load {psutil.getloadavg()}"
    )

    # -- warm-up: compile the kernels outside the timings
    small = make_params(20_000, 0, args.general)
    run_loop(small, initial_state(small, x0=0.0, mu0=0.0, v0=1.0, p0=0.05), 3, key=0,
             record=RecordSpec(agents=np.arange(10)), engine=NumbaEngine())  # fmt: skip

    # -- 1. side-by-side ratio at a smaller size
    n_ref, steps_ref = args.ref_agents, args.ref_steps
    params = make_params(n_ref, 1, args.general)
    spec = RecordSpec(agents=np.arange(0, n_ref, 100), every=5)
    timings = {}
    records = {}
    for name, engine in (
        ("reference numpy+scipy.sparse", NumpyEngine()),
        ("fused numba", NumbaEngine()),
    ):
        state = initial_state(params, x0=0.0, mu0=0.0, v0=1.0, p0=0.05)
        t0 = time.perf_counter()
        records[name] = run_loop(params, state, steps_ref, key=7, drive=drive_for(n_ref, steps_ref),
                                 record=spec, engine=engine)  # fmt: skip
        timings[name] = time.perf_counter() - t0
    edge_updates = params.adjacency.nnz * steps_ref
    a, b = records.values()
    diff = max(
        float(np.max(np.abs(a.agent[k] - b.agent[k]))) for k in ("x", "mu", "v", "p_defensive")
    )
    print(
        f"\n[ratio] {n_ref} agents, {params.adjacency.nnz} edges, {steps_ref} steps; max |diff| of states = {diff:.2e}"
    )
    for name, seconds in timings.items():
        print(f"  {name:30s} {seconds:8.2f} s   {seconds / edge_updates * 1e9:8.1f} ns/edge-update")
    ref, fast = timings.values()
    print(f"  ratio reference / fused per edge-update: {ref / fast:.1f}x")

    # -- 2. the target run
    n, steps = args.agents, args.steps
    t0 = time.perf_counter()
    params = make_params(n, 2, args.general)
    t_net = time.perf_counter() - t0
    rng = np.random.default_rng(3)
    spec = RecordSpec(agents=np.sort(rng.choice(n, 1000, replace=False)), every=10)
    state = initial_state(params, x0=0.0, mu0=0.0, v0=1.0, p0=0.05)
    print(f"\n[target] {n} agents, {params.adjacency.nnz} edges (mean degree {params.adjacency.nnz / n:.2f}), "
          f"{steps} steps; network built in {t_net:.1f} s; RSS after setup {peak_rss_mb():.0f} MB")  # fmt: skip
    print(f"  load average before the run: {psutil.getloadavg()}", flush=True)
    t0 = time.perf_counter()
    last = [t0]

    def progress(done: int) -> None:
        if done % max(1, steps // 10) == 0:
            now = time.perf_counter()
            print(
                f"  step {done:5d}: {now - t0:7.1f} s elapsed ({(now - last[0]) / max(1, steps // 10) * 1e3:.0f} ms/step)",
                flush=True,
            )
            last[0] = now

    rec = run_loop(params, state, steps, key=11, drive=drive_for(n, steps), record=spec,
                   engine=NumbaEngine(), progress=progress)  # fmt: skip
    wall = time.perf_counter() - t0
    updates = params.adjacency.nnz * steps
    print(f"  wall time (loop): {wall:.1f} s  (+ network {t_net:.1f} s)")
    print(f"  peak memory (ru_maxrss): {peak_rss_mb():.0f} MB")
    print(
        f"  edge-updates per second: {updates / wall:.3e}  ({wall / updates * 1e9:.1f} ns/edge-update)"
    )
    print(f"  agent-steps per second: {n * steps / wall:.3e}")
    print(f"  final R = {rec.summary['synchrony'][-1, 0]:.3f}, D = {rec.summary['dispersion'][-1, 0]:.4f}, "
          f"max fraction defensive = {rec.summary['fraction_defensive'].max():.3f}")  # fmt: skip
    if args.pass_steps > 0:
        per_pass(params, state, args.pass_steps, spec)


def per_pass(params: LoopParams, state, steps: int, spec: RecordSpec) -> None:
    """Where a step's time goes: each kernel timed on its own (wall clock, all threads)."""
    from syntony.model import _kernels

    spent = {"observe": 0.0, "interact (edges + agents)": 0.0}
    original = _kernels.kernels

    def timed(*args):
        def wrap(name, kernel):
            def run(*a):
                t = time.perf_counter()
                kernel(*a)
                spent[name] += time.perf_counter() - t

            return run

        return tuple(wrap(name, k) for name, k in zip(spent, original(*args), strict=True))

    t0 = time.perf_counter()
    NumbaEngine().prepare(params, state)
    t_prep = time.perf_counter() - t0  # run_loop does this once per run, counted below
    _kernels.kernels = timed
    try:
        t0 = time.perf_counter()
        run_loop(params, state, steps, key=12, record=spec, engine=NumbaEngine())
        wall = time.perf_counter() - t0
    finally:
        _kernels.kernels = original
    print(
        f"\n[passes] {steps} more steps, load {psutil.getloadavg()}: {wall / steps * 1e3:.1f} ms/step"
    )
    for name, seconds in spent.items():
        print(f"  {name:28s} {seconds / steps * 1e3:7.1f} ms/step")
    rest = wall - sum(spent.values()) - t_prep
    print(f"  {'driver (python, summaries)':28s} {rest / steps * 1e3:7.1f} ms/step")
    print(f"  once per run: constants prepared in {t_prep:.2f} s")


if __name__ == "__main__":
    main()
