"""Mechanism models of contagion fitted to group physiology, each with its tests and report.

The linear contagion model (:class:`syntony.physio.ContagionModel`) fits one coupling ``c``.
The paper's claims are about mechanisms, and each gets a model here:

- :class:`GatedContagionModel` — synchrony-gated coupling, the test of eq (2): does the pull of
  one person on another grow with how closely their bodies have moved together?
- :class:`SwitchingContagionModel` — two group modes with their own baselines (the loop's
  affiliative and defensive modes) and Markov switching, by Kim's filter; the number of modes
  tested by parametric bootstrap (:func:`mode_number_test`).
- :class:`DirectedContagionModel` — who pulls whom: sender and receiver effects (or one pull per
  ordered pair), who leads and who follows.
- :class:`PooledContagionModel` — many groups at once: the pooled coupling, its spread between
  groups and each group's shrunken estimate (:func:`random_effects`).

Each estimator's ``fit`` returns itself with ``result_``, a :class:`syntony.report.Result`
that saves, loads and reports itself; :func:`fit_mechanism` is the one call the command line
makes (recording -> features -> model -> tests -> result). :mod:`~.recovery` simulates groups
with the agent loop of :mod:`syntony.model` in the regime where each model's values are known.
"""

from syntony.physio.mechanisms.analysis import MODELS, fit_mechanism
from syntony.physio.mechanisms.directed import DirectedContagionModel
from syntony.physio.mechanisms.gated import GatedContagionModel
from syntony.physio.mechanisms.gating import gate_deviations, pair_precisions
from syntony.physio.mechanisms.pooled import PooledContagionModel, linear_group_fit, random_effects
from syntony.physio.mechanisms.pseudo import pseudo_group_statistic
from syntony.physio.mechanisms.results import (
    DirectedFitResult,
    GatedFitResult,
    MechanismResult,
    PooledFitResult,
    SwitchingFitResult,
)
from syntony.physio.mechanisms.switching import SwitchingContagionModel, mode_number_test

__all__ = [
    "MODELS",
    "DirectedContagionModel",
    "DirectedFitResult",
    "GatedContagionModel",
    "GatedFitResult",
    "MechanismResult",
    "PooledContagionModel",
    "PooledFitResult",
    "SwitchingContagionModel",
    "SwitchingFitResult",
    "fit_mechanism",
    "gate_deviations",
    "linear_group_fit",
    "mode_number_test",
    "pair_precisions",
    "pseudo_group_statistic",
    "random_effects",
]
