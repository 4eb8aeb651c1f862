"""Maximum-likelihood fitting of the contagion coupling ``c`` and tests of ``c = 0``.

:class:`ContagionModel` fits theta = (c, lambda, b, beta, q, r) of the reduced state-space
model (see :mod:`syntony.physio.statespace`) to a group's recorded series by maximising the
Kalman-filter log-likelihood, gives Hessian-based standard errors and 95% intervals, a
likelihood-ratio test of ``c = 0`` against the model refitted with ``c = 0``, and AIC/BIC of
both. :func:`pseudo_group_fit_test` compares the fitted ``c`` with those of pseudo-groups
(members from different sessions who share the stimulus but not the room).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy import stats

from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer
from syntony.errors import InputError

# Under its old name: a test replaces it to make the Hessian singular.
from syntony.physio._likelihood_fit import hessian as _hessian
from syntony.physio._likelihood_fit import (
    minimise,
    moment_start,
    one_blas_thread,
    prepare,
    safe_inverse,
    unwrap,
)
from syntony.physio.statespace import loglik_dense, loglik_spectral, transition

__all__ = ["FIT_PSEUDO_CHUNK", "ContagionModel", "pseudo_group_fit_test"]

_Z95 = stats.norm.ppf(0.975)


class ContagionModel:
    """Linear-Gaussian contagion model fitted by maximum likelihood.

    Parameters
    ----------
    adjacency : ndarray (N, N), optional
        Perception network (weights, i perceives j when ``A[i, j] > 0``); complete if omitted.
    dt : float, default 1
        Time step of the series (s).
    normalize : bool, default True
        Use the random-walk normalised Laplacian (``c`` = pull toward the perceived mean).
    center : bool, default True
        Subtract each person's own mean first (the reduced model has one shared baseline ``b``,
        whereas resting rates differ between people).

    Attributes
    ----------
    params_ : dict
        Estimates on the data's scale: c, lambda, b, beta (if a stimulus was given), q, r.
    se_ : dict
        Standard errors (inverse Hessian; delta method for log-parametrised ones).
    ci_ : dict
        95% intervals (Wald on the fitted scale: symmetric for c, b, beta; log scale for
        lambda, q, r).
    loglik_, loglik_null_ : float
        Maximised log-likelihood with ``c`` free and with ``c = 0``.
    lrt_stat_, lrt_pvalue_ : float
        ``2 (loglik_ - loglik_null_)`` and its chi-square(1) p-value (``c`` is unconstrained,
        so ``c = 0`` is an interior point and the usual reference distribution applies).
    aic_, bic_, aic_null_, bic_null_ : float
    n_obs_ : int
        Number of scalar observations in the likelihood.
    observed_, predicted_ : ndarray (T, N)
        The data fitted, and the one-step-ahead predictions on the data's scale (row 0 NaN).
    converged_ : bool
    result_ : ContagionFitResult
        Estimates, intervals, tests and fitted series as a result that saves, loads and
        reports itself (:mod:`syntony.physio.fit_result`).
    """

    def __init__(
        self,
        *,
        adjacency: np.ndarray | None = None,
        dt: float = 1.0,
        normalize: bool = True,
        center: bool = True,
    ) -> None:
        self.adjacency = adjacency
        self.dt = dt
        self.normalize = normalize
        self.center = center

    # -- set-up ---------------------------------------------------------------------------
    def _prepare(self, y: np.ndarray, u: np.ndarray | None) -> None:
        self.observed_ = np.asarray(y, float)
        self._data = d = prepare(
            self.observed_,
            u,
            dt=self.dt,
            center=self.center,
            adjacency=self.adjacency,
            normalize=self.normalize,
            persons=getattr(self, "_persons", None),
        )
        self._dt, self._lap, self._offset, self._scale = d.dt, d.lap, d.offset, d.scale
        self._y, self._u, self._u_scale = d.y, d.u, d.u_scale
        self._symmetric = bool(np.allclose(self._lap, self._lap.T)) and np.isfinite(self._y).all()
        if self._symmetric:
            self._eig = np.linalg.eigh(self._lap)
        self.names_ = ["c", "lambda", "b"] + (["beta"] if self._u is not None else []) + ["q", "r"]

    def _unpack(self, theta: np.ndarray, fixed_c: float | None) -> dict[str, float]:
        it = iter(theta)
        p = {"c": fixed_c if fixed_c is not None else next(it)}
        p["lambda"] = math.exp(next(it))
        p["b"] = next(it)
        p["beta"] = next(it) if self._u is not None else 0.0
        p["q"] = math.exp(next(it))
        p["r"] = math.exp(next(it))
        return p

    def _negloglik(self, theta: np.ndarray, fixed_c: float | None = None) -> float:
        p = self._unpack(theta, fixed_c)
        dt = self._dt
        u = self._u if self._u is not None else 0.0
        drive = dt * (p["lambda"] * p["b"] + p["beta"] * u) * np.ones(self._y.shape[0])
        if self._symmetric:
            ev, vecs = self._eig
            ll = loglik_spectral(self._y, ev, vecs, p["lambda"], p["c"], drive, p["q"], p["r"], dt)
        else:
            f = transition(p["lambda"], p["c"], self._lap, dt)
            d = np.outer(drive, np.ones(self._y.shape[1]))
            ll, _ = loglik_dense(self._y, f, d, p["q"], p["r"])
        return -ll if np.isfinite(ll) else 1e12

    def _start(self) -> np.ndarray:
        """Moment-based starting values (AR(1) of the group mean and of the deviations), in
        the order of theta (lambda, q and r on the log scale)."""
        m = moment_start(self._data)
        theta = [m["c"], math.log(m["lambda"]), m["b"]]
        if self._u is not None:
            theta.append(m["beta"])
        theta += [math.log(m["q"]), math.log(m["r"])]
        return np.array(theta)

    def _bounds(self, fixed_c: bool) -> list[tuple[float, float]]:
        dt = self._dt
        bounds = [] if fixed_c else [(-1.0 / dt, 1.9 / dt)]
        bounds += [(math.log(1e-5 / dt), math.log(1.9 / dt)), (-20.0, 20.0)]
        if self._u is not None:
            bounds.append((-50.0 / dt, 50.0 / dt))
        bounds += [(math.log(1e-8), math.log(20.0))] * 2
        return bounds

    def _optimise(self, starts: list[np.ndarray], fixed_c: float | None):
        objective = functools.partial(self._negloglik, fixed_c=fixed_c)
        return minimise(objective, starts, self._bounds(fixed_c is not None))

    # -- public ---------------------------------------------------------------------------
    def fit(self, y: np.ndarray | xr.DataArray, u: np.ndarray | None = None) -> ContagionModel:
        """Fit to ``y`` (time, person), optionally with a shared stimulus ``u`` (time,).

        ``y`` may be a DataArray with dims (time, person); its coordinates then name the
        persons and times of :attr:`result_`. Returns the fitted model.
        """
        y, u, time, persons, units, variable = unwrap(y, u)
        self._persons = persons
        with one_blas_thread():
            self._fit(y, u)
        self.result_ = self._result(time, persons, units, variable)
        return self

    def _result(self, time, persons, units: str, variable: str):
        from syntony._provenance import provenance
        from syntony.physio.fit_result import ContagionFitResult

        parameters = {
            "network": "complete" if self.adjacency is None else "matrix",
            "dt": float(self.dt),
            "normalize": bool(self.normalize),
            "center": bool(self.center),
            "stimulus": self._u is not None,
        }
        return ContagionFitResult.from_model(
            self,
            time=time,
            persons=persons,
            units=units,
            variable=variable,
            parameters=parameters,
            provenance=provenance(parameters=parameters),
        )

    def _fit(self, y: np.ndarray, u: np.ndarray | None) -> ContagionModel:
        self._prepare(y, u)
        start = self._start()
        alt = start.copy()
        alt[0] = 0.0
        full = self._optimise([start, alt], None)
        null = self._optimise([full.x[1:], start[1:]], 0.0)
        self.converged_ = bool(full.success and null.success)
        theta = full.x
        hess = _hessian(self._negloglik, theta)
        cov, problem = safe_inverse(hess)
        self.notes_ = [] if problem is None else [problem]
        self._store(theta, cov, full.fun, null.fun)
        return self

    def _store(self, theta: np.ndarray, cov: np.ndarray, nll: float, nll_null: float) -> None:
        sd, su = self._scale, self._u_scale
        logged = {"lambda", "q", "r"}
        # Natural-scale multiplier of each parameter (standardisation undone).
        mult = {"c": 1.0, "lambda": 1.0, "b": sd, "beta": sd / su, "q": sd**2, "r": sd**2}
        params, se, ci = {}, {}, {}
        se_free = (
            np.sqrt(np.clip(np.diag(cov), 0, None))
            if cov is not None
            else np.full(len(theta), np.nan)
        )
        bounds = self._bounds(False)
        for k, name in enumerate(self.names_):
            at_bound = min(abs(theta[k] - bounds[k][0]), abs(theta[k] - bounds[k][1])) < 1e-6
            s_k = np.nan if at_bound else se_free[k]
            if name in logged:
                val = math.exp(theta[k])
                params[name] = val * mult[name]
                se[name] = val * s_k * mult[name]
                low, high = _exp_interval(theta[k], _Z95 * s_k)
                ci[name] = (low * mult[name], high * mult[name])
                if high == math.inf:
                    message = (
                        f"the standard error of log {name} is so large that its 95% interval "
                        "has no finite upper bound: the data hardly constrain it"
                    )
                    warnings.warn(message, RuntimeWarning, stacklevel=3)
                    self.notes_ = [*getattr(self, "notes_", []), message]
            else:
                params[name] = theta[k] * mult[name]
                se[name] = s_k * mult[name]
                ci[name] = (
                    (theta[k] - _Z95 * s_k) * mult[name],
                    (theta[k] + _Z95 * s_k) * mult[name],
                )
        # The likelihood of the standardised data differs from the original by the Jacobian.
        n_obs = int(np.isfinite(self._y[1:]).sum())
        jac = n_obs * math.log(sd)
        self.params_, self.se_, self.ci_ = params, se, ci
        self.loglik_ = -nll - jac
        self.loglik_null_ = -nll_null - jac
        self.lrt_stat_ = max(0.0, 2.0 * (self.loglik_ - self.loglik_null_))
        self.lrt_pvalue_ = float(stats.chi2.sf(self.lrt_stat_, df=1))
        k = len(self.names_)
        self.n_obs_ = n_obs
        self.aic_ = 2 * k - 2 * self.loglik_
        self.bic_ = k * math.log(n_obs) - 2 * self.loglik_
        self.aic_null_ = 2 * (k - 1) - 2 * self.loglik_null_
        self.bic_null_ = (k - 1) * math.log(n_obs) - 2 * self.loglik_null_
        self.theta_ = theta
        self.predicted_ = self._predict(theta)

    def _predict(self, theta: np.ndarray) -> np.ndarray:
        p = self._unpack(theta, None)
        dt = self._dt
        u = self._u if self._u is not None else 0.0
        drive = dt * (p["lambda"] * p["b"] + p["beta"] * u) * np.ones(self._y.shape[0])
        f = transition(p["lambda"], p["c"], self._lap, dt)
        _, pred = loglik_dense(
            self._y, f, np.outer(drive, np.ones(self._y.shape[1])), p["q"], p["r"]
        )
        return pred * self._scale + self._offset

    def summary(self) -> dict:
        """Estimates, intervals and tests as plain numbers."""
        out = {
            "n_obs": self.n_obs_,
            "loglik": self.loglik_,
            "loglik_null": self.loglik_null_,
            "lrt_stat": self.lrt_stat_,
            "lrt_pvalue": self.lrt_pvalue_,
            "aic": self.aic_,
            "bic": self.bic_,
            "aic_null": self.aic_null_,
            "bic_null": self.bic_null_,
            "converged": self.converged_,
        }
        for name in self.names_:
            out[name] = self.params_[name]
            out[f"{name}_se"] = self.se_[name]
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = self.ci_[name]
        return out


def _exp_interval(centre: float, half_width: float) -> tuple[float, float]:
    """``exp`` of ``centre -/+ half_width``; a bound beyond the float range is 0 or infinite
    (not an OverflowError), a missing width gives NaN bounds."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        low, high = np.exp([centre - half_width, centre + half_width])
    return float(low), float(high)


#: Pseudo-groups fitted per checkpointed chunk; each chunk has its own seed stream.
FIT_PSEUDO_CHUNK = 5


def pseudo_group_fit_test(
    y: np.ndarray,
    other: np.ndarray,
    *,
    n_groups: int = 100,
    dt: float = 1.0,
    u: np.ndarray | None = None,
    seed: SeedLike | SeedTree = None,
    fitted: ContagionModel | None = None,
    progress: Callable[[int], None] | None = None,
    checkpoint=None,
    checkpoint_slot: int = 5,
    executor=None,
) -> dict:
    """Compare the real group's ``c`` with ``c`` fitted to pseudo-groups (complete network).

    A pseudo-group has the real group's size, with members drawn from both sessions (at least
    one from each); both sessions must be on the same time base and are cut to a common length.
    Groups are fitted in chunks of :data:`FIT_PSEUDO_CHUNK`; chunk ``k`` draws its members from
    the stream ``child("chunk", k)`` of ``seed`` and, with a
    :class:`~syntony._checkpoint.Checkpoint`, is saved once finished, so a killed run resumes
    to the same numbers; with an ``executor`` (:mod:`syntony.execution`) the chunks run as its
    tasks, with the same numbers. Returns the real ``c``, the pseudo-group ``c`` values, the one-sided
    p-value ``(1 + #(c_pseudo >= c_real)) / (1 + n)`` and ``(c_real - mean) / sd``.
    """
    from syntony.physio._chunks import run_chunks

    n_groups = check_integer("n_groups", n_groups, minimum=1)
    y = np.asarray(y, float)
    other = np.asarray(other, float)
    n_t = min(y.shape[0], other.shape[0])
    n_a, n_b = y.shape[1], other.shape[1]
    if n_b < 1:
        raise InputError("the other session has no persons")
    uu = None if u is None else np.asarray(u, float)[:n_t]
    real = fitted if fitted is not None else ContagionModel(dt=dt).fit(y[:n_t], uu)
    c_real = real.params_["c"]
    pool = np.concatenate([y[:n_t], other[:n_t]], axis=1)
    session = np.r_[np.zeros(n_a, bool), np.ones(n_b, bool)]
    tree = SeedTree(seed)

    values = run_chunks(
        n_groups,
        FIT_PSEUDO_CHUNK,
        functools.partial(_fit_pseudo_chunk, tree, n_a, dt),
        checkpoint=checkpoint,
        slot=checkpoint_slot,
        advance=progress,
        executor=executor,
        shared={"pool": pool, "session": session, "u": uu},
    )["c"]
    p = (1.0 + np.sum(values >= c_real)) / (1.0 + n_groups)
    sd = np.std(values, ddof=1) if n_groups > 1 else np.nan
    return {
        "c_real": float(c_real),
        "c_pseudo": values,
        "c_pseudo_mean": float(values.mean()),
        "c_pseudo_q025": float(np.quantile(values, 0.025)),
        "c_pseudo_q975": float(np.quantile(values, 0.975)),
        "p_value": float(p),
        "effect_size": float((c_real - values.mean()) / sd) if sd > 0 else float("nan"),
        "n_groups": n_groups,
    }


def _fit_pseudo_chunk(
    tree: SeedTree, n_a: int, dt: float, k: int, start: int, stop: int, data: dict
) -> dict[str, np.ndarray]:
    """The ``c`` of the pseudo-groups ``start:stop`` (chunk ``k``; one executor task)."""
    from syntony.physio._chunks import chunk_generator

    values = np.empty(stop - start)
    with one_blas_thread():
        _fit_pseudo_groups(
            values, data["pool"], data["session"], n_a, dt, data["u"], chunk_generator(tree, k)
        )
    return {"c": values}


def _fit_pseudo_groups(values, pool, session, n_a, dt, u, rng) -> None:
    for g in range(values.size):
        while True:
            members = rng.choice(pool.shape[1], size=n_a, replace=False)
            if session[members].any() and (~session[members]).any():
                break
        model = ContagionModel(dt=dt)
        model._prepare(pool[:, members], u)
        start = model._start()
        alt = start.copy()
        alt[0] = 0.0
        values[g] = model._optimise([start, alt], None).x[0]
