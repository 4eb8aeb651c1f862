"""Synchrony-gated coupling: does physiological synchrony raise the weight of another's signal?

The test of eq (2). The linear contagion model pulls person i toward each person j they perceive
at the same rate; here the pull of j on i at time t is ``c * w_ij(t)`` with
``w_ij(t) = 1 + g (omega_ij(t) / mean_k omega_ik(t) - 1)`` and ``omega_ij(t)`` the eq (2)
precision computed from the observed series over the preceding window
(:mod:`~syntony.physio.mechanisms.gating`). ``g = 0`` is the linear model (constant coupling);
``g = 1`` weighs others in proportion to eq (2), as the agent loop's shared prior does.

Because ``w(t)`` depends only on data before the step it acts on, the state-space model is
conditionally Gaussian with a time-varying transition and the Kalman likelihood stays exact
(Harvey 1989). The first window (the warm-up) is conditioned on: no gate is defined
there, so those steps are filtered but add nothing to the likelihood.
"""

from __future__ import annotations

import math

import numpy as np

from syntony._validate import check_choice, check_nonnegative, check_positive
from syntony.errors import ParameterError
from syntony.physio.mechanisms import _base
from syntony.physio.mechanisms._base import Param
from syntony.physio.mechanisms._kalman import ti_loglik, tv_loglik
from syntony.physio.mechanisms.gating import WEIGHTINGS, gate_deviations, pair_precisions

__all__ = ["GatedContagionModel"]

_G = Param("g", "identity", "none", (-3.0, 5.0), "synchrony gate (0: constant coupling)")
_TOL = 1e-10


class GatedContagionModel:
    """Contagion model whose coupling follows eq (2) synchrony, fitted by maximum likelihood.

    Parameters
    ----------
    adjacency : ndarray (N, N), optional
        Perception network (``A[i, j] > 0``: i perceives j); complete if omitted.
    dt : float
        Time step of the series (s).
    window : float
        Length (boxcar) or time constant (exponential) of the window over which eq (2)'s
        synchrony and variances are taken (s). Default: the synchrony window, 30 s.
    weighting : {"boxcar", "exponential"}
        The last ``window`` seconds equally, or exponentially decaying weights (the agent
        loop's online synchrony with ``tau_rho = window``).
    warmup : float, optional
        Seconds at the start that the likelihood conditions on (no full window there).
        Default: ``window`` (boxcar) or ``3 * window`` (exponential).
    center : bool
        Remove each person's own mean first.
    normalize : bool
        Random-walk normalised Laplacian (``c`` = total pull toward those perceived).

    Attributes
    ----------
    params_, se_, ci_ : dict
        Estimates of c, g, lambda, b, (beta), q, r on the data's scale, standard errors, 95%
        Wald intervals.
    loglik_, loglik_null_ : float
        With ``g`` free and with ``g = 0`` (the linear model, on the same samples).
    lrt_stat_, lrt_pvalue_ : float
        Likelihood-ratio test of ``g = 0`` (chi-square, 1 df: ``g`` may be negative, so 0 is
        interior).
    weights_ : ndarray (T, N, N)
        ``w_ij(t)`` at the fitted ``g``.
    result_ : GatedFitResult
    """

    def __init__(
        self,
        *,
        adjacency: np.ndarray | None = None,
        dt: float = 1.0,
        window: float = 30.0,
        weighting: str = "boxcar",
        warmup: float | None = None,
        center: bool = True,
        normalize: bool = True,
    ) -> None:
        self.adjacency = adjacency
        self.dt = dt
        self.window = window
        self.weighting = weighting
        self.warmup = warmup
        self.center = center
        self.normalize = normalize

    # -- likelihood ------------------------------------------------------------------------------
    def _specs(self) -> list[Param]:
        base = _base.base_specs(self.data_)
        names = ["c", "lambda", "b"] + (["beta"] if self.data_.u is not None else []) + ["q", "r"]
        specs = [base[n] for n in names]
        return [specs[0], _G, *specs[1:]]

    def _unpack(self, theta: np.ndarray, fixed_g: float | None) -> dict[str, float]:
        specs = self.specs_ if fixed_g is None else self.null_specs_
        p = {s.name: s.natural(v) for s, v in zip(specs, theta, strict=True)}
        if fixed_g is not None:
            p["g"] = fixed_g
        p.setdefault("beta", 0.0)
        return p

    def _drive(self, p: dict[str, float]) -> np.ndarray:
        d = self.data_
        u = d.u if d.u is not None else 0.0
        return np.ascontiguousarray(
            d.dt * (p["lambda"] * p["b"] + p["beta"] * u) * np.ones(d.n_time)
        )

    def _loglik(self, theta: np.ndarray, fixed_g: float | None = None, preds=None) -> float:
        d = self.data_
        p = self._unpack(theta, fixed_g)
        a = 1.0 - d.dt * p["lambda"]
        k = d.dt * p["c"]
        out = np.empty(d.y.shape) if preds is None else preds
        try:
            if p["g"] == 0.0 and preds is None:
                f = a * np.eye(d.n_persons) - k * d.lap
                ll = ti_loglik(d.y, f, self._drive(p), p["q"], p["r"], self.start_, out, _TOL)
            else:
                ll = tv_loglik(
                    d.y,
                    d.lap,
                    self.dev_,
                    p["g"],
                    a,
                    k,
                    self._drive(p),
                    p["q"],
                    p["r"],
                    self.start_,
                    out,
                )
        except Exception:  # a non-positive-definite innovation covariance
            return -np.inf
        return float(ll) if np.isfinite(ll) else -np.inf

    def _nll(self, theta: np.ndarray, fixed_g: float | None = None) -> float:
        ll = self._loglik(theta, fixed_g)
        return -ll if np.isfinite(ll) else 1e12

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, y, u=None) -> GatedContagionModel:
        """Fit to ``y`` (time, person), optionally with a shared stimulus ``u`` (time,).

        ``y`` may be a DataArray with dims (time, person). Returns the fitted model.
        """
        weighting = check_choice("weighting", self.weighting, WEIGHTINGS)
        window = check_positive("window", self.window)
        self.data_ = d = _base.prepare(
            y,
            u,
            dt=self.dt,
            center=self.center,
            adjacency=self.adjacency,
            normalize=self.normalize,
            min_persons=3,
        )
        if self.warmup is None:
            warmup = window if weighting == "boxcar" else 3.0 * window
        else:
            warmup = check_nonnegative("warmup", self.warmup)
        self.start_ = max(1, round(warmup / d.dt))
        if self.start_ >= d.n_time - 10:
            raise ParameterError(
                "warmup",
                f"well under the series' {d.n_time * d.dt:g} s (window {window:g} s)",
                warmup,
            )
        self.omega_ = pair_precisions(d.y, d.dt, window=window, weighting=weighting)
        self.dev_ = gate_deviations(self.omega_, d.adjacency)
        self.specs_ = self._specs()
        self.null_specs_ = [s for s in self.specs_ if s.name != "g"]
        with _base.one_blas_thread():
            self._fit()
        if not getattr(self, "_skip_result", False):
            self.result_ = self._result()
        return self

    def _fit(self) -> None:
        d = self.data_
        m0 = _base.moment_start(d)
        x0 = np.array([_base.to_internal(s, m0[s.name]) for s in self.null_specs_])
        alt = x0.copy()
        alt[0] = 0.0
        bounds_null = [s.bounds for s in self.null_specs_]
        null = _base.minimise(lambda th: self._nll(th, 0.0), [x0, alt], bounds_null)
        starts = [np.insert(null.x, 1, g0) for g0 in (0.0, 1.0)]
        full = _base.minimise(self._nll, starts, [s.bounds for s in self.specs_])
        if -full.fun < -null.fun:  # the null is nested: the full fit can do at least as well
            full.x, full.fun = np.insert(null.x, 1, 0.0), null.fun
        self.converged_ = bool(full.success and null.success)
        self.theta_ = full.x
        if getattr(self, "_skip_se", False):  # a pseudo-group needs only the likelihoods
            cov, problem = None, None
        else:
            cov, problem = _base.safe_inverse(_base.hessian(self._nll, full.x))
        self.notes_ = [] if problem is None else [problem]
        if min(abs(full.x[1] - b) for b in _G.bounds) < 1e-6:
            self.notes_.append(
                f"g reached the end of its range ({full.x[1]:g}), so it has no interval: with a "
                f"coupling c this weak ({self._c_text(full.x)}) the gate is barely identified"
            )
        rows = _base.estimate_table(full.x, cov, self.specs_, d)
        self.table_ = rows
        self.params_ = {r["parameter"]: r["estimate"] for r in rows}
        self.se_ = {r["parameter"]: r["se"] for r in rows}
        self.ci_ = {r["parameter"]: (r["ci_low"], r["ci_high"]) for r in rows}
        jac = _base.jacobian_term(d, self.start_)
        self.n_obs_ = _base.n_observations(d, self.start_)
        self.loglik_ = -full.fun - jac
        self.loglik_null_ = -null.fun - jac
        self.null_params_ = {
            s.name: s.natural(v) * _base._UNIT[s.unit](d.scale, d.u_scale)
            for s, v in zip(self.null_specs_, null.x, strict=True)
        }
        self.lrt_stat_ = max(0.0, 2.0 * (self.loglik_ - self.loglik_null_))
        self.lrt_pvalue_ = _base.chi2_pvalue(self.lrt_stat_, 1)
        k = len(self.specs_)
        self.aic_, self.bic_ = _base.information_criteria(self.loglik_, k, self.n_obs_)
        self.aic_null_, self.bic_null_ = _base.information_criteria(
            self.loglik_null_, k - 1, self.n_obs_
        )
        preds = np.full(d.y.shape, np.nan)
        self._loglik(full.x, None, preds)
        self.predicted_ = d.unstandardise(preds)
        g = self.params_["g"]
        self.weights_ = 1.0 + g * np.where(np.isnan(self.omega_), 0.0, self._ratio())
        self.signed_root_ = math.copysign(math.sqrt(self.lrt_stat_), g)

    def _c_text(self, theta: np.ndarray) -> str:
        return f"c = {self.specs_[0].natural(theta[0]):.3g} per s"

    def _ratio(self) -> np.ndarray:
        """``omega_ij / mean_i - 1`` (0 where no gate is defined)."""
        d = self.data_
        deg = np.where(d.adjacency > 0, d.adjacency, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = self.dev_ * deg[None, :, None] / np.where(d.adjacency > 0, d.adjacency, 1.0)
        return np.where(d.adjacency[None] > 0, scaled, 0.0)

    def _result(self):
        from syntony._provenance import provenance
        from syntony.physio.mechanisms.results import GatedFitResult

        parameters = {
            "model": "gated",
            "network": "complete" if self.adjacency is None else "matrix",
            "dt": float(self.dt),
            "window": float(self.window),
            "weighting": self.weighting,
            "warmup_s": float(self.start_ * self.data_.dt),
            "normalize": bool(self.normalize),
            "center": bool(self.center),
            "stimulus": self.data_.u is not None,
        }
        return GatedFitResult.from_gated(
            self, parameters=parameters, provenance=provenance(parameters=parameters)
        )
