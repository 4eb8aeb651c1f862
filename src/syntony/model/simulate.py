"""simulate(scenario, *, seed) -> xarray.Dataset, and sweeps over grids of parameters.

The scenario's ``model`` picks the agent-based contagion loop (default), the published dyad
(eqs 1-2) or the crowd filter (eqs 3-5). The seed is split once into independent streams
(network, initial state, events, noise), so a seed gives the same Dataset every time, on either
engine and with any number of threads or sweep workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
import xarray as xr

from syntony._provenance import provenance_json
from syntony._rng import SeedLike, seed_sequence
from syntony._validate import check_integer
from syntony.errors import ParameterError
from syntony.model import network as net
from syntony.model._noise import noise_key
from syntony.model.agents import LoopParams, LoopState, TechChannel, initial_state
from syntony.model.events import Event, EventSchedule, random_pulses
from syntony.model.loop import LoopRecord, NumbaEngine, NumpyEngine, RecordSpec, run_loop
from syntony.model.scenario import NetworkConfig, Scenario

__all__ = ["build_loop", "build_network", "convergence_time", "simulate", "sweep"]


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


def _children(seed: SeedLike, k: int) -> list[np.random.SeedSequence]:
    """k child sequences of ``seed``, the same ones every call (spawning does not consume it)."""
    ss = seed_sequence(seed)
    fresh = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key, pool_size=ss.pool_size)
    return fresh.spawn(k)


def build_loop(scenario: Scenario, seed: SeedLike = None) -> BuiltLoop:
    """Turn a scenario into loop parameters, an initial state, an event schedule and a noise key.

    The seed is split into five independent streams: network, initial state, events, noise
    (a counter-based key) and the choice of recorded agents/edges.
    """
    kids = _children(seed, 5)
    rng_net, rng_init, rng_events = (np.random.default_rng(k) for k in kids[:3])
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
        TechChannel(build_network(t.network, n, rng_net), t.observability, t.noise, t.amplification)
        for t in scenario.technology
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
    return BuiltLoop(
        params, state, schedule, noise_key(kids[3]), hurt, np.random.default_rng(kids[4])
    )


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


def _simulate_agents(
    scenario: Scenario, ss: np.random.SeedSequence, progress: Callable[[int], None] | None
) -> xr.Dataset:
    params, state, schedule, key, hurt, pick = build_loop(scenario, ss)
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
    return _agent_dataset(scenario, record, sample, edges, params, hurt)


def _simulate_dyad(scenario: Scenario, ss: np.random.SeedSequence) -> xr.Dataset:
    from syntony.model.dyad import run_dyad, synchronised_signals

    d = scenario.dyad
    signals = synchronised_signals(
        scenario.simulation.steps,
        rho=d.rho,
        variances=tuple(d.variances),
        autocorrelation=d.autocorrelation,
        seed=_children(ss, 1)[0],
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


def _simulate_crowd(scenario: Scenario, ss: np.random.SeedSequence) -> xr.Dataset:
    from syntony.model.crowd import CrowdFilter, prior_cov_from_synchrony

    c = scenario.crowd_filter
    n, steps = c.n, scenario.simulation.steps
    rng = np.random.default_rng(_children(ss, 1)[0])
    rho = np.full((n, n), c.rho)
    np.fill_diagonal(rho, 1.0)
    prior_cov = prior_cov_from_synchrony(rho, np.full(n, c.variance))
    n_obs = max(1, round(c.observed_fraction * n))
    observation = None if n_obs == n else np.eye(n)[np.sort(rng.choice(n, n_obs, replace=False))]
    noise_cov = c.noise * np.eye(n_obs)
    process = None if c.process_noise == 0 else c.process_noise * np.eye(n)
    observations = c.true_state + np.sqrt(c.noise) * rng.standard_normal((steps, n_obs))
    crowd = CrowdFilter(noise_cov, observation=observation, process_noise=process)
    return crowd.run(
        observations,
        prior_mean=np.full(n, c.prior_mean),
        prior_cov=prior_cov,
        dt=scenario.simulation.dt,
    )


def simulate(
    scenario: Scenario, *, seed: SeedLike = None, progress: Callable[[int], None] | None = None
) -> xr.Dataset:
    """Run one scenario and return its Dataset.

    Parameters
    ----------
    scenario : Scenario
        What to simulate (``scenario.model`` picks the agent loop, the dyad or the crowd filter).
    seed : int, SeedSequence or None
        The same seed gives an identical Dataset. ``None`` draws fresh entropy, which is
        recorded in the ``provenance`` attribute so the run can be repeated.
    progress : callable, optional
        Called with the number of steps done (agent loop only), e.g. to drive a progress bar.

    Returns
    -------
    xarray.Dataset
        Agent loop: x, s, mu, v, social_share over (time, agent, channel); p_defensive over
        (time, agent); optional rho, omega (time, edge, channel) and trust (time, edge);
        summaries synchrony R(t), dispersion D(t), reach f(t), means and convergence_time.
        Attributes: the resolved scenario (TOML), the seed and a JSON provenance record.
    """
    if not isinstance(scenario, Scenario):
        raise ParameterError("scenario", "a Scenario", type(scenario).__name__)
    ss = seed_sequence(seed)
    if scenario.model == "agents":
        ds = _simulate_agents(scenario, ss, progress)
    elif scenario.model == "dyad":
        ds = _simulate_dyad(scenario, ss)
    else:
        ds = _simulate_crowd(scenario, ss)
    ds.attrs["model"] = scenario.model
    ds.attrs["scenario_name"] = scenario.name
    ds.attrs["scenario"] = scenario.to_toml()
    ds.attrs["seed_entropy"] = str(ss.entropy)
    ds.attrs["seed_spawn_key"] = ",".join(map(str, ss.spawn_key))
    ds.attrs["provenance"] = provenance_json(parameters=scenario.to_dict(), seed=ss)
    return ds


def _run_point(args: tuple[Scenario, np.random.SeedSequence]) -> xr.Dataset:
    scenario, ss = args
    ds = simulate(scenario, seed=ss)
    return ds.drop_attrs() if hasattr(ds, "drop_attrs") else ds


def sweep(
    scenario: Scenario,
    grid: dict[str, list[Any]],
    *,
    seed: SeedLike = None,
    n_jobs: int = 1,
    variables: list[str] | None = None,
) -> xr.Dataset:
    """Run ``scenario`` over the Cartesian product of ``grid`` (dotted keys -> values).

    Grid point k always gets the k-th seed spawned from ``seed``, so results do not depend on
    ``n_jobs``. Each grid key becomes a dimension of the result (named by the dotted key).

    Parameters
    ----------
    variables : list of str, optional
        Variables to keep (default: every variable without an agent or edge dimension, i.e.
        the summaries, which keeps large sweeps small).
    """
    import itertools

    n_jobs = check_integer("n_jobs", n_jobs, minimum=1)
    if not isinstance(grid, dict) or not grid:
        raise ParameterError("grid", "a non-empty dict of dotted keys -> lists of values", grid)
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    for k, v in zip(keys, values, strict=True):
        if not v:
            raise ParameterError(f"grid[{k!r}]", "a non-empty list of values", v)
    points = list(itertools.product(*values))
    scenarios = [scenario.with_overrides(dict(zip(keys, p, strict=True))) for p in points]
    seeds = seed_sequence(seed).spawn(len(points))
    jobs = list(zip(scenarios, seeds, strict=True))
    if n_jobs == 1:
        results = [_run_point(job) for job in jobs]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            results = list(pool.map(_run_point, jobs))
    if variables is None:
        variables = [
            name
            for name, da in results[0].data_vars.items()
            if not ({"agent", "edge"} & set(da.dims))
        ]
    stacked = xr.concat([r[variables] for r in results], dim="point")
    index = {k: ("point", [p[i] for p in points]) for i, k in enumerate(keys)}
    stacked = stacked.assign_coords(index)
    out = stacked.set_index(point=keys).unstack("point") if len(points) > 1 else stacked
    out.attrs["scenario"] = scenario.to_toml()
    out.attrs["grid"] = repr(grid)
    out.attrs["provenance"] = provenance_json(
        parameters=scenario.to_dict(), seed=seed_sequence(seed), grid=grid
    )
    return out
