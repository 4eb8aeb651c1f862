"""Pack the two Case2 concert recordings into syntony's package data (re-runnable).

Reads ``Case2_Sae1_AudResp.csv`` and ``Case2_Sae2_AudResp.csv`` (live-concert audience
respiration, 25 Hz, from github.com/finn42/Exploratory_Listening_Phys, MIT licence) and writes
``src/syntony/data/concert/Case2_<performance>_AudResp.npz``:

* ``time_ms`` (int32): the time column in milliseconds (the CSV's times are whole milliseconds);
* ``person`` (str): the listener columns, in file order;
* ``signal`` (int32, persons x samples): each listener's values in hundredths of a unit,
  rounded, then differenced along time (the first sample is kept as is) so that zlib packs the
  slowly varying waves tightly; ``np.cumsum(signal, axis=1) / 100`` gives the values back to
  within 0.005 (about five significant digits: the values lie between 169 and 1023);
* ``scale`` (int): 100.

Usage::

    python scripts/make_concert_data.py [CONCERT_DIR] [--out DIR]

``CONCERT_DIR`` defaults to ``$SYNTONY_TEST_DATA/concert_respiration``.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

PERFORMANCES = ("Sae1", "Sae2")
SCALE = 100
ROOT = Path(__file__).resolve().parents[1]


def pack(csv: Path, out: Path) -> Path:
    """Write ``csv`` as the compressed, quantised ``.npz`` described above; return its path."""
    table = pd.read_csv(csv)
    time_ms = np.rint(table.iloc[:, 0].to_numpy(dtype=float) * 1000.0)
    if np.abs(time_ms / 1000.0 - table.iloc[:, 0].to_numpy(dtype=float)).max() > 1e-9:
        raise SystemExit(f"{csv}: times are not whole milliseconds")
    values = table.iloc[:, 1:].to_numpy(dtype=float).T
    if not np.isfinite(values).all():
        raise SystemExit(f"{csv}: missing values (the packing assumes none)")
    steps = np.rint(values * SCALE).astype(np.int64)
    delta = np.diff(steps, axis=1, prepend=0).astype(np.int32)
    target = out / csv.with_suffix(".npz").name
    np.savez_compressed(
        target,
        time_ms=time_ms.astype(np.int32),
        person=np.array([str(c) for c in table.columns[1:]]),
        signal=delta,
        scale=np.int32(SCALE),
    )
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("SYNTONY_TEST_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("source", nargs="?", type=Path, default=default / "concert_respiration")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "syntony" / "data" / "concert")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for performance in PERFORMANCES:
        path = pack(args.source / f"Case2_{performance}_AudResp.csv", args.out)
        print(f"{path} ({path.stat().st_size / 1024:.0f} KiB)")
    shutil.copyfile(args.source / "LICENSE", args.out / "LICENSE")


if __name__ == "__main__":
    main()
