"""ALE diagnostics: syntony vs NiMARE 0.22.1 side by side (jackknife, stability), and the FSN.

Usage::

    SYNTONY_TEST_DATA=../shared/data python benchmarks/bench_diagnostics.py \
        [--only jackknife stability fsn] [--jobs 2] [--quick]

- **Jackknife** (and focus counter) on nidm_pain and nbackflanker_all: NiMARE's ``Jackknife``
  refits the ALE once per experiment; syntony computes the whole table from the fitted log-sums
  in one pass. Both characterise the same clusters (syntony's clusters above the
  cluster-forming threshold, handed to NiMARE as its target map) and the tables are compared.
  On nbackflanker_all (898 experiments, about ten seconds per NiMARE refit) NiMARE's time is
  measured on ``--nimare-refits`` refits and extrapolated to all of them unless ``--full``;
  the printout says which.
- **Resampled stability** on nidm_pain, ``--resamples`` replicates of ``--target-n``
  experiments and ``--stability-iters`` null replicates, both packages on NiMARE's random
  stream (syntony in replay mode): times and identical maps.
- **Fail-safe N** on nidm_pain with ``--fsn-iters`` Monte Carlo iterations per augmented
  analysis (no other tool computes it): wall time, analyses run and the table.

``--quick`` shrinks every setting to check that the script runs (minutes, not the benchmark).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ale import load  # the NiMARE Dataset and the same syntony Studyset

warnings.filterwarnings("ignore")
os.environ.setdefault("TQDM_DISABLE", "1")


def _clusters(grid, ale, threshold):
    from syntony.meta.clusters import label_clusters

    return label_clusters(grid.unmask(ale.astype(np.float64) > threshold))[0][grid.mask]


def bench_jackknife(name: str, args) -> None:
    from nimare.diagnostics import FocusCounter, Jackknife
    from nimare.meta.cbma.ale import ALE as NiMAREALE

    from syntony.meta.ale import ALE
    from syntony.meta.diagnostics import Observed, focus_counter, jackknife

    dset, ss = load(name)
    fitted = NiMAREALE(n_cores=args.jobs).fit(dset)
    ours = ALE(n_iters=0, n_jobs=args.jobs).fit(ss)
    labels = _clusters(ours.layout_.grid, ours.ale_, ours.threshold_)
    fitted.maps["z_desc-syntonyclusters"] = (labels > 0).astype(np.float32)
    n_clusters = int(labels.max())
    print(f"\n== jackknife: {name} ({ss.n_experiments} experiments, {ss.n_foci} foci, "
          f"{n_clusters} clusters above the cluster-forming threshold)")  # fmt: skip

    t = time.perf_counter()
    observed = Observed.build(ss, layout=ours.layout_, log_sums=ours.log_sums_)
    table = jackknife(observed, labels)
    first = time.perf_counter() - t  # includes numba's load of the cached pass
    reps = []
    for _ in range(3):
        t = time.perf_counter()
        table = jackknife(observed, labels)
        reps.append(time.perf_counter() - t)
    t_ours = min(reps)
    t = time.perf_counter()
    rebuilt = Observed.build(ss, grid=ours.layout_.grid)
    jackknife(rebuilt, labels)
    t_rebuild = time.perf_counter() - t
    t = time.perf_counter()
    counts = focus_counter(ss, labels, ours.layout_.grid)
    t_fc = time.perf_counter() - t

    target = "z_desc-syntonyclusters"
    jk = Jackknife(target_image=target, target_threshold=0.5, n_cores=args.jobs)
    full = args.full or ss.n_experiments <= 60
    if full:
        t = time.perf_counter()
        out = jk.transform(fitted)
        t_nimare = time.perf_counter() - t
        theirs = next(v for k, v in out.tables.items() if "Jackknife_tab-counts" in k)
        label_map = next(np.asarray(v) for k, v in out.maps.items() if k.startswith("label"))
        worst = 0.0
        for column in theirs.columns[1:]:
            mine = np.unique(labels[label_map == int(column.split()[-1])])[0]
            diff = theirs[column].to_numpy(float) - table[f"cluster_{mine}"].to_numpy()
            worst = max(worst, float(np.max(np.abs(diff))))
        how = "measured"
    else:
        # NiMARE's per-experiment step: refit without the experiment (what Jackknife repeats).
        jk._is_pairwaise_estimator = False
        ids = list(fitted.estimator.inputs_["id"])[: args.nimare_refits]
        t = time.perf_counter()
        for expid in ids:
            jk._leave_one_out_values(expid, "PositiveTail", fitted, "stat")
        per = (time.perf_counter() - t) / len(ids)
        t_nimare = per * ss.n_experiments
        worst = float("nan")
        how = f"extrapolated from {len(ids)} refits ({per:.2f} s each)"
    t = time.perf_counter()
    FocusCounter(target_image=target, target_threshold=0.5).transform(fitted)
    t_fc_nimare = time.perf_counter() - t
    print(f"NiMARE Jackknife      : {t_nimare:10.2f} s ({how})")
    print(f"syntony jackknife     : {t_ours * 1e3:10.1f} ms (fitted layout; first call "
          f"{first * 1e3:.0f} ms; from the studyset alone {t_rebuild * 1e3:.0f} ms)")  # fmt: skip
    print(f"ratio (NiMARE / syntony): {t_nimare / t_ours:.0f}x  (target >= 20x); "
          f"max |difference| of the tables: {worst:.2e}")  # fmt: skip
    print(f"focus counter         : NiMARE {t_fc_nimare * 1e3:.0f} ms, syntony {t_fc * 1e3:.1f} ms"
          f" ({int(counts.filter(like='cluster_').to_numpy().sum())} foci in clusters)")  # fmt: skip


def bench_stability(args) -> None:
    from nimare.correct import FWECorrector
    from nimare.diagnostics import ResampledStability
    from nimare.meta.cbma.ale import ALE as NiMAREALE

    from syntony.meta.ale import ALE
    from syntony.meta.diagnostics import Observed, resampled_stability

    dset, ss = load("nidm_pain")
    print(f"\n== resampled stability: nidm_pain, {args.resamples} replicates of "
          f"{args.target_n} experiments, {args.stability_iters} null replicates, grey matter")  # fmt: skip
    fitted = NiMAREALE().fit(dset)
    # NiMARE takes the number of null replicates from the result's FWE corrector; the
    # corrector's own run is not part of the stability and is not timed.
    corrected = FWECorrector(method="montecarlo", n_iters=args.stability_iters,
                             n_cores=args.jobs).transform(fitted)  # fmt: skip
    t = time.perf_counter()
    out = ResampledStability(target_n=args.target_n, n_resamples=args.resamples,
                             random_state=11, n_cores=args.jobs).transform(corrected)  # fmt: skip
    t_nimare = time.perf_counter() - t
    theirs = out.get_map(next(k for k in out.maps if k.endswith("ResampledStability")),
                         return_type="array")  # fmt: skip

    fit = ALE(n_iters=0).fit(ss)
    observed = Observed.build(ss, layout=fit.layout_, log_sums=fit.log_sums_)
    options = dict(target_n=args.target_n, n_resamples=args.resamples,
                   n_iters=args.stability_iters, replay_nimare=True, random_state=11,
                   n_jobs=args.jobs)  # fmt: skip
    resampled_stability(observed, fit.null_, **{**options, "n_iters": 4, "n_resamples": 2})
    t = time.perf_counter()
    ours = resampled_stability(observed, fit.null_, **options)
    t_ours = time.perf_counter() - t
    print(f"NiMARE ResampledStability : {t_nimare:8.1f} s")
    print(f"syntony resampled_stability: {t_ours:8.2f} s (replaying NiMARE's stream)")
    print(f"ratio (NiMARE / syntony): {t_nimare / t_ours:.1f}x  (target >= 10x); maps identical: "
          f"{np.array_equal(ours.map, theirs)}; cluster-size threshold {ours.cluster_threshold:g}")  # fmt: skip


def bench_fsn(args) -> None:
    from syntony.meta.ale import ALE
    from syntony.meta.diagnostics import fail_safe_n

    _, ss = load("nidm_pain")
    est = ALE(n_iters=args.fsn_iters, random_state=0, n_jobs=args.jobs)
    t = time.perf_counter()
    fit = est.fit(ss)
    t_fit = time.perf_counter() - t
    labels = _clusters(fit.layout_.grid, fit.ale_, fit.threshold_)
    significant = np.unique(fit.result_.maps["clusters"])
    significant = significant[significant > 0]
    print(f"\n== fail-safe N: nidm_pain ({ss.n_experiments} experiments), {args.fsn_iters} FWE "
          f"iterations per analysis, {len(significant)} significant of {labels.max()} clusters "
          f"(the ALE itself: {t_fit:.1f} s)")  # fmt: skip
    t = time.perf_counter()
    out = fail_safe_n(ss, labels, significant=significant, estimator=est, n_iters=args.fsn_iters,
                      random_state=1, n_jobs=args.jobs, max_null=args.fsn_max)  # fmt: skip
    t_fsn = time.perf_counter() - t
    runs = out.analyses
    print(f"fail-safe N: {t_fsn:.1f} s = {t_fsn / 60:.2f} min (target < 10 min); "
          f"{len(runs)} augmented analyses, {int(runs['n_iters_run'].sum())} Monte Carlo "
          f"iterations run of {len(runs) * args.fsn_iters} budgeted")  # fmt: skip
    print(
        out.table[["cluster", "significant", "fsn", "at_maximum", "steps"]].to_string(index=False)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=["jackknife", "stability", "fsn"],
                        choices=["jackknife", "stability", "fsn"])  # fmt: skip
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--datasets", nargs="+", default=["nidm_pain", "nbackflanker_all"])
    parser.add_argument("--full", action="store_true", help="run NiMARE's jackknife in full")
    parser.add_argument("--nimare-refits", type=int, default=8)
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--target-n", type=int, default=17)
    parser.add_argument("--stability-iters", type=int, default=1000)
    parser.add_argument("--fsn-iters", type=int, default=1000)
    parser.add_argument("--fsn-max", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny settings: check it runs")
    args = parser.parse_args()
    if args.quick:
        args.datasets = ["nidm_pain"]
        args.nimare_refits, args.resamples, args.stability_iters = 2, 4, 8
        args.fsn_iters, args.fsn_max = 40, 12
    import syntony

    print(f"syntony {getattr(syntony, '__version__', '?')}, {args.jobs} worker(s); load average "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")  # fmt: skip
    if "jackknife" in args.only:
        for name in args.datasets:
            bench_jackknife(name, copy.copy(args))
    if "stability" in args.only:
        bench_stability(args)
    if "fsn" in args.only:
        bench_fsn(args)


if __name__ == "__main__":
    main()
