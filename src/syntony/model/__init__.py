"""The interoceptive-inference model of emotional contagion (see docs/theory/model.rst).

Figures live in :mod:`syntony.model.plots` (imported on demand, it needs matplotlib).
"""

from syntony.model.agents import LoopParams, LoopState, TechChannel
from syntony.model.crowd import (
    CrowdFilter,
    DenseKalman,
    DiagonalisedKalman,
    ExchangeableKalman,
    crowd_step,
    prior_cov_from_synchrony,
    steady_state_gain,
)
from syntony.model.crowd_structured import ExchangeableCov
from syntony.model.dyad import dyad_step, run_dyad, synchronised_signals, window_statistics
from syntony.model.events import Event, EventSchedule
from syntony.model.loop import NumbaEngine, NumpyEngine, RecordSpec, run_loop
from syntony.model.network import (
    as_adjacency,
    barabasi_albert,
    complete_graph,
    from_edge_list,
    from_networkx,
    laplacian,
    random_out_degree,
    ring_lattice,
    spatial_crowd,
    stochastic_block,
    watts_strogatz,
)
from syntony.model.precision import (
    DEFAULT_VARIANCE_FLOOR,
    ClipGain,
    GainPolicy,
    GainResult,
    PrecisionGain,
    SeedGain,
    difference_variance,
    precision_weight,
)
from syntony.model.results import CrowdFilterResult, SimulationResult, SweepResult
from syntony.model.scenario import Scenario, builtin_names
from syntony.model.simulate import build_loop, convergence_time, simulate
from syntony.model.sweep import sweep

__all__ = [
    "DEFAULT_VARIANCE_FLOOR",
    "ClipGain",
    "CrowdFilter",
    "CrowdFilterResult",
    "DenseKalman",
    "DiagonalisedKalman",
    "Event",
    "EventSchedule",
    "ExchangeableCov",
    "ExchangeableKalman",
    "GainPolicy",
    "GainResult",
    "LoopParams",
    "LoopState",
    "NumbaEngine",
    "NumpyEngine",
    "PrecisionGain",
    "RecordSpec",
    "Scenario",
    "SeedGain",
    "SimulationResult",
    "SweepResult",
    "TechChannel",
    "as_adjacency",
    "barabasi_albert",
    "build_loop",
    "builtin_names",
    "complete_graph",
    "convergence_time",
    "crowd_step",
    "difference_variance",
    "dyad_step",
    "from_edge_list",
    "from_networkx",
    "laplacian",
    "precision_weight",
    "prior_cov_from_synchrony",
    "random_out_degree",
    "ring_lattice",
    "run_dyad",
    "run_loop",
    "simulate",
    "spatial_crowd",
    "steady_state_gain",
    "stochastic_block",
    "sweep",
    "synchronised_signals",
    "watts_strogatz",
    "window_statistics",
]
