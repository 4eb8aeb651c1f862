"""Groups simulated by the agent loop of :mod:`syntony.model`, with the values a fit should find.

The mechanism models are reduced forms of the agent loop. In one regime of the loop the
reduction is exact, and this module simulates that regime so that estimates can be compared
with known values (simulate-and-recover):

- ``gamma_int = 0`` and a large volatility ``q``: each person's prediction is the shared prior
  ``m_i`` (the eq (2)-weighted mean of the cues of those perceived), so the body is pulled
  toward it at rate ``kappa``: the coupling ``c`` equals ``kappa``;
- tiny cue noise: the cues are the bodies; ``homeostasis`` is the return rate ``lambda``, the
  body noise ``dt * q_x`` the process noise ``q``, the sensory noise ``sigma`` the measurement
  noise ``r``;
- with online synchrony the weight of j in i's shared prior is ``omega_ij / sum_k omega_ik``,
  exactly the gate at ``g = 1`` (with the loop's exponential window); without it, ``g = 0``;
- with fixed trust ``t_ij = t_j`` (heterogeneous, by sender) and receptivity ``kappa_i``, the
  pull of j on i is ``kappa_i t_j / sum_k t_k`` over the others ``k`` i perceives, which the
  directed model's sender and receiver effects represent exactly (:func:`directed_truth`);
- with modes on, each person relaxes toward the baseline of their own mode (``b_aff`` or
  ``b_def``); the switching model's group mode is exact when a shared stimulus moves everyone
  past the switching threshold in the same step (:data:`SWITCHING`).

Many independent groups run in one simulation as the disconnected blocks of one network, so a
replication study costs a few simulations rather than thousands. The loop records the signal a
step after the state it reads, so row ``t`` of the returned series observes the state that the
step from ``t`` to ``t + 1`` starts from (see :func:`loop_series`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from syntony._rng import SeedLike, SeedTree

__all__ = ["LoopDesign", "SimulatedGroups", "directed_truth", "simulate_groups"]


@dataclass(frozen=True)
class LoopDesign:
    """One group design of the agent loop in its exactly reducible regime.

    Parameters
    ----------
    size : int
        People per group (complete network within a group).
    duration, dt : float
        Seconds simulated and the loop's step (the fits use the same step).
    kappa, homeostasis, q_x, sigma : float
        Coupling (= c), return rate (= lambda), body noise per second (q = dt q_x) and sensory
        noise (= r).
    tau_rho : float
        Time constant of the loop's online synchrony (the gate's window).
    online_synchrony : bool
        Eq (2) weights follow synchrony (g = 1) or stay equal (g = 0).
    modes : bool
        Defensive/affiliative modes on, with baselines ``b_aff`` and ``b_def``.
    events : tuple of dict
        Event tables of the scenario (shared by every group; the mean drive is returned).
    """

    size: int = 6
    duration: float = 300.0
    dt: float = 0.2
    kappa: float = 0.5
    homeostasis: float = 0.2
    q_x: float = 0.5
    sigma: float = 0.1
    tau_rho: float = 5.0
    online_synchrony: bool = True
    modes: bool = False
    b_aff: float = 0.0
    b_def: float = 2.0
    v_mode: float = 0.5
    hazard: float = 0.01
    x0_sd: float = 0.3
    events: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def steps(self) -> int:
        return round(self.duration / self.dt)

    def truth(self, kappa: float | None = None) -> dict[str, float]:
        """The values of the reduced model (on the loop's scale, no centring)."""
        return {
            "c": self.kappa if kappa is None else float(kappa),
            "g": 1.0 if self.online_synchrony else 0.0,
            "lambda": self.homeostasis,
            "q": self.dt * self.q_x,
            "r": self.sigma,
        }

    def with_(self, **changes: Any) -> LoopDesign:
        return replace(self, **changes)


@dataclass
class SimulatedGroups:
    """Series of independent groups from one loop run.

    Attributes
    ----------
    y : ndarray (G, T, N)
        Observed signals, row t observing the state at step t.
    u : ndarray (T,)
        The mean external drive applied between t and t + 1 (shared by every person).
    defensive : ndarray (G, T, N) of bool
        Who acted in the defensive mode on the step from t to t + 1.
    kappa : ndarray (G, N)
        Each person's coupling (receptivity).
    trust : ndarray (G, N) or None
        Each person's trust as a sender.
    design : LoopDesign
    """

    y: np.ndarray
    u: np.ndarray
    defensive: np.ndarray
    kappa: np.ndarray
    trust: np.ndarray | None
    design: LoopDesign


def _scenario(design: LoopDesign, n_groups: int, kappa: np.ndarray):
    from syntony.model.scenario import Scenario

    n = design.size
    edges = [
        [g * n + i, g * n + j] for g in range(n_groups) for i in range(n) for j in range(i + 1, n)
    ]
    groups = []
    for g in range(n_groups):
        for i in range(n):
            if kappa[g, i] != design.kappa:
                groups.append({"agents": [g * n + i], "kappa": float(kappa[g, i])})
    table: dict[str, Any] = {
        "simulation": {"steps": design.steps, "dt": design.dt},
        "network": {"kind": "edges", "edges": edges},
        "agents": {
            "n": n * n_groups,
            "kappa": design.kappa,
            "homeostasis": design.homeostasis,
            "q_x": design.q_x,
            "sigma": design.sigma,
            "gamma_int": 0.0,
            "gamma_soc": 1.0,
            "q": 1e4,
            "x0": design.b_aff,
            "x0_sd": design.x0_sd,
        },
        "channels": [{"name": "arousal", "observability": 1.0, "cue_noise": 1e-8}],
        "perception": {"online_synchrony": design.online_synchrony, "tau_rho": design.tau_rho},
        "modes": {
            "enabled": design.modes,
            "b_aff": design.b_aff,
            "b_def": design.b_def,
            "v_aff": design.v_mode,
            "v_def": design.v_mode,
            "hazard": design.hazard,
        },
        "trust": {"learned": False},
        "groups": groups,
        "events": [dict(e) for e in design.events],
    }
    return Scenario.from_dict(table)


def simulate_groups(
    design: LoopDesign,
    n_groups: int,
    *,
    seed: SeedLike | SeedTree = None,
    kappa: np.ndarray | Sequence[float] | None = None,
    trust: np.ndarray | None = None,
) -> SimulatedGroups:
    """Simulate ``n_groups`` independent groups of ``design`` in one run of the agent loop.

    Parameters
    ----------
    kappa : array (G,) or (G, N), optional
        Coupling per group (or per person); default ``design.kappa`` for everyone.
    trust : array (G, N), optional
        Trust every member places in person j of group g (a sender effect); default 1.
    """
    from syntony.model.loop import NumbaEngine, RecordSpec, run_loop
    from syntony.model.simulate import build_loop

    n = design.size
    k = np.full((n_groups, n), design.kappa)
    if kappa is not None:
        kk = np.asarray(kappa, float)
        k = np.broadcast_to(kk[:, None] if kk.ndim == 1 else kk, (n_groups, n)).copy()
    scenario = _scenario(design, n_groups, k)
    params, state, schedule, key, _, _ = build_loop(scenario, SeedTree(seed))
    if trust is not None:
        t = np.asarray(trust, float).reshape(n_groups * n)
        # edge e of the CSR adjacency: row = who perceives, column = who is perceived
        state.trust[:] = t[params.adjacency.indices].astype(state.trust.dtype)
    record = run_loop(
        params,
        state,
        design.steps,
        key=key,
        drive=schedule,
        record=RecordSpec(agents=np.arange(n * n_groups)),
        engine=NumbaEngine(),
    )
    s = record.agent["s"][:, :, 0]
    p = record.agent["p_defensive"]
    y = s[1:].reshape(design.steps, n_groups, n).transpose(1, 0, 2)
    defensive = (p[1:] > 0.5).reshape(design.steps, n_groups, n).transpose(1, 0, 2)
    u = record.summary["mean_drive"][1:, 0]
    return SimulatedGroups(
        y=np.ascontiguousarray(y),
        u=np.ascontiguousarray(u),
        defensive=defensive,
        kappa=k,
        trust=None if trust is None else np.asarray(trust, float),
        design=design,
    )


def directed_truth(kappa: np.ndarray, trust: np.ndarray) -> dict[str, Any]:
    """Sender and receiver effects of a complete group with receptivity ``kappa`` (N,) and
    sender trust ``trust`` (N,), in the directed model's parametrisation.

    The loop's pull of j on i is ``kappa_i t_j / sum_{k != i} t_k``; the directed model writes
    it ``c exp(recv_i + send_j) / (N - 1)`` with both effects summing to zero.
    """
    kappa = np.asarray(kappa, float)
    t = np.asarray(trust, float)
    n = t.size
    log_t = np.log(t)
    rho = np.log(kappa) - np.log(t.sum() - t)
    send = log_t - log_t.mean()
    recv = rho - rho.mean()
    c = (n - 1) * np.exp(log_t.mean() + rho.mean())
    return {"c": float(c), "send": send, "recv": recv}


# -- the study designs of the validation (benchmarks/validate_mechanisms.py and the CI tests) ----

#: Gated model: six people, 300 s at 5 Hz, the loop's online synchrony with tau_rho = 5 s.
GATED = LoopDesign()


def _stimuli(duration: float, amplitude: float) -> tuple[dict[str, Any], ...]:
    """A stressor (+amplitude) at 10 s and a calming stimulus (-amplitude) at 35 s, every 50 s."""
    return tuple(
        event
        for k in range(4)
        for event in (
            {"kind": "step", "onset": 10.0 + 50 * k, "duration": duration, "amplitude": amplitude},
            {"kind": "step", "onset": 35.0 + 50 * k, "duration": duration, "amplitude": -amplitude},
        )
    )


#: Switching model: modes on, 200 s, shared stressors and calming stimuli every 50 s that move
#: everyone past the switching threshold within one step (1 s at +-20 per second; baselines 0
#: and 4), so the group switches as one: the loop's modes are then a group mode, as the model
#: assumes (people in different modes in about 0.3% of the samples).
SWITCHING = LoopDesign(
    duration=200.0,
    homeostasis=0.5,
    b_def=4.0,
    online_synchrony=False,
    modes=True,
    events=_stimuli(1.0, 20.0),
)
#: The same with gentler stimuli (3 s at +-3 per second, baselines 0 and 3): people cross the
#: threshold one by one over several steps (different modes in about 5% of the samples), which
#: a group mode does not describe; kept to show what that costs (c and lambda biased low).
SWITCHING_ONE_BY_ONE = SWITCHING.with_(b_def=3.0, events=_stimuli(3.0, 3.0))
#: Directed model: fixed trust that differs between senders.
DIRECTED = LoopDesign(online_synchrony=False)
#: Pooled model: groups of five, 300 s each.
POOLED = LoopDesign(size=5, duration=300.0, online_synchrony=False)


def _covers(row: dict[str, Any], name: str, ci: tuple[float, float], truth: float) -> None:
    row[f"{name}_true"] = float(truth)
    row[f"{name}_covered"] = bool(ci[0] <= truth <= ci[1])


def run_gated(n: int, *, effect: bool, seed: SeedLike | SeedTree) -> list[dict[str, Any]]:
    """``n`` replications of the gated model on loop groups, with (g = 1) or without (g = 0)
    the synchrony gate; each row holds estimates, coverage flags and the p-value of g = 0."""
    from syntony.physio.mechanisms.gated import GatedContagionModel

    design = GATED.with_(online_synchrony=effect)
    sim = simulate_groups(design, n, seed=seed)
    truth = design.truth()
    rows = []
    for k in range(n):
        m = GatedContagionModel(
            dt=design.dt,
            window=design.tau_rho,
            weighting="exponential",
            warmup=5 * design.tau_rho,
            center=False,
        )
        m._skip_result = True
        m.fit(sim.y[k])
        row: dict[str, Any] = {
            "g": m.params_["g"],
            "g_se": m.se_["g"],
            "c": m.params_["c"],
            "p_value": m.lrt_pvalue_,
            "converged": m.converged_,
        }
        for name in ("c", "g", "lambda", "q", "r"):
            _covers(row, name, m.ci_[name], truth[name])
        rows.append(row)
    return rows


def run_switching(
    n: int, *, effect: bool, seed: SeedLike | SeedTree, design: LoopDesign | None = None
) -> list[dict[str, Any]]:
    """``n`` replications of the switching model (hazard moved by the stimulus) on loop groups
    of ``design`` (default :data:`SWITCHING`) with modes on (``effect``) or off; each row holds
    estimates, coverage flags, the likelihood ratio, one bootstrap likelihood ratio from the
    fitted one-mode model (for the warp-speed size and power), the share of time the decoded
    mode matches the loop's majority mode and the share of samples whose people are not all in
    one mode."""
    from syntony.physio.mechanisms.switching import SwitchingContagionModel, bootstrap_lr

    design = (SWITCHING if design is None else design).with_(modes=effect)
    tree = SeedTree(seed)
    sim = simulate_groups(design, n, seed=tree.child("loop"))
    truth = {
        "c": design.kappa,
        "lambda": design.homeostasis,
        "b_gap": design.b_def - design.b_aff,
        "beta": 1.0,
        "q": design.dt * design.q_x,
        "r": design.sigma,
    }
    rows = []
    for k in range(n):
        m = SwitchingContagionModel(dt=design.dt, center=False, hazard="stimulus")
        m._skip_result = True
        m.fit(sim.y[k], sim.u)
        share = sim.defensive[k].mean(axis=1)
        majority = share > 0.5
        row: dict[str, Any] = {
            "lr": m.lrt_stat_,
            "lr_boot": bootstrap_lr(m, tree.child("bootstrap", k).generator(), sim.u),
            "b_gap": m.params_["b_gap"],
            "c": m.params_["c"],
            "lambda": m.params_["lambda"],
            "decoded": float(np.mean((m.mode_prob_[:, 1] > 0.5) == majority)),
            "mixed": float(np.mean((share > 0) & (share < 1))),
            "converged": m.converged_,
        }
        if effect:
            for name, value in truth.items():
                _covers(row, name, m.ci_[name], value)
        rows.append(row)
    return rows


def run_directed(n: int, *, effect: bool, seed: SeedLike | SeedTree) -> list[dict[str, Any]]:
    """``n`` replications of the directed model on loop groups whose members trust each sender
    differently (``effect``: trust log-uniform in [0.15, 1]) or equally."""
    from syntony.physio.mechanisms.directed import DirectedContagionModel

    design = DIRECTED
    tree = SeedTree(seed)
    size = design.size
    if effect:
        rng = tree.child("trust").generator()
        trust = np.exp(rng.uniform(np.log(0.15), 0.0, size=(n, size)))
    else:
        trust = np.ones((n, size))
    sim = simulate_groups(design, n, seed=tree.child("loop"), trust=trust)
    rows = []
    for k in range(n):
        m = DirectedContagionModel(dt=design.dt, center=False)
        m._skip_result = True
        m.fit(sim.y[k])
        tr = directed_truth(sim.kappa[k], trust[k])
        row: dict[str, Any] = {"converged": m.converged_}
        for t in m.tests_:
            key = {
                "likelihood ratio (no sender effects)": "p_send",
                "likelihood ratio (no receiver effects)": "p_recv",
            }.get(t["test"], "p_all")
            row[key] = t["p_value"]
        _covers(row, "c", m.ci_["c"], tr["c"])
        for kind in ("send", "recv"):
            hits = [
                m.ci_[f"{kind}:{p}"][0] <= tr[kind][i] <= m.ci_[f"{kind}:{p}"][1]
                for i, p in enumerate(m.data_.persons)
            ]
            row[f"{kind}_coverage"] = float(np.mean(hits))
        rows.append(row)
    return rows


def run_pooled(
    n_groups: int,
    *,
    tau: float,
    seed: SeedLike | SeedTree,
    mu: float = 0.5,
    bias_correction: str = "none",
) -> dict[str, Any]:
    """One replication of the pooled model: ``n_groups`` loop groups with couplings drawn from
    N(mu, tau^2); the row holds mu and tau with coverage flags, the tests of tau = 0, the
    average coverage of the shrunken group intervals and the mean of the group estimates
    before any bias correction."""
    from syntony.physio.mechanisms.pooled import PooledContagionModel

    design = POOLED
    tree = SeedTree(seed)
    kappa = mu + tau * tree.child("kappa").generator().standard_normal(n_groups)
    kappa = np.clip(kappa, 0.05, None)
    sim = simulate_groups(design, n_groups, seed=tree.child("loop"), kappa=kappa)
    m = PooledContagionModel(dt=design.dt, center=False, bias_correction=bias_correction)
    m._skip_result = True
    m.fit(list(sim.y))
    re = m.pooled_["c"]
    row: dict[str, Any] = {
        "mu": re["mu"],
        "tau": re["tau"],
        "p_lrt": re["lrt_pvalue"],
        "p_q": re["q_pvalue"],
        "group_c_mean": float(np.mean([g.get("c_uncorrected", g["c"]) for g in m.groups_])),
        "bias_correction": bias_correction,
    }
    _covers(row, "mu", re["mu_ci"], mu)
    _covers(row, "tau", re["tau_ci"], tau)
    lo, hi = re["shrunk_ci_low"], re["shrunk_ci_high"]
    row["shrunk_coverage"] = float(np.mean((lo <= kappa) & (kappa <= hi)))
    row["raw_coverage"] = float(
        np.mean(
            np.abs(np.array([g["c"] for g in m.groups_]) - kappa)
            <= 1.959964 * np.array([g["c_se"] for g in m.groups_])
        )
    )
    return row
