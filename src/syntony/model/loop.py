"""The thin driver of the contagion loop: engines, noise streams, recording and summaries.

An engine advances a :class:`~syntony.model.agents.LoopState` by one step. Two engines compute
the same numbers: :class:`NumpyEngine` (the readable reference) and :class:`NumbaEngine` (fused
parallel kernels, for large crowds). Both draw their noise from the same counter-based streams,
so a seed gives the same run on either engine and with any number of threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from syntony._numba import aligned_empty
from syntony.model import _kernels
from syntony.model._noise import counter_normals, stream_base
from syntony.model.agents import (
    LoopParams,
    LoopState,
    StepOutput,
    row_of_edges,
    step_numpy,
    technology_evidence,
)

__all__ = ["Engine", "LoopRecord", "NumbaEngine", "NumpyEngine", "RecordSpec", "run_loop"]

DriveFn = Callable[[int], "np.ndarray | None"]


class Engine(Protocol):
    """Advance the state by one step (in place) and return the step's by-products.

    ``want_edges`` asks for per-edge rho and omega, ``want_share`` for the per-agent social
    share; an engine may skip computing or storing by-products nobody asked for.
    """

    def step(
        self,
        params: LoopParams,
        state: LoopState,
        key: int,
        drive: np.ndarray | None,
        want_edges: bool,
        want_share: bool = True,
    ) -> StepOutput: ...


def _n_streams(params: LoopParams) -> int:
    return _kernels.N_STREAMS_BASE + len(params.technology)


def _tech_noise(params: LoopParams, key: int, step: int) -> list[np.ndarray]:
    shape = (params.n_agents, params.n_channels)
    first = step * _n_streams(params) + _kernels.N_STREAMS_BASE
    return [counter_normals(key, first + c, shape) for c in range(len(params.technology))]


@dataclass
class NumpyEngine:
    """Reference engine: numpy + scipy.sparse, one pure function per stage."""

    _rows: np.ndarray | None = field(default=None, repr=False)

    def step(
        self,
        params: LoopParams,
        state: LoopState,
        key: int,
        drive: np.ndarray | None,
        want_edges: bool,
        want_share: bool = True,
    ) -> StepOutput:
        if self._rows is None or self._rows.size != params.adjacency.nnz:
            self._rows = row_of_edges(params.adjacency)
        shape = (params.n_agents, params.n_channels)
        first = state.step * _n_streams(params)
        noise = [counter_normals(key, first + k, shape) for k in range(3)]
        noise += _tech_noise(params, key, state.step)
        return step_numpy(
            params, state, tuple(noise), drive, rows=self._rows, want_edges=want_edges
        )


@dataclass(frozen=True, eq=False)
class _Prepared:
    """What the fused kernels read that stays fixed during a run, derived once from params."""

    params: LoopParams
    trust: np.ndarray  # the trust array the edge factor was formed from
    agent_table: np.ndarray  # (N, N_AGENT_PARAMS), see _kernels.P_*, or (1, ...) if all equal
    table_stride: int  # 1, or 0 for a homogeneous crowd
    sd_sigma: np.ndarray
    cue_sd: np.ndarray
    edge_mode: int
    edge_factor: np.ndarray
    w_uniform: float
    cov: np.ndarray  # the covariance array whose symmetry was checked for sharing pairs
    cuts: np.ndarray  # (N, 3) row cuts for sharing pairs, or (0, 3): see _kernels.pair_partners
    partner: np.ndarray


_NO_CUTS = np.empty((0, 3), dtype=np.int64)
_NO_PARTNERS = np.empty(0, dtype=np.int32)


def _pairs(params: LoopParams, cov: np.ndarray, share: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row cuts and partners for computing each pair of a block once, if the run allows it."""
    adj = params.adjacency
    found = _kernels.pair_partners(adj.indptr, adj.indices) if share else None
    if found is None or not _kernels.partners_agree(adj.indptr, *found, cov):
        return _NO_CUTS, _NO_PARTNERS
    return found


def _prepare(
    params: LoopParams, trust: np.ndarray, cov: np.ndarray, share_pairs: bool = True
) -> _Prepared:
    k = _kernels
    n = params.n_agents
    sigma = params.sigma
    var_def = params.v_def + sigma
    var_aff = params.v_aff + sigma
    table = np.empty((n, k.N_AGENT_PARAMS))
    for column, values in (
        (k.P_KAPPA, params.kappa),
        (k.P_HOMEOSTASIS, params.homeostasis),
        (k.P_NOISE_SD, np.sqrt(params.dt * params.q_x)),
        (k.P_GAMMA_INT, params.gamma_int),
        (k.P_GAMMA_SOC, params.gamma_soc),
        (k.P_Q, params.q),
        (k.P_HAZARD_DEF, params.hazard_def),
        (k.P_HAZARD_AFF, params.hazard_aff),
        (k.P_SIGMA, sigma),
        (k.P_PREC_DEF, 1.0 / var_def),
        (k.P_PREC_AFF, 1.0 / var_aff),
        # the same expression as agents.mode_filter, so both engines use the same rounding
        (k.P_HALF_LOG, 0.5 * np.log(var_def / var_aff)),
    ):
        table[:, column] = values
    stride = 1
    if n and np.all(table == table[0]):
        table, stride = table[:1].copy(), 0
    weights = np.ascontiguousarray(params.adjacency.data, dtype=np.float64)
    mode, factor, uniform = k.EDGE_LIVE, weights, 0.0
    if not params.learn_trust:
        # Trust is constant during the run: form A_ij * trust_ij once. An unweighted network
        # with uniform trust (the common case) needs no per-edge factor at all.
        product = weights * trust.astype(np.float64)
        if product.size and np.all(product == product[0]):
            mode, factor, uniform = k.EDGE_UNIFORM, np.empty(0), float(product[0])
        else:
            mode, factor = k.EDGE_PRODUCT, product
    cuts, partner = _pairs(params, cov, share_pairs)
    return _Prepared(
        params=params,
        trust=trust,
        agent_table=table,
        table_stride=stride,
        sd_sigma=np.sqrt(sigma),
        cue_sd=np.sqrt(params.cue_noise / params.obs),
        edge_mode=mode,
        edge_factor=factor,
        w_uniform=uniform,
        cov=cov,
        cuts=cuts,
        partner=partner,
    )


@dataclass
class NumbaEngine:
    """Fast engine: two fused, parallel numba passes per step (see ``_kernels``).

    Per-agent constants and, when trust is not learned, the per-edge factor ``A_ij * trust_ij``
    are derived once per parameter set and trust array (:meth:`prepare`, which
    :func:`run_loop` calls at the start of every run). If you change ``state.trust`` in place
    between calls of :meth:`step` without trust learning, call :meth:`prepare` again.

    On a symmetric network (with symmetric ``state.cov``, as :func:`initial_state` makes it)
    the synchrony and eq (2) precision of two agents of one block of the edge pass are
    computed once for both directions (``share_pairs``); the numbers are the same either
    way. Call :meth:`prepare` again after changing ``state.cov`` in place.

    The published seed update (``update_seed``) needs the Python gain policy, so it always
    runs on the reference engine.
    """

    threshold: float = 1.0  # contagion-reach threshold, summed inside the kernel
    share_pairs: bool = True
    _buffers: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _fallback: NumpyEngine = field(default_factory=NumpyEngine, repr=False)
    _prepared: _Prepared | None = field(default=None, repr=False)

    def _buf(
        self, name: str, shape: tuple[int, ...], dtype: type = np.float64, aligned: bool = False
    ) -> np.ndarray:
        array = self._buffers.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = aligned_empty(shape, dtype) if aligned else np.empty(shape, dtype=dtype)
            self._buffers[name] = array
        return array

    def prepare(self, params: LoopParams, state: LoopState) -> None:
        """(Re)derive the run's constants from ``params``, ``state.trust`` and ``state.cov``."""
        self._prepared = _prepare(params, state.trust, state.cov, self.share_pairs)

    def step(
        self,
        params: LoopParams,
        state: LoopState,
        key: int,
        drive: np.ndarray | None,
        want_edges: bool,
        want_share: bool = True,
    ) -> StepOutput:
        if params.update_seed:
            return self._fallback.step(params, state, key, drive, want_edges, want_share)
        prep = self._prepared
        if (
            prep is None
            or prep.params is not params
            or prep.trust is not state.trust
            or prep.cov is not state.cov
        ):
            self.prepare(params, state)
            prep = self._prepared
        n, e = params.n_agents, params.n_channels
        adj = params.adjacency
        first = state.step * _n_streams(params)
        bases = [np.uint64(stream_base(np.uint64(key), np.uint64(first + k))) for k in range(3)]
        warm = (state.step + 1) * params.dt >= params.tau_rho
        online_warm = bool(params.online_synchrony and warm)
        observe, interact = _kernels.kernels((n + adj.nnz) * e, prep.edge_mode, want_edges, e)
        s = self._buf("s", (n, e))
        nb = self._buf("nb", (n * e * _kernels.NB_FIELDS,), aligned=True)
        observe(
            state.x, prep.sd_sigma, params.sigma, prep.cue_sd, bases[0], bases[1],
            state.mean_s, state.var_s, params.alpha, online_warm, s, nb,
        )  # fmt: skip
        if params.technology:
            tw, twy = technology_evidence(params, state.x, _tech_noise(params, key, state.step))
        else:
            tw = twy = self._buf("none", (0, e))
        n_blocks = -(-n // _kernels.BLOCK)
        partial = self._buf("partial", (n_blocks, 6 * e + 2))
        if want_edges:
            rho_out, omega_out = np.empty((adj.nnz, e)), np.empty((adj.nnz, e))
        else:
            rho_out = omega_out = self._buf("none", (0, e))
        share = self._buf("share", (n, e)) if want_share else self._buf("none", (0, e))
        drive_arr = (
            self._buf("none", (0, e)) if drive is None else np.ascontiguousarray(drive, dtype=float)
        )
        # The step's s becomes the state's; the old state array is reused as next step's buffer.
        self._buffers["s"], state.s = state.s, s
        interact(
            adj.indptr, adj.indices, prep.edge_factor, prep.w_uniform,
            state.cov.reshape(-1), state.trust, nb, params.obs, params.alpha, online_warm,
            params.rho0, params.floor, params.beta_threat, params.b_aff, params.learn_trust,
            params.eta, 1.0 / (2.0 * params.s_tau**2), tw, twy, rho_out.reshape(-1),
            omega_out.reshape(-1), state.x, state.s, state.mu, state.v, state.p, state.var_s,
            prep.agent_table, prep.table_stride, bases[2], drive_arr, share, params.modes, params.b_def, params.dt,
            self.threshold, partial, prep.cuts, prep.partner,
        )  # fmt: skip
        state.step += 1
        totals = partial.sum(axis=0)
        sums = {
            "rho": totals[5 * e + 2 :],
            "mu": totals[0 : 5 * e : 5],
            "mu2": totals[1 : 5 * e : 5],
            "x": totals[2 : 5 * e : 5],
            "above": totals[3 : 5 * e : 5],
            "share": totals[4 : 5 * e : 5],
            "p": totals[5 * e],
            "defensive": totals[5 * e + 1],
        }
        return StepOutput(
            None,
            share if want_share else None,
            rho_out if want_edges else None,
            omega_out if want_edges else None,
            sums,
        )


@dataclass(frozen=True)
class RecordSpec:
    """What to keep: every ``every`` steps, the agents in ``agents`` and edges in ``edges``."""

    agents: np.ndarray
    every: int = 1
    edges: np.ndarray | None = None
    threshold: float = 1.0


@dataclass
class LoopRecord:
    """Arrays collected by :func:`run_loop` (numpy; simulate() turns them into a Dataset)."""

    steps: np.ndarray  # recorded step numbers (0 = initial state)
    agent: dict[
        str, np.ndarray
    ]  # x, s, mu, v, social_share: (T_rec, n_sample, E); p: (T_rec, n_sample)
    edge: dict[
        str, np.ndarray
    ]  # rho, omega: (T_rec, n_edge_sample, E); trust: (T_rec, n_edge_sample)
    summary: dict[str, np.ndarray]  # (T+1, E) or (T+1,)


def _summaries(
    state: LoopState, out: StepOutput | None, params: LoopParams, threshold: float
) -> dict[str, np.ndarray]:
    n, nnz = params.n_agents, params.adjacency.nnz
    e = params.n_channels
    if out is not None and out.sums is not None:
        # Sums accumulated by the fused kernels, block by block.
        sums = out.sums
        mean_mu = sums["mu"] / n
        return {
            "synchrony": sums["rho"] / nnz if nnz else np.full(e, np.nan),
            "dispersion": np.maximum(sums["mu2"] / n - mean_mu**2, 0.0),
            "reach": sums["above"] / n,
            "mean_x": sums["x"] / n,
            "mean_mu": mean_mu,
            "social_share_mean": sums["share"] / n,
            "mean_p_defensive": np.asarray(sums["p"] / n),
            "fraction_defensive": np.asarray(sums["defensive"] / n),
        }
    if out is None:
        synchrony = np.full(e, params.rho0 if nnz else np.nan)
        share = np.full(e, np.nan)
    else:
        synchrony = out.rho_sum.sum(axis=0) / nnz if nnz else np.full(e, np.nan)
        share = out.social_share.mean(axis=0)
    return {
        "synchrony": synchrony,
        "dispersion": state.mu.var(axis=0),
        "reach": (state.x > threshold).mean(axis=0),
        "mean_x": state.x.mean(axis=0),
        "mean_mu": state.mu.mean(axis=0),
        "social_share_mean": share,
        "mean_p_defensive": np.asarray(state.p.mean()),
        "fraction_defensive": np.asarray((state.p > 0.5).mean()),
    }


def run_loop(
    params: LoopParams,
    state: LoopState,
    n_steps: int,
    *,
    key: int,
    drive: DriveFn | None = None,
    record: RecordSpec,
    engine: Engine | None = None,
    progress: Callable[[int], None] | None = None,
) -> LoopRecord:
    """Run ``n_steps`` steps from ``state`` (modified in place) and collect the record."""
    engine = engine if engine is not None else NumbaEngine(threshold=record.threshold)
    if isinstance(engine, NumbaEngine) and engine.threshold != record.threshold:
        engine = NumbaEngine(threshold=record.threshold, share_pairs=engine.share_pairs)
    if isinstance(engine, NumbaEngine):
        engine.prepare(params, state)
    sample = np.asarray(record.agents, dtype=np.int64)
    edges = None if record.edges is None else np.asarray(record.edges, dtype=np.int64)
    rec_steps = [0, *range(record.every, n_steps + 1, record.every)]
    t_rec = len(rec_steps)
    e = params.n_channels
    agent = {k: np.empty((t_rec, sample.size, e)) for k in ("x", "s", "mu", "v", "social_share")}
    agent["p_defensive"] = np.empty((t_rec, sample.size))
    edge: dict[str, np.ndarray] = {}
    if edges is not None:
        edge = {k: np.empty((t_rec, edges.size, e)) for k in ("rho", "omega")}
        edge["trust"] = np.empty((t_rec, edges.size))
    summary: dict[str, list[np.ndarray]] = {}

    def keep(row: int, out: StepOutput | None) -> None:
        for name in ("x", "s", "mu", "v"):
            agent[name][row] = getattr(state, name)[sample]
        agent["social_share"][row] = np.nan if out is None else out.social_share[sample]
        agent["p_defensive"][row] = state.p[sample]
        if edges is not None:
            if out is None or out.rho is None:
                edge["rho"][row] = params.rho0
                edge["omega"][row] = np.nan
            else:
                edge["rho"][row] = out.rho[edges]
                edge["omega"][row] = out.omega[edges]
            edge["trust"][row] = state.trust[edges]

    def summarise(out: StepOutput | None) -> None:
        for name, value in _summaries(state, out, params, record.threshold).items():
            summary.setdefault(name, []).append(value)

    keep(0, None)
    summarise(None)
    # The external drive averaged over agents: the common stimulus that fitting methods take
    # as an input. Row t + 1 holds the drive applied between steps t and t + 1.
    mean_drive = np.zeros((n_steps + 1, e))
    row = 1
    for t in range(n_steps):
        kept = (t + 1) % record.every == 0
        u = drive(t) if drive is not None else None
        if u is not None:
            mean_drive[t + 1] = u.mean(axis=0)
        out = engine.step(params, state, key, u, edges is not None and kept, kept)
        summarise(out)
        if kept:
            keep(row, out)
            row += 1
        if progress is not None:
            progress(t + 1)
    return LoopRecord(
        steps=np.asarray(rec_steps),
        agent=agent,
        edge=edge,
        summary={**{k: np.stack(v) for k, v in summary.items()}, "mean_drive": mean_drive},
    )
