"""ALE + Monte Carlo FWE: NiMARE 0.22.1 and syntony side by side, same data, same iterations.

Usage::

    SYNTONY_TEST_DATA=../shared/data python benchmarks/bench_ale.py [--n-iters 100] \
        [--datasets nidm_pain nbackflanker_all] [--memory-iters 10000]

For each dataset it times the fit (maps + analytic null) and the FWE loop (voxel, cluster
size and cluster mass) of both packages with 2 workers, checks that the nulls agree draw for
draw (syntony in NiMARE-replay mode, same seed), and prints ms per iteration and the ratio.
With ``--memory-iters N`` it also measures, in child processes, the peak resident memory of
each package's FWE at N iterations on the largest dataset.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def _data_dir() -> Path:
    value = os.environ.get("SYNTONY_TEST_DATA")
    if value:
        return Path(value)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def load(name: str):
    """NiMARE Dataset and the equivalent syntony Studyset (same focus order)."""
    from nimare.dataset import Dataset
    from nimare.io import convert_sleuth_to_dataset

    from syntony.meta.studyset import Studyset

    folder = _data_dir() / "nimare"
    if name == "nidm_pain":
        dset = Dataset(str(folder / "nidm_pain_dset.json"))
    else:
        dset = convert_sleuth_to_dataset(
            str(folder / f"{name}_sleuth_MNI.txt"), target="mni152_2mm"
        )
    coords = dset.coordinates.sort_values("id", kind="stable")
    ids = list(dict.fromkeys(coords["id"]))
    index = {k: i for i, k in enumerate(ids)}
    meta = dset.metadata.set_index("id")
    sizes = np.array([np.mean(meta.loc[i, "sample_sizes"]) for i in ids], dtype=float)
    studyset = Studyset.from_arrays(
        coords[["x", "y", "z"]].to_numpy(),
        coords["id"].map(index).to_numpy(),
        sizes,
        ids=ids,
        name=name,
    )
    return dset, studyset


def run_nimare(dset, n_iters: int, seed: int, n_cores: int):
    from nimare.correct import FWECorrector
    from nimare.meta.cbma.ale import ALE as NiMAREALE

    t0 = time.perf_counter()
    est = NiMAREALE(random_state=seed)
    result = est.fit(dset)
    t1 = time.perf_counter()
    corrected = FWECorrector(method="montecarlo", n_iters=n_iters, n_cores=n_cores).transform(
        result
    )
    t2 = time.perf_counter()
    nd = corrected.estimator.null_distributions_
    nulls = (
        nd["values_level-voxel_corr-fwe_method-montecarlo"],
        nd["values_desc-size_level-cluster_corr-fwe_method-montecarlo"],
        nd["values_desc-mass_level-cluster_corr-fwe_method-montecarlo"],
    )
    return t1 - t0, t2 - t1, nulls


def run_syntony(studyset, n_iters: int, seed: int, n_jobs: int, replay: bool):
    from syntony.meta.ale import ALE
    from syntony.meta.fwe import monte_carlo_null

    t0 = time.perf_counter()
    est = ALE(n_iters=0).fit(studyset)
    t1 = time.perf_counter()
    null = monte_carlo_null(
        est.layout_,
        n_iters=n_iters,
        threshold=est.threshold_,
        seed=seed,
        replay_nimare=replay,
        n_jobs=n_jobs,
    )
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, null


def _memory_child(package: str, name: str, n_iters: int) -> None:
    import resource

    dset, studyset = load(name)
    if package == "nimare":
        run_nimare(dset, n_iters, 0, 2)
    else:
        run_syntony(studyset, n_iters, 0, 2, replay=False)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{peak_kb / 1024**2:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-iters", type=int, default=100)
    parser.add_argument("--datasets", nargs="+", default=["nidm_pain", "nbackflanker_all"])
    parser.add_argument("--memory-iters", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        _memory_child(args._child[0], args._child[1], int(args._child[2]))
        return

    import numba

    from syntony.meta import fwe

    print(
        f"cores: {os.cpu_count()}, numba threads: {numba.config.NUMBA_NUM_THREADS}, load: {os.getloadavg()}"
    )
    # Compile syntony's loops once so that the timings below are steady state.
    _, warm = load("nidm_pain")
    run_syntony(warm, 4, 0, 2, replay=False)
    for name in args.datasets:
        dset, studyset = load(name)
        fit_n, loop_n, nulls_n = run_nimare(dset, args.n_iters, args.seed, 2)
        fit_s, loop_s, null_s = run_syntony(studyset, args.n_iters, args.seed, 2, replay=True)
        _, loop_d, _ = run_syntony(studyset, args.n_iters, args.seed, 2, replay=False)
        same = [
            np.array_equal(nulls_n[0], null_s.max_ale),
            np.array_equal(nulls_n[1], null_s.max_size.astype(np.float32)),
            np.array_equal(nulls_n[2], null_s.max_mass.astype(np.float32)),
        ]
        per_n = 1000 * loop_n / args.n_iters
        per_s = 1000 * loop_s / args.n_iters
        per_d = 1000 * loop_d / args.n_iters
        print(
            f"\n{name}: {studyset.n_experiments} experiments, {studyset.n_foci} foci, {args.n_iters} iterations, 2 workers"
        )
        print(
            f"  fit             NiMARE {fit_n:8.2f} s   syntony {fit_s:8.2f} s   ratio {fit_n / fit_s:6.1f}x"
        )
        print(
            f"  FWE per iter    NiMARE {per_n:8.2f} ms  syntony {per_s:8.2f} ms  ratio {per_n / per_s:6.1f}x (replay stream)"
        )
        print(
            f"                                      syntony {per_d:8.2f} ms  ratio {per_n / per_d:6.1f}x (default stream)"
        )
        print(f"  nulls identical draw for draw (max ALE, max size, max mass): {same}")
    if args.memory_iters:
        name = args.datasets[-1]
        for package in ("nimare", "syntony"):
            out = subprocess.run(
                [sys.executable, __file__, "--_child", package, name, str(args.memory_iters)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            print(
                f"peak RSS, {package} FWE {args.memory_iters} iterations on {name}: {out.stdout.strip()} GB"
            )
    del fwe


if __name__ == "__main__":
    main()
