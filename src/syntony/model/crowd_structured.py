"""The exchangeable crowd: eqs (3)–(5) in O(N) per step.

When every covariance of the crowd filter has the form ``a I + b 11^T`` (each individual alike,
every pair alike) and everyone is observed (H = I), all matrices share the eigenvectors ``1``
(the crowd's common mode) and its orthogonal complement (deviations from the crowd mean). The
N-dimensional filter then splits exactly into two scalar filters, and the gain acts as
``K y = g_dev y + (g_com - g_dev) mean(y)``. This is what lets eqs (3)–(5) run on very large
crowds without ever forming an N x N matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from syntony._validate import check_in_range, check_integer
from syntony.errors import ParameterError

__all__ = ["ExchangeableCov", "ScalarGains", "exchangeable_filter", "scalar_kalman_gains"]


@dataclass(frozen=True)
class ExchangeableCov:
    """Covariance ``variance`` on the diagonal and ``covariance`` everywhere else (N x N).

    Equivalently ``a I + b 11^T`` with ``a = variance - covariance`` and ``b = covariance``.
    Its eigenvalues are ``variance + (n - 1) covariance`` on the common mode (the vector of
    ones) and ``variance - covariance`` on the n - 1 deviation modes; it is positive
    semi-definite exactly when both are >= 0.

    Parameters
    ----------
    n : int
        Number of individuals (>= 1).
    variance : float
        Diagonal entry (>= 0).
    covariance : float
        Off-diagonal entry.

    Examples
    --------
    >>> ExchangeableCov(3, variance=2.0, covariance=0.5).to_dense()
    array([[2. , 0.5, 0.5],
           [0.5, 2. , 0.5],
           [0.5, 0.5, 2. ]])
    """

    n: int
    variance: float
    covariance: float = 0.0

    def __post_init__(self) -> None:
        check_integer("n", self.n, minimum=1)
        check_in_range("variance", self.variance, 0.0, np.inf, high_inclusive=False)
        check_in_range(
            "covariance",
            self.covariance,
            -np.inf,
            np.inf,
            low_inclusive=False,
            high_inclusive=False,
        )
        common, deviation = self.common_eigenvalue, self.deviation_eigenvalue
        scale = max(abs(self.variance), abs(self.covariance)) * self.n
        tol = 1e-12 * scale
        if common < -tol or (self.n > 1 and deviation < -tol):
            raise ParameterError(
                "ExchangeableCov",
                "a positive semi-definite matrix (variance >= covariance and "
                "variance + (n - 1) covariance >= 0)",
                f"variance={self.variance!r}, covariance={self.covariance!r}, n={self.n}",
            )

    @classmethod
    def from_synchrony(cls, n: int, *, rho: float, variance: float) -> ExchangeableCov:
        """Prior covariance of a crowd with common synchrony ``rho`` and common variance."""
        rho = check_in_range("rho", rho, -1.0, 1.0)
        return cls(n, variance, rho * variance)

    @property
    def common_eigenvalue(self) -> float:
        """Eigenvalue on the vector of ones: variance + (n - 1) covariance."""
        return float(self.variance + (self.n - 1) * self.covariance)

    @property
    def deviation_eigenvalue(self) -> float:
        """Eigenvalue on every vector orthogonal to the ones: variance - covariance."""
        return float(self.variance - self.covariance)

    @classmethod
    def from_eigenvalues(cls, n: int, common: float, deviation: float) -> ExchangeableCov:
        """Build from the two eigenvalues (inverse of the two properties above)."""
        covariance = (common - deviation) / n
        return cls(n, max(deviation + covariance, 0.0), covariance)

    def to_dense(self) -> np.ndarray:
        """The full N x N matrix (for small N, tests, and the dense algorithms)."""
        matrix = np.full((self.n, self.n), float(self.covariance))
        np.fill_diagonal(matrix, float(self.variance))
        return matrix

    @classmethod
    def from_dense(cls, matrix: np.ndarray, *, name: str = "matrix") -> ExchangeableCov:
        """Recognise an exchangeable dense matrix; ParameterError if it is not one."""
        matrix = np.asarray(matrix, dtype=float)
        n = matrix.shape[0]
        diagonal = np.diag(matrix)
        variance = float(diagonal.mean())
        off = matrix[~np.eye(n, dtype=bool)]
        covariance = float(off.mean()) if off.size else 0.0
        scale = max(float(np.abs(matrix).max()), 1e-300)
        if np.abs(diagonal - variance).max() > 1e-12 * scale or (
            off.size and np.abs(off - covariance).max() > 1e-12 * scale
        ):
            raise ParameterError(
                name,
                "an exchangeable matrix (one value on the diagonal, one off it) for the "
                "exchangeable algorithm",
                "a matrix with unequal entries",
            )
        return cls(n, variance, covariance)


class ScalarGains(NamedTuple):
    """A scalar Kalman filter's gains and posterior variances over time."""

    gain: np.ndarray
    """Gain applied at each step, shape (T,)."""
    posterior_var: np.ndarray
    """Variance after the update at each step, shape (T,)."""


def scalar_kalman_gains(
    prior_var: float, noise_var: float, process_var: float, n_steps: int
) -> ScalarGains:
    """Gains of a scalar random-walk filter: ``p += q; g = p / (p + r); p = p r / (p + r)``.

    The variance recursion does not depend on the data, so it is run once for all steps.
    """
    gain = np.empty(n_steps)
    post = np.empty(n_steps)
    p, r, q = float(prior_var), float(noise_var), float(process_var)
    for t in range(n_steps):
        p += q
        total = p + r
        if total <= 0.0:
            raise ParameterError(
                "noise_cov",
                "H Sigma H^T + noise_cov positive definite (at least one of them must be)",
                f"a singular innovation covariance at step {t}",
            )
        gain[t] = p / total
        # p r / (p + r) rather than (1 - g) p: no cancellation when g is close to 1.
        p = p * r / total
        post[t] = p
    return ScalarGains(gain, post)


class ExchangeableRun(NamedTuple):
    """Output of :func:`exchangeable_filter`."""

    mu: np.ndarray
    prior_var: np.ndarray
    mean_gain: np.ndarray
    final_cov: ExchangeableCov
    mean_cov: np.ndarray  # off-diagonal entry of Sigma after each update, (T,)


def exchangeable_filter(
    observations: np.ndarray,
    prior_mean: np.ndarray,
    prior_cov: ExchangeableCov,
    noise_cov: ExchangeableCov,
    process_noise: ExchangeableCov | None = None,
) -> ExchangeableRun:
    """Eqs (3)–(5) with H = I and every covariance exchangeable, exactly, in O(N) per step.

    Parameters
    ----------
    observations : numpy.ndarray, shape (T, N)
    prior_mean : numpy.ndarray, shape (N,)
    prior_cov, noise_cov : ExchangeableCov
    process_noise : ExchangeableCov or None

    Returns
    -------
    ExchangeableRun
        ``mu`` and ``prior_var`` (diagonal of Sigma after each update), shape (T, N);
        ``mean_gain`` = trace(K) / N, shape (T,); the final Sigma; ``mean_cov``, the
        covariance of any two individuals' priors after each update, shape (T,) (NaN for N = 1).
    """
    n_steps, n = observations.shape
    q_com = process_noise.common_eigenvalue if process_noise is not None else 0.0
    q_dev = process_noise.deviation_eigenvalue if process_noise is not None else 0.0
    common = scalar_kalman_gains(
        prior_cov.common_eigenvalue, noise_cov.common_eigenvalue, q_com, n_steps
    )
    if n > 1:
        deviation = scalar_kalman_gains(
            prior_cov.deviation_eigenvalue, noise_cov.deviation_eigenvalue, q_dev, n_steps
        )
    else:  # a crowd of one has no deviation modes
        deviation = common
    mu_out = np.empty((n_steps, n))
    mu = np.array(prior_mean, dtype=float)
    extra = common.gain - deviation.gain
    for t in range(n_steps):
        error = observations[t] - mu
        mu += deviation.gain[t] * error
        mu += extra[t] * error.mean()
        mu_out[t] = mu
    # diag(a I + b 11^T) = a + b, with a = p_dev and b = (p_com - p_dev) / N.
    off_diagonal = (common.posterior_var - deviation.posterior_var) / n
    diagonal = deviation.posterior_var + off_diagonal
    prior_var = np.broadcast_to(diagonal[:, None], (n_steps, n)).copy()
    mean_gain = (common.gain + (n - 1) * deviation.gain) / n
    final = ExchangeableCov.from_eigenvalues(
        n, float(common.posterior_var[-1]), float(deviation.posterior_var[-1])
    )
    mean_cov = off_diagonal if n > 1 else np.full(n_steps, np.nan)
    return ExchangeableRun(mu_out, prior_var, mean_gain, final, mean_cov)
