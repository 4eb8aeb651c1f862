"""Report sections and methods text of the model part's results.

:class:`~syntony.model.results.SimulationResult`, :class:`~syntony.model.results.SweepResult`
and :class:`~syntony.model.results.CrowdFilterResult` call the builders below from their
``_build_report``; the figures come from :mod:`syntony.model.plots`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony.report import Report, methods_text

if TYPE_CHECKING:
    import xarray as xr

    from syntony.model.results import CrowdFilterResult, SimulationResult, SweepResult
    from syntony.model.scenario import Scenario

__all__ = [
    "REFERENCES",
    "build_crowd_filter_report",
    "build_simulation_report",
    "build_sweep_report",
    "crowd_filter_methods",
    "crowd_filter_sections",
    "scenario_table",
    "simulation_methods",
    "sweep_methods",
]

REFERENCES = {
    "model": "Schoeller F, Christov-Moore L, Reggente N. Emotional contagion: the role of "
    "interoceptive inference in affective empathy and co-regulation. Manuscript, Institute for "
    "Advanced Consciousness Studies, Santa Monica, CA.",
    "kalman": "Kalman RE (1960). A new approach to linear filtering and prediction problems. "
    "Journal of Basic Engineering 82(1):35-45. doi:10.1115/1.3662552",
    "joseph": "Bucy RS, Joseph PD (1968). Filtering for Stochastic Processes with Applications "
    "to Guidance. New York: Interscience.",
    "watts_strogatz": "Watts DJ, Strogatz SH (1998). Collective dynamics of 'small-world' "
    "networks. Nature 393:440-442. doi:10.1038/30918",
    "barabasi_albert": "Barabási A-L, Albert R (1999). Emergence of scaling in random networks. "
    "Science 286(5439):509-512. doi:10.1126/science.286.5439.509",
    "stochastic_block": "Holland PW, Laskey KB, Leinhardt S (1983). Stochastic blockmodels: "
    "first steps. Social Networks 5(2):109-137. doi:10.1016/0378-8733(83)90021-7",
    "ziggurat": "Marsaglia G, Tsang WW (2000). The ziggurat method for generating random "
    "variables. Journal of Statistical Software 5(8):1-7. doi:10.18637/jss.v005.i08",
    "layout": "Fruchterman TMJ, Reingold EM (1991). Graph drawing by force-directed placement. "
    "Software: Practice and Experience 21(11):1129-1164. doi:10.1002/spe.4380211102",
}

_NETWORKS = {
    "complete": "a complete network (everyone perceives everyone)",
    "ring": "a ring lattice ({k} neighbours on each side)",
    "watts_strogatz": "a small-world network ({k} neighbours on each side, rewiring "
    "probability {p}; Watts & Strogatz 1998)",
    "random": "a random network (out-degree {degree})",
    "spatial": "a spatial crowd (agents in a square of side {size}, perceiving everyone "
    "within radius {radius})",
    "barabasi_albert": "a scale-free network ({m} links per new agent; Barabási & Albert 1999)",
    "stochastic_block": "a stochastic block network (groups {sizes}, link probability {p_in} "
    "within and {p_out} between groups; Holland et al. 1983)",
    "edges": "a network read from an edge list ({n_edges} edges)",
}

# Sections of the scenario that matter for each model (the others keep their defaults).
_SECTIONS = {
    "agents": None,
    "dyad": ("name", "description", "model", "simulation", "perception", "dyad"),
    "crowd_filter": ("name", "description", "model", "simulation", "crowd_filter"),
}

_SWEEP_SUMMARIES = {
    "agents": (
        "final_synchrony",
        "mean_synchrony",
        "final_dispersion",
        "peak_reach",
        "convergence_time",
        "mean_fraction_defensive",
    ),
}


# ------------------------------------------------------------------------------- tables
def _flatten(value: Any, prefix: str, rows: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), rows)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            _flatten(item, f"{prefix}.{i}", rows)
    elif isinstance(value, list):
        rows.append((prefix, json.dumps(value)))
    else:
        rows.append((prefix, value))


def scenario_table(scenario: Scenario) -> pd.DataFrame:
    """The scenario as dotted keys (as ``--set`` takes them) and values, for its model.

    Sections that the scenario's model does not use (``dyad`` for the agent loop, say) are left
    out; lists of numbers are shown as JSON.
    """
    data = scenario.to_dict()
    keep = _SECTIONS.get(scenario.model)
    if keep is None:
        data = {k: v for k, v in data.items() if k not in ("dyad", "crowd_filter")}
    else:
        data = {k: v for k, v in data.items() if k in keep}
    rows: list[tuple[str, Any]] = []
    _flatten(data, "", rows)
    return pd.DataFrame(rows, columns=["key", "value"])


def _thin(table: pd.DataFrame, max_rows: int = 21) -> tuple[pd.DataFrame, int]:
    """At most ``max_rows`` evenly spaced rows, always the first and the last; and the step."""
    n = len(table)
    if n <= max_rows:
        return table, 1
    step = int(np.ceil((n - 1) / (max_rows - 1)))
    rows = sorted({*range(0, n, step), n - 1})
    return table.iloc[rows], step


def _scenario_section(report: Report, scenario: Scenario, heading: str = "Scenario") -> None:
    section = report.section(heading)
    section.text(
        "Every parameter of the run as a dotted key, the form `syntony simulate --set` takes; "
        "scenario.toml beside this report holds the same scenario and reruns it."
    )
    section.table(
        scenario_table(scenario), caption="Scenario parameters", name="scenario", max_rows=25
    )


# --------------------------------------------------------------------------- simulation
def build_simulation_report(result: SimulationResult, report: Report) -> None:
    """Overview, the model's figures, and the scenario as a table."""
    from syntony.model import plots

    ds, scenario = result.dataset, result.scenario
    sim = scenario.simulation
    overview = report.section("Overview")
    if scenario.description:
        overview.text(scenario.description)
    facts: dict[str, Any] = {"scenario": scenario.name, "model": scenario.model}
    if scenario.model == "agents":
        facts.update(
            agents=scenario.agents.n,
            network=scenario.network.kind,
            channels=", ".join(c.name for c in scenario.channels),
            engine=sim.engine,
        )
    facts.update(steps=sim.steps, dt_s=sim.dt, duration_s=sim.steps * sim.dt)
    facts["seed"] = str(result.seed.get("entropy"))
    overview.key_values(facts)
    summaries = result.summaries()
    if "channel" in summaries:
        # One column per affect channel reads better than ten columns per channel.
        summaries = summaries.set_index("channel").T.rename_axis(None, axis=1)
        summaries = summaries.reset_index(names="summary")
    overview.table(summaries, caption="The run in numbers", name="summary")

    if scenario.model == "agents":
        _agent_sections(ds, report, plots)
    elif scenario.model == "dyad":
        section = report.section("Signals, predictions, synchrony and precision")
        section.figure(
            plots.plot_dyad(ds),
            caption="Top: the two interoceptive signals (thin) and predictions (thick). "
            "Bottom: their trailing-window correlation rho and the precision omega of eq (2).",
        )
    else:
        crowd_filter_sections(ds, report)
    _scenario_section(report, scenario)


def _agent_sections(ds: xr.Dataset, report: Report, plots: Any) -> None:
    n_stored = ds.sizes["agent"]
    shown = min(12, n_stored)
    section = report.section("Bodies and predictions")
    section.figure(
        plots.plot_agents(ds, max_agents=shown),
        caption=f"Body state x (solid) and prediction mu (dashed) of {shown} of the "
        f"{n_stored} stored agents; thick lines are the means over the whole crowd.",
    )
    section = report.section("Group synchrony, dispersion and reach")
    section.figure(
        plots.plot_summaries(ds),
        caption="R(t): mean online synchrony rho over all links. D(t): variance of the "
        "predictions across agents (dotted line: convergence time, when D stays below its "
        "threshold share of the peak). f(t): fraction of agents whose body state is above "
        "the reach threshold.",
    )
    section = report.section("Defensive mode")
    section.figure(
        plots.plot_defensive(ds, max_agents=shown),
        caption=f"P(defensive mode) of {shown} stored agents (dotted: 0.5) and the fraction "
        "of the whole crowd more likely defensive than affiliative.",
    )
    if "node" in ds.dims:
        section = report.section("Network snapshot")
        section.figure(
            plots.plot_network_snapshot(ds),
            caption=f"{ds.sizes['node']} agents reached breadth-first from a random agent and "
            "the links among them (spring layout, Fruchterman & Reingold 1991), coloured by "
            "their final body state (left) and P(defensive mode) (right).",
        )


def simulation_methods(scenario: Scenario, dataset: xr.Dataset | None = None) -> str:
    """Methods paragraphs and references of a simulation, in the scenario's numbers.

    ``dataset`` (the run) names the crowd filter's algorithm when given.
    """
    sim = scenario.simulation
    if scenario.model == "crowd_filter":
        c = scenario.crowd_filter
        setting = (
            f"We simulated the crowd-level shared prior with {c.n} people for {sim.steps} steps "
            f"of {sim.dt:g} s. The initial prior covariance came from a common synchrony rho = "
            f"{c.rho:g} and variance {c.variance:g} (Sigma_0 = rho sqrt(sigma_i sigma_j)); "
            f"{c.observed_fraction:.0%} of the crowd observed a constant state of "
            f"{c.true_state:g} through independent noise of variance {c.noise:g}, with process "
            f"noise {c.process_noise:g} per step."
        )
        body, refs = _crowd_paragraphs(dataset)
        return methods_text(setting, *body, references=refs)
    if scenario.model == "dyad":
        d = scenario.dyad
        text = (
            "We ran the published dyad, eqs (1)-(2) of the interoceptive-inference model "
            "(Schoeller, Christov-Moore & Reggente). Two interoceptive signals of variances "
            f"{d.variances[0]:g} and {d.variances[1]:g}, correlated at rho = {d.rho:g} "
            f"(lag-one autocorrelation {d.autocorrelation:g}), were drawn for {sim.steps} steps "
            f"of {sim.dt:g} s. Each prediction moved toward its own signal by the precision "
            "omega of eq (2), the inverse variance of the difference of the two signals, "
            f"estimated over a trailing window of {d.window} samples (rho = {d.rho0:g} until "
            f"the window is full; variance floor {scenario.perception.floor:g}). The gain "
            f"policy was '{scenario.perception.gain}' (unstable gains: "
            f"'{scenario.perception.on_unstable}')."
        )
        return methods_text(text, references=[REFERENCES["model"]])
    a, m, p = scenario.agents, scenario.modes, scenario.perception
    net = scenario.network
    channels = ", ".join(
        f"{c.name} (observability {c.observability:g}, cue noise {c.cue_noise:g})"
        for c in scenario.channels
    )
    network = _NETWORKS[net.kind].format(
        k=net.k, p=net.p, degree=net.degree, size=net.size, radius=net.radius, m=net.m,
        sizes=list(net.sizes), p_in=net.p_in, p_out=net.p_out, n_edges=len(net.edges),
    )  # fmt: skip
    refs = [REFERENCES["model"]]
    if net.kind in REFERENCES:
        refs.append(REFERENCES[net.kind])
    model = (
        f"We simulated {a.n} agents with the interoceptive-inference model of emotional "
        "contagion (Schoeller, Christov-Moore & Reggente), run as an agent-based loop. Each "
        f"agent has a body state x for each affect channel ({channels}), reads it through "
        f"sensory noise of variance {a.sigma:g} and holds a prediction mu of it with variance "
        "v. At each step the prediction is corrected by the interoceptive prediction error "
        f"(weight {a.gamma_int:g}) and by the cues of the agents it perceives (weight "
        f"{a.gamma_soc:g}); each cue is weighted by the precision of eq (2), computed from "
        f"the online synchrony rho of the two bodies (exponential window of {p.tau_rho:g} s, "
        f"starting from rho = {p.rho0:g}). Bodies are pulled toward their predictions "
        f"(kappa = {a.kappa:g}) and back to the mode's baseline (lambda = {a.homeostasis:g}), "
        f"with body noise of variance {a.q_x:g} per second."
    )
    modes = (
        "Each agent is in an affiliative or a defensive mode (baselines "
        f"{m.b_aff:g} and {m.b_def:g}); the probability of the defensive mode follows a "
        f"hazard of {m.hazard:g} per step and is updated by Bayes' rule from the "
        "interoceptive input."
        if m.enabled
        else "Mode switching was off."
    )
    events = (
        f" {len(scenario.events)} external drive(s) acted on the bodies: "
        + "; ".join(
            f"{e.kind} from {e.onset:g} s for {e.duration:g} s (amplitude {e.amplitude:g})"
            for e in scenario.events
        )
        + "."
        if scenario.events
        else ""
    )
    setting = (
        f"Agents perceived each other through {network}.{events} The run took {sim.steps} "
        f"steps of {sim.dt:g} s on the {sim.engine} engine; its noise came from counter-based "
        "streams turned into normal draws by the ziggurat method (Marsaglia & Tsang 2000), so "
        "a seed gives the same run on any number of threads."
    )
    out = scenario.output
    summaries = (
        "Group synchrony R(t) is the mean of rho over all links; dispersion D(t) the variance "
        "of the predictions across agents; reach f(t) the fraction of agents whose body state "
        f"exceeds {out.threshold:g}; the convergence time is when D(t) falls to "
        f"{out.convergence_fraction:g} of its peak and stays there. The network snapshot is "
        "drawn with a spring layout (Fruchterman & Reingold 1991)."
    )
    refs += [REFERENCES["ziggurat"], REFERENCES["layout"]]
    return methods_text(model, modes, setting, summaries, references=refs)


# -------------------------------------------------------------------------------- sweep
def sweep_summary_names(result: SweepResult) -> list[str]:
    """The per-run summaries drawn against the swept values."""
    chosen = _SWEEP_SUMMARIES.get(result.scenario.model)
    names = result.summary_names
    return [n for n in chosen if n in names] if chosen else names


def build_sweep_report(result: SweepResult, report: Report) -> None:
    """Overview, each summary against the swept values, the tables, the base scenario."""
    from syntony.model.plots import plot_sweep

    n_points = int(np.prod([len(v) for v in result.grid.values()]))
    overview = report.section("Overview")
    facts: dict[str, Any] = {"scenario": result.scenario.name, "model": result.scenario.model}
    facts.update({f"swept: {k}": json.dumps(v) for k, v in result.grid.items()})
    facts.update(
        grid_points=n_points,
        replicates=result.replicates,
        runs=n_points * result.replicates,
        seed=str(result.seed.get("entropy")),
    )
    overview.key_values(facts)
    names = sweep_summary_names(result)
    section = report.section("Summaries against the swept values")
    spread = (
        "one run per grid point"
        if result.replicates == 1
        else f"mean over the {result.replicates} replicates (line) and their range (band)"
    )
    others = result.keys[1:]
    section.figure(
        plot_sweep(result.runs, result.keys, names),
        caption=f"Each run's summary against {result.keys[0]}: {spread}"
        + (f"; one line per value of {', '.join(others)}" if others else "")
        + ".",
    )
    points = result.point_table()
    section.table(
        points[points["summary"].isin(names)],
        caption="Mean, smallest and largest value of each summary over replicates, per grid "
        "point (n: replicates with a value)",
        name="points",
    )
    section = report.section("Runs")
    section.text(
        "One row per run (and affect channel). Run r of grid point k used the seed stream "
        "point/k/replicate/r of the sweep's seed, so any run can be repeated on its own."
    )
    section.table(result.runs, caption="Per-run summaries", name="runs")
    _scenario_section(report, result.scenario, heading="Base scenario")


def sweep_methods(result: SweepResult) -> str:
    """Methods of a sweep: the base scenario's methods, then how the grid was run."""
    base = simulation_methods(result.scenario)
    from syntony.report import split_references

    paragraphs, refs = split_references(base)
    grid = "; ".join(f"{k} in {v}" for k, v in result.grid.items())
    sweep = (
        f"The scenario was run over every combination of {grid}, {result.replicates} "
        "time(s) per combination, each run with its own named stream of the seed "
        "(point k, replicate r). Each run was reduced to the summaries shown, and the "
        "report gives their mean and range over replicates."
    )
    return methods_text(*paragraphs, sweep, references=refs)


# ------------------------------------------------------------------------- crowd filter
_ALGORITHMS = {
    "dense": "the dense filter (Cholesky solves, covariance in Joseph form, Bucy & Joseph 1968)",
    "diagonalised": "the diagonalised filter (one simultaneous diagonalisation of the prior "
    "and noise covariances turns the run into independent scalar filters)",
    "exchangeable": "the exchangeable filter (every covariance of the form a I + b 11', so the "
    "crowd splits exactly into a common mode and deviations from it, O(N) per step)",
}


def _crowd_paragraphs(ds: xr.Dataset | None) -> tuple[list[str], list[str]]:
    algorithm = None if ds is None else ds.attrs.get("algorithm")
    first = (
        "The crowd's shared priors follow eqs (3)-(5) of the interoceptive-inference model "
        "(Schoeller, Christov-Moore & Reggente), a Kalman filter (Kalman 1960) over the "
        "crowd: every person's prior mean mu and the crowd's joint prior covariance Sigma "
        "are corrected at each observation by the gain K = Sigma H' (H Sigma H' + "
        "Sigma_eps)^-1, which weighs the prior against the sensory evidence by their "
        "precisions. As evidence accumulates without process noise the gain falls (the "
        "priors harden); with process noise it settles at a steady level."
    )
    second = (
        "Reported over time: the mean gain trace(K H) / N, the mean prior variance (the "
        "diagonal of Sigma) and the mean covariance of two people's priors (its off-diagonal "
        "entries), whose ratio says how alike the priors remain."
    )
    if algorithm in _ALGORITHMS:
        second += f" The numbers were computed exactly by {_ALGORITHMS[algorithm]}."
    refs = [REFERENCES["model"], REFERENCES["kalman"]]
    if algorithm in (None, "dense"):
        refs.append(REFERENCES["joseph"])
    return [first, second], refs


def crowd_filter_methods(ds: xr.Dataset) -> str:
    """Methods paragraphs and references of a crowd-filter run."""
    n, steps = ds.sizes["agent"], ds.sizes["time"]
    observed = ds.sizes.get("observed", n)
    setting = (
        f"{n} people were filtered over {steps} observations of {observed} quantities, "
        f"{float(ds.attrs.get('dt', 1.0)):g} s apart."
    )
    body, refs = _crowd_paragraphs(ds)
    return methods_text(*body, setting, references=refs)


def crowd_filter_sections(ds: xr.Dataset, report: Report) -> None:
    """Gains and covariances over time (figures and a table of the numbers)."""
    from syntony.model.plots import plot_crowd_covariances, plot_crowd_filter
    from syntony.model.results import crowd_filter_table

    section = report.section("Gains over time")
    section.figure(
        plot_crowd_filter(ds),
        caption="Top: every person's prior mean mu after each observation. Bottom: the mean "
        "gain trace(K H) / N (log scale): how much each new observation still moves the priors.",
    )
    table, step = _thin(crowd_filter_table(ds))
    every = "every step" if step == 1 else f"every {step}th step and the last"
    section.table(
        table,
        caption=f"Gain, prior variance and covariance over time ({every})",
        name="gains",
        max_rows=25,
    )
    section = report.section("Covariances over time")
    section.figure(
        plot_crowd_covariances(ds),
        caption="Mean prior variance and mean covariance of two people's priors, and their "
        "ratio" + (", with the final Sigma" if "cov" in ds else "") + ".",
    )


def build_crowd_filter_report(result: CrowdFilterResult, report: Report) -> None:
    """Overview of a crowd-filter run, then its gains and covariances."""
    ds = result.dataset
    overview = report.section("Overview")
    facts = {
        "people": ds.sizes["agent"],
        "observed quantities": ds.sizes.get("observed", ds.sizes["agent"]),
        "steps": ds.sizes["time"],
        "dt_s": float(ds.attrs.get("dt", 1.0)),
        "algorithm": str(ds.attrs.get("algorithm", "")),
        "process noise": bool(result.parameters.get("process_noise", False)),
    }
    overview.key_values(facts)
    crowd_filter_sections(ds, report)
