"""Fused numba kernels for one step of the contagion loop (the fast engine).

They compute exactly what :func:`syntony.model.agents.step_numpy` computes, in three parallel
passes that each touch memory once:

1. agents (over pairs of (agent, channel) entries): counter-based noise, s, cues y, EW moments;
2. edges (``prange`` over CSR rows, so each thread owns its rows' sums): EW covariance, rho,
   eq (2) omega, social weights, trust learning, and the per-row sums;
3. agents: perception, mode filter, action.

Noise comes from :mod:`syntony.model._noise` by counter, so results do not depend on the number
of threads. Edge state is float32; arithmetic is float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from syntony._numba import serial_and_parallel
from syntony.model._noise import normal_pair

N_STREAMS_BASE = 3  # eps, nu, xi; technology channels use streams 3, 4, ...

#: Below this much work per step (agent entries + edge entries) the serial kernels are used:
#: starting a parallel region costs more than it saves for small crowds, and on a busy
#: machine much more. Serial and parallel kernels give identical numbers.
PARALLEL_THRESHOLD = 50_000

#: Agents are processed in fixed blocks; each block writes its partial sums for the summaries
#: (R, D, f, ...) and the blocks are added in order afterwards. Thread scheduling therefore
#: never changes the rounding, and no extra pass over the agents is needed.
BLOCK = 4096


def _agent_pre(
    x,
    sigma,
    obs,
    cue_noise,
    base_eps,
    base_nu,
    base_xi,
    mean_s,
    var_s,
    alpha,
    online_warm,
    s,
    xi,
    nb,
):
    """Noise, s, EW moments; packs what neighbours read into ``nb[i, k] = (d, v, 1/sd, y)``.

    One agent's neighbour data then sits in one cache line, so the edge pass pays one
    random memory access per edge instead of three.
    """
    n, e = x.shape
    m = n * e
    for p in numba.prange((m + 1) // 2):
        e0, e1 = normal_pair(base_eps, p)
        n0, n1 = normal_pair(base_nu, p)
        x0, x1 = normal_pair(base_xi, p)
        for h in range(2):
            idx = 2 * p + h
            if idx >= m:
                break
            i = idx // e
            k = idx - i * e
            eps = e0 if h == 0 else e1
            nu = n0 if h == 0 else n1
            xi[i, k] = x0 if h == 0 else x1
            si = x[i, k] + math.sqrt(sigma[i]) * eps
            s[i, k] = si
            dd = si - mean_s[i, k]
            mean_s[i, k] = mean_s[i, k] + alpha * dd
            var = (1.0 - alpha) * (var_s[i, k] + alpha * dd * dd)
            var_s[i, k] = var
            v = var if online_warm else sigma[i]
            nb[i, k, 0] = dd
            nb[i, k, 1] = v
            nb[i, k, 2] = 1.0 / math.sqrt(v) if v > 0 else 0.0
            nb[i, k, 3] = x[i, k] + math.sqrt(cue_noise[k] / obs[k]) * nu


def _edge_pass(
    indptr, indices, weights, cov, trust, nb, s, defensive, obs,
    alpha, online_warm, rho0, floor, beta_threat, b_aff, learn_trust, eta, inv_2stau2,
    sum_w, sum_wy, rho_partial, rho_out, omega_out,
):  # fmt: skip
    n = indptr.size - 1
    e = nb.shape[1]
    record = rho_out.shape[0] > 0
    keep = 1.0 - alpha
    n_blocks = (n + BLOCK - 1) // BLOCK
    for b in numba.prange(n_blocks):
        racc = np.zeros(e)
        for i in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            threatened = defensive[i]
            for k in range(e):
                # Sums live in registers: writing them through the output arrays on every edge
                # would force a memory round trip per edge (the arrays may alias, for numba).
                sw = 0.0
                swy = 0.0
                rs = 0.0
                di = nb[i, k, 0]
                vi = nb[i, k, 1]
                isdi = nb[i, k, 2]
                gain = obs[k]
                for q in range(indptr[i], indptr[i + 1]):
                    j = indices[q]
                    dj = nb[j, k, 0]
                    vj = nb[j, k, 1]
                    isdij = isdi * nb[j, k, 2]
                    yj = nb[j, k, 3]
                    c = np.float32(keep * (np.float64(cov[q, k]) + alpha * di * dj))
                    cov[q, k] = c
                    # Var(s_i - s_j) = v_i + v_j - 2 cov: no square root or second division per
                    # edge; the clipped and the fixed-synchrony cases use rho * sd_i * sd_j.
                    if online_warm and isdij > 0:
                        rho = np.float64(c) * isdij
                        if rho > 1.0 or rho < -1.0:
                            rho = min(1.0, max(-1.0, rho))
                            dv = vi + vj - 2.0 * rho * (vi * vj * isdij)
                        else:
                            dv = vi + vj - 2.0 * np.float64(c)
                    else:
                        rho = rho0
                        dv = vi + vj - 2.0 * rho * (vi * vj * isdij)
                    if dv < floor:
                        dv = floor
                    om = 1.0 / dv
                    w = weights[q] * np.float64(trust[q]) * gain * om
                    if threatened and yj > b_aff:
                        w *= 1.0 + beta_threat
                    sw += w
                    swy += w * yj
                    rs += rho
                    if record:
                        rho_out[q, k] = rho
                        omega_out[q, k] = om
                sum_w[i, k] = sw
                sum_wy[i, k] = swy
                racc[k] += rs
            if learn_trust:
                si0 = s[i, 0]
                for q in range(indptr[i], indptr[i + 1]):
                    tr = np.float64(trust[q])
                    err = nb[indices[q], 0, 3] - si0
                    trust[q] = np.float32(tr + eta * (math.exp(-err * err * inv_2stau2) - tr))
        rho_partial[b, :] = racc


def _agent_post(
    x, s, mu, v, p, var_s, sigma, kappa, homeostasis, q_x, gamma_int, gamma_soc, q,
    hazard_def, hazard_aff, sum_w, sum_wy, xi, drive, share,
    online_warm, floor, modes, b_aff, b_def, v_aff, v_def, dt, threshold, partial,
):  # fmt: skip
    n, e = x.shape
    has_drive = drive.shape[0] > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    for b in numba.prange(n_blocks):
        acc = np.zeros(partial.shape[1])
        for i in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            for k in range(e):
                sig = var_s[i, k] if online_warm else sigma[i]
                pi_soc = gamma_soc[i] * sum_w[i, k]
                m = sum_wy[i, k] / sum_w[i, k] if sum_w[i, k] > 0 else mu[i, k]
                pi_int = gamma_int[i] / max(sig, floor)
                vv = v[i, k] + q[i]
                prec = 1.0 / vv + pi_int + pi_soc
                mu[i, k] = (
                    mu[i, k] + (pi_int * (s[i, k] - mu[i, k]) + pi_soc * (m - mu[i, k])) / prec
                )
                v[i, k] = 1.0 / prec
                share[i, k] = pi_soc / prec
            if modes:
                pp = p[i]
                prior = pp * (1.0 - hazard_aff[i]) + (1.0 - pp) * hazard_def[i]
                ev = s[i, 0]
                var_d = v_def + sigma[i]
                var_a = v_aff + sigma[i]
                lr = (
                    -0.5 * (ev - b_def) ** 2 / var_d
                    + 0.5 * (ev - b_aff) ** 2 / var_a
                    - 0.5 * math.log(var_d / var_a)
                )
                lr = min(700.0, max(-700.0, lr))
                odds = prior / max(1.0 - prior, 1e-300) * math.exp(lr)
                p[i] = 1.0 if math.isinf(odds) else odds / (1.0 + odds)
            base = b_def if p[i] > 0.5 else b_aff
            noise_sd = math.sqrt(dt * q_x[i])
            for k in range(e):
                dx = kappa[i] * (mu[i, k] - x[i, k]) - homeostasis[i] * (x[i, k] - base)
                if has_drive:
                    dx += drive[i, k]
                xn = x[i, k] + dt * dx + noise_sd * xi[i, k]
                x[i, k] = xn
                acc[5 * k] += mu[i, k]
                acc[5 * k + 1] += mu[i, k] * mu[i, k]
                acc[5 * k + 2] += xn
                acc[5 * k + 3] += 1.0 if xn > threshold else 0.0
                acc[5 * k + 4] += share[i, k]
            acc[5 * e] += p[i]
            acc[5 * e + 1] += 1.0 if p[i] > 0.5 else 0.0
        partial[b, :] = acc


_AGENT_PRE = serial_and_parallel(_agent_pre)
_EDGE_PASS = serial_and_parallel(_edge_pass)
_AGENT_POST = serial_and_parallel(_agent_post)


def kernels(work: int):
    """(agent_pre, edge_pass, agent_post), serial or parallel depending on the work per step."""
    k = int(work >= PARALLEL_THRESHOLD)
    return _AGENT_PRE[k], _EDGE_PASS[k], _AGENT_POST[k]
