"""Size and power of the pseudo-group tests, on rooms of the agent loop that share a stimulus.

Every replication simulates ``rooms`` rooms of ``size`` people with the agent loop of
syntony.model (see syntony.physio.mechanisms.pseudo_validation): each room receives the same
stimulus, nobody perceives anyone outside their room, and the stimulus is not given to the fits.
The first room is the real group; its statistic is compared with ``--n-pseudo`` pseudo-groups
drawn across all rooms (at least one member from the real room's session and one from the
others), by the same code as ``syntony fit --pseudo-from``. Arms:

- none: no coupling anywhere (size: the rejection rate at 5% should be 5% up to Monte Carlo
  error, and the randomised p-values uniform, Kolmogorov-Smirnov);
- effect: coupling in every room with the model's mechanism (power);
- plain (gated, directed): coupling without the mechanism (is the test specific to it?).

Tasks are interleaved over (model, arm) in proportion to their counts, each row is appended to ``--raw`` as it finishes, and a
rerun with the same ``--raw`` skips the rows already there (so a stopped run resumes). The
summary replaces the block between the markers in docs/pseudo_groups.md.

Run: .venv/bin/python benchmarks/validate_pseudo_groups.py [--jobs 1] [--seed 15]
     [--raw pseudo_raw.csv] [--plan linear:none=300,effect=200 ...] [--scale 0.1] [--no-write]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
import warnings
from pathlib import Path

import pandas as pd
from scipy import stats

from syntony._rng import SeedTree
from syntony.execution import LocalExecutor, SerialExecutor
from syntony.physio.mechanisms import pseudo_validation as PV

DOC = Path(__file__).resolve().parents[1] / "docs" / "pseudo_groups.md"
START, END = "<!-- validation:start -->", "<!-- validation:end -->"
#: Replications per model and arm (about 30 CPU minutes on one core with the default design).
PLAN = {
    "linear": {"none": 300, "effect": 200},
    "gated": {"none": 150, "effect": 100, "plain": 50},
    "directed": {"none": 150, "effect": 100, "plain": 50},
    "switching": {"none": 50},
}
STATISTIC = {
    "linear": "coupling c",
    "gated": "signed root of the LR of g = 0",
    "directed": "LR of one pull for all pairs",
    "switching": "LR of one mode against two",
}
ARM_TEXT = {
    ("linear", "none"): "no coupling",
    ("linear", "effect"): "coupling",
    ("gated", "none"): "no coupling",
    ("gated", "effect"): "coupling gated by synchrony (g = 1)",
    ("gated", "plain"): "coupling, no gate (g = 0)",
    ("directed", "none"): "no coupling",
    ("directed", "effect"): "coupling, unequal sender trust",
    ("directed", "plain"): "coupling, equal trust",
    ("switching", "none"): "no coupling, no modes",
}
FIELDS = ["model", "arm", "rep", "real", "pseudo_mean", "n_pseudo", "p_value", "p_random",
          "stimulus_sd", "cpu"]  # fmt: skip


def _task(item, shared):
    model, arm, rep = item
    design, n_pseudo, seed = shared
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # boundary fits (a gate without coupling, two modes in one-mode data) warn; expected
    warnings.simplefilter("ignore", RuntimeWarning)
    t0 = time.process_time()
    row = PV.run_replication(
        design, model, arm, n_pseudo=n_pseudo, seed=SeedTree(seed).child(model, arm, rep)
    )
    row.update(rep=rep, cpu=time.process_time() - t0)
    return row


def _plan(specs: list[str] | None, scale: float) -> dict[str, dict[str, int]]:
    plan = {m: dict(a) for m, a in PLAN.items()}
    for spec in specs or []:
        model, _, arms = spec.partition(":")
        if model not in PV.MODELS or not arms:
            raise SystemExit(
                f"--plan {spec!r}: expected MODEL:ARM=N[,ARM=N] with MODEL in {PV.MODELS}"
            )
        plan[model] = {}
        for part in arms.split(","):
            arm, _, n = part.partition("=")
            plan[model][arm] = int(n)
    return {m: {a: max(1, round(n * scale)) for a, n in arms.items() if n > 0}
            for m, arms in plan.items()}  # fmt: skip


def _tasks(plan, models, done):
    """Tasks not yet done, interleaved so that every (model, arm) advances in proportion to its
    planned count: a run stopped early has the same share of each."""
    keyed = [((r + 0.5) / n, k, (m, a, r))
             for k, (m, a, n) in enumerate((m, a, n) for m in models for a, n in plan[m].items())
             for r in range(n) if (m, a, r) not in done]  # fmt: skip
    return [task for *_, task in sorted(keyed)]


def _clopper(k: int, n: int) -> tuple[float, float]:
    lo = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def summarise(raw: pd.DataFrame, design: PV.RoomsDesign, n_pseudo: int, commands: list[str]) -> str:
    lines = ["```", *commands, "```", ""]
    d = design
    lines += [
        f"Design: {d.rooms} rooms of {d.size} people, {d.duration:g} s at {1 / d.dt:g} Hz; a "
        f"shared stimulus of {d.steps} steps of +-{d.amplitude:g} lasting {d.step_duration:g} s "
        f"(onsets and signs new in every replication); coupling kappa = {d.kappa:g} when present; "
        f"{n_pseudo} pseudo-groups per replication (smallest p-value {1 / (n_pseudo + 1):.3g}).",
        "",
        "| model | statistic | arm | replications | rejection rate at 5% [95% CI] | "
        "binomial 95% range at 5% | KS p (uniform) | mean real | mean of pseudo-group means |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for model in PV.MODELS:
        for arm in PV.ARMS:
            sub = raw[(raw["model"] == model) & (raw["arm"] == arm)]
            n = len(sub)
            if n == 0:
                continue
            k = int((sub["p_value"] <= 0.05 + 1e-12).sum())
            lo, hi = _clopper(k, n)
            if arm == "none":
                band_lo = stats.binom.ppf(0.025, n, 0.05) / n
                band_hi = stats.binom.ppf(0.975, n, 0.05) / n
                inside = band_lo <= k / n <= band_hi
                band = f"{band_lo:.3f}-{band_hi:.3f} ({'inside' if inside else '**outside**'})"
                ks = stats.kstest(sub["p_random"], "uniform").pvalue
                ks_text = f"{ks:.2f}"
            else:
                band, ks_text = "-", "-"
            lines.append(
                f"| {model} | {STATISTIC[model]} | {ARM_TEXT[model, arm]} | {n} | {k / n:.3f} "
                f"[{lo:.3f}, {hi:.3f}] | {band} | {ks_text} | {sub['real'].mean():.3g} | "
                f"{sub['pseudo_mean'].mean():.3g} |"
            )
            short = sub["n_pseudo"] < n_pseudo
            extra = (
                f"; {int(short.sum())} with fewer than {n_pseudo} pseudo-group values"
                if short.any()
                else ""
            )
            notes.append(
                f"- {model}, {ARM_TEXT[model, arm]}: mean p-value {sub['p_value'].mean():.3f}, "
                f"rejection at 10% {(sub['p_value'] <= 0.10 + 1e-12).mean():.3f}, "
                f"{sub['cpu'].sum():.0f} CPU seconds ({sub['cpu'].mean():.2f} s per replication){extra}"
            )
    lines += ["", *notes, ""]
    return "\n".join(lines)


def _write_block(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else f"{START}\n{END}\n"
    if START not in doc or END not in doc:
        raise SystemExit(f"{DOC}: the markers {START} and {END} are missing")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{text}{END}{tail}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(PV.MODELS))
    ap.add_argument("--plan", nargs="*", help="MODEL:ARM=N[,ARM=N] (replaces that model's arms)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every replication count")
    ap.add_argument("--n-pseudo", type=int, default=19)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--raw", type=Path, default=Path("pseudo_groups_raw.csv"))
    ap.add_argument("--summary-only", action="store_true", help="summarise --raw, run nothing")
    ap.add_argument("--no-write", action="store_true", help="print, do not edit the docs page")
    args = ap.parse_args(argv)
    design = PV.RoomsDesign()
    models = [m for m in args.models.split(",") if m]
    plan = _plan(args.plan, args.scale)
    done = set()
    if args.raw.exists():
        old = pd.read_csv(args.raw)
        done = set(zip(old["model"], old["arm"], old["rep"], strict=True))
    tasks = [] if args.summary_only else _tasks(plan, models, done)
    t0 = time.perf_counter()
    if tasks:
        print(f"{len(tasks)} replications ({len(done)} already in {args.raw})", flush=True)
        new = not args.raw.exists()
        executor = (
            SerialExecutor() if args.jobs == 1 else LocalExecutor(args.jobs, kind="processes")
        )
        with executor, args.raw.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            shared = (design, args.n_pseudo, args.seed)
            for count, (_, row) in enumerate(
                executor.imap_unordered(_task, tasks, shared=shared), 1
            ):
                writer.writerow({k: row[k] for k in FIELDS})
                fh.flush()
                if count % 25 == 0 or count == len(tasks):
                    print(
                        f"{count}/{len(tasks)} done, {time.perf_counter() - t0:.0f} s", flush=True
                    )
    raw = pd.read_csv(args.raw)
    raw = raw[raw["model"].isin(models)]
    wall = time.perf_counter() - t0
    counts = " ".join(f"{m}:" + ",".join(f"{a}={n}" for a, n in plan[m].items()) for m in models)
    commands = [
        f".venv/bin/python benchmarks/validate_pseudo_groups.py --jobs {args.jobs} --seed {args.seed} "
        f"--n-pseudo {args.n_pseudo} --plan {counts}",
        f"# {len(raw)} of the {sum(sum(plan[m].values()) for m in models)} planned replications, "
        f"{raw['cpu'].sum():.0f} CPU seconds"
        + (f", last invocation {wall / 60:.1f} min wall" if tasks else ""),
    ]
    text = summarise(raw, design, args.n_pseudo, commands)
    print(text)
    if not args.no_write:
        _write_block(text)
        print(f"written to {DOC}")


if __name__ == "__main__":
    main()
