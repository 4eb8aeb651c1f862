"""simulate(scenario, *, seed) -> SimulationResult: one scenario, one call.

The scenario's ``model`` picks the agent-based contagion loop (default), the published dyad
(eqs 1-2) or the crowd filter (eqs 3-5). Every random part draws from its own named stream of
the seed (:class:`syntony._rng.SeedTree`: ``network``, ``technology/i``, ``initial-state``,
``events``, ``noise``, ``recording``, ``snapshot``; ``signals`` for the dyad; ``observed`` and
``observations`` for the crowd filter), so a seed gives the same Dataset every time, on either
engine, with any number of threads, and whichever parts a scenario uses.
Sweeps over grids of parameters live in :mod:`syntony.model.sweep`.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import xarray as xr

from syntony._provenance import provenance
from syntony._rng import SeedLike, SeedTree
from syntony.errors import ParameterError
from syntony.model import network as net
from syntony.model._noise import noise_key
from syntony.model.agents import LoopParams, LoopState, TechChannel, initial_state
from syntony.model.events import Event, EventSchedule, random_pulses
from syntony.model.loop import LoopRecord, NumbaEngine, NumpyEngine, RecordSpec, run_loop
from syntony.model.results import SimulationResult
from syntony.model.scenario import NetworkConfig, Scenario

__all__ = ["SNAPSHOT_SIZE", "build_loop", "build_network", "convergence_time", "simulate"]

#: How many agents the network snapshot of a simulation holds.
SNAPSHOT_SIZE = 80


def build_network(config: NetworkConfig, n: int, rng: np.random.Generator) -> sp.csr_matrix:
    """The adjacency matrix a :class:`NetworkConfig` describes, for ``n`` agents."""
    kind = config.kind
    if n == 1:
        return sp.csr_matrix((1, 1))
    if kind == "complete":
        return net.complete_graph(n, weight=config.weight)
    if kind == "ring":
        return net.ring_lattice(n, config.k, weight=config.weight)
    if kind == "watts_strogatz":
        return net.watts_strogatz(n, config.k, config.p, weight=config.weight, seed=rng)
    if kind == "random":
        return net.random_out_degree(n, config.degree, weight=config.weight, seed=rng)
    if kind == "spatial":
        return net.spatial_crowd(
            n, config.radius, size=config.size, weight=config.weight, seed=rng
        )[0]
    if kind == "barabasi_albert":
        return net.barabasi_albert(n, config.m, weight=config.weight, seed=rng)
    if kind == "stochastic_block":
        return net.stochastic_block(
            config.sizes, config.p_in, config.p_out, weight=config.weight, seed=rng
        )
    if kind == "edges":
        return net.from_edge_list(
            np.asarray(config.edges, dtype=float), n, directed=config.directed, weight=config.weight
        )
    raise ParameterError("network.kind", "a known network kind", kind)  # pragma: no cover


def _targets(
    agents: tuple[int, ...], fraction: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    pool = np.asarray(agents, dtype=np.int64) if agents else np.arange(n)
    if fraction < 1.0:
        count = round(fraction * pool.size)
        pool = np.sort(rng.choice(pool, size=count, replace=False))
    return pool


class BuiltLoop(NamedTuple):
    """Everything :func:`run_loop` needs, made from a scenario and a seed."""

    params: LoopParams
    state: LoopState
    schedule: EventSchedule
    key: int
    trauma: np.ndarray  # (N,) bool: who has the trauma phenotype
    record_rng: np.random.Generator  # picks the stored sample of agents and edges


def build_loop(scenario: Scenario, seed: SeedLike | SeedTree = None) -> BuiltLoop:
    """Turn a scenario into loop parameters, an initial state, an event schedule and a noise key.

    Each random part has its own named stream of ``seed``: ``network`` (and ``technology/i``
    for the i-th technology network), ``initial-state``, ``events``, ``noise`` (a
    counter-based key) and ``recording`` (the choice of stored agents and edges).
    """
    tree = SeedTree(seed)
    rng_net = tree.child("network").generator()
    rng_init = tree.child("initial-state").generator()
    rng_events = tree.child("events").generator()
    a, m = scenario.agents, scenario.modes
    n = a.n
    adjacency = build_network(scenario.network, n, rng_net)

    def full(value: float) -> np.ndarray:
        return np.full(n, float(value))

    per_agent = {
        k: full(getattr(a, k))
        for k in ("kappa", "homeostasis", "q_x", "sigma", "gamma_int", "gamma_soc", "q")
    }
    x0 = a.x0 + a.x0_sd * rng_init.standard_normal(n)
    p0 = full(m.p0)
    hazard_def = full(m.hazard)
    hazard_aff = full(m.hazard if m.hazard_to_affiliative is None else m.hazard_to_affiliative)
    for group in scenario.groups:
        idx = np.asarray(group.agents, dtype=np.int64)
        for key, values in per_agent.items():
            value = getattr(group, key)
            if value is not None:
                values[idx] = value
        if group.x0 is not None:
            x0[idx] = group.x0
        if group.p0 is not None:
            p0[idx] = group.p0
    trauma = scenario.trauma
    hurt = np.zeros(n, dtype=bool)
    hurt[list(trauma.agents)] = True
    if trauma.fraction > 0:
        hurt[rng_init.choice(n, size=round(trauma.fraction * n), replace=False)] = True
    per_agent["gamma_int"][hurt] = trauma.gamma_int
    per_agent["gamma_soc"][hurt] = trauma.gamma_soc
    per_agent["sigma"][hurt] *= trauma.sigma_scale
    p0[hurt] = trauma.p0
    hazard_aff[hurt] = trauma.hazard_to_affiliative

    tech = tuple(
        TechChannel(
            build_network(t.network, n, tree.child("technology", i).generator()),
            t.observability,
            t.noise,
            t.amplification,
        )
        for i, t in enumerate(scenario.technology)
    )
    pc = scenario.perception
    params = LoopParams(
        adjacency=adjacency,
        **per_agent,
        hazard_def=hazard_def,
        hazard_aff=hazard_aff,
        obs=np.array([c.observability for c in scenario.channels]),
        cue_noise=np.array([c.cue_noise for c in scenario.channels]),
        dt=scenario.simulation.dt,
        tau_rho=pc.tau_rho,
        rho0=pc.rho0,
        online_synchrony=pc.online_synchrony,
        floor=pc.floor,
        modes=m.enabled,
        b_aff=m.b_aff,
        b_def=m.b_def,
        v_aff=m.v_aff,
        v_def=m.v_def,
        beta_threat=m.beta_threat,
        learn_trust=scenario.trust.learned,
        eta=scenario.trust.eta,
        s_tau=scenario.trust.s_tau,
        update_seed=pc.update == "seed",
        gain=pc.gain_policy(),
        technology=tech,
    )
    e = params.n_channels
    state = initial_state(
        params, x0=x0[:, None], mu0=a.mu0, v0=a.v0, p0=p0, trust0=scenario.trust.initial
    )
    names = [c.name for c in scenario.channels]
    events: list[Event] = []
    for ev in scenario.events:
        who = _targets(ev.agents, ev.fraction, n, rng_events)
        chans = np.array([names.index(ev.channel)] if ev.channel else list(range(e)))
        if ev.kind == "step":
            events.append(
                Event(who, chans, ev.onset, ev.duration, amplitude=ev.amplitude, offset=ev.offset)
            )
        elif ev.kind == "sine":
            phase = 0.0 if ev.shared_phase else rng_events.uniform(0, 2 * np.pi, who.size)
            events.append(
                Event(
                    who,
                    chans,
                    ev.onset,
                    ev.duration,
                    amplitude=ev.amplitude,
                    offset=ev.offset,
                    period=ev.period,
                    phase=phase,
                )
            )
        else:
            events += random_pulses(
                rng_events, who, chans, rate=ev.rate, amplitude=ev.amplitude, duration=ev.pulse,
                start=ev.onset, stop=ev.onset + ev.duration,
            )  # fmt: skip
    schedule = EventSchedule(tuple(events), n, e, params.dt)
    key = noise_key(tree.child("noise").seed_sequence)
    return BuiltLoop(params, state, schedule, key, hurt, tree.child("recording").generator())


def convergence_time(dispersion: np.ndarray, time: np.ndarray, fraction: float) -> np.ndarray:
    """Time at which D(t) falls to ``fraction`` of its peak and stays there; NaN if it never does.

    The peak is the largest dispersion seen (at t = 0 when the crowd starts divided, later when
    an event divides it). ``dispersion`` is (T,) or (T, E); one value per channel is returned.
    """
    d = np.asarray(dispersion, dtype=float)
    d2 = d[:, None] if d.ndim == 1 else d
    out = np.full(d2.shape[1], np.nan)
    for k in range(d2.shape[1]):
        peak = int(np.nanargmax(d2[:, k])) if np.any(np.isfinite(d2[:, k])) else 0
        if not d2[peak, k] > 0:
            continue
        above = np.flatnonzero(d2[peak:, k] > fraction * d2[peak, k])
        first = peak + (above[-1] + 1 if above.size else 0)
        if first < d2.shape[0]:
            out[k] = time[first]
    return out


def _agent_dataset(scenario: Scenario, record: LoopRecord, sample: np.ndarray, edges: np.ndarray | None,
                   params: LoopParams, hurt: np.ndarray) -> xr.Dataset:  # fmt: skip
    dt = scenario.simulation.dt
    names = [c.name for c in scenario.channels]
    time = record.steps * dt
    dims3 = ("time", "agent", "channel")
    ds = xr.Dataset(
        {
            "x": (dims3, record.agent["x"], {"long_name": "physiological state x"}),
            "s": (dims3, record.agent["s"], {"long_name": "interoceptive input s = x + eps"}),
            "mu": (dims3, record.agent["mu"], {"long_name": "interoceptive prediction mu"}),
            "v": (dims3, record.agent["v"], {"long_name": "variance of the prediction"}),
            "social_share": (
                dims3,
                record.agent["social_share"],
                {"long_name": "weight of the shared prior in the update"},
            ),
            "p_defensive": (
                ("time", "agent"),
                record.agent["p_defensive"],
                {"long_name": "P(defensive mode)"},
            ),
            "trauma": (("agent",), hurt[sample], {"long_name": "agent has the trauma phenotype"}),
        },
        coords={"time": ("time", time, {"units": "s"}), "agent": sample, "channel": names},
    )
    if edges is not None:
        rows = np.repeat(np.arange(params.n_agents), np.diff(params.adjacency.indptr))
        ds = ds.assign_coords(
            edge=edges,
            edge_source=("edge", params.adjacency.indices[edges]),
            edge_target=("edge", rows[edges]),
        )
        ds["rho"] = (
            ("time", "edge", "channel"),
            record.edge["rho"],
            {"long_name": "online synchrony rho_ij"},
        )
        ds["omega"] = (
            ("time", "edge", "channel"),
            record.edge["omega"],
            {"long_name": "eq (2) precision omega_ij"},
        )
        ds["trust"] = (("time", "edge"), record.edge["trust"], {"long_name": "trust_ij"})
    n_steps = scenario.simulation.steps
    full_time = np.arange(n_steps + 1) * dt
    tdim = "time" if scenario.output.every == 1 else "summary_time"
    if tdim != "time":
        ds = ds.assign_coords(summary_time=(tdim, full_time, {"units": "s"}))
    s = record.summary
    ds["synchrony"] = (
        (tdim, "channel"),
        s["synchrony"],
        {"long_name": "R(t): mean rho over edges"},
    )
    ds["dispersion"] = ((tdim, "channel"), s["dispersion"], {"long_name": "D(t) = var_i(mu_i)"})
    ds["reach"] = (
        (tdim, "channel"),
        s["reach"],
        {"long_name": f"f(t): fraction of agents with x > {scenario.output.threshold:g}"},
    )
    ds["mean_x"] = ((tdim, "channel"), s["mean_x"])
    ds["mean_mu"] = ((tdim, "channel"), s["mean_mu"])
    ds["mean_social_share"] = ((tdim, "channel"), s["social_share_mean"])
    ds["mean_drive"] = (
        (tdim, "channel"),
        s["mean_drive"],
        {"long_name": "external drive u(t) averaged over agents (the common stimulus)"},
    )
    ds["mean_p_defensive"] = ((tdim,), s["mean_p_defensive"])
    ds["fraction_defensive"] = ((tdim,), s["fraction_defensive"])
    ds["convergence_time"] = (
        ("channel",),
        convergence_time(s["dispersion"], full_time, scenario.output.convergence_fraction),
        {
            "long_name": "time when D(t) falls to convergence_fraction of its peak for good",
            "units": "s",
        },
    )
    return ds


def network_snapshot(
    adjacency: sp.csr_matrix, rng: np.random.Generator, size: int = SNAPSHOT_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """A small connected piece of a network: agents reached breadth-first, and their links.

    Starting from a random agent, neighbours are taken in breadth-first order until ``size``
    agents are held (a new random start is taken when a component runs out), so the piece
    shows the local structure of any network, however large, at the cost of visiting
    ``size`` rows.

    Returns
    -------
    nodes : numpy.ndarray, shape (k,)
        Sorted agent indices, ``k = min(size, N)``.
    links : numpy.ndarray, shape (L, 2)
        Undirected links among them (agent indices, first < second).
    """
    n = adjacency.shape[0]
    size = min(size, n)
    indptr, indices = adjacency.indptr, adjacency.indices
    seen = np.zeros(n, dtype=bool)
    chosen: list[int] = []
    while len(chosen) < size:
        start = int(rng.integers(n))
        while seen[start]:  # terminates: fewer than n agents are held
            start = (start + 1) % n
        seen[start] = True
        chosen.append(start)
        queue = deque([start])
        while queue and len(chosen) < size:
            i = queue.popleft()
            for j in indices[indptr[i] : indptr[i + 1]]:
                if not seen[j] and len(chosen) < size:
                    seen[j] = True
                    chosen.append(int(j))
                    queue.append(int(j))
    nodes = np.sort(np.asarray(chosen, dtype=np.int64))
    held = set(nodes.tolist())
    pairs = {
        (min(i, int(j)), max(i, int(j)))
        for i in nodes.tolist()
        for j in indices[indptr[i] : indptr[i + 1]]
        if int(j) in held and int(j) != i
    }
    links = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    return nodes, links


def _add_snapshot(ds: xr.Dataset, params: LoopParams, state: LoopState, rng: np.random.Generator) -> xr.Dataset:  # fmt: skip
    nodes, links = network_snapshot(params.adjacency, rng)
    when = f"at the end of the run (t = {float(state.step * params.dt):g} s)"
    ds = ds.assign_coords(node=("node", nodes, {"long_name": "agent in the network snapshot"}))
    ds["snapshot_x"] = (("node", "channel"), state.x[nodes], {"long_name": f"x {when}"})
    ds["snapshot_p_defensive"] = (
        ("node",),
        state.p[nodes],
        {"long_name": f"P(defensive mode) {when}"},
    )
    ds["link_source"] = (("link",), links[:, 0], {"long_name": "snapshot link: one agent"})
    ds["link_target"] = (("link",), links[:, 1], {"long_name": "snapshot link: the other"})
    return ds


def _simulate_agents(
    scenario: Scenario, tree: SeedTree, progress: Callable[[int], None] | None
) -> xr.Dataset:
    params, state, schedule, key, hurt, pick = build_loop(scenario, tree)
    n = params.n_agents
    out = scenario.output
    sample = (
        np.arange(n)
        if out.sample_agents in (0, n)
        else np.sort(pick.choice(n, out.sample_agents, replace=False))
    )
    edges = None
    if out.record_edges > 0 and params.adjacency.nnz:
        count = min(out.record_edges, params.adjacency.nnz)
        edges = np.sort(pick.choice(params.adjacency.nnz, count, replace=False))
    spec = RecordSpec(agents=sample, every=out.every, edges=edges, threshold=out.threshold)
    engine = (
        NumbaEngine(threshold=out.threshold)
        if scenario.simulation.engine == "numba"
        else NumpyEngine()
    )
    record = run_loop(params, state, scenario.simulation.steps, key=key, drive=schedule, record=spec,
                      engine=engine, progress=progress)  # fmt: skip
    ds = _agent_dataset(scenario, record, sample, edges, params, hurt)
    return _add_snapshot(ds, params, state, tree.child("snapshot").generator())


def _simulate_dyad(scenario: Scenario, tree: SeedTree) -> xr.Dataset:
    from syntony.model.dyad import run_dyad, synchronised_signals

    d = scenario.dyad
    signals = synchronised_signals(
        scenario.simulation.steps,
        rho=d.rho,
        variances=tuple(d.variances),
        autocorrelation=d.autocorrelation,
        seed=tree.child("signals").generator(),
    )
    return run_dyad(
        signals,
        window=d.window,
        gain=scenario.perception.gain_policy(),
        mu0=d.mu0,
        prior_precision0=d.prior_precision0,
        floor=scenario.perception.floor,
        rho0=d.rho0,
        dt=scenario.simulation.dt,
    )


def _simulate_crowd(scenario: Scenario, tree: SeedTree) -> xr.Dataset:
    from syntony.model.crowd import CrowdFilter, prior_cov_from_synchrony

    c = scenario.crowd_filter
    n, steps = c.n, scenario.simulation.steps
    rho = np.full((n, n), c.rho)
    np.fill_diagonal(rho, 1.0)
    prior_cov = prior_cov_from_synchrony(rho, np.full(n, c.variance))
    n_obs = max(1, round(c.observed_fraction * n))
    observation = None
    if n_obs < n:
        who = tree.child("observed").generator().choice(n, n_obs, replace=False)
        observation = np.eye(n)[np.sort(who)]
    noise_cov = c.noise * np.eye(n_obs)
    process = None if c.process_noise == 0 else c.process_noise * np.eye(n)
    noise = tree.child("observations").generator().standard_normal((steps, n_obs))
    observations = c.true_state + np.sqrt(c.noise) * noise
    crowd = CrowdFilter(noise_cov, observation=observation, process_noise=process)
    return crowd.run(
        observations,
        prior_mean=np.full(n, c.prior_mean),
        prior_cov=prior_cov,
        dt=scenario.simulation.dt,
    ).dataset


def simulate(
    scenario: Scenario,
    *,
    seed: SeedLike | SeedTree = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run one scenario: the one public call of a simulation.

    Parameters
    ----------
    scenario : Scenario
        What to simulate (``scenario.model`` picks the agent loop, the dyad or the crowd filter).
    seed : int, SeedSequence, SeedTree or None
        The same seed gives an identical Dataset. ``None`` draws fresh entropy, which is
        recorded (``result.seed``, provenance) so the run can be repeated.
    progress : callable, optional
        Called with the number of steps done (agent loop only), e.g. to drive a progress bar.

    Returns
    -------
    SimulationResult
        ``result.dataset`` is the run as an :class:`xarray.Dataset`. Agent loop: x, s, mu, v,
        social_share over (time, agent, channel); p_defensive over (time, agent); optional rho,
        omega (time, edge, channel) and trust (time, edge); summaries synchrony R(t),
        dispersion D(t), reach f(t), means, fraction_defensive and convergence_time; a network
        snapshot (``node``, ``link``) with the final state. Attributes: the resolved scenario
        (TOML), the seed record and a JSON provenance record. The result saves, loads and
        reports itself (:class:`syntony.report.Result`).

    Examples
    --------
    >>> from syntony.model import Scenario, simulate
    >>> scenario = Scenario.builtin("trauma").with_overrides({"agents.n": 20, "simulation.steps": 30})
    >>> result = simulate(scenario, seed=1)
    >>> result.dataset.sizes["agent"]
    20
    """
    if not isinstance(scenario, Scenario):
        raise ParameterError("scenario", "a Scenario", type(scenario).__name__)
    tree = SeedTree(seed)
    if scenario.model == "agents":
        ds = _simulate_agents(scenario, tree, progress)
    elif scenario.model == "dyad":
        ds = _simulate_dyad(scenario, tree)
    else:
        ds = _simulate_crowd(scenario, tree)
    seed_record = tree.record()
    record = provenance(parameters=scenario.to_dict(), seed=seed_record)
    ds.attrs["model"] = scenario.model
    ds.attrs["scenario_name"] = scenario.name
    ds.attrs["scenario"] = scenario.to_toml()
    ds.attrs["seed"] = json.dumps(seed_record)
    ds.attrs["provenance"] = json.dumps(record, sort_keys=True)
    return SimulationResult(dataset=ds, scenario=scenario, seed=seed_record, provenance=record)
