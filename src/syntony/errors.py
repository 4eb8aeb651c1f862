"""Exception hierarchy.

Every error a user can cause derives from :class:`SyntonyError`; the CLI turns these into a
one-line message and a non-zero exit code instead of a traceback.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "InputError",
    "OutputExistsError",
    "ParameterError",
    "SyntonyError",
    "UnstableGainError",
]


def plain(value: object) -> str:
    """A value as a user wrote it: ``104.963`` and ``'AU807'``, not numpy's reprs of them."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        value = item()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(plain(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return repr(value)


class SyntonyError(Exception):
    """Base class of all errors raised by syntony for bad input or bad parameters."""


class ParameterError(SyntonyError, ValueError):
    """A parameter has the wrong type or lies outside its valid range.

    Parameters
    ----------
    name : str
        Name of the parameter (dotted for nested configs, e.g. ``"agents.kappa"``).
    expected : str
        What was expected, in words (``"a number in (0, 1]"``).
    value : object
        The offending value.
    """

    def __init__(self, name: str, expected: str, value: object) -> None:
        self.name, self.expected, self.value = name, expected, value
        super().__init__(f"{name}: expected {expected}, got {plain(value)}")


class InputError(SyntonyError, ValueError):
    """A file or table could not be read; the message names the source, line and field."""

    def __init__(
        self,
        message: str,
        *,
        source: str | PathLike[str] | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source, self.line, self.field = source, line, field
        where = ""
        if source is not None:
            where = str(source)
            if line is not None:
                where += f":{line}"
        if field is not None:
            where = f"{where} [{field}]" if where else f"[{field}]"
        super().__init__(f"{where}: {message}" if where else message)


class OutputExistsError(SyntonyError, FileExistsError):
    """An output would overwrite existing results and ``force`` was not given."""


class UnstableGainError(SyntonyError, ArithmeticError):
    """A learning rate reached the region where the update no longer contracts (gain >= 2)."""


class ChecksumError(InputError):
    """A data file's SHA-256 differs from the published one (corrupt or a different version)."""


class DownloadError(SyntonyError, OSError):
    """A public data file could not be downloaded (no network, moved upstream, ...)."""
