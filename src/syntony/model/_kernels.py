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

from syntony.model._noise import normal_pair

N_STREAMS_BASE = 3  # eps, nu, xi; technology channels use streams 3, 4, ...

#: Below this much work per step (agent entries + edge entries) the serial kernels are used:
#: starting a parallel region costs more than it saves for small crowds, and on a busy
#: machine much more. Serial and parallel kernels give identical numbers.
PARALLEL_THRESHOLD = 50_000


def _agent_pre(
    x, sigma, obs, cue_noise, base_eps, base_nu, base_xi, mean_s, var_s, alpha, s, y, d, xi
):
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
            y[i, k] = x[i, k] + math.sqrt(cue_noise[k] / obs[k]) * nu
            dd = si - mean_s[i, k]
            d[i, k] = dd
            mean_s[i, k] = mean_s[i, k] + alpha * dd
            var_s[i, k] = (1.0 - alpha) * (var_s[i, k] + alpha * dd * dd)


def _edge_pass(
    indptr, indices, weights, cov, trust, d, var_s, sigma, y, s, defensive, obs,
    alpha, online_warm, rho0, floor, beta_threat, b_aff, learn_trust, eta, inv_2stau2,
    sum_w, sum_wy, rho_sum, omega_sum, rho_out, omega_out,
):  # fmt: skip
    n = indptr.size - 1
    e = d.shape[1]
    record = rho_out.shape[0] > 0
    for i in numba.prange(n):
        for k in range(e):
            sum_w[i, k] = 0.0
            sum_wy[i, k] = 0.0
            rho_sum[i, k] = 0.0
            omega_sum[i, k] = 0.0
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            tr = np.float64(trust[q])
            for k in range(e):
                c = np.float32((1.0 - alpha) * (np.float64(cov[q, k]) + alpha * d[i, k] * d[j, k]))
                cov[q, k] = c
                if online_warm:
                    denom = var_s[i, k] * var_s[j, k]
                    rho = np.float64(c) / math.sqrt(denom) if denom > 0 else rho0
                    rho = min(1.0, max(-1.0, rho))
                    si = var_s[i, k]
                    sj = var_s[j, k]
                else:
                    rho = rho0
                    si = sigma[i]
                    sj = sigma[j]
                dv = si + sj - 2.0 * rho * math.sqrt(si * sj)
                if dv < floor:
                    dv = floor
                om = 1.0 / dv
                w = weights[q] * tr * obs[k] * om
                yj = y[j, k]
                if defensive[i] and yj > b_aff:
                    w *= 1.0 + beta_threat
                sum_w[i, k] += w
                sum_wy[i, k] += w * yj
                rho_sum[i, k] += rho
                omega_sum[i, k] += om
                if record:
                    rho_out[q, k] = rho
                    omega_out[q, k] = om
            if learn_trust:
                err = y[j, 0] - s[i, 0]
                trust[q] = np.float32(tr + eta * (math.exp(-err * err * inv_2stau2) - tr))


def _agent_post(
    x, s, mu, v, p, var_s, sigma, kappa, homeostasis, q_x, gamma_int, gamma_soc, q,
    hazard_def, hazard_aff, sum_w, sum_wy, xi, drive, share,
    online_warm, floor, modes, b_aff, b_def, v_aff, v_def, dt,
):  # fmt: skip
    n, e = x.shape
    has_drive = drive.shape[0] > 0
    for i in numba.prange(n):
        for k in range(e):
            sig = var_s[i, k] if online_warm else sigma[i]
            pi_soc = gamma_soc[i] * sum_w[i, k]
            m = sum_wy[i, k] / sum_w[i, k] if sum_w[i, k] > 0 else mu[i, k]
            pi_int = gamma_int[i] / max(sig, floor)
            vv = v[i, k] + q[i]
            prec = 1.0 / vv + pi_int + pi_soc
            mu[i, k] = mu[i, k] + (pi_int * (s[i, k] - mu[i, k]) + pi_soc * (m - mu[i, k])) / prec
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
            x[i, k] = x[i, k] + dt * dx + noise_sd * xi[i, k]


def _pair(func):
    return numba.njit(cache=True)(func), numba.njit(parallel=True, cache=True)(func)


_AGENT_PRE = _pair(_agent_pre)
_EDGE_PASS = _pair(_edge_pass)
_AGENT_POST = _pair(_agent_post)


def kernels(work: int):
    """(agent_pre, edge_pass, agent_post), serial or parallel depending on the work per step."""
    k = int(work >= PARALLEL_THRESHOLD)
    return _AGENT_PRE[k], _EDGE_PASS[k], _AGENT_POST[k]
