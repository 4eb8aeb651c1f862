"""Contrast (subtraction) permutations: syntony vs NiMARE 0.22.1 ALESubtraction, one run.

n-back (494 experiments) vs flanker (404) from ../shared/data/nimare (or $SYNTONY_TEST_DATA).
Each side is timed at two permutation counts; the difference over the extra permutations is
the cost of one permutation, free of set-up (kernels, MA maps, main-effect maps). Both run
two-sided on every voxel (the same work); syntony also in NiMARE-replay mode (both groups
summed directly) and in the default one-sided test inside the main effects.

    .venv/bin/python benchmarks/bench_contrast.py [--low 4] [--high 24] [--ours-high 400]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np


def _data() -> Path:
    root = os.environ.get("SYNTONY_TEST_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "nimare"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--low", type=int, default=4)
    parser.add_argument("--high", type=int, default=24)
    parser.add_argument("--ours-high", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")

    from nimare.io import convert_sleuth_to_dataset
    from nimare.meta.cbma.ale import ALESubtraction

    from syntony.meta.ale import ALE
    from syntony.meta.contrast import ALEContrast, AllVoxels, InMainEffects
    from syntony.meta.readers import read_studyset

    files = [_data() / f"nbackflanker_{k}_sleuth_MNI.txt" for k in ("nback", "flanker")]
    a, b = (read_studyset(f) for f in files)
    da, db = (convert_sleuth_to_dataset(str(f), target="mni152_2mm") for f in files)
    print(f"n-back {a.n_experiments} experiments / {a.n_foci} foci vs flanker "
          f"{b.n_experiments} / {b.n_foci}; {args.jobs} thread(s) for syntony, "
          f"NiMARE n_cores={args.jobs}")  # fmt: skip

    def ours(n: int, **kw) -> tuple[float, ALEContrast]:
        est = ALEContrast(n_permutations=n, n_jobs=args.jobs, random_state=0, **kw)
        t = time.perf_counter()
        est.fit(a, b)
        return time.perf_counter() - t, est

    ours(2, test=AllVoxels())  # compile
    t_lo, _ = ours(10, test=AllVoxels())
    t_hi, _ = ours(10 + args.ours_high, test=AllVoxels())
    per_ours = (t_hi - t_lo) / args.ours_high
    r_lo, _ = ours(10, test=AllVoxels(), replay_nimare=True)
    r_hi, _ = ours(10 + args.ours_high // 2, test=AllVoxels(), replay_nimare=True)
    per_replay = (r_hi - r_lo) / (args.ours_high // 2)

    ma = ALE(n_iters=0).fit(a).result_
    mb = ALE(n_iters=0).fit(b).result_
    est = ALEContrast(test=InMainEffects(), n_permutations=10, main_effect_level="uncorrected",
                      n_jobs=args.jobs, random_state=0)  # fmt: skip
    t = time.perf_counter()
    est.fit(a, b, main_a=ma, main_b=mb)
    g_lo = time.perf_counter() - t
    est.n_permutations = 10 + args.ours_high
    t = time.perf_counter()
    est.fit(a, b, main_a=ma, main_b=mb)
    per_ginger = (time.perf_counter() - t - g_lo) / args.ours_high
    tested = int(est.tested_.sum())

    def nimare(n: int) -> float:
        t = time.perf_counter()
        ALESubtraction(n_iters=n, random_state=0, n_cores=args.jobs).fit(da, db)
        return time.perf_counter() - t

    n_lo = nimare(args.low)
    n_hi = nimare(args.high)
    per_nimare = (n_hi - n_lo) / (args.high - args.low)

    print(f"NiMARE ALESubtraction : {per_nimare * 1e3:8.1f} ms per permutation "
          f"(fit {n_lo:.1f} s at {args.low}, {n_hi:.1f} s at {args.high})")  # fmt: skip
    print(f"syntony two-sided     : {per_ours * 1e3:8.1f} ms per permutation "
          f"(log-sum trick)  -> {per_nimare / per_ours:6.1f}x faster")  # fmt: skip
    print(f"syntony replay NiMARE : {per_replay * 1e3:8.1f} ms per permutation "
          f"(both groups summed) -> {per_nimare / per_replay:6.1f}x faster")  # fmt: skip
    print(f"syntony one-sided (GingerALE, {tested} tested voxels): "
          f"{per_ginger * 1e3:8.1f} ms per permutation -> {per_nimare / per_ginger:6.1f}x")  # fmt: skip
    print(f"10,000 permutations: NiMARE ~{per_nimare * 1e4 / 60:.1f} min, "
          f"syntony ~{per_ours * 1e4 / 60:.1f} min")  # fmt: skip
    print(f"ratio (NiMARE / syntony, per permutation): {per_nimare / per_ours:.1f}")
    np.testing.assert_array_less(0, per_ours)


if __name__ == "__main__":
    main()
