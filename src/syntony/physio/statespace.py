"""The linear-Gaussian state-space form of the contagion loop and its Kalman-filter likelihood.

The model (docs/theory/model.rst, the state-space form used for fitting): at fixed synchrony and
trust and without mode switches,

    x(t+1) = x(t) + dt * (-lambda (x(t) - b) - c L x(t) + beta u(t)) + w(t),  w ~ N(0, q I)
    s(t)   = x(t) + v(t),                                                     v ~ N(0, r I)

with ``L`` the (random-walk normalised) Laplacian of the perception network. So
``x(t+1) = F x(t) + d(t) + w`` with ``F = I - dt (lambda I + c L)`` and
``d(t) = dt (lambda b + beta u(t)) 1``.

Two exact likelihoods are provided: a dense filter for any network (Cholesky of the innovation
covariance, missing samples handled by dropping them from that step's update) and, when ``L``
is symmetric and nothing is missing, the same likelihood in the eigenbasis of ``L``, where the
N-dimensional filter splits into N independent scalar filters. Both condition on the first
sample under a diffuse prior, whose posterior is then exactly ``N(s(0), r I)``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from syntony._rng import SeedLike, check_random_state
from syntony.errors import ParameterError

__all__ = [
    "complete_adjacency",
    "laplacian",
    "loglik_dense",
    "loglik_spectral",
    "simulate_statespace",
    "transition",
]

_LOG2PI = math.log(2.0 * math.pi)


def complete_adjacency(n: int) -> np.ndarray:
    """Adjacency of the complete graph on ``n`` persons (no self-loops)."""
    return np.ones((n, n)) - np.eye(n)


def laplacian(adjacency: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """Laplacian ``D - A``, or its random-walk normalised form ``I - D^-1 A`` (default).

    The normalised form makes ``c`` the rate at which a person is pulled toward the weighted
    mean of those they perceive (the shared prior ``m_i`` of the model), so its value does not
    grow with group size. A person who perceives nobody gets a zero row.
    """
    a = np.asarray(adjacency, float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ParameterError("adjacency", "a square matrix", a.shape)
    if (a < 0).any() or not np.isfinite(a).all():
        raise ParameterError("adjacency", "finite non-negative weights", "negative or non-finite")
    a = a - np.diag(np.diag(a))
    deg = a.sum(axis=1)
    if not normalize:
        return np.diag(deg) - a
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    return np.diag((deg > 0).astype(float)) - inv[:, None] * a


def transition(lam: float, c: float, lap: np.ndarray, dt: float) -> np.ndarray:
    """``F = I - dt (lambda I + c L)``."""
    n = lap.shape[0]
    return np.eye(n) - dt * (lam * np.eye(n) + c * lap)


@numba.njit(cache=True)
def _dense_filter(y, f, d, q, r, predictions):  # pragma: no cover - compiled
    n_t, n = y.shape
    m = y[0].copy()
    p = np.eye(n) * r
    total = 0.0
    for k in range(n):
        if not np.isfinite(m[k]):
            # Diffuse prior for an unobserved first sample: start from the mean of the others.
            m[k] = 0.0
            p[k, k] = 1e6
    for t in range(1, n_t):
        m = f @ m + d[t - 1]
        p = f @ p @ f.T
        for k in range(n):
            p[k, k] += q
        predictions[t] = m
        obs = np.isfinite(y[t])
        idx = np.flatnonzero(obs)
        k_obs = idx.size
        if k_obs == 0:
            continue
        s = np.empty((k_obs, k_obs))
        for a in range(k_obs):
            for b in range(k_obs):
                s[a, b] = p[idx[a], idx[b]]
            s[a, a] += r
        chol = np.linalg.cholesky(s)
        v = np.empty(k_obs)
        for a in range(k_obs):
            v[a] = y[t, idx[a]] - m[idx[a]]
        # Forward substitution: w = chol^-1 v, g = chol^-1 P[obs, :].
        w = np.empty(k_obs)
        g = np.empty((k_obs, n))
        for a in range(k_obs):
            acc = v[a]
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
        total += -0.5 * (k_obs * 1.8378770664093453 + logdet + np.dot(w, w))
        # m += P H' S^-1 v = g' w ; P -= g' g  (kept symmetric)
        m = m + g.T @ w
        p = p - g.T @ g
        p = 0.5 * (p + p.T)
    return total


def loglik_dense(
    y: np.ndarray, f: np.ndarray, d: np.ndarray, q: float, r: float
) -> tuple[float, np.ndarray]:
    """Kalman-filter log-likelihood of ``y`` (T, N) given ``y[0]``, for any transition ``F``.

    Parameters
    ----------
    y : ndarray (T, N)
        Observations; NaN entries are skipped (that component is not updated at that step).
    f : ndarray (N, N)
        Transition matrix.
    d : ndarray (T, N)
        Input added at each step: ``x(t+1) = F x(t) + d(t) + w``.
    q, r : float
        Process and observation noise variances (isotropic).

    Returns
    -------
    loglik : float
    predictions : ndarray (T, N)
        One-step-ahead predicted states (row 0 is NaN).
    """
    y = np.ascontiguousarray(y, dtype=float)
    preds = np.full(y.shape, np.nan)
    total = _dense_filter(
        y, np.ascontiguousarray(f, float), np.ascontiguousarray(d, float), float(q), float(r), preds
    )
    return float(total), preds


@numba.njit(cache=True)
def _scalar_filters(z, a, e, q, r):  # pragma: no cover - compiled
    n_t, n = z.shape
    m = z[0].copy()
    p = np.full(n, r)
    total = 0.0
    for t in range(1, n_t):
        for k in range(n):
            mk = a[k] * m[k] + e[t - 1, k]
            pk = a[k] * a[k] * p[k] + q
            s = pk + r
            v = z[t, k] - mk
            total += -0.5 * (1.8378770664093453 + math.log(s) + v * v / s)
            gain = pk / s
            m[k] = mk + gain * v
            p[k] = pk - gain * pk
    return total


def loglik_spectral(
    y: np.ndarray,
    eigvals: np.ndarray,
    eigvecs: np.ndarray,
    lam: float,
    c: float,
    drive: np.ndarray,
    q: float,
    r: float,
    dt: float,
) -> float:
    """The same log-likelihood as :func:`loglik_dense` for a symmetric Laplacian, in O(T N).

    With ``L = V diag(ev) V'`` (V orthonormal) and isotropic noise, ``z = V' x`` has independent
    components ``z_k(t+1) = (1 - dt (lambda + c ev_k)) z_k(t) + (V' d(t))_k + noise``.
    ``drive`` is the scalar input per step, ``d(t) = drive(t) * 1``.
    """
    z = np.ascontiguousarray(y @ eigvecs)
    a = 1.0 - dt * (lam + c * eigvals)
    e = np.ascontiguousarray(np.outer(drive, eigvecs.sum(axis=0)))
    return float(_scalar_filters(z, a, e, float(q), float(r)))


def simulate_statespace(
    n_steps: int,
    lap: np.ndarray,
    *,
    c: float,
    lam: float,
    b: float = 0.0,
    beta: float = 0.0,
    q: float = 1.0,
    r: float = 1.0,
    dt: float = 1.0,
    u: np.ndarray | None = None,
    x0: np.ndarray | None = None,
    seed: SeedLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate the reduced contagion model (for recovery tests and power analysis).

    Returns
    -------
    x : ndarray (n_steps, N)
        Hidden physiological states.
    s : ndarray (n_steps, N)
        Observations ``x + noise(r)``.
    """
    rng = check_random_state(seed)
    n = lap.shape[0]
    u = np.zeros(n_steps) if u is None else np.asarray(u, float)
    if u.shape != (n_steps,):
        raise ParameterError("u", f"an array of shape ({n_steps},)", u.shape)
    f = transition(lam, c, lap, dt)
    x = np.empty((n_steps, n))
    x[0] = b if x0 is None else x0
    noise = rng.standard_normal((n_steps, n)) * math.sqrt(q)
    for t in range(n_steps - 1):
        x[t + 1] = f @ x[t] + dt * (lam * b + beta * u[t]) + noise[t]
    s = x + rng.standard_normal((n_steps, n)) * math.sqrt(r)
    return x, s
