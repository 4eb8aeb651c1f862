"""Meta-analysis inputs: NiMARE 0.22.1 and syntony side by side on the same files.

Usage::

    SYNTONY_TEST_DATA=../shared/data python benchmarks/bench_inputs.py [--skip-neurosynth]

Times (best of a few runs) and compares:

* reading the Sleuth file nbackflanker_all (898 experiments, 9,401 foci): NiMARE's
  ``convert_sleuth_to_dataset`` vs :func:`syntony.meta.readers.read_sleuth`;
* loading Neurosynth v7 (14,371 articles, 507,891 peaks, MNI/TAL/UNKNOWN):
  ``convert_neurosynth_to_dataset`` vs :func:`syntony.meta.databases.load_neurosynth`, and the
  largest coordinate difference after both convert Talairach articles;
* selecting 5,000 articles and building the input of an ALE: NiMARE's ``Dataset.slice`` vs
  ``ReferenceDatabase.select(ids=...).studyset(default_n=20)``, with the peak Python memory
  (tracemalloc) of syntony's selection.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)


def _data_dir() -> Path:
    value = os.environ.get("SYNTONY_TEST_DATA")
    path = Path(value) if value else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        raise SystemExit("set SYNTONY_TEST_DATA to the shared data folder")
    return path


def _best(func, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def _row(label: str, ref: float, ours: float) -> None:
    print(
        f"{label:<44} NiMARE {ref * 1000:9.1f} ms   syntony {ours * 1000:8.1f} ms   "
        f"ratio {ref / ours:6.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-neurosynth", action="store_true", help="skip the 30 s NiMARE load")
    args = parser.parse_args()
    data = _data_dir()

    from nimare.io import convert_neurosynth_to_dataset, convert_sleuth_to_dataset

    from syntony.meta.databases import load_neuroquery, load_neurosynth
    from syntony.meta.readers import read_sleuth

    sleuth = data / "nimare" / "nbackflanker_all_sleuth_MNI.txt"
    t_ref, dset = _best(lambda: convert_sleuth_to_dataset(str(sleuth)), 2)
    t_ours, ours = _best(lambda: read_sleuth(sleuth), 5)
    _row("Sleuth nbackflanker_all (898 exp)", t_ref, t_ours)
    assert ours.n_foci == len(dset.coordinates)

    nq = load_neuroquery(data / "neuroquery")
    rng = np.random.default_rng(0)
    ids = nq.ids[rng.choice(nq.n_articles, 5000, replace=False)]
    tracemalloc.start()
    t_sel, ss = _best(lambda: nq.select(ids=ids).studyset(default_n=20), 5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"NeuroQuery select 5,000 of 13,459 -> Studyset: {t_sel * 1000:.1f} ms, "
        f"{ss.n_foci} foci, peak traced memory {peak / 2**20:.1f} MiB"
    )

    if args.skip_neurosynth:
        return
    folder = data / "neurosynth"
    prefix = folder / "data-neurosynth_version-7_"
    t_ref, dset = _best(
        lambda: convert_neurosynth_to_dataset(
            str(prefix) + "coordinates.tsv.gz", str(prefix) + "metadata.tsv.gz"
        ),
        1,
    )
    t_ours, ns = _best(lambda: load_neurosynth(folder), 3)
    _row("Neurosynth v7 load (14,371 articles)", t_ref, t_ours)
    theirs = dset.coordinates.assign(experiment=dset.coordinates["study_id"].astype(str))
    mine = ns.studyset(default_n=20).to_table()
    key = ["experiment", "x", "y", "z"]
    theirs = theirs[key].sort_values(key).reset_index(drop=True)
    mine = mine[key].sort_values(key).reset_index(drop=True)
    assert (theirs["experiment"] == mine["experiment"]).all()
    diff = np.abs(theirs[["x", "y", "z"]].to_numpy(float) - mine[["x", "y", "z"]].to_numpy())
    print(
        f"Neurosynth coordinates, max |NiMARE - syntony| over {len(mine)} peaks: {diff.max():.3g}"
    )

    ns_ids = ns.ids[rng.choice(ns.n_articles, 5000, replace=False)]
    by_study = dict(
        zip(dset.coordinates["study_id"].astype(str), dset.coordinates["id"], strict=True)
    )
    nimare_ids = [by_study[i] for i in ns_ids]
    t_ref, _ = _best(lambda: dset.slice(nimare_ids), 3)
    t_ours, _ = _best(lambda: ns.select(ids=ns_ids).studyset(default_n=20), 5)
    _row("Neurosynth select 5,000 articles", t_ref, t_ours)


if __name__ == "__main__":
    main()
