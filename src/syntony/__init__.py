"""syntony: the computational study of emotional contagion.

Three parts share one house:

- :mod:`syntony.model` — the interoceptive-inference model of emotional contagion
  (precision-weighted prediction errors, crowd-level shared priors, the agent loop);
- :mod:`syntony.physio` — physiological synchrony in multi-person recordings and fitting;
- :mod:`syntony.meta` — activation likelihood estimation, contrasts, conjunction and MACM.

Importing ``syntony`` is cheap and has no side effects; the parts are imported on use.
"""

from importlib.metadata import PackageNotFoundError, version

from syntony.errors import (
    InputError,
    OutputExistsError,
    ParameterError,
    SyntonyError,
    UnstableGainError,
)

try:
    __version__ = version("syntony")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = [
    "InputError",
    "OutputExistsError",
    "ParameterError",
    "SyntonyError",
    "UnstableGainError",
    "__version__",
]
