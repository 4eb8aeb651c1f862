"""Physiological synchrony in group recordings, and fitting the contagion coupling.

Data flow: recordings (:mod:`~syntony.physio.io`) -> per-person features on a common grid
(:mod:`~syntony.physio.features`) -> all-pairs windowed lagged synchrony
(:mod:`~syntony.physio.synchrony`) -> null baselines (:mod:`~syntony.physio.surrogates`) ->
the state-space contagion model fitted by maximum likelihood (:mod:`~syntony.physio.fit`).
"""

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
from syntony.physio.io import (
    read_bids_physio,
    read_long,
    read_recording,
    read_sessions,
    read_wide,
    resample,
)
from syntony.physio.statespace import complete_adjacency, laplacian, simulate_statespace
from syntony.physio.surrogates import (
    SurrogateResult,
    circular_shift,
    pseudo_group_test,
    segment_shuffle,
    surrogate_test,
)
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
    "ContagionModel",
    "Raw",
    "Respiration",
    "SignalExclusionWarning",
    "SurrogateResult",
    "SyncConfig",
    "circular_shift",
    "clean_gaps",
    "cluster_phase",
    "complete_adjacency",
    "extract_features",
    "fisher_z",
    "group_synchrony",
    "kuramoto_order",
    "laplacian",
    "pseudo_group_fit_test",
    "pseudo_group_test",
    "read_bids_physio",
    "read_long",
    "read_recording",
    "read_sessions",
    "read_wide",
    "resample",
    "segment_shuffle",
    "simulate_statespace",
    "surrogate_test",
    "synchrony",
    "wlcc_peaks",
]
