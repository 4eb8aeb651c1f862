"""What the mechanism estimators share: data preparation, parameters, optimisation, intervals.

Every estimator standardises the group's series as :class:`syntony.physio.ContagionModel` does,
with the same :func:`prepare` (each person's own mean removed when ``center``, one scale for the
whole group), starts, optimises and takes the Hessian with the same functions (all from
:mod:`syntony.physio._likelihood_fit`, re-exported here), fits on that scale, and maps
estimates, standard errors and 95% Wald intervals back to the data's units. A parameter is
described once by a :class:`Param` (its transform and its unit), so tables, intervals and the
delta method come from one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

# Shared with the linear model (syntony.physio.ContagionModel): one definition of each.
from syntony.physio._likelihood_fit import (
    Data,
    hessian,
    minimise,
    moment_start,
    one_blas_thread,
    prepare,
    safe_inverse,
)

__all__ = [
    "Z95",
    "Data",
    "Param",
    "estimate_table",
    "hessian",
    "minimise",
    "moment_start",
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
