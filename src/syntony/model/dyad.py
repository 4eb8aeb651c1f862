"""Eqs (1)–(2): the published dyadic precision-weighted update, and signals to drive it.

Two agents observe their own interoceptive signals ``s_i``; the synchrony of their bodies over
a trailing window (correlation ``rho`` and variances ``sigma``) sets the precision ``omega`` of
eq (2), which a :class:`~syntony.model.precision.GainPolicy` turns into the learning rate of
eq (1). The maths lives in pure functions (:func:`window_statistics`, :func:`dyad_step`);
:func:`run_dyad` is the thin driver that loops over time and packs an :class:`xarray.Dataset`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from scipy.signal import lfilter

from syntony._provenance import provenance_json
from syntony._rng import SeedLike, check_random_state
from syntony._validate import check_array, check_in_range, check_integer, check_positive
from syntony.errors import ParameterError
from syntony.model.precision import (
    DEFAULT_VARIANCE_FLOOR,
    GainPolicy,
    PrecisionGain,
    precision_weight,
)

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "WindowStatistics",
    "dyad_step",
    "run_dyad",
    "synchronised_signals",
    "window_statistics",
]


def synchronised_signals(
    n_steps: int,
    *,
    rho: float,
    variances: tuple[float, float] | np.typing.ArrayLike = (1.0, 1.0),
    autocorrelation: float = 0.0,
    seed: SeedLike = None,
) -> np.ndarray:
    """Two stationary Gaussian signals with a known synchrony.

    Each column is an AR(1) process ``x(t) = a x(t-1) + sqrt(1 - a^2) e(t)`` started from its
    stationary distribution, where the innovations ``e`` of the two columns have correlation
    ``rho``. Because both columns share the same autoregression ``a``, their lag-0
    cross-correlation is exactly ``rho`` and their variances are exactly ``variances``
    (``a = 0`` gives white noise).

    Parameters
    ----------
    n_steps : int
        Number of time steps (>= 1).
    rho : float
        Cross-correlation of the two signals, in [-1, 1].
    variances : pair of float
        Variances of the two signals (> 0).
    autocorrelation : float
        Lag-1 autocorrelation ``a`` of each signal, in (-1, 1).
    seed : int, SeedSequence, Generator or None
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(n_steps, 2)``.

    Examples
    --------
    >>> s = synchronised_signals(100_000, rho=0.5, seed=0)
    >>> round(float(np.corrcoef(s.T)[0, 1]), 2)
    0.5
    """
    n_steps = check_integer("n_steps", n_steps, minimum=1)
    rho = check_in_range("rho", rho, -1.0, 1.0)
    var = check_array("variances", variances, shape=(2,))
    if np.any(var <= 0):
        raise ParameterError("variances", "two variances > 0", tuple(var.tolist()))
    a = check_in_range(
        "autocorrelation", autocorrelation, -1.0, 1.0, low_inclusive=False, high_inclusive=False
    )
    rng = check_random_state(seed)
    z = rng.standard_normal((n_steps, 2))
    # Correlate the innovations: e2 = rho e1 + sqrt(1 - rho^2) z2 (Cholesky of [[1, rho], [rho, 1]]).
    e = np.empty_like(z)
    e[:, 0] = z[:, 0]
    e[:, 1] = rho * z[:, 0] + np.sqrt(max(1.0 - rho * rho, 0.0)) * z[:, 1]
    if a != 0.0:
        # Start from the stationary law (x0 = e0), then x(t) = a x(t-1) + sqrt(1 - a^2) e(t).
        scale = np.sqrt(1.0 - a * a)
        drive = scale * e
        drive[0] = e[0]
        e = lfilter([1.0], [1.0, -a], drive, axis=0)
    return e * np.sqrt(var)


class WindowStatistics(NamedTuple):
    """Trailing-window statistics of two signals (see :func:`window_statistics`)."""

    sigma: np.ndarray
    """Sample variance (ddof = 1) of each signal over the window ending at t, shape (T, 2)."""
    rho: np.ndarray
    """Correlation of the two signals over the same window, shape (T,); NaN if one is constant."""
    full: np.ndarray
    """True where a full window ending at t exists (t >= window - 1), shape (T,)."""


def window_statistics(signals: np.typing.ArrayLike, window: int) -> WindowStatistics:
    """Variances and correlation of two signals over the trailing window ``[t - window + 1, t]``.

    Computed in O(T) by a sliding update of the window's mean and centred (co)moments, which
    is recomputed exactly every ``window`` steps so that rounding cannot accumulate. (Plain
    cumulative sums of x and x^2 are also O(T) but lose digits when the window variance is
    small next to the running sums, e.g. short windows on a drifting signal.) Entries before
    the first full window are NaN.

    Parameters
    ----------
    signals : array_like, shape (T, 2)
        The two signals.
    window : int
        Window length in samples (>= 2).

    Returns
    -------
    WindowStatistics
    """
    s = check_array("signals", signals, ndim=2, shape=(None, 2))
    window = check_integer("window", window, minimum=2)
    n = s.shape[0]
    sigma = np.full((n, 2), np.nan)
    rho = np.full(n, np.nan)
    full = np.arange(n) >= window - 1
    if n < window:
        return WindowStatistics(sigma, rho, full)
    m2, cov = _sliding_moments()(
        np.ascontiguousarray(s[:, 0]), np.ascontiguousarray(s[:, 1]), window
    )
    var = np.maximum(m2 / (window - 1), 0.0)
    cov = cov / (window - 1)
    prod = var[:, 0] * var[:, 1]
    defined = prod > 0
    r = np.full(prod.shape, np.nan)
    r[defined] = np.clip(cov[defined] / np.sqrt(prod[defined]), -1.0, 1.0)
    sigma[window - 1 :] = var
    rho[window - 1 :] = r
    return WindowStatistics(sigma, rho, full)


@functools.cache
def _sliding_moments():
    # Compiled on first use so that importing the model does not pay for numba.
    from numba import njit

    @njit(cache=True, nogil=True)
    def kernel(x, y, w):  # pragma: no cover - compiled
        n = x.shape[0]
        m2 = np.empty((n - w + 1, 2))
        cxy = np.empty(n - w + 1)
        mx = my = sxx = syy = sxy = 0.0
        for t in range(w - 1, n):
            k = t - w + 1
            if k % w == 0 or w <= 16:
                # Exact two-pass recomputation, O(w) every w steps: O(1) amortised (and every
                # step for short windows, whose variance is most exposed to cancellation).
                mx = 0.0
                my = 0.0
                for i in range(k, t + 1):
                    mx += x[i]
                    my += y[i]
                mx /= w
                my /= w
                sxx = 0.0
                syy = 0.0
                sxy = 0.0
                for i in range(k, t + 1):
                    dx = x[i] - mx
                    dy = y[i] - my
                    sxx += dx * dx
                    syy += dy * dy
                    sxy += dx * dy
            else:
                # Slide by one: x_new enters, x_old leaves. With m, m' the old and new means,
                # the co-moment changes by (x_new - mx')(y_new - my) - (x_old - mx')(y_old - my).
                xn, yn, xo, yo = x[t], y[t], x[k - 1], y[k - 1]
                mx_new = mx + (xn - xo) / w
                my_new = my + (yn - yo) / w
                sxx += (xn - mx_new) * (xn - mx) - (xo - mx_new) * (xo - mx)
                syy += (yn - my_new) * (yn - my) - (yo - my_new) * (yo - my)
                sxy += (xn - mx_new) * (yn - my) - (xo - mx_new) * (yo - my)
                mx = mx_new
                my = my_new
            m2[k, 0] = sxx
            m2[k, 1] = syy
            cxy[k] = sxy
        return m2, cxy

    return kernel


def dyad_step(
    mu: np.typing.ArrayLike,
    s: np.typing.ArrayLike,
    omega: np.typing.ArrayLike,
    prior_precision: np.typing.ArrayLike,
    gain: GainPolicy,
    *,
    step: int | None = None,
    labels: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One application of eq (1): ``mu <- mu + g (s - mu)`` with ``g`` set by the gain policy.

    Pure and vectorised: ``mu``, ``s``, ``omega`` and ``prior_precision`` broadcast together
    (agents, pairs or whole populations at once).

    Parameters
    ----------
    mu : array_like
        Current predictions.
    s : array_like
        Interoceptive inputs.
    omega : array_like
        Precision from synchrony, eq (2).
    prior_precision : array_like
        Precision of the current predictions.
    gain : GainPolicy
        Turns omega into a learning rate, e.g. :class:`~syntony.model.precision.SeedGain`
        (eq (1) literally) or :class:`~syntony.model.precision.PrecisionGain`.
    step, labels
        Time step and names of the entries, used in error messages of the policy.

    Returns
    -------
    mu_next, precision_next : numpy.ndarray
        Updated predictions and their precisions.
    """
    mu = np.asarray(mu, dtype=float)
    error = np.asarray(s, dtype=float) - mu
    omega = np.asarray(omega, dtype=float)
    if omega.shape != error.shape:
        # One omega per updated entry, so that a policy's error names the right entries.
        omega = np.broadcast_to(omega, np.broadcast_shapes(omega.shape, error.shape))
    result = gain(omega, np.asarray(prior_precision, dtype=float), step=step, labels=labels)
    return mu + result.gain * error, result.posterior_precision


def _agent_values(name: str, value: object, *, positive: bool = False) -> np.ndarray:
    array = check_array(name, value)
    if array.ndim > 1 or array.size not in (1, 2):
        raise ParameterError(name, "a number or one value per agent (2)", f"shape {array.shape}")
    if positive and np.any(array <= 0):
        raise ParameterError(name, "values > 0", array.tolist())
    return np.broadcast_to(array.reshape(-1), (2,)).astype(float)


def run_dyad(
    signals: np.typing.ArrayLike,
    *,
    window: int,
    gain: GainPolicy = PrecisionGain(),  # noqa: B008 - frozen, stateless policy
    mu0: float | np.typing.ArrayLike = 0.0,
    prior_precision0: float | np.typing.ArrayLike = 1.0,
    floor: float = DEFAULT_VARIANCE_FLOOR,
    rho0: float = 0.0,
    sigma0: float | np.typing.ArrayLike = 1.0,
    dt: float = 1.0,
) -> xr.Dataset:
    """Run eqs (1)–(2) on a dyad: each agent tracks its own signal at a synchrony-set rate.

    At each step t the trailing window ``[t - window + 1, t]`` of both signals gives the
    variances ``sigma_i(t)`` and the synchrony ``rho(t)``; eq (2) turns them into ``omega(t)``
    and both agents update their prediction with eq (1) under ``gain``. Before a full window
    has passed, ``rho = rho0`` and ``sigma = sigma0``.

    Parameters
    ----------
    signals : array_like or xarray.DataArray, shape (T, 2)
        Interoceptive inputs ``s`` of the two agents (a DataArray with dims (time, agent) keeps
        its agent labels).
    window : int
        Length of the trailing window in samples (>= 2).
    gain : GainPolicy
        :class:`~syntony.model.precision.PrecisionGain` (default, Bayes-optimal),
        :class:`~syntony.model.precision.SeedGain` (eq (1) as published; raises
        :class:`~syntony.errors.UnstableGainError` when omega >= 2) or
        :class:`~syntony.model.precision.ClipGain`.
    mu0 : float or pair
        Initial predictions.
    prior_precision0 : float or pair
        Initial precision of the predictions (> 0).
    floor : float
        Floor on the denominator of eq (2).
    rho0 : float
        Synchrony assumed before the first full window.
    sigma0 : float or pair
        Signal variances assumed before the first full window (> 0).
    dt : float
        Time step in seconds (sets the ``time`` coordinate).

    Returns
    -------
    xarray.Dataset
        Dims (time, agent). ``s``, ``mu`` (prediction after the update with ``s`` at that
        step, i.e. mu(t+1) of eq (1)), ``v`` (its variance, 1 / precision) and ``sigma``
        (window variance used) over (time, agent); ``rho`` (NaN where a signal is constant
        over the window) and ``omega`` over (time). Attributes hold the parameters and a JSON
        provenance record.
    """
    import xarray as xr

    agents: list[object] = [0, 1]
    if isinstance(signals, xr.DataArray):
        if signals.dims != ("time", "agent"):
            raise ParameterError(
                "signals", "a DataArray with dims ('time', 'agent')", f"dims {signals.dims}"
            )
        if "agent" in signals.coords:
            agents = list(signals["agent"].values)
    s = check_array("signals", signals, ndim=2, shape=(None, 2))
    if s.shape[0] < 1:
        raise ParameterError("signals", "at least one time step", "an empty array")
    window = check_integer("window", window, minimum=2)
    if not callable(gain):
        raise ParameterError("gain", "a GainPolicy such as PrecisionGain()", gain)
    floor = check_positive("floor", floor)
    rho0 = check_in_range("rho0", rho0, -1.0, 1.0)
    dt = check_positive("dt", dt)
    mu_start = _agent_values("mu0", mu0)
    precision_start = _agent_values("prior_precision0", prior_precision0, positive=True)
    sigma_start = _agent_values("sigma0", sigma0, positive=True)

    stats = window_statistics(s, window)
    sigma = np.where(stats.full[:, None], stats.sigma, sigma_start)
    rho = np.where(stats.full, stats.rho, rho0)
    # A constant window has no correlation, but then sqrt(sigma_i sigma_j) = 0 and the rho
    # term of eq (2) vanishes, so any finite stand-in gives the same omega.
    omega = precision_weight(sigma[:, 0], sigma[:, 1], np.nan_to_num(rho), floor=floor)

    n = s.shape[0]
    mu_out = np.empty((n, 2))
    precision_out = np.empty((n, 2))
    labels = [f"agent {a}" for a in agents]
    pair = np.empty(2)
    mu, precision = mu_start, precision_start
    for t in range(n):
        pair[:] = omega[t]
        mu, precision = dyad_step(mu, s[t], pair, precision, gain, step=t, labels=labels)
        mu_out[t] = mu
        precision_out[t] = precision

    parameters = {
        "window": window,
        "gain": repr(gain),
        "mu0": mu_start.tolist(),
        "prior_precision0": precision_start.tolist(),
        "floor": floor,
        "rho0": rho0,
        "sigma0": sigma_start.tolist(),
        "dt": dt,
    }
    time = np.arange(n) * dt
    return xr.Dataset(
        {
            "s": (("time", "agent"), s.copy(), {"long_name": "interoceptive input"}),
            "mu": (("time", "agent"), mu_out, {"long_name": "prediction after the update"}),
            "v": (("time", "agent"), 1.0 / precision_out, {"long_name": "prediction variance"}),
            "sigma": (("time", "agent"), sigma, {"long_name": "trailing-window variance of s"}),
            "rho": ("time", rho, {"long_name": "trailing-window correlation of s"}),
            "omega": ("time", omega, {"long_name": "precision from synchrony, eq (2)"}),
        },
        coords={"time": ("time", time, {"units": "s"}), "agent": agents},
        attrs={
            "model": "dyad, eqs (1)-(2)",
            "window": window,
            "gain": repr(gain),
            "floor": floor,
            "rho0": rho0,
            "dt": dt,
            "provenance": provenance_json(parameters=parameters),
        },
    )
