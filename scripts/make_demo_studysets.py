"""Derive the two small NeuroQuery studysets shipped with syntony (re-runnable).

For the question of Fu et al. (2025) -- which brain regions emotional mimicry and emotional
contagion share -- syntony ships two small selections of NeuroQuery articles, small enough for
an ALE with a few hundred Monte Carlo iterations to finish in seconds:

* ``mimicry``: articles whose text uses *imitation*, *mimicry* or *imitative* and neither
  *empathy* nor *empathic*;
* ``contagion``: articles whose text uses *empathy* or *empathic* and none of *imitation*,
  *mimicry*, *imitative*.

"Text" is NeuroQuery's per-article term counts summed over abstract, title and keywords.
Meta-analyses (title matching ``meta-?analy``) are left out: their peaks summarise other
articles, some of which may be in the same set. The two selections are disjoint by
construction. Each is then cut to the ``SIZE`` articles with the
highest total count of its own terms (ties: smaller PubMed id first) and written in database
order as a Sleuth text file with the sample size ``DEFAULT_N`` for every article (NeuroQuery
records none). ``articles.tsv`` lists the chosen articles with their counts and titles.

Usage::

    python scripts/make_demo_studysets.py [NEUROQUERY_DIR] [--out DIR]

``NEUROQUERY_DIR`` defaults to ``$SYNTONY_TEST_DATA/neuroquery``; the output to
``src/syntony/data/neuroquery``. The output files depend only on the database files.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from syntony.meta.databases import load_neuroquery
from syntony.meta.sleuth import write_sleuth
from syntony.meta.specs import parse_spec

ROOT = Path(__file__).resolve().parents[1]
SIZE = 30
DEFAULT_N = 20
SPECS = {
    "mimicry": (
        "neuroquery:terms=imitation,mimicry,imitative;not_terms=empathy,empathic;not_title=meta-?analy"
    ),
    "contagion": (
        "neuroquery:terms=empathy,empathic;not_terms=imitation,mimicry,imitative;not_title=meta-?analy"
    ),
}


def derive(neuroquery_dir: Path, out: Path) -> list[Path]:
    """Write ``<name>.txt`` for each selection and ``articles.tsv`` into ``out``."""
    db = load_neuroquery(neuroquery_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for name, text in SPECS.items():
        spec = parse_spec(text)
        selected = spec.select(db)
        terms = spec.query["terms"]
        counts = np.column_stack([selected.term_count(t) for t in terms]).astype(np.int64)
        total = counts.sum(axis=1)
        pmids = selected.ids.astype(np.int64)
        rank = np.lexsort((pmids, -total))  # highest count first, then smaller id
        chosen = np.sort(rank[:SIZE])  # back to database order
        subset = selected.select(ids=selected.ids[chosen])
        studyset = subset.studyset(default_n=DEFAULT_N, name=name)
        written.append(write_sleuth(studyset, out / f"{name}.txt", force=True))
        for k in chosen:
            rows.append(
                {
                    "set": name,
                    "pmid": int(pmids[k]),
                    "rank": int(np.flatnonzero(rank == k)[0]) + 1,
                    **{f"count_{t}": int(c) for t, c in zip(terms, counts[k], strict=True)},
                    "total": int(total[k]),
                    "foci": int(selected.peaks_per_article[k]),
                    "selected_from": selected.n_articles,
                    "title": " ".join(str(selected.metadata["title"].iloc[k]).split()),
                }
            )
    table = pd.DataFrame(rows)
    count_columns = [c for c in table.columns if c.startswith("count_")]
    table[count_columns] = table[count_columns].fillna(0).astype(int)
    order = ["set", "pmid", "rank", "total", *count_columns, "foci", "selected_from", "title"]
    path = out / "articles.tsv"
    table[order].to_csv(path, sep="\t", index=False, lineterminator="\n")
    written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("SYNTONY_TEST_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("source", nargs="?", type=Path, default=default / "neuroquery")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "src" / "syntony" / "data" / "neuroquery"
    )
    args = parser.parse_args()
    for path in derive(args.source, args.out):
        print(f"{path} ({path.stat().st_size / 1024:.0f} KiB)")
    shutil.copyfile(args.source / "LICENSE", args.out / "LICENSE")


if __name__ == "__main__":
    main()
