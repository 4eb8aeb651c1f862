"""What every maximum-likelihood fit of a group's series shares, linear and mechanism alike.

:class:`syntony.physio.ContagionModel` and the estimators of :mod:`syntony.physio.mechanisms`
read a (time, person) series the same way (:func:`prepare`: checked, each person's own mean
removed when asked, one scale for the whole group, the stimulus standardised), start from the
same moment estimates (:func:`moment_start`), optimise with L-BFGS-B from several starts
(:func:`minimise`) and take standard errors from the inverse of a numerical Hessian
(:func:`hessian`, :func:`safe_inverse`), with BLAS kept to one thread while they do
(:func:`one_blas_thread`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy import optimize

from syntony._validate import check_positive
from syntony.errors import InputError, ParameterError
from syntony.physio.statespace import complete_adjacency, laplacian

__all__ = [
    "Data",
    "hessian",
    "minimise",
    "moment_start",
    "one_blas_thread",
    "prepare",
    "safe_inverse",
    "unwrap",
]


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Single-threaded BLAS while fitting: the matrices are tiny and the optimiser calls BLAS
    thousands of times, where thread start-up and spinning dominate (3x slower on a busy
    2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn/neurokit2
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """Central-difference Hessian of ``fun`` at ``x``."""
    n = x.size
    h = step * np.maximum(1.0, np.abs(x))
    f0 = fun(x)
    hess = np.empty((n, n))
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = h[i]
        hess[i, i] = (fun(x + ei) - 2 * f0 + fun(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = h[j]
            val = (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)) / (
                4 * h[i] * h[j]
            )
            hess[i, j] = hess[j, i] = val
    return hess


def safe_inverse(hess: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """The inverse Hessian, and what is wrong with it (None when nothing is).

    A singular or non-finite Hessian gives no standard errors (NaN, said in words); one that is
    not positive definite gives unreliable ones (said too, and warned).
    """
    if not np.isfinite(hess).all():
        return None, "the likelihood's curvature could not be computed; no standard errors"
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return None, (
            "the likelihood is flat in some direction (singular Hessian): the parameters are not "
            "all identifiable from these data, so standard errors and intervals are missing"
        )
    if not np.all(np.diag(cov) > 0):
        message = "the Hessian is not positive definite; standard errors are unreliable"
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        return cov, message
    return cov, None


def minimise(
    fun: Callable[[np.ndarray], float],
    starts: Sequence[np.ndarray],
    bounds: Sequence[tuple[float, float]],
    *,
    maxiter: int = 500,
) -> optimize.OptimizeResult:
    """L-BFGS-B from each start (moved inside the bounds first); the best result."""
    best = None
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, float), [b[0] for b in bounds], [b[1] for b in bounds])
        res = optimize.minimize(
            fun, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter}
        )
        if best is None or res.fun < best.fun:
            best = res
    return best


@dataclass
class Data:
    """A group's series prepared for fitting (standardised), with what undoes it."""

    y: np.ndarray  # (T, N) standardised
    raw: np.ndarray  # (T, N) as given
    dt: float
    offset: np.ndarray  # (N,)
    scale: float
    u: np.ndarray | None  # (T,) standardised stimulus
    u_scale: float
    adjacency: np.ndarray
    lap: np.ndarray
    time: np.ndarray
    persons: list[str]
    units: str = ""
    variable: str = "y"
    complete: bool = True  # no missing sample
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_time(self) -> int:
        return self.y.shape[0]

    @property
    def n_persons(self) -> int:
        return self.y.shape[1]

    def unstandardise(self, pred: np.ndarray) -> np.ndarray:
        return pred * self.scale + self.offset


def unwrap(y: Any, u: Any = None) -> tuple[Any, Any, np.ndarray | None, list[str] | None, str, str]:
    """``(y, u, time, persons, units, variable)``: a (time, person) DataArray taken apart into
    its values and what names them; other input passes through (with None, None, "", "y")."""
    time = persons = None
    units, variable = "", "y"
    if isinstance(y, xr.DataArray):
        if set(y.dims) != {"time", "person"}:
            raise InputError(f"expected dims (time, person), got {y.dims}")
        y = y.transpose("time", "person")
        time = y["time"].to_numpy() if "time" in y.coords else None
        persons = [str(p) for p in y["person"].to_numpy()] if "person" in y.coords else None
        units, variable = str(y.attrs.get("units", "")), str(y.name or "y")
        y = y.to_numpy()
    if isinstance(u, xr.DataArray):
        u = u.to_numpy()
    return y, u, time, persons, units, variable


def prepare(
    y: Any,
    u: Any = None,
    *,
    dt: float,
    center: bool = True,
    adjacency: np.ndarray | None = None,
    normalize: bool = True,
    min_persons: int = 2,
    persons: Sequence[str] | None = None,
) -> Data:
    """Check and standardise a (time, person) series and an optional shared stimulus.

    ``y`` is an array or a (time, person) DataArray; ``persons`` names the columns of an array
    (a DataArray's own coordinate wins). Messages name a person as ``person 'NAME'``, or as
    ``column K`` (from 1) when nothing names them.
    """
    y, u, time, named, units, variable = unwrap(y, u)
    if named is None and persons is not None:
        named = list(persons)
    raw = np.asarray(y, float)
    if raw.ndim != 2 or raw.shape[0] < 10 or raw.shape[1] < min_persons:
        raise InputError(
            f"expected a (time >= 10, person >= {min_persons}) array, got shape {raw.shape}"
        )
    n_t, n = raw.shape
    if named is None:
        names = [f"column {k + 1}" for k in range(n)]
        named = [str(k) for k in range(n)]
    else:
        names = [f"person {p!r}" for p in named]
    if np.isinf(raw).any():
        bad = [names[k] for k in np.flatnonzero(np.isinf(raw).any(axis=0))]
        raise InputError(f"{', '.join(bad)}: infinite values")
    finite_cols = np.isfinite(raw).any(axis=0)
    if not finite_cols.all():
        raise InputError(f"{', '.join(names[k] for k in np.flatnonzero(~finite_cols))}: no data")
    with np.errstate(invalid="ignore"):
        spread = np.nanstd(raw, axis=0)
    flat = ~(spread > 1e-12 * max(float(np.nanmax(np.abs(raw))), 1e-300))
    if flat.any():
        raise InputError(
            f"{', '.join(names[k] for k in np.flatnonzero(flat))}: constant series (zero "
            "variance), which the model cannot fit; leave it out"
        )
    dt = check_positive("dt", dt)
    adj = complete_adjacency(n) if adjacency is None else np.asarray(adjacency, float)
    if adj.shape != (n, n):
        raise ParameterError("adjacency", f"a ({n}, {n}) matrix", adj.shape)
    lap = laplacian(adj, normalize=normalize)
    offset = np.nanmean(raw, axis=0) if center else np.zeros(n)
    centred = raw - offset
    scale = float(np.nanstd(centred)) or 1.0
    if u is None:
        us, u_scale = None, 1.0
    else:
        u = np.asarray(u, float)
        if u.shape != (n_t,) or not np.isfinite(u).all():
            raise InputError(f"stimulus: expected {n_t} finite values, got shape {u.shape}")
        u_scale = float(np.std(u))
        if not u_scale > 1e-12 * max(float(np.abs(u).max()), 1e-300):
            raise InputError(
                "stimulus: constant over the time analysed, so its effect (beta) cannot be told "
                "apart from the baseline; leave the stimulus out"
            )
        us = (u - u.mean()) / u_scale
    time = np.arange(n_t) * dt if time is None else np.asarray(time, float)
    return Data(
        y=centred / scale,
        raw=raw,
        dt=dt,
        offset=offset,
        scale=scale,
        u=us,
        u_scale=u_scale,
        adjacency=adj,
        lap=lap,
        time=time,
        persons=list(named),
        units=units,
        variable=variable,
        complete=bool(np.isfinite(raw).all()),
    )


def moment_start(data: Data) -> dict[str, float]:
    """Starting values from AR(1) fits of the group mean and of the deviations from it: c,
    lambda, b, q, r (and beta with a stimulus), on their natural scales."""
    y = np.nan_to_num(data.y)
    dt = data.dt
    mean = y.mean(axis=1)
    cols = [mean[:-1], np.ones(len(mean) - 1)]
    if data.u is not None:
        cols.append(data.u[:-1])
    coef = np.linalg.lstsq(np.column_stack(cols), mean[1:], rcond=None)[0]
    lam = float(np.clip((1.0 - coef[0]) / dt, 1e-3 / dt, 1.0 / dt))
    dev = y - mean[:, None]
    a_d = float(np.sum(dev[1:] * dev[:-1]) / max(np.sum(dev[:-1] ** 2), 1e-12))
    ev = np.linalg.eigvals(data.lap).real
    ev_mean = float(ev[ev > 1e-9].mean()) if (ev > 1e-9).any() else 1.0
    c = float(np.clip(((1.0 - a_d) / dt - lam) / ev_mean, 0.0, 0.9 / dt))
    resid = float(np.var(np.diff(y, axis=0)) / 2)
    b = float(coef[1] / (lam * dt)) if lam > 0 else 0.0
    out = {
        "c": c,
        "lambda": lam,
        "b": float(np.clip(b, -5, 5)),
        "q": max(resid, 1e-3),
        "r": max(resid, 1e-3),
    }
    if data.u is not None:
        out["beta"] = float(np.clip(coef[2] / dt, -10, 10))
    return out
