"""What the mechanism estimators share: data preparation, parameters, optimisation, intervals.

Every estimator standardises the group's series the way :class:`syntony.physio.ContagionModel`
does (each person's own mean removed when ``center``, one scale for the whole group), fits on
that scale, and maps estimates, standard errors and 95% Wald intervals back to the data's units.
A parameter is described once by a :class:`Param` (its transform and its unit), so tables,
intervals and the delta method come from one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy import optimize, stats

from syntony._validate import check_positive
from syntony.errors import InputError, ParameterError

# The linear model's numerical Hessian, its guarded inverse and the single-threaded BLAS
# context serve every mechanism model too: one definition, in physio/fit.py.
from syntony.physio.fit import _hessian as hessian
from syntony.physio.fit import _one_blas_thread as one_blas_thread
from syntony.physio.fit import _safe_inverse as safe_inverse
from syntony.physio.statespace import complete_adjacency, laplacian

__all__ = [
    "Z95",
    "Data",
    "Param",
    "estimate_table",
    "hessian",
    "minimise",
    "one_blas_thread",
    "prepare",
    "safe_inverse",
]

Z95 = float(stats.norm.ppf(0.975))

#: How a parameter's fitted value maps to the data's units (``sd`` is the data's scale,
#: ``su`` the stimulus's).
_UNIT = {
    "rate": lambda sd, su: 1.0,
    "level": lambda sd, su: sd,
    "effect": lambda sd, su: sd / su,
    "variance": lambda sd, su: sd * sd,
    "none": lambda sd, su: 1.0,
}


@dataclass(frozen=True)
class Param:
    """One fitted parameter.

    Parameters
    ----------
    name : str
    transform : {"identity", "log", "logit"}
        The scale the optimiser works on (intervals are Wald on that scale).
    unit : {"rate", "level", "effect", "variance", "none"}
        How the value is rescaled to the data's units.
    bounds : (float, float)
        Bounds on the optimiser's scale.
    meaning : str
        A phrase for the report.
    """

    name: str
    transform: str = "identity"
    unit: str = "none"
    bounds: tuple[float, float] = (-np.inf, np.inf)
    meaning: str = ""

    def natural(self, value: float) -> float:
        """The value on the natural scale (NaN stays NaN, overflow gives inf)."""
        if math.isnan(value):
            return math.nan
        if self.transform == "log":
            return math.exp(value) if value < 709.0 else math.inf
        if self.transform == "logit":
            return 1.0 / (1.0 + math.exp(-max(min(value, 700.0), -700.0)))
        return float(value)

    def derivative(self, value: float) -> float:
        if self.transform == "log":
            return math.exp(min(value, 700.0))
        if self.transform == "logit":
            p = self.natural(value)
            return p * (1.0 - p)
        return 1.0


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


def prepare(
    y: Any,
    u: Any = None,
    *,
    dt: float,
    center: bool = True,
    adjacency: np.ndarray | None = None,
    normalize: bool = True,
    min_persons: int = 2,
) -> Data:
    """Check and standardise a (time, person) series and an optional shared stimulus."""
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
    raw = np.asarray(y, float)
    if raw.ndim != 2 or raw.shape[0] < 10 or raw.shape[1] < min_persons:
        raise InputError(
            f"expected a (time >= 10, person >= {min_persons}) array, got shape {raw.shape}"
        )
    n_t, n = raw.shape
    persons = [str(k) for k in range(n)] if persons is None else persons
    names = [f"person {p!r}" for p in persons]
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
        persons=list(persons),
        units=units,
        variable=variable,
        complete=bool(np.isfinite(raw).all()),
    )


def minimise(
    fun: Callable[[np.ndarray], float],
    starts: Sequence[np.ndarray],
    bounds: Sequence[tuple[float, float]],
    *,
    maxiter: int = 500,
) -> optimize.OptimizeResult:
    """L-BFGS-B from each start; the best result (a failed likelihood counts as +inf)."""
    best = None
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, float), [b[0] for b in bounds], [b[1] for b in bounds])
        res = optimize.minimize(
            fun, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter}
        )
        if best is None or res.fun < best.fun:
            best = res
    return best


def estimate_table(
    theta: np.ndarray,
    cov: np.ndarray | None,
    specs: Sequence[Param],
    data: Data,
    *,
    labels: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows (parameter, estimate, se, ci_low, ci_high, meaning) on the data's scale.

    Standard errors use the delta method; intervals are Wald intervals on the optimiser's scale
    mapped back (so log-scaled parameters get asymmetric, positive intervals). A parameter at a
    bound gets no standard error.
    """
    se_free = (
        np.sqrt(np.clip(np.diag(cov), 0, None)) if cov is not None else np.full(theta.size, np.nan)
    )
    rows = []
    for k, spec in enumerate(specs):
        lo, hi = spec.bounds
        at_bound = min(abs(theta[k] - lo), abs(theta[k] - hi)) < 1e-6
        s = np.nan if at_bound else se_free[k]
        mult = _UNIT[spec.unit](data.scale, data.u_scale)
        value = spec.natural(theta[k]) * mult
        rows.append(
            {
                "parameter": labels[k] if labels is not None else spec.name,
                "estimate": value,
                "se": spec.derivative(theta[k]) * s * mult,
                "ci_low": spec.natural(theta[k] - Z95 * s) * mult,
                "ci_high": spec.natural(theta[k] + Z95 * s) * mult,
                "meaning": spec.meaning,
            }
        )
    return rows


def jacobian_term(data: Data, start: int = 1) -> float:
    """log-likelihood of the data in its own units minus that of the standardised data."""
    n_obs = int(np.isfinite(data.y[start:]).sum())
    return n_obs * math.log(data.scale)


def n_observations(data: Data, start: int = 1) -> int:
    return int(np.isfinite(data.y[max(start, 1) :]).sum())


def information_criteria(loglik: float, k: int, n_obs: int) -> tuple[float, float]:
    """(AIC, BIC)."""
    return 2 * k - 2 * loglik, k * math.log(max(n_obs, 1)) - 2 * loglik


def moment_start(data: Data) -> dict[str, float]:
    """Starting values from AR(1) fits of the group mean and of the deviations from it."""
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


def base_specs(data: Data) -> dict[str, Param]:
    """c, lambda, b, beta, q, r as in :class:`syntony.physio.ContagionModel`."""
    dt = data.dt
    return {
        "c": Param("c", "identity", "rate", (-1.0 / dt, 1.9 / dt), "coupling (1/s)"),
        "lambda": Param(
            "lambda", "log", "rate", (math.log(1e-5 / dt), math.log(1.9 / dt)), "return rate (1/s)"
        ),
        "b": Param("b", "identity", "level", (-20.0, 20.0), "shared baseline"),
        "beta": Param("beta", "identity", "effect", (-50.0 / dt, 50.0 / dt), "stimulus effect"),
        "q": Param("q", "log", "variance", (math.log(1e-8), math.log(20.0)), "process noise"),
        "r": Param("r", "log", "variance", (math.log(1e-8), math.log(20.0)), "measurement noise"),
    }


def to_internal(spec: Param, value: float) -> float:
    if spec.transform == "log":
        return math.log(max(value, 1e-300))
    if spec.transform == "logit":
        v = min(max(value, 1e-12), 1 - 1e-12)
        return math.log(v / (1 - v))
    return float(value)


def chi2_pvalue(stat: float, df: int) -> float:
    return float(stats.chi2.sf(max(stat, 0.0), df=df))
