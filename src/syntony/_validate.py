"""Small parameter checks that raise :class:`~syntony.errors.ParameterError` naming the field."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from syntony.errors import ParameterError

__all__ = [
    "check_array",
    "check_choice",
    "check_in_range",
    "check_integer",
    "check_nonnegative",
    "check_positive",
    "check_probability",
]


def _as_real(name: str, value: object, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(name, expected, value)
    number = float(value)
    if not math.isfinite(number):
        raise ParameterError(name, expected, value)
    return number


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as float if it is a finite number > 0."""
    number = _as_real(name, value, "a finite number > 0")
    if number <= 0:
        raise ParameterError(name, "a finite number > 0", value)
    return number


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as float if it is a finite number >= 0."""
    number = _as_real(name, value, "a finite number >= 0")
    if number < 0:
        raise ParameterError(name, "a finite number >= 0", value)
    return number


def check_in_range(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as float if it lies in the interval between ``low`` and ``high``."""
    expected = f"a number in {'[' if low_inclusive else '('}{low:g}, {high:g}{']' if high_inclusive else ')'}"
    number = _as_real(name, value, expected)
    above = number >= low if low_inclusive else number > low
    below = number <= high if high_inclusive else number < high
    if not (above and below):
        raise ParameterError(name, expected, value)
    return number


def check_probability(name: str, value: object) -> float:
    """Return ``value`` as float if it lies in [0, 1]."""
    return check_in_range(name, value, 0.0, 1.0)


def check_integer(name: str, value: object, *, minimum: int | None = None) -> int:
    """Return ``value`` as int if it is an integer (not bool) no smaller than ``minimum``."""
    expected = "an integer" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(name, expected, value)
    if minimum is not None and value < minimum:
        raise ParameterError(name, expected, value)
    return int(value)


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    options = tuple(choices)
    if value not in options:
        raise ParameterError(name, "one of " + ", ".join(repr(c) for c in options), value)
    return str(value)


def check_array(
    name: str,
    value: object,
    *,
    ndim: int | None = None,
    shape: tuple[int | None, ...] | None = None,
    finite: bool = True,
    nonnegative: bool = False,
    dtype: type = np.float64,
) -> np.ndarray:
    """Return ``value`` as an array after checking dimensions, shape, finiteness and sign."""
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ParameterError(name, f"an array of {np.dtype(dtype).name}", value) from None
    if ndim is not None and array.ndim != ndim:
        raise ParameterError(name, f"a {ndim}-D array", f"array of shape {array.shape}")
    if shape is not None:
        ok = len(shape) == array.ndim and all(
            want is None or want == got for want, got in zip(shape, array.shape, strict=True)
        )
        if not ok:
            wanted = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ParameterError(name, f"an array of shape {wanted}", f"shape {array.shape}")
    if finite and not np.all(np.isfinite(array)):
        raise ParameterError(name, "finite values only", "an array containing NaN or inf")
    if nonnegative and np.any(array < 0):
        raise ParameterError(name, "non-negative values only", f"minimum {array.min()!r}")
    return array
