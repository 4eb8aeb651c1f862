"""Physiological synchrony in group recordings, and fitting the contagion coupling.

Data flow: recordings (:mod:`~syntony.physio.io`) -> per-person features on a common grid
(:mod:`~syntony.physio.features`) -> all-pairs windowed lagged synchrony
(:mod:`~syntony.physio.synchrony`) -> null baselines (:mod:`~syntony.physio.surrogates`) ->
the state-space contagion model fitted by maximum likelihood (:mod:`~syntony.physio.fit`).

Each analysis is one call that returns a result which saves, loads and reports itself:
:func:`analyze_synchrony` -> :class:`SynchronyResult` and :func:`fit_contagion` (or
``ContagionModel().fit(...).result_``) -> :class:`ContagionFitResult`.
"""

from syntony.physio.alignment import AlignedSessions, align_sessions
from syntony.physio.analysis import analyze_synchrony, fit_contagion
from syntony.physio.features import (
    ECG,
    EDA,
    Raw,
    Respiration,
    SignalExclusionWarning,
    clean_gaps,
    extract_features,
)
from syntony.physio.fit import ContagionModel, pseudo_group_fit_test
from syntony.physio.fit_result import ContagionFitResult
from syntony.physio.io import (
    read_bids_physio,
    read_long,
    read_network,
    read_recording,
    read_sessions,
    read_stimulus,
    read_wide,
    resample,
)
from syntony.physio.loading import SIGNALS, load_features
from syntony.physio.statespace import complete_adjacency, laplacian, simulate_statespace
from syntony.physio.surrogates import (
    SurrogateResult,
    circular_shift,
    pseudo_group_test,
    segment_shuffle,
    surrogate_test,
)
from syntony.physio.sync_result import SynchronyResult
from syntony.physio.synchrony import (
    SyncConfig,
    cluster_phase,
    fisher_z,
    group_synchrony,
    kuramoto_order,
    synchrony,
    wlcc_peaks,
)

__all__ = [
    "ECG",
    "EDA",
    "SIGNALS",
    "AlignedSessions",
    "ContagionFitResult",
    "ContagionModel",
    "Raw",
    "Respiration",
    "SignalExclusionWarning",
    "SurrogateResult",
    "SyncConfig",
    "SynchronyResult",
    "align_sessions",
    "analyze_synchrony",
    "circular_shift",
    "clean_gaps",
    "cluster_phase",
    "complete_adjacency",
    "extract_features",
    "fisher_z",
    "fit_contagion",
    "group_synchrony",
    "kuramoto_order",
    "laplacian",
    "load_features",
    "pseudo_group_fit_test",
    "pseudo_group_test",
    "read_bids_physio",
    "read_long",
    "read_network",
    "read_recording",
    "read_sessions",
    "read_stimulus",
    "read_wide",
    "resample",
    "segment_shuffle",
    "simulate_statespace",
    "surrogate_test",
    "synchrony",
    "wlcc_peaks",
]
