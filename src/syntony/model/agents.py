"""The agent-based contagion loop (docs/theory/model.rst, "The contagion loop").

Others' bodies -> visible cues -> my prediction -> my action -> my body -> cues that others see.

This module holds the model's update rules as pure functions of arrays (the readable
reference, numpy + scipy.sparse) and the arrays they act on:

- :class:`LoopParams` — per-agent parameters (arrays of length N), per-channel observability and
  cue noise, the perception network (CSR), technology channels and the global constants;
- :class:`LoopState` — x, s, mu, v, p(defensive), the exponentially weighted moments of s per
  agent, the EW covariance (and trust) per edge.

One step, in order: observe (s = x + eps, cues y = x + nu), update EW moments, per-edge
synchrony -> eq (2) omega -> social weights and shared prior, technology evidence, perception,
mode filter, action. :mod:`syntony.model._kernels` fuses the same step into numba kernels; the
two are tested to agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from syntony.model.precision import GainPolicy, PrecisionGain

__all__ = [
    "EDGE_DTYPE",
    "LoopParams",
    "LoopState",
    "StepOutput",
    "TechChannel",
    "act",
    "edge_evidence",
    "ew_moments",
    "initial_state",
    "mode_filter",
    "observe",
    "perceive",
    "row_of_edges",
    "step_numpy",
    "technology_evidence",
]

#: Edge state (EW covariance, trust) is kept in float32: 10^7 edges stay within ~100 MB.
EDGE_DTYPE = np.float32


@dataclass(frozen=True)
class TechChannel:
    """A technology channel: its own network, observability, noise and amplification.

    The precision of a cue from j is ``A_c[i, j] * observability / noise`` multiplied by
    ``1 + amplification * max(0, y_j - b_aff)`` (platforms that favour high-arousal content).
    """

    adjacency: sp.csr_matrix
    observability: float
    noise: float
    amplification: float = 0.0


@dataclass(frozen=True, eq=False)
class LoopParams:
    """Everything one step of the loop needs besides the state (arrays are per agent, (N,)).

    ``sigma`` is the sensory-noise variance of s; ``q_x`` the variance rate of the body's
    noise; ``q`` the volatility added to v each step; ``obs``/``cue_noise`` per affect
    channel (E,). ``hazard_def`` (affiliative -> defensive) and ``hazard_aff``
    (defensive -> affiliative) are per agent, as is ``p0``.
    """

    adjacency: sp.csr_matrix
    kappa: np.ndarray
    homeostasis: np.ndarray
    q_x: np.ndarray
    sigma: np.ndarray
    gamma_int: np.ndarray
    gamma_soc: np.ndarray
    q: np.ndarray
    hazard_def: np.ndarray
    hazard_aff: np.ndarray
    obs: np.ndarray
    cue_noise: np.ndarray
    dt: float = 0.1
    tau_rho: float = 5.0
    rho0: float = 0.0
    online_synchrony: bool = True
    floor: float = 1e-6
    modes: bool = True
    b_aff: float = 0.0
    b_def: float = 2.0
    v_aff: float = 0.5
    v_def: float = 0.5
    beta_threat: float = 0.0
    learn_trust: bool = False
    eta: float = 0.05
    s_tau: float = 1.0
    update_seed: bool = False
    gain: GainPolicy = field(default_factory=PrecisionGain)
    technology: tuple[TechChannel, ...] = ()

    @property
    def n_agents(self) -> int:
        return self.adjacency.shape[0]

    @property
    def n_channels(self) -> int:
        return self.obs.shape[0]

    @property
    def alpha(self) -> float:
        """EW forgetting factor per step, dt / tau_rho (capped at 1)."""
        return min(1.0, self.dt / self.tau_rho)


@dataclass(eq=False)
class LoopState:
    """Mutable state of the loop. Agent arrays are (N, E) except ``p`` (N,); edge arrays
    follow the CSR order of the adjacency: ``cov`` (nnz, E), ``trust`` (nnz,)."""

    x: np.ndarray
    s: np.ndarray
    mu: np.ndarray
    v: np.ndarray
    p: np.ndarray
    mean_s: np.ndarray
    var_s: np.ndarray
    cov: np.ndarray
    trust: np.ndarray
    step: int = 0

    def copy(self) -> LoopState:
        return LoopState(
            *(
                getattr(self, k).copy()
                for k in ("x", "s", "mu", "v", "p", "mean_s", "var_s", "cov", "trust")
            ),
            step=self.step,
        )


@dataclass(eq=False)
class StepOutput:
    """Per-step by-products used for summaries and edge recordings.

    The fast engine hands out its own buffers: read (or copy) them before the next step.
    """

    rho_sum: np.ndarray | None  # (N, E): sum over i's edges of rho, for R(t)
    social_share: np.ndarray | None  # (N, E): weight of the shared prior (None: not asked for)
    rho: np.ndarray | None = None  # (nnz, E) when edges are recorded
    omega: np.ndarray | None = None
    sums: dict[str, np.ndarray] | None = None  # crowd totals, when the engine computed them


def initial_state(
    params: LoopParams,
    *,
    x0: np.ndarray,
    mu0: np.ndarray,
    v0: np.ndarray,
    p0: np.ndarray,
    trust0: np.ndarray | float = 1.0,
) -> LoopState:
    """The state at t = 0: EW means start at x0 and EW variances at the sensory variance."""
    n, e = params.n_agents, params.n_channels
    x = np.array(np.broadcast_to(x0, (n, e)), dtype=float)
    nnz = params.adjacency.nnz
    trust = np.array(
        np.broadcast_to(np.asarray(trust0, dtype=EDGE_DTYPE), (nnz,)), dtype=EDGE_DTYPE
    )
    return LoopState(
        x=x,
        s=x.copy(),
        mu=np.array(np.broadcast_to(mu0, (n, e)), dtype=float),
        v=np.array(np.broadcast_to(v0, (n, e)), dtype=float),
        p=np.array(np.broadcast_to(p0, (n,)), dtype=float),
        mean_s=x.copy(),
        var_s=np.repeat(params.sigma[:, None], e, axis=1).astype(float),
        cov=np.zeros((nnz, e), dtype=EDGE_DTYPE),
        trust=trust,
    )


# --------------------------------------------------------------------------- pure updates


def observe(
    x: np.ndarray,
    sigma: np.ndarray,
    obs: np.ndarray,
    cue_noise: np.ndarray,
    eps: np.ndarray,
    nu: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Interoceptive input s = x + N(0, sigma) and visible cues y = x + N(0, r_e / o_e)."""
    s = x + np.sqrt(sigma)[:, None] * eps
    y = x + np.sqrt(cue_noise / obs)[None, :] * nu
    return s, y


def ew_moments(
    s: np.ndarray, mean: np.ndarray, var: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exponentially weighted mean and variance (West's recursion); returns (d, mean, var).

    ``d = s - mean_old`` is what the edge covariances need:
    ``cov <- (1 - a) (cov + a d_i d_j)``, which together with ``var <- (1 - a)(var + a d^2)``
    is exactly the weighted covariance with weights a (1 - a)^(t - k).
    """
    d = s - mean
    return d, mean + alpha * d, (1.0 - alpha) * (var + alpha * d * d)


def row_of_edges(adjacency: sp.csr_matrix) -> np.ndarray:
    """Row (perceiving agent) of each stored edge, in CSR order."""
    return np.repeat(np.arange(adjacency.shape[0]), np.diff(adjacency.indptr))


def synchrony_sigma(params: LoopParams, var_s: np.ndarray, warm: bool) -> np.ndarray:
    """The sigma_i of eq (2): the EW variance once warmed up, the sensory variance before."""
    if params.online_synchrony and warm:
        return var_s
    return np.broadcast_to(params.sigma[:, None], var_s.shape)


def edge_evidence(
    params: LoopParams,
    rows: np.ndarray,
    d: np.ndarray,
    cov: np.ndarray,
    var_s: np.ndarray,
    trust: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    defensive: np.ndarray,
    warm: bool,
) -> tuple[np.ndarray, ...]:
    """Per-edge synchrony, eq (2) precision and social weights, summed per perceiving agent.

    Returns ``(cov, trust, sum_w, sum_wy, rho_sum, omega_sum, rho, omega)``; cov and trust are
    new arrays (the inputs are not modified).
    """
    a = params.alpha
    adj = params.adjacency
    cols = adj.indices
    n = params.n_agents
    # a (d_i d_j): bit for bit the same in both directions of an edge, as the kernels need
    cov = ((1.0 - a) * (cov.astype(float) + a * (d[rows] * d[cols]))).astype(EDGE_DTYPE)
    if params.online_synchrony and warm:
        denom = var_s[rows] * var_s[cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.where(denom > 0, cov.astype(float) / np.sqrt(denom), params.rho0)
        rho = np.clip(rho, -1.0, 1.0)
    else:
        rho = np.full(cov.shape, params.rho0)
    sig = synchrony_sigma(params, var_s, warm)
    si, sj = sig[rows], sig[cols]
    omega = 1.0 / np.maximum(si + sj - 2.0 * rho * np.sqrt(si * sj), params.floor)
    tr = trust.astype(float)
    w = (adj.data * tr)[:, None] * params.obs[None, :] * omega
    threat = defensive[rows][:, None] & (y[cols] > params.b_aff)
    w = np.where(threat, w * (1.0 + params.beta_threat), w)

    def per_row(values: np.ndarray) -> np.ndarray:
        return np.stack(
            [np.bincount(rows, values[:, k], minlength=n) for k in range(values.shape[1])], axis=1
        )

    sums = per_row(w), per_row(w * y[cols]), per_row(rho), per_row(omega)
    if params.learn_trust:
        err = y[cols, 0] - s[rows, 0]
        tr = tr + params.eta * (np.exp(-err * err / (2.0 * params.s_tau**2)) - tr)
    return (cov, tr.astype(EDGE_DTYPE), *sums, rho, omega)


def technology_evidence(
    params: LoopParams, x: np.ndarray, tech_noise: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Precision-weighted evidence from the technology channels: (sum_w, sum_wy), each (N, E)."""
    n, e = x.shape
    sum_w = np.zeros((n, e))
    sum_wy = np.zeros((n, e))
    for channel, nu in zip(params.technology, tech_noise, strict=True):
        y = x + np.sqrt(channel.noise / channel.observability) * nu
        g = (
            channel.observability
            / channel.noise
            * (1.0 + channel.amplification * np.maximum(0.0, y - params.b_aff))
        )
        sum_w += channel.adjacency @ g
        sum_wy += channel.adjacency @ (g * y)
    return sum_w, sum_wy


def perceive(
    params: LoopParams,
    s: np.ndarray,
    mu: np.ndarray,
    v: np.ndarray,
    sigma_i: np.ndarray,
    sum_w: np.ndarray,
    sum_wy: np.ndarray,
    omega_mean: np.ndarray,
    step: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-weighted prediction errors (or eq (1) with ``update_seed``).

    Returns ``(mu, v, social_share)``, where social_share is the weight the shared prior gets.
    """
    if params.update_seed:
        gain, post = params.gain(omega_mean, 1.0 / v, step=step)
        return mu + gain * (s - mu), 1.0 / post, np.zeros_like(mu)
    pi_soc = params.gamma_soc[:, None] * sum_w
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(sum_w > 0, sum_wy / sum_w, mu)
    pi_int = params.gamma_int[:, None] / np.maximum(sigma_i, params.floor)
    v = v + params.q[:, None]
    # One division for the posterior variance; the updates multiply by it (as the kernels do).
    post = 1.0 / (1.0 / v + pi_int + pi_soc)
    mu = mu + (pi_int * (s - mu) + pi_soc * (m - mu)) * post
    return mu, post, pi_soc * post


def mode_filter(
    params: LoopParams, p: np.ndarray, evidence: np.ndarray, sigma: np.ndarray
) -> np.ndarray:
    """P(defensive): hazard prediction, then Bayes with N(evidence; b_z, v_z + sigma).

    Nothing here is path-dependent by construction; hysteresis arises from the loop (the mode
    sets the baseline the body returns to, which feeds the next evidence).
    """
    prior = p * (1.0 - params.hazard_aff) + (1.0 - p) * params.hazard_def
    var_d = params.v_def + sigma
    var_a = params.v_aff + sigma
    log_ratio = (
        -0.5 * (evidence - params.b_def) ** 2 * (1.0 / var_d)
        + 0.5 * (evidence - params.b_aff) ** 2 * (1.0 / var_a)
        - 0.5 * np.log(var_d / var_a)
    )
    # posterior = prior L / (prior L + 1 - prior); the clip keeps L finite and nonzero, so
    # this holds for prior = 0 and prior = 1 too, with one division.
    odds = prior * np.exp(np.clip(log_ratio, -700.0, 700.0))
    return odds / (odds + (1.0 - prior))


def act(
    params: LoopParams,
    x: np.ndarray,
    mu: np.ndarray,
    defensive: np.ndarray,
    drive: np.ndarray | None,
    xi: np.ndarray,
) -> np.ndarray:
    """Allostatic control: the body is driven toward the prediction and the mode's baseline."""
    base = np.where(defensive, params.b_def, params.b_aff)[:, None]
    dx = params.kappa[:, None] * (mu - x) - params.homeostasis[:, None] * (x - base)
    if drive is not None:
        dx = dx + drive
    return x + params.dt * dx + np.sqrt(params.dt * params.q_x)[:, None] * xi


def step_numpy(
    params: LoopParams,
    state: LoopState,
    noise: tuple[np.ndarray, ...],
    drive: np.ndarray | None,
    *,
    rows: np.ndarray | None = None,
    want_edges: bool = False,
) -> StepOutput:
    """Advance ``state`` by one step in place, with the reference numpy implementation.

    ``noise`` holds standard normals: eps, nu, xi (each (N, E)) then one (N, E) array per
    technology channel.
    """
    eps, nu, xi, *tech_noise = noise
    if rows is None:
        rows = row_of_edges(params.adjacency)
    warm = (state.step + 1) * params.dt >= params.tau_rho
    defensive = state.p > 0.5
    s, y = observe(state.x, params.sigma, params.obs, params.cue_noise, eps, nu)
    d, state.mean_s, state.var_s = ew_moments(s, state.mean_s, state.var_s, params.alpha)
    cov, trust, sum_w, sum_wy, rho_sum, omega_sum, rho, omega = edge_evidence(
        params, rows, d, state.cov, state.var_s, state.trust, y, s, defensive, warm
    )
    state.cov, state.trust = cov, trust
    if params.technology:
        tw, twy = technology_evidence(params, state.x, tech_noise)
        sum_w, sum_wy = sum_w + tw, sum_wy + twy
    degree = np.diff(params.adjacency.indptr)[:, None]
    omega_mean = np.where(degree > 0, omega_sum / np.maximum(degree, 1), 0.0)
    sigma_i = synchrony_sigma(params, state.var_s, warm)
    state.mu, state.v, share = perceive(
        params, s, state.mu, state.v, sigma_i, sum_w, sum_wy, omega_mean, state.step
    )
    if params.modes:
        state.p = mode_filter(params, state.p, s[:, 0], params.sigma)
        defensive = state.p > 0.5
    state.x = act(params, state.x, state.mu, defensive, drive, xi)
    state.s = s
    state.step += 1
    return StepOutput(rho_sum, share, rho if want_edges else None, omega if want_edges else None)
