"""Benchmark: CrowdFilter (eqs 3-5, Q = 0, H = I) against filterpy's per-step KalmanFilter.

Runs in one process:

1. syntony's CrowdFilter (it picks the diagonalised algorithm) on N = 2,000 and N = 5,000
   individuals over T = 1,000 steps;
2. filterpy.kalman.KalmanFilter (predict + update per step, the textbook dense filter) on
   the same N = 2,000 problem, for as many steps as it completes in ``--budget`` seconds;
3. the largest difference in mu between the two over the steps filterpy completed (the
   filter is causal, so the first k steps of the full run are the run on the first k steps).

It prints timings, per-step times, their ratio and the peak memory; it asserts nothing
about time. Usage: ``python benchmarks/bench_crowd.py [--budget 20] [--seed 0]``.
On a shared machine, multithreaded BLAS can thrash; compare with OPENBLAS_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def make_problem(n: int, n_steps: int, seed: int):
    """A crowd with group-structured synchrony and independent sensory noise."""
    from syntony.model.crowd import prior_cov_from_synchrony

    rng = np.random.default_rng(seed)
    # Synchrony from a 10-factor model (shared rhythms), normalised to a correlation matrix.
    loadings = rng.standard_normal((n, 10)) * 0.4
    cov = loadings @ loadings.T + np.diag(rng.uniform(0.3, 1.0, n))
    scale = 1.0 / np.sqrt(np.diag(cov))
    rho = cov * scale[:, None] * scale[None, :]
    np.fill_diagonal(rho, 1.0)
    variances = rng.uniform(0.5, 2.0, n)
    prior_cov = prior_cov_from_synchrony(rho, variances)
    noise_var = rng.uniform(0.5, 1.5, n)
    truth = np.linalg.cholesky(prior_cov) @ rng.standard_normal(n)
    observations = truth + np.sqrt(noise_var) * rng.standard_normal((n_steps, n))
    return observations, np.zeros(n), prior_cov, noise_var


def run_ours(n: int, n_steps: int, seed: int):
    from syntony.model.crowd import CrowdFilter

    obs, m0, prior_cov, noise_var = make_problem(n, n_steps, seed)
    start, cpu = time.perf_counter(), time.process_time()
    ds = CrowdFilter(noise_var).run(obs, prior_mean=m0, prior_cov=prior_cov).dataset
    return time.perf_counter() - start, time.process_time() - cpu, ds


def run_filterpy(obs, m0, prior_cov, noise_var, budget: float):
    from filterpy.kalman import KalmanFilter

    n = m0.shape[0]
    kf = KalmanFilter(dim_x=n, dim_z=n)
    kf.x = m0.copy()
    kf.P = prior_cov.copy()
    kf.F = np.eye(n)
    kf.H = np.eye(n)
    kf.R = np.diag(noise_var)
    kf.Q = np.zeros((n, n))
    means, times = [], []
    start = time.perf_counter()
    while time.perf_counter() - start < budget and len(means) < obs.shape[0]:
        tick = time.perf_counter()
        kf.predict()
        kf.update(obs[len(means)])
        times.append(time.perf_counter() - tick)
        means.append(kf.x.copy())
    return np.array(means), np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0, help="seconds for filterpy")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import filterpy
    import scipy

    print(f"numpy {np.__version__}, scipy {scipy.__version__}, filterpy {filterpy.__version__}")
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"cpus {os.cpu_count()}, OPENBLAS_NUM_THREADS={threads}")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at start")
    n_steps = 1000
    ours, kept = {}, None
    for n, target in ((2000, 5.0), (5000, 30.0)):
        elapsed, cpu, ds = run_ours(n, n_steps, args.seed)
        ours[n] = elapsed
        print(
            f"syntony CrowdFilter N={n:5d} T={n_steps}: {elapsed:7.2f} s wall, {cpu:7.2f} s cpu "
            f"({1e3 * elapsed / n_steps:.3f} ms/step, algorithm {ds.attrs['algorithm']}, "
            f"target < {target:.0f} s), final mean gain {ds['mean_gain'].values[-1]:.5f}"
        )
        if n == 2000:
            kept = ds["mu"].values
        del ds

    n = 2000
    obs, m0, prior_cov, noise_var = make_problem(n, n_steps, args.seed)
    means, times = run_filterpy(obs, m0, prior_cov, noise_var, args.budget)
    k = means.shape[0]
    ref_step = float(np.median(times))
    print(
        f"filterpy KalmanFilter N={n} : {k} steps in {times.sum():.2f} s "
        f"({1e3 * ref_step:.1f} ms/step median, {1e3 * times.mean():.1f} ms/step mean)"
    )
    diff = float(np.abs(kept[:k] - means).max())
    print(f"max |mu_syntony - mu_filterpy| over the first {k} steps: {diff:.3e}")
    our_step = ours[n] / n_steps
    print(
        f"per-step time ratio filterpy / syntony at N={n}: {ref_step / our_step:.0f}x "
        f"(mean-based {times.mean() / our_step:.0f}x; target >= 50x)"
    )
    # The structured form: an exchangeable crowd far beyond dense reach, with volatility.
    from syntony.model.crowd import CrowdFilter, ExchangeableCov

    big, big_steps = 100_000, 200
    obs_big = np.random.default_rng(args.seed).standard_normal((big_steps, big))
    start = time.perf_counter()
    ds = (
        CrowdFilter(ExchangeableCov(big, 1.0, 0.1), process_noise=ExchangeableCov(big, 0.01, 0.005))
        .run(
            obs_big,
            prior_mean=0.0,
            prior_cov=ExchangeableCov.from_synchrony(big, rho=0.4, variance=1.0),
        )
        .dataset
    )
    elapsed = time.perf_counter() - start
    print(
        f"syntony CrowdFilter exchangeable N={big} T={big_steps} with Q > 0: {elapsed:.2f} s "
        f"({1e3 * elapsed / big_steps:.2f} ms/step, algorithm {ds.attrs['algorithm']})"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MiB; load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
