"""Provenance: what produced a result, recorded alongside it."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["provenance", "provenance_json"]


def provenance(
    *, parameters: Mapping[str, Any] | None = None, seed: Any = None, **extra: Any
) -> dict[str, Any]:
    """Return a JSON-serialisable record of how a result was made.

    It holds the package version, the time (UTC, ISO 8601), Python and platform, versions of
    the numerical libraries, the command line, the parameters and the seed (the seed's entropy
    when a :class:`numpy.random.SeedSequence` is given, so that unseeded runs can be repeated).
    """
    import numpy as np

    from syntony import __version__

    if isinstance(seed, np.random.SeedSequence):
        seed = {"entropy": int(seed.entropy), "spawn_key": list(seed.spawn_key)}
    record: dict[str, Any] = {
        "software": "syntony",
        "version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0] else None,
        "seed": seed,
        "parameters": dict(parameters or {}),
    }
    record.update(extra)
    return record


def provenance_json(**kwargs: Any) -> str:
    """:func:`provenance` as a JSON string (for NetCDF/NIfTI attributes, which hold only flat values)."""
    from syntony._io_utils import _json_default

    return json.dumps(provenance(**kwargs), default=_json_default, sort_keys=True)
