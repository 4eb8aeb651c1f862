"""Directed influence: who pulls whom, who leads and who follows.

The linear model gives every ordered pair the same pull ``c``. Here the pull of j on i is

    c_ij = c * exp(recv_i + send_j)                  (structure="sender-receiver"), or
    c_ij = c * exp(e_ij)                             (structure="pairs", small groups),

spread over those i perceives: ``x_i`` moves toward ``x_j`` at rate ``c_ij A_ij / deg_i``.
``send_j`` is how strongly j pulls others (a leader has a large one), ``recv_i`` how strongly i
is pulled (a follower); both sum to zero over the group (the effects of the social relations
model, Kenny and La Voie 1984), so ``c`` is the group's typical pull and all effects zero is the
complete-network ``c`` of the linear model. For identifiability when coupling is weak, the
effects carry a Gaussian prior of standard deviation ``prior_sd`` (a ridge penalty, Hoerl and
Kennard 1970); estimates are its posterior mode and intervals come from the curvature of the
penalised likelihood (Laplace). The transition does not change with time, so the Kalman filter
freezes its gain once the Riccati recursion has converged and the likelihood costs O(T N^2).
"""

from __future__ import annotations

import math

import numpy as np

from syntony._validate import check_choice, check_positive
from syntony.errors import InputError, ParameterError
from syntony.physio.mechanisms import _base
from syntony.physio.mechanisms._base import Param
from syntony.physio.mechanisms._kalman import ti_loglik

__all__ = ["DirectedContagionModel"]

STRUCTURES = ("sender-receiver", "pairs")
_TOL = 1e-10
_EFFECT_BOUNDS = (-6.0, 6.0)


class DirectedContagionModel:
    """Contagion with a pull per sender and receiver (or per ordered pair), by penalised ML.

    Parameters
    ----------
    structure : {"sender-receiver", "pairs"}
        Per-person sender and receiver effects (any group size), or one effect per ordered
        pair (N (N - 1) parameters; for small groups).
    prior_sd : float
        Standard deviation of the Gaussian prior on the (log-scale) effects.
    tests : bool
        Refit without sender effects, without receiver effects and without both (the linear
        model) for likelihood-ratio tests.
    adjacency, dt, center
        As in :class:`syntony.physio.ContagionModel`.

    Attributes
    ----------
    params_, se_, ci_ : dict
        c, lambda, b, (beta), q, r, and ``send:<person>``, ``recv:<person>`` (or
        ``pair:<i>-><j>``: the effect of j on i).
    influence_ : list of dict
        Per person: send and receive effects with intervals, and the factors exp(effect).
    tests_ : list of dict
        Likelihood-ratio tests (statistic, df, p_value) of the effects.
    result_ : DirectedFitResult
    """

    def __init__(
        self,
        *,
        structure: str = "sender-receiver",
        prior_sd: float = 1.0,
        tests: bool = True,
        adjacency: np.ndarray | None = None,
        dt: float = 1.0,
        center: bool = True,
    ) -> None:
        self.structure = structure
        self.prior_sd = prior_sd
        self.tests = tests
        self.adjacency = adjacency
        self.dt = dt
        self.center = center

    # -- parameters ------------------------------------------------------------------------------
    def _layout(self, effects: str) -> None:
        """Parameter specs for ``effects`` in {"both", "send", "recv", "none", "pairs"}."""
        d = self.data_
        base = _base.base_specs(d)
        names = ["c", "lambda", "b"] + (["beta"] if d.u is not None else []) + ["q", "r"]
        self._base_specs = [base[n] for n in names]
        n = d.n_persons
        free = {"send": 0, "recv": 0, "pairs": 0}
        if effects in ("both", "send"):
            free["send"] = n - 1
        if effects in ("both", "recv"):
            free["recv"] = n - 1
        if effects == "pairs":
            free["pairs"] = len(self._pairs) - 1
        self._free = free
        eff = [
            Param(f"{kind}{k}", "identity", "none", _EFFECT_BOUNDS)
            for kind in ("send", "recv", "pairs")
            for k in range(free[kind])
        ]
        self._specs = self._base_specs + eff

    def _effects(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """The matrix of log pull factors (N, N) and the prior's log density."""
        n = self.data_.n_persons
        k = len(self._base_specs)
        logm = np.zeros((n, n))
        penalty = 0.0
        inv_var = 1.0 / self.prior_sd**2
        for kind in ("send", "recv", "pairs"):
            m = self._free[kind]
            if m == 0:
                continue
            v = theta[k : k + m]
            k += m
            full = np.append(v, -v.sum())  # sum to zero
            penalty += -0.5 * inv_var * float(full @ full)
            if kind == "send":
                logm += full[None, :]
            elif kind == "recv":
                logm += full[:, None]
            else:
                logm[self._pairs[:, 0], self._pairs[:, 1]] = full
        return logm, penalty

    def _transition(self, theta: np.ndarray) -> tuple[np.ndarray, dict[str, float], float]:
        d = self.data_
        p = {s.name: s.natural(v) for s, v in zip(self._base_specs, theta, strict=False)}
        p.setdefault("beta", 0.0)
        logm, penalty = self._effects(theta)
        m = self._weights * np.exp(logm)
        lap = np.diag(m.sum(axis=1)) - m
        f = (1.0 - d.dt * p["lambda"]) * np.eye(d.n_persons) - d.dt * p["c"] * lap
        return f, p, penalty

    def _loglik(self, theta: np.ndarray, preds: np.ndarray | None = None) -> tuple[float, float]:
        """(log-likelihood, log prior) at ``theta`` on the standardised scale."""
        d = self.data_
        f, p, penalty = self._transition(theta)
        u = d.u if d.u is not None else 0.0
        drive = np.ascontiguousarray(
            d.dt * (p["lambda"] * p["b"] + p["beta"] * u) * np.ones(d.n_time)
        )
        out = np.empty(d.y.shape) if preds is None else preds
        try:
            ll = ti_loglik(d.y, f, drive, p["q"], p["r"], 1, out, _TOL)
        except Exception:
            return -np.inf, penalty
        return (float(ll) if np.isfinite(ll) else -np.inf), penalty

    def _objective(self, theta: np.ndarray) -> float:
        ll, penalty = self._loglik(theta)
        return -(ll + penalty) if np.isfinite(ll) else 1e12

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, y, u=None) -> DirectedContagionModel:
        """Fit to ``y`` (time, person), optionally with a shared stimulus ``u`` (time,)."""
        check_choice("structure", self.structure, STRUCTURES)
        check_positive("prior_sd", self.prior_sd)
        self.data_ = d = _base.prepare(
            y, u, dt=self.dt, center=self.center, adjacency=self.adjacency, min_persons=3
        )
        a = d.adjacency.copy()
        np.fill_diagonal(a, 0.0)
        deg = a.sum(axis=1)
        if (deg == 0).any():
            lonely = [d.persons[k] for k in np.flatnonzero(deg == 0)]
            raise InputError(
                f"person(s) {', '.join(map(repr, lonely))} perceive nobody in the network; "
                "a receiver effect needs at least one person perceived"
            )
        self._weights = a / deg[:, None]
        self._pairs = np.argwhere(a > 0)
        if self.structure == "pairs" and len(self._pairs) > 60:
            raise ParameterError(
                "structure",
                "'sender-receiver' for a network of more than 60 ordered pairs",
                self.structure,
            )
        with _base.one_blas_thread():
            self._fit()
        if not getattr(self, "_skip_result", False):
            self.result_ = self._result()
        return self

    def _optimise(self, effects: str, start_base: np.ndarray):
        self._layout(effects)
        n_eff = len(self._specs) - len(self._base_specs)
        x0 = np.concatenate([start_base, np.zeros(n_eff)])
        res = _base.minimise(self._objective, [x0], [s.bounds for s in self._specs], maxiter=1000)
        ll, _penalty = self._loglik(res.x)
        return res, ll

    def _fit(self) -> None:
        d = self.data_
        self._layout("none")
        m0 = _base.moment_start(d)
        x0 = np.array([_base.to_internal(s, m0[s.name]) for s in self._base_specs])
        alt = x0.copy()
        alt[0] = 0.0
        linear = _base.minimise(self._objective, [x0, alt], [s.bounds for s in self._specs])
        ll_linear, _ = self._loglik(linear.x)
        full_kind = "pairs" if self.structure == "pairs" else "both"
        k_base = len(self._base_specs)
        results = {"none": (linear, ll_linear)}
        if self.tests and self.structure == "sender-receiver":
            for kind in ("send", "recv"):
                results[kind] = self._optimise(kind, linear.x[:k_base])
        full, ll_full = self._optimise(full_kind, linear.x[:k_base])
        self.converged_ = bool(full.success)
        self.theta_ = full.x
        if getattr(self, "_skip_se", False):  # a pseudo-group needs only the likelihoods
            cov, problem = None, None
        else:
            cov, problem = _base.safe_inverse(_base.hessian(self._objective, full.x))
        self.notes_ = [] if problem is None else [problem]
        jac = _base.jacobian_term(d)
        self.n_obs_ = _base.n_observations(d)
        self.loglik_ = ll_full - jac
        self.loglik_linear_ = ll_linear - jac
        rows = _base.estimate_table(
            full.x[:k_base], None if cov is None else cov[:k_base, :k_base], self._base_specs, d
        )
        self.influence_, effect_rows = self._effect_rows(full.x, cov)
        self.table_ = rows + effect_rows
        self.params_ = {r["parameter"]: r["estimate"] for r in self.table_}
        self.se_ = {r["parameter"]: r["se"] for r in self.table_}
        self.ci_ = {r["parameter"]: (r["ci_low"], r["ci_high"]) for r in self.table_}
        n = d.n_persons
        tests = []
        k_full = len(self._specs)
        if self.structure == "sender-receiver":
            if self.tests:
                for kind, label in (("recv", "no sender effects"), ("send", "no receiver effects")):
                    _, ll0 = results[kind]
                    stat = max(0.0, 2.0 * (ll_full - ll0))
                    tests.append(
                        {
                            "test": f"likelihood ratio ({label})",
                            "statistic": stat,
                            "df": float(n - 1),
                            "p_value": _base.chi2_pvalue(stat, n - 1),
                        }
                    )
            df = 2 * (n - 1)
        else:
            df = len(self._pairs) - 1
        stat = max(0.0, 2.0 * (ll_full - ll_linear))
        tests.append(
            {
                "test": "likelihood ratio (one pull for all pairs)",
                "statistic": stat,
                "df": float(df),
                "p_value": _base.chi2_pvalue(stat, df),
            }
        )
        self.tests_ = tests
        self.aic_, self.bic_ = _base.information_criteria(self.loglik_, k_full, self.n_obs_)
        self.aic_linear_, self.bic_linear_ = _base.information_criteria(
            self.loglik_linear_, k_base, self.n_obs_
        )
        preds = np.full(d.y.shape, np.nan)
        self._layout(full_kind)
        self._loglik(full.x, preds)
        self.predicted_ = d.unstandardise(preds)
        logm, _ = self._effects(full.x)
        p = {s.name: s.natural(v) for s, v in zip(self._base_specs, full.x, strict=False)}
        self.pull_ = p["c"] * np.exp(logm) * (self._weights > 0)

    def _effect_rows(self, theta: np.ndarray, cov: np.ndarray | None):
        """Full effect vectors (the last of each set is minus the sum of the others) with
        delta-method standard errors, per person and as parameter rows."""
        d = self.data_
        k = len(self._base_specs)
        rows, per_person = [], {p: {"person": p} for p in d.persons}
        for kind in ("send", "recv", "pairs"):
            m = self._free[kind]
            if m == 0:
                continue
            # effect = J v with J = [I; -1']
            jmat = np.vstack([np.eye(m), -np.ones((1, m))])
            v = theta[k : k + m]
            est = jmat @ v
            if cov is not None:
                sub = cov[k : k + m, k : k + m]
                se = np.sqrt(np.clip(np.diag(jmat @ sub @ jmat.T), 0, None))
            else:
                se = np.full(m + 1, np.nan)
            k += m
            if kind == "pairs":
                labels = [f"pair:{d.persons[j]}->{d.persons[i]}" for i, j in self._pairs]
            else:
                labels = [f"{kind}:{p}" for p in d.persons]
            meaning = {
                "send": "log of how strongly this person pulls others (sender effect)",
                "recv": "log of how strongly this person is pulled (receiver effect)",
                "pairs": "log of the pull of the first person on the second, relative to c",
            }[kind]
            for idx, label in enumerate(labels):
                row = {
                    "parameter": label,
                    "estimate": float(est[idx]),
                    "se": float(se[idx]),
                    "ci_low": float(est[idx] - _base.Z95 * se[idx]),
                    "ci_high": float(est[idx] + _base.Z95 * se[idx]),
                    "meaning": meaning,
                }
                rows.append(row)
                if kind in ("send", "recv"):
                    person = per_person[d.persons[idx]]
                    person[kind] = row["estimate"]
                    person[f"{kind}_ci_low"], person[f"{kind}_ci_high"] = (
                        row["ci_low"],
                        row["ci_high"],
                    )
                    person[f"{kind}_factor"] = math.exp(row["estimate"])
        return [per_person[p] for p in d.persons] if self.structure != "pairs" else [], rows

    def _result(self):
        from syntony._provenance import provenance
        from syntony.physio.mechanisms.results import DirectedFitResult

        parameters = {
            "model": "directed",
            "structure": self.structure,
            "prior_sd": float(self.prior_sd),
            "network": "complete" if self.adjacency is None else "matrix",
            "dt": float(self.dt),
            "center": bool(self.center),
            "stimulus": self.data_.u is not None,
        }
        return DirectedFitResult.from_directed(
            self, parameters=parameters, provenance=provenance(parameters=parameters)
        )
