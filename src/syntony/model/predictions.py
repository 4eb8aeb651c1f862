"""The theory's seven predictions (P1–P7), each checked by a small seeded simulation.

:func:`check_predictions` runs, for every prediction, the manipulated and the control condition
of a built-in scenario (or a small variant of one) on the same seeds, measures the effect the
prediction names, and returns a :class:`PredictionsResult`: one table per prediction (one row
per replicate, with whether the prediction held in it), the time courses averaged over
replicates, and a report with one figure per prediction. The settings are those of the
package's prediction tests, kept small so that the whole check takes seconds.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer
from syntony.errors import ParameterError
from syntony.report import Report, Result, methods_text

__all__ = ["PREDICTIONS", "PredictionsResult", "check_predictions"]


@dataclass(frozen=True)
class _Check:
    code: str
    short: str
    title: str
    claim: str
    measure: str
    run: Callable[[list[np.random.SeedSequence]], tuple[pd.DataFrame, xr.DataArray]]
    ylabel: str
    manipulated: str
    control: str


def _simulate(scenario: Any, seed: Any) -> xr.Dataset:
    from syntony.model.simulate import simulate

    return simulate(scenario, seed=seed).dataset


def _first_time(time: np.ndarray, values: np.ndarray, level: float) -> float:
    hit = np.flatnonzero(values >= level)
    return float(time[hit[0]]) if hit.size else float("inf")


def _time_to_stay_below(time: np.ndarray, values: np.ndarray, level: float) -> float:
    above = np.flatnonzero(values > level)
    if above.size == 0:
        return float(time[0])
    return float(time[above[-1] + 1]) if above[-1] + 1 < time.size else float("inf")


def _curves(time: np.ndarray, runs: dict[str, list[np.ndarray]]) -> xr.DataArray:
    """Mean over replicates of each condition's time course, as (condition, time)."""
    values = np.array([np.mean(np.stack(v), axis=0) for v in runs.values()])
    return xr.DataArray(
        values, dims=("condition", "time"), coords={"condition": list(runs), "time": time}
    )


# -- P1 -------------------------------------------------------------------------------------------
def _p1(seeds: list[np.random.SeedSequence]) -> tuple[pd.DataFrame, xr.DataArray]:
    from syntony.model.scenario import Scenario

    base = Scenario.from_dict(
        {
            "agents": {"n": 40, "x0_sd": 1.5, "q_x": 0.01, "gamma_int": 4.0, "homeostasis": 0.0},
            "channels": [{"name": "arousal", "cue_noise": 0.05}],
            "perception": {"online_synchrony": False},
            "modes": {"enabled": False},
            "simulation": {"steps": 200},
        }
    )
    rows, runs, time = [], {"synchrony 0.6": [], "synchrony 0": []}, None
    for k, ss in enumerate(seeds):
        times = {}
        for label, rho in (("synchrony 0.6", 0.6), ("synchrony 0", 0.0)):
            ds = _simulate(base.with_overrides({"perception.rho0": rho}), ss)
            time = ds.time.values
            relative = ds.dispersion.values[:, 0] / ds.x.isel(time=0).var().item()
            runs[label].append(relative)
            times[label] = _time_to_stay_below(time, relative, 0.1)
        rows.append(
            {
                "replicate": k,
                "time to 10% (synchrony 0.6) [s]": times["synchrony 0.6"],
                "time to 10% (synchrony 0) [s]": times["synchrony 0"],
                "holds": times["synchrony 0.6"] < times["synchrony 0"],
            }
        )
    return pd.DataFrame(rows), _curves(time, runs)


# -- P2 -------------------------------------------------------------------------------------------
def _p2(seeds: list[np.random.SeedSequence]) -> tuple[pd.DataFrame, xr.DataArray]:
    from syntony.model.scenario import Scenario

    plain, sensors = Scenario.builtin("overt_vs_covert"), Scenario.builtin("sensor_sharing")
    labels = ("anger", "guilt", "anger, sensors shared", "guilt, sensors shared")
    rows, runs, time = [], {label: [] for label in labels}, None
    for k, ss in enumerate(seeds):
        reach = {}
        for scenario, suffix in ((plain, ""), (sensors, ", sensors shared")):
            ds = _simulate(scenario, ss)
            time = ds.time.values
            late = ds.reach.sel(time=slice(20, None)).mean("time").values
            for c, emotion in enumerate(("anger", "guilt")):
                runs[emotion + suffix].append(ds.reach.values[:, c])
                reach[emotion + suffix] = float(late[c])
        gap = reach["anger"] - reach["guilt"]
        gap_sensors = reach["anger, sensors shared"] - reach["guilt, sensors shared"]
        rows.append(
            {
                "replicate": k,
                "reach anger": reach["anger"],
                "reach guilt": reach["guilt"],
                "gap": gap,
                "gap, sensors shared": gap_sensors,
                "holds": gap > 0 and abs(gap_sensors) < gap,
            }
        )
    return pd.DataFrame(rows), _curves(time, runs)


# -- P3 -------------------------------------------------------------------------------------------
def _p3(seeds: list[np.random.SeedSequence]) -> tuple[pd.DataFrame, xr.DataArray]:
    from syntony.model.scenario import Scenario

    base = Scenario.builtin("social_media_outrage").with_overrides({"agents.n": 120})
    labels = {"amplification 2": 2.0, "amplification 0": 0.0}
    rows, runs, time = [], {label: [] for label in labels}, None
    for k, ss in enumerate(seeds):
        peak, onset = {}, {}
        for label, alpha in labels.items():
            ds = _simulate(base.with_overrides({"technology.0.amplification": alpha}), ss)
            time = ds.time.values
            runs[label].append(ds.mean_x.values[:, 0])
            peak[label] = float(ds.mean_x.values[:, 0].max())
            onset[label] = _first_time(time, ds.reach.values[:, 0], 0.2)
        rows.append(
            {
                "replicate": k,
                "peak outrage (amplified)": peak["amplification 2"],
                "peak outrage (plain)": peak["amplification 0"],
                "20% outraged at (amplified) [s]": onset["amplification 2"],
                "20% outraged at (plain) [s]": onset["amplification 0"],
                "holds": peak["amplification 2"] > peak["amplification 0"]
                and onset["amplification 2"] < onset["amplification 0"],
            }
        )
    return pd.DataFrame(rows), _curves(time, runs)


# -- P4 -------------------------------------------------------------------------------------------
def _p4(seeds: list[np.random.SeedSequence]) -> tuple[pd.DataFrame, xr.DataArray]:
    from syntony.model.scenario import Scenario

    scenario = Scenario.builtin("trauma")
    rows, runs, time = [], {"trauma phenotype": [], "others": []}, None
    for k, ss in enumerate(seeds):
        ds = _simulate(scenario, ss)
        time = ds.time.values
        hurt = ds.trauma.values.astype(bool)
        defensive = ds.p_defensive.values > 0.5
        runs["trauma phenotype"].append(defensive[:, hurt].mean(axis=1))
        runs["others"].append(defensive[:, ~hurt].mean(axis=1))
        per_agent = defensive.mean(axis=0)
        share = np.nanmean(ds.social_share.values[:, :, 0], axis=0)
        row = {
            "replicate": k,
            "time defensive (trauma)": float(per_agent[hurt].mean()),
            "time defensive (others)": float(per_agent[~hurt].mean()),
            "weight of others (trauma)": float(share[hurt].mean()),
            "weight of others (others)": float(share[~hurt].mean()),
        }
        row["holds"] = (
            row["time defensive (trauma)"] > row["time defensive (others)"]
            and row["weight of others (trauma)"] < row["weight of others (others)"]
        )
        rows.append(row)
    return pd.DataFrame(rows), _curves(time, runs)


# -- P5 -------------------------------------------------------------------------------------------
def _p5(seeds: list[np.random.SeedSequence]) -> tuple[pd.DataFrame, xr.DataArray]:
    from syntony.model.scenario import Scenario

    scenario = Scenario.builtin("synchronized_breathing").with_overrides({"agents.n": 60})
    labels = {"pacer in phase": True, "pacer at random phases": False}
    rows, runs, time = [], {label: [] for label in labels}, None
    for k, ss in enumerate(seeds):
        sync, calm = {}, {}
        for label, shared in labels.items():
            ds = _simulate(scenario.with_overrides({"events.1.shared_phase": shared}), ss)
            time = ds.time.values
            after = time >= 10.0
            runs[label].append(ds.synchrony.values[:, 0])
            sync[label] = float(ds.synchrony.values[after, 0].mean())
            calm[label] = _first_time(time[after], -ds.fraction_defensive.values[after], -0.05)
        rows.append(
            {
                "replicate": k,
                "mean synchrony (in phase)": sync["pacer in phase"],
                "mean synchrony (random)": sync["pacer at random phases"],
                "calm at (in phase) [s]": calm["pacer in phase"],
                "calm at (random) [s]": calm["pacer at random phases"],
                "holds": sync["pacer in phase"] > sync["pacer at random phases"]
                and calm["pacer in phase"] < calm["pacer at random phases"],
            }
        )
    return pd.DataFrame(rows), _curves(time, runs)


# -- P6 -------------------------------------------------------------------------------------------
_P6_NOISE = (1e-6, 0.01, 1.0, 100.0, 1e6)
_P6_N, _P6_RHO = 12, 0.5


def _p6_first_gain(noise: np.ndarray) -> np.ndarray:
    """Mean gain of the first step, trace(S (S + r I)^-1) / n, from the eigenvalues of S."""
    n, rho = _P6_N, _P6_RHO
    eig = np.array([1 + (n - 1) * rho] + [1 - rho] * (n - 1))
    return (eig[None, :] / (eig[None, :] + np.asarray(noise)[:, None])).mean(axis=1)


def _p6(seeds: list[np.random.SeedSequence]) -> tuple[pd.DataFrame, xr.DataArray]:
    """The crowd filter is deterministic: one run per noise level, against the closed forms."""
    from syntony.model.scenario import Scenario

    n, steps, rho = _P6_N, 60, _P6_RHO
    base = Scenario.builtin("crowd_filter").with_overrides(
        {"crowd_filter.n": n, "crowd_filter.rho": rho, "simulation.steps": steps}
    )
    sigma0 = np.full((n, n), rho) + (1 - rho) * np.eye(n)
    rows, runs, time = [], {}, None
    for q, r in [(0.0, r) for r in _P6_NOISE] + [(0.2, 0.5)]:
        overrides = {"crowd_filter.noise": r, "crowd_filter.process_noise": q}
        if q > 0:  # independent people: the scalar steady state applies
            overrides["crowd_filter.rho"] = 0.0
        gain = _simulate(base.with_overrides(overrides), seeds[0]).mean_gain.values
        time = np.arange(gain.size)
        if q == 0:
            # Without process noise the prior precision grows by 1/r per step.
            first = float(_p6_first_gain(np.array([r]))[0])
            sigma_t = np.linalg.inv(np.linalg.inv(sigma0) + (steps - 1) * np.eye(n) / r)
            end = np.trace(sigma_t @ np.linalg.inv(sigma_t + r * np.eye(n))) / n
        else:
            # Process noise is added before each update; the gain settles at the scalar root.
            first, lam = (1.0 + q) / (1.0 + q + r), q / r
            end = (-lam + np.sqrt(lam**2 + 4 * lam)) / 2
        label = f"noise {r:g}" + (f", process noise {q:g}" if q else "")
        runs[label] = [gain]
        rows.append(
            {
                "sensory noise": r,
                "process noise": q,
                "gain at start": float(gain[0]),
                "closed form at start": first,
                "gain at end": float(gain[-1]),
                "closed form at end": float(end),
            }
        )
    table = pd.DataFrame(rows)
    close = np.isclose(table["gain at start"], table["closed form at start"], rtol=1e-6, atol=0)
    close &= np.isclose(table["gain at end"], table["closed form at end"], rtol=1e-6, atol=0)
    table["holds"] = close
    return table, _curves(time, runs)


# -- P7 -------------------------------------------------------------------------------------------
def _p7(seeds: list[np.random.SeedSequence]) -> tuple[pd.DataFrame, xr.DataArray]:
    from syntony.model.scenario import Scenario

    base = Scenario.builtin("caregiver_infant").with_overrides({"simulation.steps": 600})
    variants = {
        "predictable caregiver": base,
        "unpredictable caregiver": base.with_overrides({"events.0.rate": 0.1, "groups.0.q_x": 0.5}),
    }
    rows, runs, time = [], {label: [] for label in variants}, None
    for k, ss in enumerate(seeds):
        defensive, spread = {}, {}
        for label, scenario in variants.items():
            infant = _simulate(scenario, ss).sel(agent=1)
            time = infant.time.values
            runs[label].append(infant.p_defensive.values)
            defensive[label] = float((infant.p_defensive.values > 0.5).mean())
            spread[label] = float(np.asarray(infant.v.values)[-100:].mean())
        rows.append(
            {
                "replicate": k,
                "infant defensive (predictable)": defensive["predictable caregiver"],
                "infant defensive (unpredictable)": defensive["unpredictable caregiver"],
                "prior variance (predictable)": spread["predictable caregiver"],
                "prior variance (unpredictable)": spread["unpredictable caregiver"],
                "holds": defensive["predictable caregiver"] < defensive["unpredictable caregiver"]
                and spread["predictable caregiver"] < spread["unpredictable caregiver"],
            }
        )
    return pd.DataFrame(rows), _curves(time, runs)


PREDICTIONS: dict[str, _Check] = {
    c.code: c
    for c in (
        _Check(
            "P1",
            "Synchrony",
            "Synchrony speeds convergence",
            "When bodies are more synchronous, each agent trusts the others' cues more and the "
            "group's predictions agree sooner.",
            "Disagreement between the agents' predictions (dispersion over its starting value) "
            "with synchrony held at 0.6 or at 0; the check: it falls to 10% and stays there "
            "sooner at 0.6.",
            _p1,
            "dispersion / start",
            "synchrony 0.6",
            "synchrony 0",
        ),
        _Check(
            "P2",
            "Overt vs covert",
            "Overt feelings spread further; shared sensors close the gap",
            "An easily seen feeling (anger) reaches more people than a barely visible one "
            "(guilt); when wearable sensors make bodies visible, the difference shrinks.",
            "Reach (fraction of agents above threshold) of each feeling, with and without shared "
            "sensors (scenarios overt_vs_covert and sensor_sharing); the check: anger reaches "
            "more than guilt, and sharing sensors makes the gap smaller.",
            _p2,
            "reach",
            "anger",
            "guilt",
        ),
        _Check(
            "P3",
            "Amplification",
            "Amplification breeds outrage",
            "A platform that boosts high-arousal posts makes outrage spread faster and peak "
            "higher.",
            "Mean outrage over time with the platform's amplification at 2 or at 0 (scenario "
            "social_media_outrage, 120 users); the check: a higher peak and 20% of users "
            "outraged sooner.",
            _p3,
            "mean outrage",
            "amplification 2",
            "amplification 0",
        ),
        _Check(
            "P4",
            "Trauma",
            "Trauma keeps agents defensive and less open to others",
            "Agents with the trauma phenotype spend more time in the defensive mode and give the "
            "others' cues less weight.",
            "Fraction of each group in the defensive mode over time (scenario trauma); the "
            "check: more time defensive and a smaller weight of the shared prior for the "
            "trauma group.",
            _p4,
            "fraction defensive",
            "trauma phenotype",
            "others",
        ),
        _Check(
            "P5",
            "Breathing",
            "Breathing together calms together",
            "A breathing pacer followed in phase raises the group's synchrony and brings it back "
            "to calm sooner after a stressor.",
            "Group synchrony R(t) with one shared pacer phase or random phases (scenario "
            "synchronized_breathing, 60 agents); the check: higher synchrony after 10 s and "
            "fewer than 5% defensive sooner.",
            _p5,
            "group synchrony R(t)",
            "pacer in phase",
            "pacer at random phases",
        ),
        _Check(
            "P6",
            "Crowd filter",
            "The crowd filter's limits",
            "The crowd's gain goes to 1 when the senses are noiseless and to 0 when they are "
            "pure noise; without process noise the priors harden step by step, and with it the "
            "gain settles at a closed-form value.",
            "Mean gain of the crowd filter over time for sensory noise from 1e-6 to 1e6 (12 "
            "people, 60 steps; deterministic, so one run each) and, last row, with process "
            "noise; the check: the first and last gains equal their closed forms (to 1e-6).",
            _p6,
            "mean gain",
            "",
            "",
        ),
        _Check(
            "P7",
            "Caregiver",
            "A predictable caregiver gives the infant a safe prior",
            "With a calm, predictable caregiver the infant settles into a confident prior of "
            "safety; an unpredictable caregiver leaves it more often defensive.",
            "The infant's belief that it is in danger, over time (scenario caregiver_infant, "
            "600 steps; the unpredictable caregiver has random stressors and a noisier body); "
            "the check: less time defensive and a tighter prior with the predictable caregiver.",
            _p7,
            "P(defensive), infant",
            "predictable caregiver",
            "unpredictable caregiver",
        ),
    )
}


def check_predictions(
    *,
    n_replicates: int = 3,
    seed: SeedLike = 0,
    which: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> PredictionsResult:
    """Run the seven predictions' simulations and check each one.

    Parameters
    ----------
    n_replicates : int
        Seeds per prediction; both conditions of a replicate share its seed (a paired design).
    seed : int, SeedSequence or None
        Root of the seed tree; replicate ``k`` of prediction ``P`` uses the child ``(P, k)``.
    which : sequence of str, optional
        Codes to run (default: all of ``"P1"`` to ``"P7"``).
    log : callable, optional
        Receives one line per finished prediction.

    Returns
    -------
    PredictionsResult
    """
    n_replicates = check_integer("n_replicates", n_replicates, minimum=1)
    codes = list(PREDICTIONS) if which is None else [str(c).upper() for c in which]
    unknown = [c for c in codes if c not in PREDICTIONS]
    if unknown or not codes:
        raise ParameterError("which", f"codes among {list(PREDICTIONS)}", which)
    tree = SeedTree(seed)
    tables: dict[str, pd.DataFrame] = {}
    curves: dict[str, xr.DataArray] = {}
    for code in codes:
        seeds = [tree.child(code, k).seed_sequence for k in range(n_replicates)]
        tables[code], curves[code] = PREDICTIONS[code].run(seeds)
        if log is not None:
            held = int(tables[code]["holds"].sum())
            log(f"{code}: holds in {held} of {len(tables[code])}")
    from syntony._provenance import provenance

    parameters = {"n_replicates": n_replicates, "predictions": codes}
    return PredictionsResult(
        tables=tables,
        curves=curves,
        parameters=parameters,
        provenance=provenance(parameters=parameters, seed=tree.record()),
    )


@dataclass(eq=False)
class PredictionsResult(Result):
    """Per-replicate checks and mean time courses of the predictions P1–P7.

    Attributes
    ----------
    tables : dict of str to DataFrame
        Per prediction, one row per replicate (P6: per noise level) with the measured values
        and ``holds``.
    curves : dict of str to DataArray
        Per prediction, the time courses (condition, time) averaged over replicates.
    """

    kind = "predictions"
    title = "The model's predictions P1–P7"

    tables: dict[str, pd.DataFrame]
    curves: dict[str, xr.DataArray]
    parameters: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def held(self) -> dict[str, tuple[int, int]]:
        """Per prediction, (rows where it held, rows)."""
        return {c: (int(t["holds"].sum()), len(t)) for c, t in self.tables.items()}

    @property
    def methods(self) -> str:
        return methods_text(
            "Each prediction of the interoceptive-inference account of emotional contagion was "
            "checked by simulating the agent-based contagion loop (the crowd filter for P6) in a "
            "manipulated and a control condition built from syntony's scenarios. The two "
            f"conditions of a replicate shared one seed; {self.parameters.get('n_replicates')} "
            "replicates per prediction, each seeded by its own named child of the root seed. A "
            "prediction holds in a replicate when the measured effect has the predicted sign "
            "(P6: when the gain matches its closed form). The figures show the time courses "
            "averaged over replicates and, per replicate, the measured values.",
            "These are small simulations meant to show what the model predicts, not "
            "estimates from data: the effect sizes depend on the scenario parameters.",
            references=[
                "Schoeller F, Christov-Moore L, Reggente N. Emotional contagion: the role of "
                "interoceptive inference in affective empathy and co-regulation. Institute for "
                "Advanced Consciousness Studies, Santa Monica (preprint).",
                "Kalman RE (1960). A new approach to linear filtering and prediction problems. "
                "Journal of Basic Engineering 82(1):35-45.",
            ],
        )

    def summary(self) -> str:
        held = self.held
        every = sum(h == n for h, n in held.values())
        lines = [f"{every} of {len(held)} predictions hold in every replicate"]
        for code, (h, n) in held.items():
            lines.append(f"  {code} {PREDICTIONS[code].title}: {h}/{n}")
        return "\n".join(lines)

    def _write(self, directory: Path) -> None:
        from syntony._io_utils import write_netcdf

        for code, table in self.tables.items():
            table.to_csv(directory / f"{code}.tsv", sep="\t", index=False, lineterminator="\n")
        data = xr.Dataset(
            {
                code: curve.rename({"condition": f"{code}_condition", "time": f"{code}_time"})
                for code, curve in self.curves.items()
            },
            attrs={"predictions": json.dumps(list(self.curves))},
        )
        write_netcdf(directory / "curves.nc", data)

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> PredictionsResult:
        with xr.open_dataset(directory / "curves.nc", engine="h5netcdf") as data:
            data = data.load()
        codes = json.loads(data.attrs["predictions"])
        curves = {
            code: data[code].rename({f"{code}_condition": "condition", f"{code}_time": "time"})
            for code in codes
        }
        for curve in curves.values():
            curve.coords["condition"] = [str(c) for c in curve.condition.values]
        tables = {
            code: pd.read_csv(directory / f"{code}.tsv", sep="\t", keep_default_na=False)
            for code in codes
        }
        return cls(
            tables=tables,
            curves=curves,
            parameters=manifest["parameters"],
            provenance=manifest["provenance"],
        )

    def _build_report(self, report: Report) -> None:
        overview = report.section("Overview")
        overview.text(
            "Each prediction was simulated in two conditions on the same seeds. A check holds "
            "when the effect has the predicted direction in that replicate. In the tables, a "
            "time of inf means the level was not reached within the simulated time."
        )
        held = self.held
        overview.table(
            pd.DataFrame(
                {
                    "prediction": list(held),
                    "what it says": [PREDICTIONS[c].title for c in held],
                    "held": [h for h, _ in held.values()],
                    "of": [n for _, n in held.values()],
                }
            ),
            name="overview",
        )
        for code, table in self.tables.items():
            check = PREDICTIONS[code]
            section = report.section(f"{code} {check.short}")
            section.html(f"<p><strong>{html.escape(check.title)}.</strong></p>")
            section.text(f"{check.claim}\n\n{check.measure}")
            section.figure(
                self._figure(code), caption=f"{code}: time courses and per-replicate values."
            )
            per = "per noise level" if code == "P6" else "per replicate"
            section.table(table, name=code, caption=f"{code}, {per}")

    def _figure(self, code: str) -> Any:
        import matplotlib.pyplot as plt

        check, curve, table = PREDICTIONS[code], self.curves[code], self.tables[code]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
        for condition in curve.condition.values:
            left.plot(curve.time.values, curve.sel(condition=condition).values, label=condition)
        left.set_xlabel("time step" if code == "P6" else "time [s]")
        left.set_ylabel(check.ylabel)
        if code == "P6":
            left.set_yscale("log")
        left.legend(fontsize=8)
        values = table.drop(columns=["replicate", "holds"], errors="ignore")
        numeric = values.select_dtypes("number")
        if code == "P6":
            rows = table[table["process noise"] == 0]
            right.loglog(rows["sensory noise"], rows["gain at start"], "o", label="simulated")
            grid = np.logspace(-7, 7, 200)
            right.loglog(grid, _p6_first_gain(grid), "-", color="0.5", lw=1, label="closed form")
            right.set_xlabel("sensory noise")
            right.set_ylabel("gain at the first step")
            right.legend(fontsize=8)
        else:
            pairs = [numeric.columns[i : i + 2] for i in range(0, min(4, numeric.shape[1]), 2)]
            first = pairs[0]
            finite = numeric[first].replace([np.inf, -np.inf], np.nan)
            for k in range(len(numeric)):
                right.plot([0, 1], finite.iloc[k].to_numpy(), "o-", color="0.4", alpha=0.7)
            right.set_xticks([0, 1], [str(c) for c in first], fontsize=8)
            right.set_xlim(-0.4, 1.4)
            right.set_ylabel("per replicate")
        return fig
