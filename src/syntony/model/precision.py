"""Eq (2): precision from physiological synchrony, and the gain policies of eq (1).

All functions are pure and vectorised: they broadcast over agents, pairs or edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from syntony._validate import check_in_range, check_positive
from syntony.errors import ParameterError, UnstableGainError

__all__ = [
    "DEFAULT_VARIANCE_FLOOR",
    "ClipGain",
    "GainPolicy",
    "GainResult",
    "PrecisionGain",
    "SeedGain",
    "difference_variance",
    "precision_weight",
]

#: Smallest admissible Var(s_i - s_j); eq (2) is infinite when two identical signals are
#: perfectly synchronised, and a floor keeps the precision finite.
DEFAULT_VARIANCE_FLOOR = 1e-9


def difference_variance(
    sigma_i: np.typing.ArrayLike, sigma_j: np.typing.ArrayLike, rho: np.typing.ArrayLike
) -> np.ndarray:
    """Var(s_i - s_j) = sigma_i + sigma_j - 2 rho sqrt(sigma_i sigma_j), the denominator of eq (2).

    ``sigma_i`` and ``sigma_j`` are variances (>= 0) and ``rho`` a correlation in [-1, 1].
    Rounding can push the exact value a hair below zero when rho = 1 and sigma_i = sigma_j; the
    result is clipped at 0 because a variance cannot be negative.
    """
    si = np.asarray(sigma_i, dtype=float)
    sj = np.asarray(sigma_j, dtype=float)
    r = np.asarray(rho, dtype=float)
    if (
        np.any(si < 0)
        or np.any(sj < 0)
        or not (np.all(np.isfinite(si)) and np.all(np.isfinite(sj)))
    ):
        raise ParameterError("sigma", "finite variances >= 0", "a negative or non-finite value")
    if np.any(np.abs(r) > 1) or not np.all(np.isfinite(r)):
        raise ParameterError("rho", "correlations in [-1, 1]", "a value outside [-1, 1] or NaN")
    return np.maximum(si + sj - 2.0 * r * np.sqrt(si * sj), 0.0)


def precision_weight(
    sigma_i: np.typing.ArrayLike,
    sigma_j: np.typing.ArrayLike,
    rho: np.typing.ArrayLike,
    *,
    floor: float = DEFAULT_VARIANCE_FLOOR,
) -> np.ndarray:
    """Eq (2): omega_ij = 1 / (sigma_i + sigma_j - 2 rho_ij sqrt(sigma_i sigma_j)).

    The precision of the difference between two agents' interoceptive signals: the more their
    bodies are synchronised (rho -> 1) and the more alike their noise, the larger omega.

    Parameters
    ----------
    sigma_i, sigma_j : array_like
        Variances of the two signals (broadcast against each other and ``rho``).
    rho : array_like
        Physiological synchrony, a correlation in [-1, 1].
    floor : float
        Lower bound applied to the denominator, so that rho = 1 with equal variances gives
        ``1 / floor`` rather than a division by zero.

    Returns
    -------
    numpy.ndarray
        omega, with the broadcast shape of the inputs.

    Examples
    --------
    >>> precision_weight(1.0, 1.0, [0.0, 0.5, 0.75])
    array([0.5, 1. , 2. ])
    """
    floor = check_positive("floor", floor)
    return 1.0 / np.maximum(difference_variance(sigma_i, sigma_j, rho), floor)


class GainResult(NamedTuple):
    """Learning rate applied to a prediction error, and the precision of the updated belief."""

    gain: np.ndarray
    posterior_precision: np.ndarray


class GainPolicy(Protocol):
    """How eq (1) turns the synchrony precision omega into a learning rate.

    Called with omega and the precision of the current prediction, it returns the gain and
    the precision after the update. ``labels`` name the entries (agents, pairs) and ``step``
    the time step, for error messages.
    """

    def __call__(
        self,
        omega: np.ndarray,
        prior_precision: np.ndarray,
        *,
        step: int | None = None,
        labels: list[str] | None = None,
    ) -> GainResult: ...


def _name_entries(mask: np.ndarray, labels: list[str] | None) -> str:
    flat = np.flatnonzero(mask)
    if labels is not None:
        names = [labels[k] for k in flat[:5]]
    else:
        names = [
            str(np.unravel_index(k, mask.shape)) if mask.ndim > 1 else str(k) for k in flat[:5]
        ]
    more = f" and {flat.size - 5} more" if flat.size > 5 else ""
    return ", ".join(names) + more


@dataclass(frozen=True)
class SeedGain:
    """Eq (1) as published: the gain *is* omega.

    Eq (1) only contracts while 0 < omega < 2 (with unit variances: rho < 0.75). When omega
    reaches 2 this policy stops the run with :class:`UnstableGainError` naming the entries,
    the step and the value, because the published update would oscillate or diverge.
    The prediction's precision is left unchanged, as in the paper.
    """

    def __call__(
        self,
        omega: np.ndarray,
        prior_precision: np.ndarray,
        *,
        step: int | None = None,
        labels: list[str] | None = None,
    ) -> GainResult:
        omega = np.asarray(omega, dtype=float)
        unstable = omega >= 2.0
        if np.any(unstable):
            where = _name_entries(unstable, labels)
            when = f" at step {step}" if step is not None else ""
            worst = float(omega[unstable].max())
            raise UnstableGainError(
                f"eq (1) is unstable{when} for {where}: omega = {worst:.6g} >= 2 "
                "(the update no longer contracts); use PrecisionGain() (gain='precision') "
                "or ClipGain() (on_unstable='clip')"
            )
        prior = np.broadcast_to(np.asarray(prior_precision, dtype=float), omega.shape)
        return GainResult(omega, prior.copy())


@dataclass(frozen=True)
class ClipGain:
    """Eq (1) with the gain clipped to ``max_gain`` (the seed model's ``on_unstable='clip'``).

    ``max_gain`` must lie in (0, 2); the default 1 never overshoots the observation.
    """

    max_gain: float = 1.0

    def __post_init__(self) -> None:
        check_in_range(
            "max_gain", self.max_gain, 0.0, 2.0, low_inclusive=False, high_inclusive=False
        )

    def __call__(
        self,
        omega: np.ndarray,
        prior_precision: np.ndarray,
        *,
        step: int | None = None,
        labels: list[str] | None = None,
    ) -> GainResult:
        omega = np.asarray(omega, dtype=float)
        prior = np.broadcast_to(np.asarray(prior_precision, dtype=float), omega.shape)
        return GainResult(np.minimum(omega, self.max_gain), prior.copy())


@dataclass(frozen=True)
class PrecisionGain:
    """Bayes-optimal weighting (the default): gain = omega / (omega + pi).

    Evidence of precision omega is combined with a prediction of precision pi; the gain is
    always in (0, 1) and the updated precision is pi + omega.
    """

    def __call__(
        self,
        omega: np.ndarray,
        prior_precision: np.ndarray,
        *,
        step: int | None = None,
        labels: list[str] | None = None,
    ) -> GainResult:
        omega = np.asarray(omega, dtype=float)
        prior = np.asarray(prior_precision, dtype=float)
        posterior = prior + omega  # a new array with the broadcast shape already
        return GainResult(omega / posterior, posterior)
