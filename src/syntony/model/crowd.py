"""Eqs (3)–(5): the crowd's shared priors as a Kalman filter over N individuals.

``mu`` (one prediction per individual) and its covariance ``Sigma`` are updated by the
precision-weighted gain ``K = Sigma H^T (H Sigma H^T + Sigma_eps)^-1`` (eq 5, with the
observation matrix H = I as published). Three exact algorithms compute the same numbers:

* :class:`DenseKalman` – any H and process noise Q; Cholesky solves and the Joseph form,
  O(N^3) per step;
* :class:`DiagonalisedKalman` – Q = 0 and H = I: one simultaneous diagonalisation of
  ``Sigma_0`` and ``Sigma_eps`` turns the whole run into a few matrix products, O(N^3) once;
* :class:`ExchangeableKalman` – every covariance of the form ``a I + b 11^T`` and H = I:
  two scalar filters, O(N) per step (see :mod:`syntony.model.crowd_structured`).

:class:`CrowdFilter` picks the cheapest one that applies; pass ``structure=`` to force one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol

import numpy as np
from scipy import linalg

from syntony._validate import check_array, check_positive
from syntony.errors import ParameterError
from syntony.model.crowd_linalg import (
    Covariance,
    check_cov,
    check_psd,
    is_zero,
    lower_solve,
    lower_times,
    whiten,
)
from syntony.model.crowd_structured import ExchangeableCov, exchangeable_filter

if TYPE_CHECKING:
    from syntony.model.results import CrowdFilterResult

__all__ = [
    "CrowdAlgorithm",
    "CrowdFilter",
    "CrowdStep",
    "DenseKalman",
    "DiagonalisedKalman",
    "ExchangeableCov",
    "ExchangeableKalman",
    "crowd_step",
    "prior_cov_from_synchrony",
    "steady_state_gain",
]


# --------------------------------------------------------------------------- closed forms
def prior_cov_from_synchrony(
    rho: np.typing.ArrayLike, variances: np.typing.ArrayLike
) -> np.ndarray:
    """Prior covariance of the crowd from physiological synchrony.

    ``Sigma_0[i, j] = rho_ij sqrt(sigma_i sigma_j)``: individuals whose bodies move together
    hold correlated priors.

    Parameters
    ----------
    rho : array_like, shape (N, N)
        Synchrony matrix: symmetric, unit diagonal, entries in [-1, 1].
    variances : array_like, shape (N,)
        Variances ``sigma_i`` (>= 0).

    Returns
    -------
    numpy.ndarray, shape (N, N)
        A symmetric positive semi-definite matrix; :class:`~syntony.errors.ParameterError`
        if ``rho`` is not a valid correlation matrix.
    """
    r = check_array("rho", rho, ndim=2)
    n = r.shape[0]
    if r.shape != (n, n):
        raise ParameterError("rho", "a square (N, N) synchrony matrix", f"shape {r.shape}")
    sigma = check_array("variances", variances, shape=(n,), nonnegative=True)
    if np.abs(r - r.T).max(initial=0.0) > 1e-12:
        i, j = np.unravel_index(np.argmax(np.abs(r - r.T)), r.shape)
        raise ParameterError("rho", "a symmetric matrix", f"rho[{i},{j}] != rho[{j},{i}]")
    if np.abs(np.diag(r) - 1.0).max(initial=0.0) > 1e-12:
        raise ParameterError("rho", "ones on the diagonal", np.diag(r).tolist()[:5])
    if np.abs(r).max(initial=0.0) > 1.0:
        raise ParameterError("rho", "correlations in [-1, 1]", float(np.abs(r).max()))
    root = np.sqrt(sigma)
    cov = (r + r.T) / 2.0 * root[:, None] * root[None, :]
    check_psd("rho", cov, what="a positive semi-definite correlation matrix")
    return cov


def steady_state_gain(q: np.typing.ArrayLike, r: np.typing.ArrayLike) -> np.ndarray:
    """Steady-state gain of the scalar filter with process noise q and sensory noise r.

    ``K = (-l + sqrt(l^2 + 4 l)) / 2`` with ``l = q / r``: the learning rate at which a
    crowd's priors settle when the world keeps changing (q > 0); it is 0 when q = 0 (the
    priors harden) and tends to 1 as q / r grows.

    Examples
    --------
    >>> round(float(steady_state_gain(1.0, 1.0)), 12)  # the golden ratio's conjugate
    0.61803398875
    """
    q_arr = check_array("q", q, nonnegative=True)
    r_arr = check_array("r", r, nonnegative=True)
    if np.any(r_arr <= 0):
        raise ParameterError("r", "a sensory noise variance > 0", r_arr.min())
    lam = np.asarray(q_arr / r_arr, dtype=float)
    # Rationalised form of (-l + sqrt(l^2 + 4l)) / 2: no cancellation for small l.
    denominator = lam + np.sqrt(lam * lam + 4.0 * lam)
    gain = np.divide(2.0 * lam, denominator, out=np.zeros_like(lam), where=denominator > 0)
    return gain[()]


# ---------------------------------------------------------------------------- one step
class CrowdStep(NamedTuple):
    """Result of one application of eqs (3)–(5)."""

    mu: np.ndarray
    cov: np.ndarray
    gain: np.ndarray


def crowd_step(
    mu: np.ndarray,
    cov: np.ndarray,
    s: np.ndarray,
    noise_cov: np.ndarray,
    *,
    observation: np.ndarray | None = None,
    process_noise: np.ndarray | None = None,
    joseph: bool = True,
) -> CrowdStep:
    """One step of eqs (3)–(5) with the extensions H and Q (pure; dense arrays).

    ``Sigma <- Sigma + Q``; ``K = Sigma H^T (H Sigma H^T + Sigma_eps)^-1`` by Cholesky solves;
    ``mu <- mu + K (s - H mu)``; ``Sigma <- (I - K H) Sigma (I - K H)^T + K Sigma_eps K^T``
    (the Joseph form, which equals eq (4) for this K but stays symmetric positive
    semi-definite under rounding) or eq (4) followed by symmetrisation if ``joseph=False``.

    Returns
    -------
    CrowdStep
        Updated mean, covariance, and the gain K (N x n_obs).
    """
    mu, cov, k_t, _ = _dense_update(
        np.asarray(mu, dtype=float),
        np.asarray(cov, dtype=float),
        np.asarray(s, dtype=float),
        np.asarray(noise_cov, dtype=float),
        None if observation is None else np.asarray(observation, dtype=float),
        None if process_noise is None else np.asarray(process_noise, dtype=float),
        joseph,
        step=None,
    )
    return CrowdStep(mu, cov, k_t.T)


def _dense_update(mu, cov, s, noise, h, q, joseph, *, step):
    prior = cov + q if q is not None else cov
    hp = prior if h is None else h @ prior  # H Sigma, (m, N)
    innovation_cov = (hp if h is None else hp @ h.T) + noise
    innovation_cov = (innovation_cov + innovation_cov.T) / 2.0
    try:
        factor = linalg.cho_factor(innovation_cov, lower=True, check_finite=False)
    except linalg.LinAlgError:
        when = f" at step {step}" if step is not None else ""
        raise ParameterError(
            "noise_cov",
            "H Sigma H^T + noise_cov positive definite (at least one of them must be)",
            f"a singular innovation covariance{when}",
        ) from None
    k_t = linalg.cho_solve(factor, hp, check_finite=False)  # K^T = S^-1 H Sigma, (m, N)
    innovation = s - (mu if h is None else h @ mu)
    mu = mu + hp.T @ linalg.cho_solve(factor, innovation, check_finite=False)
    trace = float(np.trace(k_t)) if h is None else float(np.vdot(k_t, h))
    if joseph:
        a = -(k_t.T if h is None else k_t.T @ h)
        a[np.diag_indices_from(a)] += 1.0
        kr = k_t.T @ noise
        new = a @ prior @ a.T + kr @ k_t
    else:
        new = prior - k_t.T @ hp
    return mu, (new + new.T) / 2.0, k_t, trace


# ----------------------------------------------------------------------- the problem
@dataclass(frozen=True, eq=False)
class _Problem:
    """Validated inputs of one run, with the Cholesky factors found while checking them."""

    observations: np.ndarray  # (T, m)
    prior_mean: np.ndarray  # (N,)
    prior_cov: Covariance
    noise_cov: Covariance
    process_noise: Covariance | None
    observation: np.ndarray | None  # (m, N) or None for H = I
    prior_factor: np.ndarray | None  # lower Cholesky (2-D) or sqrt of a diagonal (1-D)
    noise_factor: np.ndarray | None
    want_cov: bool = True  # whether the final Sigma is needed (an extra O(N^3) for some)

    @property
    def n(self) -> int:
        return self.prior_mean.shape[0]


def _dense(matrix: Covariance | None) -> np.ndarray | None:
    return matrix.to_dense() if isinstance(matrix, ExchangeableCov) else matrix


class _Run(NamedTuple):
    mu: np.ndarray
    prior_var: np.ndarray
    mean_gain: np.ndarray
    final_cov: Covariance | None
    mean_cov: np.ndarray  # mean off-diagonal entry of Sigma after each update, (T,)


def _mean_off_diagonal(total: np.ndarray, trace: np.ndarray, n: int) -> np.ndarray:
    """Mean off-diagonal entry of N x N matrices from their sums of entries and traces."""
    if n < 2:
        return np.full(np.shape(total), np.nan)
    return (total - trace) / (n * (n - 1))


class CrowdAlgorithm(Protocol):
    """An exact algorithm for eqs (3)–(5): ``check`` says whether it applies."""

    name: ClassVar[str]

    def check(self, problem: _Problem) -> None: ...

    def __call__(self, problem: _Problem) -> _Run: ...


@dataclass(frozen=True)
class DenseKalman:
    """General dense filter: any H, any Q, O(N^3) per step.

    Parameters
    ----------
    joseph : bool
        Update Sigma in Joseph form (default; PSD by construction) rather than eq (4)
        followed by symmetrisation (about half the cost).
    """

    joseph: bool = True
    name: ClassVar[str] = "dense"

    def check(self, problem: _Problem) -> None:
        """Every problem qualifies."""

    def __call__(self, problem: _Problem) -> _Run:
        obs = problem.observations
        n_steps, n = obs.shape[0], problem.n
        noise, q = _dense(problem.noise_cov), _dense(problem.process_noise)
        cov, mu = _dense(problem.prior_cov).copy(), problem.prior_mean.copy()
        mu_out, var_out, gain = np.empty((n_steps, n)), np.empty((n_steps, n)), np.empty(n_steps)
        total = np.empty(n_steps)
        for t in range(n_steps):
            mu, cov, _, trace = _dense_update(
                mu, cov, obs[t], noise, problem.observation, q, self.joseph, step=t
            )
            mu_out[t], var_out[t], gain[t], total[t] = mu, np.diag(cov), trace / n, cov.sum()
        return _Run(mu_out, var_out, gain, cov, _mean_off_diagonal(total, var_out.sum(1), n))


@dataclass(frozen=True)
class DiagonalisedKalman:
    """Q = 0, H = I: the whole run from one simultaneous diagonalisation.

    Whiten by the Cholesky factor L of ``Sigma_eps`` (or of ``Sigma_0`` if the noise is
    singular) and eigendecompose the other whitened matrix, ``L^-1 M L^-T = U D U^T``. In the
    basis ``B = L U`` every mode k is an independent scalar problem with prior variance d_k
    and noise variance e_k (one of the two is 1), whose posterior after t observations is the
    precision-weighted average ``(e m_0 + d sum z) / (e + t d)`` with variance
    ``d e / (e + t d)``. Cumulative sums over time and three matrix products give every step.
    """

    name: ClassVar[str] = "diagonalised"

    def check(self, problem: _Problem) -> None:
        """Needs Q = 0, H = I and a positive definite Sigma_eps or Sigma_0."""
        if problem.process_noise is not None:
            raise ParameterError("structure", "process_noise = 0 for DiagonalisedKalman", "Q != 0")
        if problem.observation is not None:
            raise ParameterError("structure", "observation = I for DiagonalisedKalman", "H != I")
        if self._whitening(problem) is None:
            raise ParameterError(
                "structure",
                "noise_cov or prior_cov positive definite for DiagonalisedKalman",
                "both singular",
            )

    @staticmethod
    def _whitening(problem: _Problem):
        """(factor, other matrix, whitened by the noise?) or None if neither is definite."""
        for factor, matrix, other, by_noise in (
            (problem.noise_factor, problem.noise_cov, problem.prior_cov, True),
            (problem.prior_factor, problem.prior_cov, problem.noise_cov, False),
        ):
            if factor is None and isinstance(matrix, ExchangeableCov):
                deviation = matrix.deviation_eigenvalue if matrix.n > 1 else 1.0
                if min(matrix.common_eigenvalue, deviation) > 0:
                    factor = np.linalg.cholesky(matrix.to_dense())
            if factor is not None:
                return factor, _dense(other), by_noise
        return None

    def __call__(self, problem: _Problem) -> _Run:
        obs, n_steps, n = problem.observations, problem.observations.shape[0], problem.n
        factor, other, by_noise = self._whitening(problem)
        whitened = whiten(factor, other)
        values, basis = linalg.eigh(whitened, overwrite_a=True, check_finite=False, driver="evd")
        values = np.maximum(values, 0.0)  # rounding of a PSD matrix
        ones = np.ones(n)
        d, e = (values, ones) if by_noise else (ones, values)
        back = lower_times(factor, basis)  # B = L U: mode coordinates -> individuals
        m0 = basis.T @ lower_solve(factor, problem.prior_mean)
        z = lower_solve(factor, obs.T).T @ basis  # observations in mode coordinates
        np.cumsum(z, axis=0, out=z)
        count = np.arange(1, n_steps + 1, dtype=float)[:, None]
        denominator = e + count * d
        mean = (e * m0 + d * z) / denominator
        var = d * e / denominator
        mu = mean @ back.T
        prior_var = var @ (back * back).T
        # K(t) acts on mode k with gain d / (e + (t+1) d); its trace is basis-independent.
        mean_gain = (d / denominator).sum(axis=1) / n
        # 1' Sigma_t 1 = sum_k var_k(t) (1' b_k)^2: the mean covariance needs no N x N matrix.
        total = var @ back.sum(axis=0) ** 2
        final = None
        if problem.want_cov:
            final = (back * var[-1]) @ back.T
            final = (final + final.T) / 2.0
        mean_cov = _mean_off_diagonal(total, prior_var.sum(axis=1), n)
        return _Run(mu, prior_var, mean_gain, final, mean_cov)


@dataclass(frozen=True)
class ExchangeableKalman:
    """H = I and every covariance exchangeable (``a I + b 11^T``): exact in O(N) per step.

    Dense inputs are accepted when they are exchangeable (checked); pass
    :class:`~syntony.model.crowd_structured.ExchangeableCov` to avoid N x N matrices at all.
    """

    name: ClassVar[str] = "exchangeable"

    def check(self, problem: _Problem) -> None:
        """Needs H = I and exchangeable prior, noise and process-noise covariances."""
        if problem.observation is not None:
            raise ParameterError("structure", "observation = I for ExchangeableKalman", "H != I")
        self._structured(problem)

    @staticmethod
    def _structured(problem: _Problem):
        def convert(name, matrix):
            if matrix is None or isinstance(matrix, ExchangeableCov):
                return matrix
            return ExchangeableCov.from_dense(matrix, name=name)

        return (
            convert("prior_cov", problem.prior_cov),
            convert("noise_cov", problem.noise_cov),
            convert("process_noise", problem.process_noise),
        )

    def __call__(self, problem: _Problem) -> _Run:
        prior, noise, q = self._structured(problem)
        out = exchangeable_filter(problem.observations, problem.prior_mean, prior, noise, q)
        return _Run(out.mu, out.prior_var, out.mean_gain, out.final_cov, out.mean_cov)


# ---------------------------------------------------------------------------- driver
class CrowdFilter:
    """Eqs (3)–(5): the crowd's shared priors, updated by a precision-weighted gain.

    Parameters
    ----------
    noise_cov : array_like (N, N) or (N,), or ExchangeableCov
        Sensory-noise covariance ``Sigma_eps`` of the observed quantities (a 1-D array is
        its diagonal). With an observation matrix H it is n_obs x n_obs.
    observation : array_like (n_obs, N), optional
        Observation matrix H (EXTENSION; default I: everyone observed).
    process_noise : array_like (N, N) or (N,), or ExchangeableCov, optional
        Volatility Q added to Sigma before each update (EXTENSION; default 0).
    structure : DenseKalman, DiagonalisedKalman or ExchangeableKalman, optional
        Force an algorithm; by default the cheapest exact one that applies is used:
        exchangeable (H = I and every covariance exchangeable, given as ExchangeableCov or
        recognised in a dense matrix), else diagonalised (Q = 0, H = I), else dense.

    Examples
    --------
    >>> import numpy as np
    >>> f = CrowdFilter(np.eye(3))
    >>> result = f.run(np.ones((4, 3)), prior_mean=np.zeros(3), prior_cov=np.eye(3))
    >>> result.dataset["mean_gain"].values.round(3)  # 1/2, 1/3, 1/4, 1/5: the priors harden
    array([0.5  , 0.333, 0.25 , 0.2  ])
    """

    def __init__(
        self,
        noise_cov: np.typing.ArrayLike | ExchangeableCov,
        *,
        observation: np.typing.ArrayLike | None = None,
        process_noise: np.typing.ArrayLike | ExchangeableCov | None = None,
        structure: CrowdAlgorithm | None = None,
    ) -> None:
        self.noise_cov = noise_cov
        self.observation = observation
        self.process_noise = process_noise
        self.structure = structure

    def __repr__(self) -> str:
        parts = ["noise_cov=..."]
        if self.observation is not None:
            parts.append("observation=...")
        if self.process_noise is not None:
            parts.append("process_noise=...")
        if self.structure is not None:
            parts.append(f"structure={self.structure!r}")
        return f"CrowdFilter({', '.join(parts)})"

    def _problem(self, observations, prior_mean, prior_cov, want_cov) -> _Problem:
        obs = check_array("observations", observations, ndim=2)
        if obs.shape[0] < 1:
            raise ParameterError("observations", "at least one time step", "no rows")
        if isinstance(prior_cov, ExchangeableCov):
            n = prior_cov.n
        else:
            n = np.shape(prior_cov)[0] if np.ndim(prior_cov) >= 1 else 0
        mean = check_array("prior_mean", prior_mean)
        if mean.ndim == 0:
            mean = np.full(n, float(mean))
        if mean.shape != (n,):
            raise ParameterError("prior_mean", f"a vector of length N = {n}", f"shape {mean.shape}")
        prior, prior_factor = check_cov("prior_cov", prior_cov, n)
        h = None
        if self.observation is not None:
            h = check_array("observation", self.observation, ndim=2)
            if h.shape[1] != n:
                raise ParameterError("observation", f"an (n_obs, {n}) matrix", f"shape {h.shape}")
            if h.shape == (n, n) and np.array_equal(h, np.eye(n)):
                h = None
        m = n if h is None else h.shape[0]
        if obs.shape[1] != m:
            raise ParameterError(
                "observations", f"{m} columns (one per observed quantity)", f"{obs.shape[1]}"
            )
        noise, noise_factor = check_cov("noise_cov", self.noise_cov, m)
        q = None
        if self.process_noise is not None:
            q, _ = check_cov("process_noise", self.process_noise, n)
            if is_zero(q):
                q = None
        return _Problem(obs, mean, prior, noise, q, h, prior_factor, noise_factor, want_cov)

    def _algorithm(self, problem: _Problem) -> CrowdAlgorithm:
        if self.structure is not None:
            if not isinstance(
                self.structure, DenseKalman | DiagonalisedKalman | ExchangeableKalman
            ):
                raise ParameterError(
                    "structure",
                    "DenseKalman(), DiagonalisedKalman() or ExchangeableKalman()",
                    self.structure,
                )
            self.structure.check(problem)
            return self.structure
        # Cheapest first. Recognising exchangeable dense matrices costs O(N^2), nothing next
        # to the O(N^3) it saves (and per step when there is process noise).
        for algorithm in (ExchangeableKalman(), DiagonalisedKalman()):
            try:
                algorithm.check(problem)
            except ParameterError:
                continue
            return algorithm
        return DenseKalman()

    def run(
        self,
        observations: np.typing.ArrayLike,
        *,
        prior_mean: np.typing.ArrayLike,
        prior_cov: np.typing.ArrayLike | ExchangeableCov,
        dt: float = 1.0,
        return_cov: bool = False,
    ) -> CrowdFilterResult:
        """Filter a sequence of observations; the one call of the crowd filter.

        Parameters
        ----------
        observations : array_like, shape (T, n_obs)
            ``s(t)``, one column per observed quantity (per individual when H = I).
        prior_mean : array_like, shape (N,) or float
            ``mu(0)``.
        prior_cov : array_like (N, N) or (N,), or ExchangeableCov
            ``Sigma(0)``, e.g. from :func:`prior_cov_from_synchrony`.
        dt : float
            Time step in seconds (sets the ``time`` coordinate).
        return_cov : bool
            Add the final ``Sigma`` as variable ``cov`` (agent, agent_j).

        Returns
        -------
        CrowdFilterResult
            Its ``dataset`` holds ``mu`` and ``prior_var`` (diagonal of Sigma), both after the
            update with the observation at that step (mu(t+1), Sigma(t+1) of eqs (3)–(4)), dims
            (time, agent); ``mean_gain`` = trace(K(t) H) / N and ``mean_prior_cov`` (the mean
            covariance of two individuals' priors, NaN for N = 1) over (time); ``s`` over
            (time, agent) or (time, observed). ``attrs["algorithm"]`` names the algorithm.
            The result saves, loads and reports itself (:class:`syntony.report.Result`).
        """
        import xarray as xr

        from syntony._provenance import provenance
        from syntony.model.results import CrowdFilterResult

        dt = check_positive("dt", dt)
        problem = self._problem(observations, prior_mean, prior_cov, bool(return_cov))
        algorithm = self._algorithm(problem)
        result = algorithm(problem)
        n_steps, n = problem.observations.shape[0], problem.n
        obs_dim = "agent" if problem.observation is None else "observed"
        coords: dict[str, object] = {
            "time": ("time", np.arange(n_steps) * dt, {"units": "s"}),
            "agent": np.arange(n),
        }
        if obs_dim == "observed":
            coords["observed"] = np.arange(problem.observations.shape[1])
        data = {
            "s": (("time", obs_dim), problem.observations, {"long_name": "observations"}),
            "mu": (("time", "agent"), result.mu, {"long_name": "crowd prior mean, eq (3)"}),
            "prior_var": (
                ("time", "agent"),
                result.prior_var,
                {"long_name": "diagonal of Sigma, eq (4)"},
            ),
            "mean_gain": ("time", result.mean_gain, {"long_name": "trace(K H) / N, eq (5)"}),
            "mean_prior_cov": (
                "time",
                result.mean_cov,
                {"long_name": "mean off-diagonal of Sigma (covariance of two priors)"},
            ),
        }
        final = result.final_cov
        if return_cov:
            data["cov"] = (("agent", "agent_j"), _dense(final), {"long_name": "final Sigma"})
        parameters = {
            "n_agents": n,
            "n_observed": int(problem.observations.shape[1]),
            "n_steps": n_steps,
            "observation": "identity" if problem.observation is None else "matrix",
            "process_noise": problem.process_noise is not None,
            "structure": repr(algorithm),
            "dt": dt,
        }
        record = provenance(parameters=parameters)
        attrs = {
            "model": "crowd filter, eqs (3)-(5)",
            "algorithm": algorithm.name,
            "structure": repr(algorithm),
            "dt": dt,
            "provenance": json.dumps(record, sort_keys=True),
        }
        if isinstance(final, ExchangeableCov):
            attrs["final_variance"] = final.variance
            attrs["final_covariance"] = final.covariance
        dataset = xr.Dataset(data, coords=coords, attrs=attrs)
        return CrowdFilterResult(dataset=dataset, parameters=parameters, provenance=record)
