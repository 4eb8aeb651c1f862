"""Fused numba kernels for one step of the contagion loop (the fast engine).

They compute exactly what :func:`syntony.model.agents.step_numpy` computes, in two parallel
passes over the agents:

1. observe (over (agent, channel) entries): counter-based noise, s, cues y, EW
   moments; packs what neighbours read into one aligned 32-byte record per entry;
2. interact and act (over fixed blocks of agents, each thread owning its agents' CSR rows): per
   edge EW covariance, rho, eq (2) omega, social weights and trust learning, summed in
   registers; then, while the row's agent is still in cache, its perception, mode filter and
   action, and the block's partial sums for the summaries.

Pass 2 needs every neighbour's record of pass 1, so the two cannot be merged; everything after
the edge sums only touches the row's own agent, so it is merged into the edge pass.

Covariance, rho and omega are the same for both directions of an edge. On a symmetric network
a pair of agents of one block is computed once, by the earlier agent's row, which leaves the
result in a block scratch for the later row (see :func:`pair_partners`); pairs across blocks
are computed by both owners, so no thread writes what another reads.

Noise comes from :mod:`syntony.model._noise` by counter, so results do not depend on the number
of threads. Edge state is float32; arithmetic is float64. Index arithmetic in the edge loop is
unsigned on purpose: numba checks every signed index for wrap-around, which costs as much as
the edge's arithmetic.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from syntony._numba import prefetch, serial_and_parallel
from syntony.model._noise import normal

N_STREAMS_BASE = 3  # eps, nu, xi; technology channels use streams 3, 4, ...

#: Below this much work per step (agent entries + edge entries) the serial kernels are used:
#: starting a parallel region costs more than it saves for small crowds, and on a busy
#: machine much more. Serial and parallel kernels give identical numbers.
PARALLEL_THRESHOLD = 50_000

#: Agents are processed in fixed blocks; each block writes its partial sums for the summaries
#: (R, D, f, ...) and the blocks are added in order afterwards. Thread scheduling therefore
#: never changes the rounding, and no extra pass over the agents is needed.
BLOCK = 4096

#: Fields of a neighbour record: EW deviation d, variance v, 1 / sd, cue y.
NB_FIELDS = 4

#: How many edges ahead the edge pass asks for a neighbour's record.
PREFETCH_DISTANCE = 64

#: Columns of the per-agent parameter table (one row per agent, read as one stream).
(
    P_KAPPA,
    P_HOMEOSTASIS,
    P_NOISE_SD,
    P_GAMMA_INT,
    P_GAMMA_SOC,
    P_Q,
    P_HAZARD_DEF,
    P_HAZARD_AFF,
    P_SIGMA,
    P_PREC_DEF,
    P_PREC_AFF,
    P_HALF_LOG,
) = range(12)
N_AGENT_PARAMS = 12

#: How the edge pass gets ``A_ij * trust_ij``: one number for the whole network, a product
#: precomputed for the run (trust is not learned), or the product formed per edge.
EDGE_UNIFORM, EDGE_PRODUCT, EDGE_LIVE = 0, 1, 2


def _observe(
    x, sd_sigma, sigma, cue_sd, base_eps, base_nu, mean_s, var_s, alpha, online_warm, s, nb,
):  # fmt: skip
    """Noise, s, EW moments; ``nb[4 (i E + k) + (0..3)] = (d, v, 1/sd, y)``.

    The body's noise xi is drawn in the agent part of the second pass, where it is used.
    """
    n = x.shape[0]
    e = 1 if ONE_CHANNEL else x.shape[1]  # a constant spares an integer division per entry
    for idx in numba.prange(n * e):
        i = idx // e
        k = idx - i * e
        si = x[i, k] + sd_sigma[i] * normal(base_eps, idx)
        s[i, k] = si
        dd = si - mean_s[i, k]
        mean_s[i, k] = mean_s[i, k] + alpha * dd
        var = (1.0 - alpha) * (var_s[i, k] + alpha * dd * dd)
        var_s[i, k] = var
        v = var if online_warm else sigma[i]
        r = NB_FIELDS * idx
        nb[r] = dd
        nb[r + 1] = v
        nb[r + 2] = 1.0 / math.sqrt(v) if v > 0 else 0.0
        nb[r + 3] = x[i, k] + cue_sd[k] * normal(base_nu, idx)


def _interact_and_act(
    indptr, indices, edge_factor, w_uniform, cov, trust, nb, obs,
    alpha, online_warm, rho0, floor, beta_threat, b_aff, learn_trust, eta, inv_2stau2,
    tech_w, tech_wy, rho_out, omega_out,
    x, s, mu, v, p, var_s, par, par_stride, base_xi, drive, share,
    modes, b_def, dt, threshold, partial, cuts, partner,
):  # fmt: skip
    """Edges of each agent's row, then that agent's perception, mode filter and action.

    ``partial[b]`` receives block b's sums: per channel (mu, mu^2, x, above threshold, social
    share), then p, defensive count, then per channel the sum of rho over the block's edges.

    With ``cuts`` and ``partner`` from :func:`pair_partners` (empty arrays otherwise), a pair
    of agents of one block is computed once: row i splits into edges to earlier blocks, to
    earlier agents of its block (whose rows already computed the pair: read it from the
    block's scratch), to later agents of its block (compute it, and write it where the
    partner's row will read it), and to later blocks. The four parts are in CSR order, so
    the sums, and hence the numbers, are the same as without sharing.
    """
    n = x.shape[0]
    # One affect channel is the common case: as a constant it folds the index arithmetic.
    e = 1 if ONE_CHANNEL else x.shape[1]
    ue = np.uint64(e)
    four = np.uint64(NB_FIELDS)
    one = np.uint64(1)
    two = np.uint64(2)
    three = np.uint64(3)
    last = np.uint64(max(indices.size, 1) - 1)
    ahead = np.uint64(PREFETCH_DISTANCE)
    has_tech = tech_w.shape[0] > 0
    has_drive = drive.shape[0] > 0
    want_share = share.shape[0] > 0  # the social share per agent, for recorded steps
    sharing = cuts.shape[0] > 0
    keep = 1.0 - alpha
    boost = 1.0 + beta_threat
    n_blocks = (n + BLOCK - 1) // BLOCK
    for b in numba.prange(n_blocks):
        acc = np.zeros(partial.shape[1])
        sums = np.empty((e, 3))
        first = min(n, b * BLOCK)
        qb = np.uint64(indptr[first])
        span = indptr[min(n, (b + 1) * BLOCK)] - indptr[first] if sharing else 0
        shared_rho = np.empty(span * e)  # (rho, omega) of pairs, at the later row's edge
        shared_om = np.empty(span * e)
        for ii in range(first, min(n, (b + 1) * BLOCK)):
            i = np.uint64(ii)
            a = ii * par_stride
            lo = np.uint64(indptr[i])
            hi = np.uint64(indptr[i + one])
            if sharing:
                bounds = (
                    lo,
                    np.uint64(cuts[i, 0]),
                    np.uint64(cuts[i, 1]),
                    np.uint64(cuts[i, 2]),
                    hi,
                )
            else:
                bounds = (lo, hi, hi, hi, hi)
            thr = boost if p[i] > 0.5 else 1.0
            for kk in range(e):
                k = np.uint64(kk)
                bi = (i * ue + k) * four
                di = nb[bi]
                vi = nb[bi + one]
                isdi = nb[bi + np.uint64(2)]
                gain = obs[k]
                # Sums live in registers: writing them through arrays on every edge would
                # force a memory round trip per edge (numba cannot rule out aliasing).
                sw = 0.0
                swy = 0.0
                rs = 0.0
                for part in range(4):
                    # part 1: the partner's row computed the pair; the branch on ``part`` is
                    # the same for a whole run of edges, so it is always predicted.
                    for q in range(bounds[part], bounds[part + 1]):
                        prefetch(nb, (np.uint64(indices[min(q + ahead, last)]) * ue + k) * four)
                        bj = (np.uint64(indices[q]) * ue + k) * four
                        yj = nb[bj + three]
                        qe = q * ue + k
                        if part == 1:
                            at = (q - qb) * ue + k
                            rho = shared_rho[at]
                            om = shared_om[at]
                        else:
                            vj = nb[bj + one]
                            isdij = isdi * nb[bj + two]
                            # alpha (d_i d_j), not (alpha d_i) d_j: the same bits both ways
                            c = np.float32(keep * (np.float64(cov[qe]) + alpha * (di * nb[bj])))
                            cov[qe] = c
                            cc = np.float64(c)
                            # Var(s_i - s_j) = v_i + v_j - 2 cov: no square root per edge; the
                            # clipped and fixed-synchrony cases use rho * sd_i * sd_j.
                            raw = cc * isdij
                            valid = online_warm and isdij > 0
                            rho = min(1.0, max(-1.0, raw)) if valid else rho0
                            if valid and raw <= 1.0 and raw >= -1.0:
                                dv = vi + vj - 2.0 * cc
                            else:
                                dv = vi + vj - 2.0 * rho * (vi * vj * isdij)
                            om = 1.0 / max(dv, floor)
                            if part == 2:
                                mate = np.uint64(partner[q])  # offset in the block
                                cov[(qb + mate) * ue + k] = c
                                at = mate * ue + k
                                shared_rho[at] = rho
                                shared_om[at] = om
                        # EDGE_MODE and RECORD are compile-time constants of each copy.
                        if EDGE_MODE == EDGE_UNIFORM:
                            wt = w_uniform
                        elif EDGE_MODE == EDGE_PRODUCT:
                            wt = edge_factor[q]
                        else:
                            wt = edge_factor[q] * np.float64(trust[q])
                        w = wt * gain * om
                        if yj > b_aff:
                            w *= thr
                        sw += w
                        swy += w * yj
                        rs += rho
                        if RECORD:
                            rho_out[qe] = rho
                            omega_out[qe] = om
                if has_tech:
                    sw += tech_w[i, k]
                    swy += tech_wy[i, k]
                sums[kk, 0] = sw
                sums[kk, 1] = swy
                acc[5 * e + 2 + kk] += rs
            if learn_trust:
                si0 = s[i, 0]
                for q in range(lo, hi):
                    tr = np.float64(trust[q])
                    err = nb[np.uint64(indices[q]) * ue * four + np.uint64(3)] - si0
                    trust[q] = np.float32(tr + eta * (math.exp(-err * err * inv_2stau2) - tr))
            # -- perception (precision-weighted prediction errors)
            for k in range(e):
                sw = sums[k, 0]
                sig = var_s[i, k] if online_warm else par[a, P_SIGMA]
                pi_soc = par[a, P_GAMMA_SOC] * sw
                m = sums[k, 1] / sw if sw > 0 else mu[i, k]
                pi_int = par[a, P_GAMMA_INT] / max(sig, floor)
                post = 1.0 / (1.0 / (v[i, k] + par[a, P_Q]) + pi_int + pi_soc)
                mu[i, k] = (
                    mu[i, k] + (pi_int * (s[i, k] - mu[i, k]) + pi_soc * (m - mu[i, k])) * post
                )
                v[i, k] = post
                sums[k, 2] = pi_soc * post
                if want_share:
                    share[i, k] = sums[k, 2]
            # -- mode filter (hazard, then Bayes)
            if modes:
                pp = p[i]
                prior = pp * (1.0 - par[a, P_HAZARD_AFF]) + (1.0 - pp) * par[a, P_HAZARD_DEF]
                ev = s[i, 0]
                lr = (
                    -0.5 * (ev - b_def) ** 2 * par[a, P_PREC_DEF]
                    + 0.5 * (ev - b_aff) ** 2 * par[a, P_PREC_AFF]
                    - par[a, P_HALF_LOG]
                )
                odds = prior * math.exp(min(700.0, max(-700.0, lr)))
                p[i] = odds / (odds + (1.0 - prior))
            # -- action
            base = b_def if p[i] > 0.5 else b_aff
            kappa = par[a, P_KAPPA]
            lam = par[a, P_HOMEOSTASIS]
            noise_sd = par[a, P_NOISE_SD]
            for k in range(e):
                xi = normal(base_xi, ii * e + k)  # draw i E + k of the body's stream
                dx = kappa * (mu[i, k] - x[i, k]) - lam * (x[i, k] - base)
                if has_drive:
                    dx += drive[i, k]
                xn = x[i, k] + dt * dx + noise_sd * xi
                x[i, k] = xn
                acc[5 * k] += mu[i, k]
                acc[5 * k + 1] += mu[i, k] * mu[i, k]
                acc[5 * k + 2] += xn
                acc[5 * k + 3] += 1.0 if xn > threshold else 0.0
                acc[5 * k + 4] += sums[k, 2]
            acc[5 * e] += p[i]
            acc[5 * e + 1] += 1.0 if p[i] > 0.5 else 0.0
        partial[b, :] = acc


def _find_partners(indptr, indices, cuts, partner, flaws):
    n = indptr.size - 1
    for b in numba.prange((n + BLOCK - 1) // BLOCK):
        b0 = b * BLOCK
        b1 = min(n, b0 + BLOCK)
        for i in range(b0, b1):
            q, hi = indptr[i], indptr[i + 1]
            for r in range(q + 1, hi):
                if indices[r] <= indices[r - 1]:
                    flaws[b] += 1  # unsorted or repeated columns
            while q < hi and indices[q] < b0:
                q += 1
            cuts[i, 0] = q
            while q < hi and indices[q] < i:
                q += 1
            cuts[i, 1] = q
            while q < hi and indices[q] < b1:
                q += 1
            cuts[i, 2] = q
        base = indptr[b0]
        for i in range(b0, b1):
            for q in range(cuts[i, 1], cuts[i, 2]):
                j = indices[q]
                partner[q] = -1
                for r in range(cuts[j, 0], cuts[j, 1]):
                    if indices[r] == i:
                        partner[q] = r - base
                        break
                if partner[q] < 0:
                    flaws[b] += 1  # no edge back, or a self-loop
        # every edge to an earlier agent of the block must be some later edge's partner
        backward = 0
        forward = 0
        for i in range(b0, b1):
            backward += cuts[i, 1] - cuts[i, 0]
            forward += cuts[i, 2] - cuts[i, 1]
        if backward != forward:
            flaws[b] += 1


_FIND_PARTNERS = serial_and_parallel(_find_partners)


@numba.njit(cache=True)
def _partners_agree(indptr, cuts, partner, cov):
    """Whether the EW covariance of every shared pair is the same in both directions."""
    n = indptr.size - 1
    for i in range(n):
        base = indptr[(i // BLOCK) * BLOCK]
        for q in range(cuts[i, 1], cuts[i, 2]):
            for k in range(cov.shape[1]):
                if cov[q, k] != cov[base + partner[q], k]:
                    return False
    return True


def pair_partners(indptr, indices):
    """(cuts, partner) for computing each pair of agents of a block once, or None.

    ``cuts[i]`` are the positions where row i's edges to earlier agents of its block, to later
    agents of its block and to later blocks begin; ``partner[q]`` is, for an edge to a later
    agent of the block, the position of the edge back (relative to the block's first edge).
    None if the network is not symmetric within blocks, has self-loops or unsorted rows.
    """
    n = indptr.size - 1
    cuts = np.empty((n, 3), dtype=np.int64)
    partner = np.full(indices.size, -1, dtype=np.int32 if indices.size < 2**31 else np.int64)
    flaws = np.zeros((n + BLOCK - 1) // BLOCK, dtype=np.int64)
    if n:
        # parallel only for big networks, as the step kernels: a small run then never starts
        # the thread pool (which would make a later fork, e.g. of a sweep's workers, unsafe)
        _FIND_PARTNERS[int(n + indices.size >= PARALLEL_THRESHOLD)](
            indptr, indices, cuts, partner, flaws
        )
    return None if flaws.any() else (cuts, partner)


def partners_agree(indptr, cuts, partner, cov) -> bool:
    """Whether ``cov`` (nnz, E) is symmetric over the shared pairs (a precondition of sharing)."""
    return bool(_partners_agree(indptr, cuts, partner, cov))


#: Placeholders: every compiled copy of the edge pass sees its own values (see ``kernels``).
EDGE_MODE = EDGE_LIVE
RECORD = True
ONE_CHANNEL = False

#: Divisions follow IEEE rules (x / 0 = inf) as in the numpy reference, instead of numba's
#: default of checking every divisor to raise ZeroDivisionError: fewer branches per edge.
_OPTIONS = {"error_model": "numpy"}

_OBSERVE = (
    serial_and_parallel(_observe, **_OPTIONS),
    serial_and_parallel(_observe, suffix="_one", constants={"ONE_CHANNEL": True}, **_OPTIONS),
)
_INTERACT: dict[tuple[int, bool, bool], tuple] = {}


def kernels(work: int, edge_mode: int = EDGE_LIVE, record: bool = False, n_channels: int = 0):
    """(observe, interact_and_act), serial or parallel depending on the work per step.

    The edge pass is compiled (lazily, then cached on disk) once per edge mode, recording flag
    and single-channel flag, as constants: the per-edge loop then has no branch on them.
    """
    key = (int(edge_mode), bool(record), n_channels == 1)
    if key not in _INTERACT:
        _INTERACT[key] = serial_and_parallel(
            _interact_and_act,
            suffix=f"_mode{key[0]}_record{int(key[1])}_one{int(key[2])}",
            constants={"EDGE_MODE": key[0], "RECORD": key[1], "ONE_CHANNEL": key[2]},
            **_OPTIONS,
        )
    k = int(work >= PARALLEL_THRESHOLD)
    return _OBSERVE[key[2]][k], _INTERACT[key][k]
