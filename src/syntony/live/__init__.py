"""Live group synchrony: LSL streams in, synchrony and coupling online, a dashboard out.

:func:`run_live` follows LSL streams of one type (one person per stream or per channel),
records them as they arrive (:mod:`syntony.live.recorder`), computes per-person features in
sliding buffers with the offline feature functions (:mod:`syntony.live.features`), keeps the
all-pairs windowed lagged synchrony up to date from running sums
(:mod:`syntony.live.incremental`), recomputes a surrogate band and the contagion coupling at a
slower cadence (:mod:`syntony.live.slow`), serves a dashboard on 127.0.0.1
(:mod:`syntony.live.dashboard`) and returns a :class:`LiveResult`. :func:`publish` and
:func:`simulated_crowd` provide streams to test against. Importing this package loads neither
pylsl nor the web server.
"""

from __future__ import annotations

from syntony.live.engine import LiveEngine, LiveSettings
from syntony.live.incremental import IncrementalSynchrony, WindowUpdate
from syntony.live.lsl import LOCAL_CONFIG
from syntony.live.result import LiveResult, read_features
from syntony.live.session import LiveOptions, run_live
from syntony.live.sources import publish, simulated_crowd

__all__ = [
    "LOCAL_CONFIG",
    "IncrementalSynchrony",
    "LiveEngine",
    "LiveOptions",
    "LiveResult",
    "LiveSettings",
    "WindowUpdate",
    "publish",
    "read_features",
    "run_live",
    "simulated_crowd",
]
