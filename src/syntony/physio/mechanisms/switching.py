"""Mode switching: a group that moves between two resting levels, as the loop's modes do.

In the agent loop each person relaxes toward the baseline of their current mode (affiliative or
defensive) and the modes switch. Here the group shares a latent mode ``z(t)`` in {low, high},
a Markov chain with per-step switching probabilities ``p_up`` (low -> high) and ``p_down``
(with ``hazard="stimulus"`` their logits move with the stimulus, ``logit p_up(t) = logit p_up +
h_up u(t-1-lag)`` and likewise down, so that a stimulus can trigger the switch); given the mode
path the model is the linear contagion model with that mode's baseline (and,
with ``couplings="per-mode"``, its own coupling):

    x(t) = x(t-1) + dt [-lambda (x(t-1) - b_z 1) - c_z L x(t-1) + beta u(t-1) 1] + w,  y = x + v.

The likelihood sums over 2^T mode paths, so it is approximated by Kim's (1994) filter, which
collapses the four mode-pair Gaussians to two after each step (the same idea as the interacting
multiple model of Blom and Bar-Shalom, 1988). With one coupling for both modes on a symmetric
network without missing samples the modes move only the group-mean component of the state
(the Laplacian's null space); the other components are independent of the mode, so the filter
runs as one scalar switching filter plus N - 1 scalar Kalman filters, and that decomposition is
exact (it equals the dense Kim filter to rounding). The number of modes (1 against 2) is
tested by a parametric bootstrap of the likelihood ratio (McLachlan 1987; Feng and McCulloch
1996), since under one mode the switching parameters are not identified and the chi-square
reference does not hold.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_choice, check_integer
from syntony.physio.mechanisms import _base
from syntony.physio.mechanisms._base import Param
from syntony.physio.mechanisms._kalman import kim_loglik, kim_scalar, kim_smooth, scalar_kalman

__all__ = ["SwitchingContagionModel", "mode_number_test"]

COUPLINGS = ("shared", "per-mode")
HAZARDS = ("constant", "stimulus")
#: Bootstrap samples fitted per checkpointed chunk.
BOOT_CHUNK = 5
#: Iterations of the short runs that pick the best start.
_SCREEN = 25


_H_MEANING = "change of logit P({}) per stimulus SD"


def _logit_bounds() -> tuple[float, float]:
    return (math.log(1e-5 / (1 - 1e-5)), math.log(0.5 / 0.5))


def _stimulus_transitions(p: dict[str, float], u: np.ndarray, lag: int) -> np.ndarray:
    """Transition matrices (T, 2, 2): row ``t`` holds the switching probabilities into the mode
    of step ``t - 1 -> t``, whose logits move with ``u[t - 1 - lag]``; the first rows have no
    stimulus (row 0 gives the filter's starting distribution)."""
    from scipy.special import expit

    lead = np.zeros(u.size)
    lead[1 + lag :] = u[: u.size - 1 - lag]
    up = expit(math.log(p["p_up"] / (1 - p["p_up"])) + p["h_up"] * lead)
    down = expit(math.log(p["p_down"] / (1 - p["p_down"])) + p["h_down"] * lead)
    up = np.clip(up, 1e-12, 1 - 1e-12)
    down = np.clip(down, 1e-12, 1 - 1e-12)
    trans = np.empty((u.size, 2, 2))
    trans[:, 0, 0], trans[:, 0, 1] = 1 - up, up
    trans[:, 1, 0], trans[:, 1, 1] = down, 1 - down
    return trans


class SwitchingContagionModel:
    """Contagion model with two latent group modes (low/high baseline), fitted by Kim's filter.

    Parameters
    ----------
    n_modes : {1, 2}
        1 is the linear model (the null of the mode test), fitted by the same filter.
    couplings : {"shared", "per-mode"}
        One coupling for both modes, or one each (``c_low``, ``c_high``; dense filter).
    hazard : {"constant", "stimulus"}
        Switching probabilities fixed, or with logits that move linearly with the stimulus
        (``h_up``, ``h_down`` per stimulus standard deviation; a stimulus of 0 leaves them at
        ``p_up``, ``p_down``). Needs a stimulus.
    hazard_lag : int
        Steps from a stimulus to the switch it can trigger: with 0 the stimulus of the step
        from ``t - 1`` to ``t`` sets the probability of switching into the mode of that same
        step; with 1 (default) the switch follows one step later, once the stimulus has moved
        the state (as in the agent loop, where each person's mode reads their own signal).
    adjacency, dt, center, normalize
        As in :class:`syntony.physio.ContagionModel`.
    n_starts : int
        Starting points of the two-mode optimisation (the likelihood can have several maxima;
        the starts are a fixed function of the data, so a bootstrap refit repeats them).

    Attributes
    ----------
    params_, se_, ci_ : dict
        c (or c_low, c_high), lambda, b_low, b_high, b_gap (= b_high - b_low), beta, q, r,
        p_up, p_down (per step, without stimulus), rate_up, rate_down (per second), and
        with ``hazard="stimulus"`` h_up, h_down.
    loglik_ : float
    mode_prob_ : ndarray (T, 2)
        Smoothed probabilities of the modes (Kim's smoother); ``filtered_prob_`` the filtered.
    predicted_ : ndarray (T, N)
    result_ : SwitchingFitResult
    """

    def __init__(
        self,
        *,
        n_modes: int = 2,
        couplings: str = "shared",
        hazard: str = "constant",
        hazard_lag: int = 1,
        adjacency: np.ndarray | None = None,
        dt: float = 1.0,
        center: bool = True,
        normalize: bool = True,
        n_starts: int = 3,
    ) -> None:
        self.n_modes = n_modes
        self.couplings = couplings
        self.hazard = hazard
        self.hazard_lag = hazard_lag
        self.adjacency = adjacency
        self.dt = dt
        self.center = center
        self.normalize = normalize
        self.n_starts = n_starts

    # -- parameters ------------------------------------------------------------------------------
    def _make_specs(self) -> list[Param]:
        d = self.data_
        base = _base.base_specs(d)
        lo, hi = _logit_bounds()
        specs: list[Param] = []
        if self.n_modes == 2 and self.couplings == "per-mode":
            specs += [
                Param("c_low", "identity", "rate", base["c"].bounds, "coupling in the low mode"),
                Param("c_high", "identity", "rate", base["c"].bounds, "coupling in the high mode"),
            ]
        else:
            specs.append(base["c"])
        specs.append(base["lambda"])
        if self.n_modes == 2:
            specs += [
                Param("b_low", "identity", "level", (-20.0, 20.0), "baseline of the low mode"),
                Param(
                    "b_gap",
                    "log",
                    "level",
                    (math.log(1e-4), math.log(40.0)),
                    "high minus low baseline",
                ),
            ]
        else:
            specs.append(base["b"])
        if d.u is not None:
            specs.append(base["beta"])
        specs += [base["q"], base["r"]]
        if self.n_modes == 2:
            specs += [
                Param("p_up", "logit", "none", (lo, hi), "P(low -> high) per step"),
                Param("p_down", "logit", "none", (lo, hi), "P(high -> low) per step"),
            ]
            if self.hazard == "stimulus":
                specs += [
                    Param(
                        "h_up", "identity", "none", (-30.0, 30.0), _H_MEANING.format("low -> high")
                    ),
                    Param(
                        "h_down",
                        "identity",
                        "none",
                        (-30.0, 30.0),
                        _H_MEANING.format("high -> low"),
                    ),
                ]
        return specs

    def _unpack(self, theta: np.ndarray) -> dict[str, float]:
        p = {s.name: s.natural(v) for s, v in zip(self.specs_, theta, strict=True)}
        p.setdefault("beta", 0.0)
        if self.n_modes == 2:
            p["b_high"] = p["b_low"] + p["b_gap"]
            if "c" in p:
                p["c_low"] = p["c_high"] = p["c"]
        return p

    def _arrays(self, p: dict[str, float]):
        """Per-mode couplings, per-mode drift (T, M) and the transition matrix."""
        d = self.data_
        u = d.u if d.u is not None else np.zeros(d.n_time)
        if self.n_modes == 1:
            cs = np.array([p["c"]])
            bs = np.array([p["b"]])
            trans = np.ones((1, 1))
        else:
            cs = np.array([p["c_low"], p["c_high"]])
            bs = np.array([p["b_low"], p["b_high"]])
            trans = np.array(
                [[1 - p["p_up"], p["p_up"]], [p["p_down"], 1 - p["p_down"]]], dtype=float
            )
            if self.hazard == "stimulus":
                trans = _stimulus_transitions(p, self.u_hazard_, self.hazard_lag)
        drift = d.dt * (p["lambda"] * bs[None, :] + p["beta"] * u[:, None])
        return cs, np.ascontiguousarray(drift), trans

    # -- likelihood ------------------------------------------------------------------------------
    def _fast_ok(self) -> bool:
        d = self.data_
        if not d.complete or not np.allclose(d.lap, d.lap.T):
            return False
        if self.n_modes == 2 and self.couplings == "per-mode":
            return False
        ev, vecs = np.linalg.eigh(d.lap)
        load = vecs.sum(axis=0)
        big = np.flatnonzero(np.abs(load) > 1e-8)
        if big.size != 1:
            return False
        self._eig = (ev, vecs, load, int(big[0]))
        self._z = np.ascontiguousarray(d.y @ vecs)
        return True

    def _loglik(self, theta: np.ndarray, keep: bool = False) -> float:
        d = self.data_
        p = self._unpack(theta)
        cs, drift, trans = self._arrays(p)
        try:
            if self.fast_ and not keep:
                ev, _, load, k0 = self._eig
                a = 1.0 - d.dt * (p["lambda"] + cs * ev[k0])
                n_t = d.n_time
                out = np.empty(n_t)
                filt = np.empty((n_t, cs.size))
                pred = np.empty((n_t, cs.size))
                ll = kim_scalar(
                    np.ascontiguousarray(self._z[:, k0]),
                    a,
                    drift * load[k0],
                    p["q"],
                    p["r"],
                    trans,
                    1,
                    out,
                    filt,
                    pred,
                )
                others = np.array([k for k in range(d.n_persons) if k != k0])
                if others.size:
                    ak = 1.0 - d.dt * (p["lambda"] + cs[0] * ev[others])
                    ll += scalar_kalman(
                        np.ascontiguousarray(self._z[:, others]),
                        ak,
                        np.zeros((n_t, others.size)),
                        p["q"],
                        p["r"],
                        1,
                    )
                self._last = (filt, pred)
            else:
                n = d.n_persons
                fs = np.stack([(1 - d.dt * p["lambda"]) * np.eye(n) - d.dt * c * d.lap for c in cs])
                preds = np.full(d.y.shape, np.nan)
                filt = np.empty((d.n_time, cs.size))
                pred = np.empty((d.n_time, cs.size))
                ll = kim_loglik(d.y, fs, drift, p["q"], p["r"], trans, 1, preds, filt, pred)
                self._last = (filt, pred, preds)
        except Exception:  # a non-positive-definite innovation covariance
            return -np.inf
        return float(ll) if np.isfinite(ll) else -np.inf

    def _nll(self, theta: np.ndarray) -> float:
        ll = self._loglik(theta)
        return -ll if np.isfinite(ll) else 1e12

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, y, u=None) -> SwitchingContagionModel:
        """Fit to ``y`` (time, person), optionally with a shared stimulus ``u`` (time,)."""
        check_choice("couplings", self.couplings, COUPLINGS)
        check_choice("hazard", self.hazard, HAZARDS)
        check_integer("hazard_lag", self.hazard_lag, minimum=0)
        if self.hazard == "stimulus" and u is None:
            from syntony.errors import ParameterError

            raise ParameterError("hazard", "a stimulus u for hazard='stimulus'", "no stimulus")
        n_modes = check_integer("n_modes", self.n_modes, minimum=1)
        if n_modes > 2:
            from syntony.errors import ParameterError

            raise ParameterError("n_modes", "1 or 2", n_modes)
        check_integer("n_starts", self.n_starts, minimum=1)
        self._prepare(y, u)
        with _base.one_blas_thread():
            self._fit()
        if not getattr(self, "_skip_result", False):
            self.result_ = self._result()
        return self

    def _prepare(self, y, u) -> None:
        """Standardised data, the stimulus of the hazard (on the stimulus's own zero, in its
        standard deviations), the filter's path and the parameters."""
        self.data_ = _base.prepare(
            y,
            u,
            dt=self.dt,
            center=self.center,
            adjacency=self.adjacency,
            normalize=self.normalize,
        )
        d = self.data_
        self.stimulus_ = (
            None if u is None else np.asarray(u.to_numpy() if hasattr(u, "to_numpy") else u, float)
        )
        if self.hazard == "stimulus" and self.n_modes == 2:
            self.u_hazard_ = self.stimulus_ / d.u_scale
        self.fast_ = self._fast_ok()
        self.specs_ = self._make_specs()

    def _linear_start(self) -> dict[str, float]:
        """The one-mode fit (always by the fast or dense filter with one mode)."""
        if self.n_modes == 1:
            return _base.moment_start(self.data_)
        one = SwitchingContagionModel(
            n_modes=1,
            adjacency=self.adjacency,
            dt=self.dt,
            center=self.center,
            normalize=self.normalize,
        )
        one.data_, one.fast_ = self.data_, self.fast_
        if self.fast_:
            one._eig, one._z = self._eig, self._z
        one.specs_ = one._make_specs()
        one._fit()
        self.one_mode_ = one
        return {s.name: s.natural(v) for s, v in zip(one.specs_, one.theta_, strict=True)}

    def _starts(self, lin: dict[str, float]) -> list[np.ndarray]:
        """The one-mode fit with a tiny second mode (so two modes never fit worse than one),
        then ``n_starts - 1`` guesses from quantiles of the group mean."""
        d = self.data_
        if self.n_modes == 1:
            return [np.array([_base.to_internal(s, lin[s.name]) for s in self.specs_])]
        mean = np.nanmean(d.y, axis=1)
        dwell = max(2.0, 0.1 * d.n_time)  # steps
        nested = dict(lin)
        nested["b_low"], nested["b_gap"] = lin["b"] - 0.01, 0.02
        nested["c_low"] = nested["c_high"] = lin["c"]
        nested["p_up"] = nested["p_down"] = 1.0 / dwell
        starts = [nested]
        grid = [(0.15, 0.85, 1.0), (0.15, 0.85, 3.0), (0.3, 0.7, 1.0), (0.3, 0.7, 3.0)]
        for k in range(self.n_starts - 1):
            lo_q, hi_q, lam_mult = grid[k % len(grid)]
            lo, hi = np.quantile(mean, [lo_q, hi_q])
            guess = dict(lin)
            guess["lambda"] = min(lin["lambda"] * lam_mult, 0.5 / d.dt)
            guess["b_low"], guess["b_gap"] = float(lo), float(max(hi - lo, 1e-2))
            guess["c_low"] = guess["c_high"] = lin["c"]
            guess["p_up"] = guess["p_down"] = 1.0 / (dwell * (1.0 if k < len(grid) else 0.3))
            starts.append(guess)
        for guess in starts:  # a stimulus-dependent hazard starts constant
            guess["h_up"] = guess["h_down"] = 0.0
        return [np.array([_base.to_internal(s, g[s.name]) for s in self.specs_]) for g in starts]

    def _optimise(self, starts: list[np.ndarray]):
        """A short run from every start, then the best one to convergence."""
        bounds = [s.bounds for s in self.specs_]
        if len(starts) == 1:
            return _base.minimise(self._nll, starts, bounds)
        short = [_base.minimise(self._nll, [x0], bounds, maxiter=_SCREEN) for x0 in starts]
        best = min(short, key=lambda r: r.fun)
        return _base.minimise(self._nll, [best.x], bounds)

    def _fit(self) -> None:
        d = self.data_
        lin = self._linear_start()
        res = self._optimise(self._starts(lin))
        self.converged_ = bool(res.success)
        self.theta_ = res.x
        self.nll_ = float(res.fun)
        jac = _base.jacobian_term(d)
        self.n_obs_ = _base.n_observations(d)
        self.loglik_ = -res.fun - jac
        if self.n_modes == 1:
            self.loglik_one_ = self.loglik_
            return
        self.loglik_one_ = self.one_mode_.loglik_
        if self.loglik_ < self.loglik_one_:
            self.notes_ = [
                "the two-mode fit did not reach the one-mode likelihood; the modes are not "
                "separable in these data"
            ]
        if getattr(self, "_skip_se", False):  # a pseudo-group needs only the likelihoods
            cov, problem = None, None
        else:
            cov, problem = self._covariance(res.x)
        self.notes_ = getattr(self, "notes_", []) + ([] if problem is None else [problem])
        self.cov_ = cov
        rows = _base.estimate_table(res.x, cov, self.specs_, d)
        rows += self._derived(res.x, cov)
        self.table_ = rows
        for row in rows:
            if row["parameter"] in getattr(self, "_certain", ()):
                row["se"] = row["ci_low"] = row["ci_high"] = np.nan
        self.params_ = {r["parameter"]: r["estimate"] for r in rows}
        self.se_ = {r["parameter"]: r["se"] for r in rows}
        self.ci_ = {r["parameter"]: (r["ci_low"], r["ci_high"]) for r in rows}
        self.lrt_stat_ = max(0.0, 2.0 * (self.loglik_ - self.loglik_one_))
        k = len(self.specs_)
        self.aic_, self.bic_ = _base.information_criteria(self.loglik_, k, self.n_obs_)
        k1 = len(self.one_mode_.specs_)
        self.aic_one_, self.bic_one_ = _base.information_criteria(self.loglik_one_, k1, self.n_obs_)
        # Decoding and predictions (dense filter: equal to the fast path where that applies)
        p = self._unpack(res.x)
        cs, drift, trans = self._arrays(p)
        n = d.n_persons
        fs = np.stack([(1 - d.dt * p["lambda"]) * np.eye(n) - d.dt * c * d.lap for c in cs])
        preds = np.full(d.y.shape, np.nan)
        filt = np.empty((d.n_time, 2))
        pred = np.empty((d.n_time, 2))
        kim_loglik(d.y, fs, drift, p["q"], p["r"], trans, 1, preds, filt, pred)
        self.filtered_prob_ = filt
        self.mode_prob_ = kim_smooth(filt, pred, trans)
        self.predicted_ = d.unstandardise(preds)

    def _covariance(self, theta: np.ndarray) -> tuple[np.ndarray | None, str | None]:
        """Inverse Hessian. A stimulus that makes a switch certain leaves the likelihood flat
        in its hazard slope (any larger slope fits as well); that slope then gets no interval
        and the others are computed with it held at its estimate."""
        hess = _base.hessian(self._nll, theta)
        self._certain = []
        if self.hazard == "stimulus" and self.n_modes == 2:
            p = self._unpack(theta)
            trans = _stimulus_transitions(p, self.u_hazard_, self.hazard_lag)
            if trans[:, 0, 1].max() > 1 - 1e-6:
                self._certain.append("h_up")
            if trans[:, 1, 0].max() > 1 - 1e-6:
                self._certain.append("h_down")
        if not self._certain:
            return _base.safe_inverse(hess)
        names = [s.name for s in self.specs_]
        keep = [k for k, n in enumerate(names) if n not in self._certain]
        sub, problem = _base.safe_inverse(hess[np.ix_(keep, keep)])
        note = (
            f"{' and '.join(self._certain)}: the stimulus makes the switch certain, so the slope "
            "has no upper limit and no interval; the other intervals hold it at its estimate"
        )
        self.notes_ = [*getattr(self, "notes_", []), note]
        if sub is None:
            return None, problem
        cov = np.zeros((len(names), len(names)))
        cov[np.ix_(keep, keep)] = sub
        return cov, problem

    def _derived(self, theta: np.ndarray, cov: np.ndarray | None) -> list[dict]:
        """b_high and the switching rates per second, by the delta method."""
        d = self.data_
        names = [s.name for s in self.specs_]

        def value(th, key):
            p = self._unpack(th)
            if key == "b_high":
                return p["b_high"] * d.scale
            h = p["p_up" if key == "rate_up" else "p_down"]
            return -math.log1p(-h) / d.dt

        rows = []
        for key, meaning, log in (
            ("b_high", "baseline of the high mode", False),
            ("rate_up", "switches low -> high per second", True),
            ("rate_down", "switches high -> low per second", True),
        ):
            est = value(theta, key)
            grad = np.zeros(theta.size)
            for i in range(theta.size):
                h = 1e-5 * max(1.0, abs(theta[i]))
                e = np.zeros(theta.size)
                e[i] = h
                grad[i] = (value(theta + e, key) - value(theta - e, key)) / (2 * h)
            var = float(grad @ cov @ grad) if cov is not None else np.nan
            se = math.sqrt(var) if var > 0 else np.nan
            if log and est > 0:
                s_log = se / est
                with np.errstate(over="ignore"):
                    lo, hi = est * np.exp(-_base.Z95 * s_log), est * np.exp(_base.Z95 * s_log)
            else:
                lo, hi = est - _base.Z95 * se, est + _base.Z95 * se
            rows.append(
                {
                    "parameter": key,
                    "estimate": est,
                    "se": se,
                    "ci_low": lo,
                    "ci_high": hi,
                    "meaning": meaning,
                }
            )
        del names
        return rows

    def simulate_null(self, rng: np.random.Generator) -> np.ndarray:
        """A series from the fitted one-mode model (standardised scale, same missing samples)."""
        d = self.data_
        one = self.one_mode_ if self.n_modes == 2 else self
        p = one._unpack(one.theta_)
        cs, drift, _ = one._arrays(p)
        n = d.n_persons
        f = (1 - d.dt * p["lambda"]) * np.eye(n) - d.dt * cs[0] * d.lap
        x = np.nan_to_num(d.y[0]).copy()
        out = np.empty(d.y.shape)
        noise = rng.standard_normal((d.n_time, n)) * math.sqrt(p["q"])
        meas = rng.standard_normal((d.n_time, n)) * math.sqrt(p["r"])
        for t in range(d.n_time):
            if t > 0:
                x = f @ x + drift[t - 1, 0] + noise[t]
            out[t] = x + meas[t]
        out[~np.isfinite(d.y)] = np.nan
        return out

    def _result(self):
        from syntony._provenance import provenance
        from syntony.physio.mechanisms.results import SwitchingFitResult

        parameters = {
            "model": "switching",
            "n_modes": int(self.n_modes),
            "couplings": self.couplings,
            "hazard": self.hazard,
            "hazard_lag": int(self.hazard_lag),
            "network": "complete" if self.adjacency is None else "matrix",
            "dt": float(self.dt),
            "normalize": bool(self.normalize),
            "center": bool(self.center),
            "stimulus": self.data_.u is not None,
            "filter": "scalar decomposition (exact)" if self.fast_ else "dense Kim filter",
        }
        if self.n_modes == 1:
            return None
        return SwitchingFitResult.from_switching(
            self, parameters=parameters, provenance=provenance(parameters=parameters)
        )


def mode_number_test(
    model: SwitchingContagionModel,
    *,
    n_boot: int = 99,
    seed: SeedLike | SeedTree = None,
    progress: Callable[[int], None] | None = None,
    checkpoint=None,
    checkpoint_slot: int = 11,
    executor=None,
) -> dict:
    """Parametric bootstrap of the likelihood ratio of two modes against one.

    ``n_boot`` series are simulated from the fitted one-mode model (with the data's stimulus
    and missing samples); both models are refitted to each, with the same starting rule. The
    p-value is ``(1 + #{LR_boot >= LR}) / (1 + n_boot)``. Chunk ``k`` of bootstrap samples
    draws from ``child("chunk", k)`` of ``seed`` (checkpointed like the pseudo-group tests);
    with an ``executor`` (:mod:`syntony.execution`) the chunks run as its tasks, the fitted
    model sent once to each worker, and the numbers are the same as without one.
    """
    from syntony.physio._chunks import run_chunks

    n_boot = check_integer("n_boot", n_boot, minimum=1)
    tree = SeedTree(seed)
    values = run_chunks(
        n_boot,
        BOOT_CHUNK,
        functools.partial(_boot_chunk, tree),
        checkpoint=checkpoint,
        slot=checkpoint_slot,
        advance=progress,
        executor=executor,
        shared=model,
    )["lr"]
    stat = float(model.lrt_stat_)
    return {
        "statistic": stat,
        "p_value": float((1 + np.sum(values >= stat)) / (1 + n_boot)),
        "null": values,
        "null_mean": float(values.mean()),
        "null_q025": float(np.quantile(values, 0.025)),
        "null_q975": float(np.quantile(values, 0.975)),
        "n": n_boot,
    }


def _boot_chunk(
    tree: SeedTree, k: int, start: int, stop: int, model: SwitchingContagionModel
) -> dict[str, np.ndarray]:
    """Bootstrap likelihood ratios ``start`` to ``stop`` (chunk ``k``; module-level, so that
    worker processes and Dask can receive it)."""
    from syntony.physio._chunks import chunk_generator

    rng = chunk_generator(tree, k)
    u = model.stimulus_
    values = np.empty(stop - start)
    with _base.one_blas_thread():
        for b in range(stop - start):
            values[b] = bootstrap_lr(model, rng, u)
    return {"lr": values}


def bootstrap_lr(
    model: SwitchingContagionModel, rng: np.random.Generator, u: np.ndarray | None
) -> float:
    """The two-mode against one-mode likelihood ratio of one series from the fitted null."""
    y = model.simulate_null(rng)
    boot = SwitchingContagionModel(
        n_modes=2,
        couplings=model.couplings,
        hazard=getattr(model, "hazard", "constant"),
        hazard_lag=getattr(model, "hazard_lag", 1),
        adjacency=model.adjacency,
        dt=model.dt,
        center=model.center,
        normalize=model.normalize,
        n_starts=model.n_starts,
    )
    boot._prepare(y, u)
    lin = boot._linear_start()
    res = boot._optimise(boot._starts(lin))
    return max(0.0, 2.0 * ((-res.fun) - (-boot.one_mode_.nll_)))
