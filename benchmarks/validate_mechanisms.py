"""Simulate-and-recover for the mechanism models on data from the agent loop (syntony.model).

For every model, groups are simulated by the agent loop in the regime where the model's values
are known (see :mod:`syntony.physio.mechanisms.recovery`), fitted, and compared with the truth:

- gated: online synchrony on (g = 1) and off (g = 0); coverage of the 95% intervals of c, g,
  lambda, q, r; size and power of the likelihood-ratio test of g = 0;
- switching: modes on and off, shared stressors and calming stimuli; coverage of c, lambda,
  the baseline gap, beta, q, r; size and power of the bootstrap test of one mode against two
  (warp-speed: one bootstrap series per replication, Giacomini, Politis and White 2013);
  agreement of the decoded mode with the loop's majority mode;
- directed: trust that differs between senders, or equal trust; coverage of c and of every
  person's sender and receiver effect; size and power of the likelihood-ratio tests;
- pooled: 20 groups with couplings from N(0.5, 0.1^2) or all 0.5; coverage of mu, tau and the
  shrunken group values; size and power of the tests of tau = 0.

Coverage is reported with its exact (Clopper-Pearson) 95% interval; the target band is
0.90-0.99. The results replace the block between the validation markers in docs/mechanisms.md.

Run: .venv/bin/python benchmarks/validate_mechanisms.py [--reps 200] [--null-reps 100]
     [--jobs 2] [--models gated,switching,directed,pooled] [--raw DIR] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from syntony._rng import SeedTree
from syntony.physio.mechanisms import recovery as R

POOLED_BC = os.environ.get("SYNTONY_POOLED_BC", "jackknife")  # set by --pooled-bias-correction
BLOCK = 10  # replications simulated together in one loop run (gated, switching, directed)
DOC = Path(__file__).resolve().parents[1] / "docs" / "mechanisms.md"
START, END = "<!-- validation:start -->", "<!-- validation:end -->"


def _task(args):
    model, arm, block, size, seed = args
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Fits at the boundary (two modes in one-mode data) warn about their Hessian; expected.
    warnings.simplefilter("ignore", RuntimeWarning)
    tree = SeedTree(seed).child(model, arm, block)
    t0 = time.perf_counter()
    if model == "pooled":
        rows = [
            R.run_pooled(
                20, tau=0.1 if arm == "effect" else 0.0, seed=tree, bias_correction=POOLED_BC
            )
        ]
    elif arm == "one-by-one":
        rows = R.run_switching(size, effect=True, seed=tree, design=R.SWITCHING_ONE_BY_ONE)
    else:
        run = {"gated": R.run_gated, "switching": R.run_switching, "directed": R.run_directed}
        rows = run[model](size, effect=arm == "effect", seed=tree)
    seconds = time.perf_counter() - t0
    for row in rows:
        row.update(model=model, arm=arm, block=block, seconds=seconds / len(rows))
    return rows


def _tasks(model: str, reps: int, null_reps: int, seed: int, one_by_one: int = 0):
    out = []
    arms = [("effect", reps), ("null", null_reps)]
    if model == "switching" and one_by_one:
        arms.append(("one-by-one", one_by_one))
    for arm, n in arms:
        if model == "pooled":
            out += [(model, arm, k, 1, seed) for k in range(n)]
        else:
            blocks = -(-n // BLOCK)
            out += [(model, arm, k, min(BLOCK, n - k * BLOCK), seed) for k in range(blocks)]
    return out


def _binom(k: int, n: int) -> str:
    lo = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]"


def _coverage_rows(df: pd.DataFrame, names, label: str) -> list[str]:
    lines = []
    for name in names:
        col = f"{name}_covered"
        if col not in df or df[col].dropna().empty:
            continue
        flags = df[col].dropna().astype(bool)
        k, n = int(flags.sum()), len(flags)
        ok = "yes" if 0.90 <= k / n <= 0.99 else "**no**"
        truth = df[f"{name}_true"].iloc[0] if df[f"{name}_true"].nunique() == 1 else "varies"
        truth = f"{truth:.4g}" if not isinstance(truth, str) else truth
        lines.append(f"| {label} | {name} | {truth} | {n} | {_binom(k, n)} | {ok} |")
    return lines


def _rate(flags) -> str:
    flags = np.asarray(flags, bool)
    return _binom(int(flags.sum()), flags.size) if flags.size else "-"


def _uniform(label: str, pvalues) -> str:
    pvalues = np.asarray(pvalues, float)
    pvalues = pvalues[np.isfinite(pvalues)]
    if not pvalues.size:
        return f"{label}: none"
    ks = stats.kstest(pvalues, "uniform").pvalue
    return f"{label}: Kolmogorov-Smirnov against uniform p = {ks:.2f} ({pvalues.size} values)"


def summarise(df: pd.DataFrame) -> str:
    out = []
    cover_head = [
        "| model | parameter | true value | replications | coverage [95% CI] | in 0.90-0.99 |",
        "|---|---|---|---|---|---|",
    ]
    test_head = [
        "| model | test | replications without effect: rejection rate at 5% [95% CI] "
        "| replications with effect: power [95% CI] |",
        "|---|---|---|---|",
    ]
    covers, tests, notes = [], [], []
    for model, part in df.groupby("model", sort=False):
        eff, null = part[part.arm == "effect"], part[part.arm == "null"]
        if model == "gated":
            covers += _coverage_rows(eff, ("c", "g", "lambda", "q", "r"), "gated (g = 1)")
            covers += _coverage_rows(null, ("c", "g"), "gated (g = 0)")
            tests.append(
                f"| gated | likelihood ratio, g = 0 | {_rate(null.p_value < 0.05)} | "
                f"{_rate(eff.p_value < 0.05)} |"
            )
            notes.append(_uniform("gated: p-values of g = 0 without a gate", null.p_value))
            notes.append(
                f"gated: mean g {eff.g.mean():.3f} (truth 1) and {null.g.mean():.3f} (truth 0); "
                f"mean standard error of g {eff.g_se.mean():.3f}"
            )
        elif model == "switching":
            names = ("c", "lambda", "b_gap", "beta", "q", "r")
            covers += _coverage_rows(eff, names, "switching (modes on, the group switches as one)")
            lone = part[part.arm == "one-by-one"]
            covers += _coverage_rows(lone, names, "switching (modes on, people switch one by one)")
            for frame, label in ((eff, "as one"), (lone, "one by one")):
                if len(frame) and "mixed" in frame:
                    notes.append(
                        f"switching ({label}): people not all in one mode in "
                        f"{100 * frame.mixed.mean():.2f}% of the samples; mean c "
                        f"{frame.c.mean():.3f}, lambda {frame['lambda'].mean():.3f}, gap "
                        f"{frame.b_gap.mean():.2f} (truth 0.5, 0.5, "
                        f"{frame.b_gap_true.iloc[0]:g})"
                    )
            size, power = (
                _rate(frame.lr > float(np.quantile(frame.lr_boot, 0.95))) if len(frame) else "-"
                for frame in (null, eff)
            )
            ks = stats.ks_2samp(null.lr, null.lr_boot).pvalue if len(null) else float("nan")
            notes.append(
                "switching: without modes, the likelihood ratios of the data and of the bootstrap "
                f"series have the same distribution (two-sample Kolmogorov-Smirnov p = {ks:.2f}); "
                "the warp-speed rejection rate compares every replication with one critical "
                "value, the 95% quantile of all bootstrap draws, so its uncertainty is larger than "
                "the binomial interval shows"
            )
            tests.append(
                f"| switching | bootstrap LR, 1 mode vs 2 (warp-speed) | {size} | {power} |"
            )
            if len(eff):
                notes.append(
                    f"switching: decoded mode equals the loop's majority mode in "
                    f"{100 * eff.decoded.mean():.1f}% of samples (modes on); mean LR "
                    f"{eff.lr.mean():.1f} with modes, {null.lr.mean():.2f} without (bootstrap "
                    f"mean {null.lr_boot.mean():.2f}); share of LR = 0 without modes "
                    f"{100 * (null.lr == 0).mean():.0f}%"
                )
        elif model == "directed":
            covers += _coverage_rows(eff, ("c",), "directed (unequal trust)")
            for kind in ("send", "recv"):
                vals = eff[f"{kind}_coverage"]
                n = len(vals) * R.DIRECTED.size
                k = round(vals.sum() * R.DIRECTED.size)
                ok = "yes" if 0.90 <= k / n <= 0.99 else "**no**"
                covers.append(
                    f"| directed (unequal trust) | {kind} effects (every person) | varies | "
                    f"{n} | {_binom(k, n)} | {ok} |"
                )
            for key, label in (
                ("p_send", "LR, no sender effects"),
                ("p_recv", "LR, no receiver effects"),
                ("p_all", "LR, one pull for all pairs"),
            ):
                tests.append(
                    f"| directed | {label} | {_rate(null[key] < 0.05)} | {_rate(eff[key] < 0.05)} |"
                )
            for key in ("p_send", "p_recv", "p_all"):
                notes.append(
                    _uniform(f"directed: p-values of {key[2:]} with equal trust", null[key])
                )
        elif model == "pooled":
            notes.append(
                f"pooled: mean of mu {eff.mu.mean():.4f} (tau = 0.1) and {null.mu.mean():.4f} "
                f"(tau = 0), truth 0.5; its SD over replications {eff.mu.std():.4f} and "
                f"{null.mu.std():.4f}"
            )
            bc = part.bias_correction.iloc[0] if "bias_correction" in part else "none"
            bc = "" if bc in ("none", "", None) or bc != bc else f", {bc}"
            if "group_c_mean" in part:
                notes.append(
                    "pooled: mean group estimate of c before correction "
                    f"{part.group_c_mean.mean():.4f} (truth 0.5 on average)"
                )
            covers += _coverage_rows(eff, ("mu", "tau"), f"pooled (tau = 0.1{bc})")
            covers += _coverage_rows(null, ("mu",), f"pooled (tau = 0{bc})")
            for frame, label in ((eff, "tau = 0.1"), (null, "tau = 0")):
                vals = frame.shrunk_coverage
                n, k = len(vals) * 20, round(vals.sum() * 20)
                ok = "yes" if 0.90 <= k / n <= 0.99 else "**no**"
                covers.append(
                    f"| pooled ({label}{bc}) | shrunken group c (every group) | varies | {n} | "
                    f"{_binom(k, n)} | {ok} |"
                )
            tests.append(
                f"| pooled | LR, tau = 0 (50:50 mixture) | {_rate(null.p_lrt < 0.05)} | "
                f"{_rate(eff.p_lrt < 0.05)} |"
            )
            tests.append(
                f"| pooled | Cochran's Q | {_rate(null.p_q < 0.05)} | {_rate(eff.p_q < 0.05)} |"
            )
        seconds = part.seconds.sum()
        notes.append(
            f"{model}: {len(part)} replications, {seconds:.0f} s of the workers' wall-clock time"
        )
    out += ["### Coverage of the 95% intervals", "", *cover_head, *covers, ""]
    out += ["### Tests: size and power", "", *test_head, *tests, ""]
    out += ["### Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--null-reps", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--models", default="gated,switching,directed,pooled")
    parser.add_argument(
        "--one-by-one-reps",
        type=int,
        default=100,
        help="switching replications in which people switch one by one (misspecified design)",
    )
    parser.add_argument(
        "--pooled-bias-correction",
        choices=("none", "jackknife"),
        default="jackknife",
        help="bias correction of every group's estimate in the pooled model",
    )
    parser.add_argument("--raw", type=Path, default=None, help="write per-replication CSVs here")
    parser.add_argument("--no-write", action="store_true", help="print only, keep the docs")
    parser.add_argument(
        "--from-raw",
        type=Path,
        nargs="*",
        default=None,
        help="per-replication CSVs of earlier runs (--raw) to summarise with this run's",
    )
    args = parser.parse_args()
    os.environ["SYNTONY_POOLED_BC"] = args.pooled_bias_correction  # reaches worker processes
    global POOLED_BC
    POOLED_BC = args.pooled_bias_correction
    models = args.models.split(",")
    tasks = [
        t
        for m in models
        for t in _tasks(m, args.reps, args.null_reps, args.seed, args.one_by_one_reps)
    ]
    t0 = time.perf_counter()
    rows = []

    def keep(part):
        # each finished task is saved at once (a run stopped early keeps what it finished;
        # pass raw/parts/*.csv to --from-raw)
        rows.extend(part)
        if args.raw is not None and part:
            parts = args.raw / "parts"
            parts.mkdir(parents=True, exist_ok=True)
            first = part[0]
            name = f"{first['model']}-{first['arm']}-{first['block']}.csv"
            pd.DataFrame(part).to_csv(parts / name, index=False)

    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for part in pool.map(_task, tasks):
                keep(part)
    else:
        for task in tasks:
            keep(_task(task))
    wall = time.perf_counter() - t0
    df = pd.DataFrame(rows)
    if args.from_raw is not None:
        df = pd.concat(
            [pd.read_csv(f, keep_default_na=False, na_values=[""]) for f in args.from_raw]
            + ([df] if len(df) else []),
            ignore_index=True,
        )
    if args.raw is not None:
        args.raw.mkdir(parents=True, exist_ok=True)
        for model, part in df.groupby("model"):
            part.to_csv(args.raw / f"{model}.csv", index=False)
    text = summarise(df)
    load = os.getloadavg()[0]
    header = (
        f"Run: `.venv/bin/python benchmarks/validate_mechanisms.py --reps {args.reps} "
        f"--null-reps {args.null_reps} --jobs {args.jobs} --seed {args.seed}` — "
        f"{wall / 60:.1f} min wall time on {args.jobs} process(es), load average {load:.1f} "
        f"at the end.\n"
    )
    block = f"{START}\n{header}\n{text}\n{END}"
    print(block)
    if not args.no_write and DOC.exists():
        page = DOC.read_text(encoding="utf-8")
        if START in page and END in page:
            head, rest = page.split(START, 1)
            _, tail = rest.split(END, 1)
            DOC.write_text(head + block + tail, encoding="utf-8")
            print(f"updated {DOC}")


if __name__ == "__main__":
    main()
