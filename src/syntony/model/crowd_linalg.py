"""Linear algebra and input checks shared by the crowd-filter algorithms.

Covariances arrive as dense arrays (checked symmetric and positive semi-definite here, once)
or as :class:`~syntony.model.crowd_structured.ExchangeableCov`. A definite matrix's Cholesky
factor, found while checking it, is kept for whitening: as a lower-triangular array, or as
the vector of square roots when the matrix is diagonal (then whitening is elementwise).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from syntony._validate import check_array
from syntony.errors import ParameterError
from syntony.model.crowd_structured import ExchangeableCov

Covariance = np.ndarray | ExchangeableCov


def lower_solve(factor: np.ndarray, x: np.ndarray) -> np.ndarray:
    """L^-1 x for a lower Cholesky factor (2-D) or the square root of a diagonal (1-D)."""
    if factor.ndim == 1:
        return x / (factor[:, None] if x.ndim == 2 else factor)
    return linalg.solve_triangular(factor, x, lower=True, check_finite=False)


def lower_times(factor: np.ndarray, x: np.ndarray) -> np.ndarray:
    if factor.ndim == 1:
        return factor[:, None] * x
    return factor @ x


def whiten(factor: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """L^-1 M L^-T for symmetric M, kept exactly symmetric."""
    if factor.ndim == 1:
        out = matrix / factor[:, None] / factor[None, :]
    else:
        half = lower_solve(factor, matrix)  # L^-1 M
        out = lower_solve(factor, half.T)  # L^-1 (L^-1 M)^T = L^-1 M L^-T
    return (out + out.T) / 2.0


def check_psd(name: str, matrix: np.ndarray, *, what: str) -> np.ndarray | None:
    """Raise unless ``matrix`` is PSD; return its Cholesky factor when it is definite."""
    n = matrix.shape[0]
    diagonal = np.diag(matrix)
    if np.count_nonzero(matrix) == np.count_nonzero(diagonal):  # diagonal matrix
        if np.any(diagonal < 0):
            raise ParameterError(name, what, f"a negative diagonal entry {float(diagonal.min()):g}")
        return np.sqrt(diagonal) if np.all(diagonal > 0) else None
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        pass
    eigenvalues = np.linalg.eigvalsh(matrix)
    tolerance = 100 * n * np.finfo(float).eps * max(np.abs(eigenvalues).max(), 1e-300)
    if eigenvalues[0] < -tolerance:
        raise ParameterError(name, what, f"a matrix with eigenvalue {eigenvalues[0]:.3g}")
    return None


def check_cov(name: str, value: object, n: int | None) -> tuple[Covariance, np.ndarray | None]:
    if isinstance(value, ExchangeableCov):
        if n is not None and value.n != n:
            raise ParameterError(name, f"an ExchangeableCov with n = {n}", f"n = {value.n}")
        # The factor of an exchangeable matrix is only needed by the dense algorithms,
        # which densify it themselves.
        return value, None
    matrix = check_array(name, value)
    if matrix.ndim == 1:  # independent entries: the diagonal
        matrix = np.diag(matrix)
    size = n if n is not None else (matrix.shape[0] if matrix.ndim == 2 else 0)
    if matrix.ndim != 2 or matrix.shape != (size, size):
        raise ParameterError(
            name,
            f"a ({size}, {size}) covariance matrix or ExchangeableCov",
            f"shape {matrix.shape}",
        )
    scale = max(float(np.abs(matrix).max(initial=0.0)), 1e-300)
    asymmetry = float(np.abs(matrix - matrix.T).max(initial=0.0))
    if asymmetry > 1e-10 * scale:
        raise ParameterError(name, "a symmetric matrix", f"asymmetry {asymmetry:.3g}")
    matrix = (matrix + matrix.T) / 2.0
    factor = check_psd(name, matrix, what="a positive semi-definite covariance matrix")
    return matrix, factor


def is_zero(matrix: Covariance) -> bool:
    if isinstance(matrix, ExchangeableCov):
        return matrix.variance == 0.0 and matrix.covariance == 0.0
    return not np.any(matrix)
