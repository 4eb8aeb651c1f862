"""Compiled filters behind the mechanism models.

Three likelihoods, all by the prediction-error decomposition (Durbin and Koopman, 2012) and all
conditioning on the first sample under the same diffuse start as
:func:`syntony.physio.statespace.loglik_dense` (posterior ``N(y(0), r I)``):

- :func:`tv_loglik` — a transition that changes with time, ``F(t) = a I - k (L0 - g D(t))``
  (the synchrony-gated model; ``D(t)`` is computed from the data before ``t``, so the model is
  conditionally Gaussian and the likelihood stays exact);
- :func:`ti_loglik` — a fixed dense transition; once the Riccati recursion has converged the
  gain is frozen, so each further step costs O(N^2) instead of O(N^3) (the directed model);
- :func:`kim_loglik` — M modes, each with its own transition and drift, switching as a Markov
  chain: Kim's (1994) filter, which collapses the M x M mode-pair mixture back to M Gaussians
  after every step; :func:`kim_scalar` is the same filter for one scalar component, used when
  the modes move only the group mean (the exact fast path of the switching model).

Missing samples (NaN) are left out of that step's update, as in :mod:`syntony.physio.statespace`.
Only steps ``t >= start`` add to the log-likelihood; earlier ones are filtered but conditioned on.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["kim_loglik", "kim_scalar", "kim_smooth", "scalar_kalman", "ti_loglik", "tv_loglik"]

_LOG2PI = 1.8378770664093453
_DIFFUSE = 1e6


@numba.njit(cache=True)
def _start(y0, r):  # pragma: no cover - compiled
    n = y0.size
    m = y0.copy()
    p = np.eye(n) * r
    for k in range(n):
        if not np.isfinite(m[k]):
            m[k] = 0.0
            p[k, k] = _DIFFUSE
    return m, p


@numba.njit(cache=True)
def _update(m, p, yt, r):  # pragma: no cover - compiled
    """Kalman update of the predicted (m, p) by the observed entries of ``yt``.

    Returns (loglik of those entries, filtered mean, filtered covariance)."""
    n = m.size
    idx = np.flatnonzero(np.isfinite(yt))
    k_obs = idx.size
    if k_obs == 0:
        return 0.0, m, p
    s = np.empty((k_obs, k_obs))
    for a in range(k_obs):
        for b in range(k_obs):
            s[a, b] = p[idx[a], idx[b]]
        s[a, a] += r
    chol = np.linalg.cholesky(s)
    w = np.empty(k_obs)
    g = np.empty((k_obs, n))
    for a in range(k_obs):
        acc = yt[idx[a]] - m[idx[a]]
        for b in range(a):
            acc -= chol[a, b] * w[b]
        w[a] = acc / chol[a, a]
        for col in range(n):
            acc2 = p[idx[a], col]
            for b in range(a):
                acc2 -= chol[a, b] * g[b, col]
            g[a, col] = acc2 / chol[a, a]
    logdet = 0.0
    for a in range(k_obs):
        logdet += 2.0 * math.log(chol[a, a])
    ll = -0.5 * (k_obs * _LOG2PI + logdet + np.dot(w, w))
    m_new = m + g.T @ w
    p_new = p - g.T @ g
    p_new = 0.5 * (p_new + p_new.T)
    return ll, m_new, p_new


@numba.njit(cache=True)
def _complete(yt):  # pragma: no cover - compiled
    for v in yt:
        if not np.isfinite(v):
            return False
    return True


@numba.njit(cache=True)
def _predict_cov(f, p, q, tmp, out):  # pragma: no cover - compiled
    """out = f p f' + q I (tmp is a work buffer; out may not alias p)."""
    n = f.shape[0]
    for i in range(n):
        for j in range(n):
            acc = 0.0
            for k in range(n):
                acc += f[i, k] * p[k, j]
            tmp[i, j] = acc
    for i in range(n):
        for j in range(i + 1):
            acc = 0.0
            for k in range(n):
                acc += tmp[i, k] * f[j, k]
            out[i, j] = acc
            out[j, i] = acc
        out[i, i] += q


@numba.njit(cache=True)
def _update_full(m, p, yt, r, s, g, w):  # pragma: no cover - compiled
    """In-place Kalman update when every entry of ``yt`` is observed; returns the loglik.

    ``s`` receives the Cholesky factor of the innovation covariance; ``g`` and ``w`` are work
    buffers (afterwards ``g = chol^-1 P_pred`` and ``w = chol^-1 v``)."""
    n = m.size
    for i in range(n):
        for j in range(n):
            s[i, j] = p[i, j]
        s[i, i] += r
    # Cholesky, lower triangle in place
    for j in range(n):
        acc = s[j, j]
        for k in range(j):
            acc -= s[j, k] * s[j, k]
        if acc <= 0.0:
            return -np.inf
        d = math.sqrt(acc)
        s[j, j] = d
        for i in range(j + 1, n):
            acc2 = s[i, j]
            for k in range(j):
                acc2 -= s[i, k] * s[j, k]
            s[i, j] = acc2 / d
    logdet = 0.0
    quad = 0.0
    for a in range(n):
        acc = yt[a] - m[a]
        for b in range(a):
            acc -= s[a, b] * w[b]
        w[a] = acc / s[a, a]
        quad += w[a] * w[a]
        logdet += 2.0 * math.log(s[a, a])
        for col in range(n):
            acc2 = p[a, col]
            for b in range(a):
                acc2 -= s[a, b] * g[b, col]
            g[a, col] = acc2 / s[a, a]
    for i in range(n):
        acc = 0.0
        for a in range(n):
            acc += g[a, i] * w[a]
        m[i] += acc
    for i in range(n):
        for j in range(i + 1):
            acc = 0.0
            for a in range(n):
                acc += g[a, i] * g[a, j]
            p[i, j] -= acc
            p[j, i] = p[i, j]
    return -0.5 * (n * _LOG2PI + logdet + quad)


@numba.njit(cache=True)
def tv_loglik(y, lap0, dev, g, a, k, drive, q, r, start, preds):  # pragma: no cover - compiled
    """Log-likelihood with ``x(t+1) = F(t) x(t) + drive(t) 1 + w``, ``F(t) = a I - k L(t)``.

    ``L(t) = lap0 - g dev[t]``; ``dev`` is (T, N, N). ``preds`` (T, N) receives the one-step
    predictions (row 0 untouched)."""
    n_t, n = y.shape
    m, p = _start(y[0], r)
    total = 0.0
    f = np.empty((n, n))
    tmp = np.empty((n, n))
    pp = np.empty((n, n))
    s = np.empty((n, n))
    gb = np.empty((n, n))
    w = np.empty(n)
    mp = np.empty(n)
    for t in range(1, n_t):
        for i in range(n):
            for j in range(n):
                f[i, j] = -k * (lap0[i, j] - g * dev[t - 1, i, j])
            f[i, i] += a
        for i in range(n):
            acc = drive[t - 1]
            for j in range(n):
                acc += f[i, j] * m[j]
            mp[i] = acc
            preds[t, i] = acc
        _predict_cov(f, p, q, tmp, pp)
        if _complete(y[t]):
            ll = _update_full(mp, pp, y[t], r, s, gb, w)
            m[:] = mp
            p[:, :] = pp
        else:
            ll, m2, p2 = _update(mp, pp, y[t], r)
            m[:] = m2
            p[:, :] = p2
        if t >= start:
            total += ll
    return total


@numba.njit(cache=True)
def ti_loglik(y, f, drive, q, r, start, preds, tol):  # pragma: no cover - compiled
    """Log-likelihood with a fixed transition ``F`` and drive ``drive(t) 1``.

    While the predicted covariance changes by more than ``tol`` (relative), each step runs the
    full filter; after that the gain, innovation covariance and its log-determinant are reused,
    so a step is a matrix-vector product. A step with a missing sample restarts the full
    recursion from the frozen filtered covariance."""
    n_t, n = y.shape
    m, p = _start(y[0], r)
    total = 0.0
    frozen = False
    p_prev = np.full((n, n), np.inf)
    gain = np.zeros((n, n))
    chol = np.eye(n)
    logdet = 0.0
    p_post = p.copy()
    tmp = np.empty((n, n))
    pp = np.empty((n, n))
    gb = np.empty((n, n))
    w = np.empty(n)
    v = np.empty(n)
    mp = np.empty(n)
    for t in range(1, n_t):
        for i in range(n):
            acc = drive[t - 1]
            for j in range(n):
                acc += f[i, j] * m[j]
            mp[i] = acc
            preds[t, i] = acc
        complete = _complete(y[t])
        if frozen and complete:
            quad = 0.0
            for a in range(n):
                v[a] = y[t, a] - mp[a]
                acc = v[a]
                for b in range(a):
                    acc -= chol[a, b] * w[b]
                w[a] = acc / chol[a, a]
                quad += w[a] * w[a]
            for i in range(n):
                acc = mp[i]
                for j in range(n):
                    acc += gain[i, j] * v[j]
                m[i] = acc
            if t >= start:
                total += -0.5 * (n * _LOG2PI + logdet + quad)
            continue
        if frozen:
            p[:, :] = p_post
            frozen = False
            p_prev[:, :] = np.inf
        _predict_cov(f, p, q, tmp, pp)
        if complete:
            change = 0.0
            scale = 0.0
            for i in range(n):
                for j in range(n):
                    change = max(change, abs(pp[i, j] - p_prev[i, j]))
                    scale = max(scale, abs(pp[i, j]))
            p_prev[:, :] = pp
            ll = _update_full(mp, pp, y[t], r, chol, gb, w)
            m[:] = mp
            p[:, :] = pp
            if change <= tol * scale and np.isfinite(ll):
                # K = P_pred S^-1 = (chol^-1 P_pred)' (chol^-1)... : gb = chol^-1 P_pred, so
                # K' = chol^-T gb; solve the upper-triangular system column by column.
                for col in range(n):
                    for a in range(n - 1, -1, -1):
                        acc = gb[a, col]
                        for b in range(a + 1, n):
                            acc -= chol[b, a] * tmp[b, col]
                        tmp[a, col] = acc / chol[a, a]
                for i in range(n):
                    for j in range(n):
                        gain[i, j] = tmp[j, i]
                logdet = 0.0
                for a in range(n):
                    logdet += 2.0 * math.log(chol[a, a])
                p_post[:, :] = p
                frozen = True
        else:
            ll, m2, p2 = _update(mp, pp, y[t], r)
            m[:] = m2
            p[:, :] = p2
        if t >= start:
            total += ll
    return total


@numba.njit(cache=True)
def _logsumexp(v):  # pragma: no cover - compiled
    top = -np.inf
    for x in v.ravel():
        if x > top:
            top = x
    if not np.isfinite(top):
        return top
    acc = 0.0
    for x in v.ravel():
        acc += math.exp(x - top)
    return top + math.log(acc)


@numba.njit(cache=True)
def _kim_dense(y, fs, drift, q, r, trans, prob0, start, preds, filt, pred_prob):  # pragma: no cover
    """:func:`kim_loglik` with ``trans`` (T, M, M) and the starting mode probabilities."""
    n_t, n = y.shape
    n_m = fs.shape[0]
    m0, p0 = _start(y[0], r)
    ms = np.empty((n_m, n))
    ps = np.empty((n_m, n, n))
    prob = prob0.copy()
    for j in range(n_m):
        ms[j] = m0
        ps[j] = p0
    filt[0] = prob
    pred_prob[0] = prob
    total = 0.0
    mij = np.empty((n_m, n_m, n))
    pij = np.empty((n_m, n_m, n, n))
    logw = np.empty((n_m, n_m))
    mp = np.empty(n)
    pp = np.empty((n, n))
    tmp = np.empty((n, n))
    sb = np.empty((n, n))
    gb = np.empty((n, n))
    wb = np.empty(n)
    for t in range(1, n_t):
        pred = np.zeros(n)
        for j in range(n_m):
            pj = 0.0
            for i in range(n_m):
                pj += prob[i] * trans[t, i, j]
            pred_prob[t, j] = pj
        complete = _complete(y[t])
        for i in range(n_m):
            for j in range(n_m):
                f = fs[j]
                for a in range(n):
                    acc = drift[t - 1, j]
                    for b in range(n):
                        acc += f[a, b] * ms[i, b]
                    mp[a] = acc
                _predict_cov(f, ps[i], q, tmp, pp)
                w_prior = prob[i] * trans[t, i, j]
                for a in range(n):
                    pred[a] += w_prior * mp[a]
                if complete:
                    ll = _update_full(mp, pp, y[t], r, sb, gb, wb)
                    mij[i, j] = mp
                    pij[i, j] = pp
                else:
                    ll, mu, pu = _update(mp, pp, y[t], r)
                    mij[i, j] = mu
                    pij[i, j] = pu
                logw[i, j] = (math.log(w_prior) if w_prior > 0 else -np.inf) + ll
        preds[t] = pred
        lse = _logsumexp(logw)
        if t >= start:
            total += lse
        for j in range(n_m):
            col = np.empty(n_m)
            for i in range(n_m):
                col[i] = logw[i, j] - lse
            pj = 0.0
            for i in range(n_m):
                pj += math.exp(col[i])
            prob[j] = pj
            if pj <= 1e-300:
                # the mode is impossible here: keep its previous Gaussian, predicted
                ms[j] = mij[0, j]
                ps[j] = pij[0, j]
                continue
            mean = np.zeros(n)
            for i in range(n_m):
                mean += math.exp(col[i]) / pj * mij[i, j]
            cov = np.zeros((n, n))
            for i in range(n_m):
                wgt = math.exp(col[i]) / pj
                dlt = mij[i, j] - mean
                cov += wgt * (pij[i, j] + np.outer(dlt, dlt))
            ms[j] = mean
            ps[j] = 0.5 * (cov + cov.T)
        tot = prob.sum()
        prob = prob / tot
        filt[t] = prob
    return total


@numba.njit(cache=True)
def _stationary(trans):  # pragma: no cover - compiled
    n_m = trans.shape[0]
    if n_m == 1:
        return np.ones(1)
    if n_m == 2:
        a, b = trans[0, 1], trans[1, 0]
        if a + b <= 0:
            return np.full(2, 0.5)
        return np.array([b / (a + b), a / (a + b)])
    prob = np.full(n_m, 1.0 / n_m)
    for _ in range(10_000):
        prob = prob @ trans
    return prob / prob.sum()


@numba.njit(cache=True)
def _kim_scalar(z, a, drift, q, r, trans, prob0, start, preds, filt, pred_prob):  # pragma: no cover
    """:func:`kim_scalar` with ``trans`` (T, M, M) and the starting mode probabilities."""
    n_t = z.size
    n_m = a.size
    prob = prob0.copy()
    ms = np.full(n_m, z[0])
    ps = np.full(n_m, r)
    filt[0] = prob
    pred_prob[0] = prob
    total = 0.0
    mij = np.empty((n_m, n_m))
    pij = np.empty((n_m, n_m))
    logw = np.empty((n_m, n_m))
    wts = np.empty((n_m, n_m))
    log_trans = np.empty((n_m, n_m))
    for t in range(1, n_t):
        for i in range(n_m):
            for j in range(n_m):
                log_trans[i, j] = math.log(trans[t, i, j]) if trans[t, i, j] > 0 else -np.inf
        pred = 0.0
        top = -np.inf
        for j in range(n_m):
            pj = 0.0
            for i in range(n_m):
                pj += prob[i] * trans[t, i, j]
            pred_prob[t, j] = pj
        for i in range(n_m):
            lp = math.log(prob[i]) if prob[i] > 0 else -np.inf
            for j in range(n_m):
                mp = a[j] * ms[i] + drift[t - 1, j]
                pp = a[j] * a[j] * ps[i] + q
                pred += prob[i] * trans[t, i, j] * mp
                s = pp + r
                v = z[t] - mp
                ll = -0.5 * (_LOG2PI + math.log(s) + v * v / s)
                gain = pp / s
                mij[i, j] = mp + gain * v
                pij[i, j] = pp - gain * pp
                lw = lp + log_trans[i, j] + ll
                logw[i, j] = lw
                if lw > top:
                    top = lw
        preds[t] = pred
        acc = 0.0
        for i in range(n_m):
            for j in range(n_m):
                e = math.exp(logw[i, j] - top) if np.isfinite(logw[i, j]) else 0.0
                wts[i, j] = e
                acc += e
        lse = top + math.log(acc)
        if t >= start:
            total += lse
        for j in range(n_m):
            pj = 0.0
            for i in range(n_m):
                pj += wts[i, j]
            prob[j] = pj / acc
            if pj <= 1e-300 * acc:
                ms[j] = mij[0, j]
                ps[j] = pij[0, j]
                continue
            mean = 0.0
            for i in range(n_m):
                mean += wts[i, j] / pj * mij[i, j]
            var = 0.0
            for i in range(n_m):
                d = mij[i, j] - mean
                var += wts[i, j] / pj * (pij[i, j] + d * d)
            ms[j] = mean
            ps[j] = var
        tot = 0.0
        for j in range(n_m):
            tot += prob[j]
        for j in range(n_m):
            prob[j] /= tot
            filt[t, j] = prob[j]
    return total


@numba.njit(cache=True)
def scalar_kalman(z, a, drift, q, r, start):  # pragma: no cover - compiled
    """Sum of the log-likelihoods of independent scalar components ``z[:, k]`` (no NaN),
    ``z_k(t) = a_k z_k(t-1) + drift[t-1, k] + noise``."""
    n_t, n = z.shape
    total = 0.0
    for k in range(n):
        m = z[0, k]
        p = r
        for t in range(1, n_t):
            mk = a[k] * m + drift[t - 1, k]
            pk = a[k] * a[k] * p + q
            s = pk + r
            v = z[t, k] - mk
            if t >= start:
                total += -0.5 * (_LOG2PI + math.log(s) + v * v / s)
            gain = pk / s
            m = mk + gain * v
            p = pk - gain * pk
    return total


def _transitions(trans: np.ndarray, n_t: int) -> tuple[np.ndarray, np.ndarray]:
    """``trans`` as (T, M, M) (a fixed (M, M) matrix repeated) and the starting probabilities:
    the stationary distribution of the fixed matrix, or of ``trans[0]`` when it changes with
    time (row 0 is the chain without a stimulus)."""
    trans = np.asarray(trans, float)
    if trans.ndim == 2:
        prob0 = _stationary(np.ascontiguousarray(trans))
        trans = np.broadcast_to(trans, (n_t, *trans.shape))
    else:
        prob0 = _stationary(np.ascontiguousarray(trans[0]))
    return np.ascontiguousarray(trans), prob0


def kim_loglik(y, fs, drift, q, r, trans, start, preds, filt, pred_prob) -> float:
    """Kim's filter for M modes with transitions ``fs`` (M, N, N) and drifts ``drift`` (T, M).

    Mode ``j`` governs the step from ``t - 1`` to ``t``: ``x(t) = F_j x(t-1) + drift[t-1, j] 1``.
    ``trans[i, j]`` = P(mode j at t | mode i at t - 1), fixed (M, M), or ``trans[t, i, j]``
    (T, M, M) when the switching probabilities change with time (then the stationary
    distribution of ``trans[0]`` starts the filter). ``filt`` (T, M) receives
    P(mode at t | y up to t) and ``pred_prob`` (T, M) P(mode at t | y up to t - 1);
    ``preds`` (T, N) the predicted observations (mixture mean)."""
    tr, prob0 = _transitions(trans, y.shape[0])
    return _kim_dense(y, fs, drift, q, r, tr, prob0, start, preds, filt, pred_prob)


def kim_scalar(z, a, drift, q, r, trans, start, preds, filt, pred_prob) -> float:
    """:func:`kim_loglik` for one scalar component ``z`` (T,) with per-mode coefficient ``a``
    (M,) and drift (T, M); no missing values."""
    tr, prob0 = _transitions(trans, z.shape[0])
    return _kim_scalar(z, a, drift, q, r, tr, prob0, start, preds, filt, pred_prob)


def kim_smooth(filt: np.ndarray, pred_prob: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Kim's (1994) smoother of the mode probabilities: P(mode at t | all data), (T, M).
    ``trans`` fixed (M, M) or per step (T, M, M), as in :func:`kim_loglik`."""
    n_t, n_m = filt.shape
    trans, _ = _transitions(trans, n_t)
    out = np.empty_like(filt)
    out[-1] = filt[-1]
    for t in range(n_t - 2, -1, -1):
        ratio = np.divide(
            out[t + 1],
            pred_prob[t + 1],
            out=np.zeros(n_m),
            where=pred_prob[t + 1] > 1e-300,
        )
        out[t] = filt[t] * (trans[t + 1] @ ratio)
        total = out[t].sum()
        out[t] = out[t] / total if total > 0 else filt[t]
    return out
