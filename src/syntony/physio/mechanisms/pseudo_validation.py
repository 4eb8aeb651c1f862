"""Simulation study of the pseudo-group tests: rooms that share a stimulus, on the agent loop.

A pseudo-group test compares a statistic of the real group (its coupling ``c``, its evidence for
a synchrony gate, for unequal pulls) with the same statistic in pseudo-groups: groups of the
same size whose members come from several rooms that heard the same stimulus but never
perceived each other. Whatever the stimulus alone produces, pseudo-groups show too, so the test
asks whether the real group shows more than the stimulus explains. This module simulates that
situation with the agent loop of :mod:`syntony.model`, in the regime of
:mod:`~syntony.physio.mechanisms.recovery`:

- ``rooms`` groups of ``size`` people (a complete network inside a room, nobody across rooms)
  run as the disconnected blocks of one loop network, so every room receives the *same* drive
  (``steps`` shared steps of ``amplitude`` lasting ``step_duration`` seconds, with onsets and
  signs drawn afresh for each replication). The stimulus is not given to the fits, as on the
  concert, so it makes every pseudo-group look coupled;
- arm ``"none"``: no coupling in any room (``kappa = 0``), the null hypothesis of every
  pseudo-group test: the real room's statistic is then exchangeable with the pseudo-groups';
- arm ``"effect"``: coupling ``kappa`` in every room, with the model's mechanism (online
  synchrony for the gated model, sender trust log-uniform in ``trust_range`` for the directed
  model);
- arm ``"plain"`` (gated and directed only): the same coupling without the mechanism (equal
  weights, equal trust); it shows whether the test answers the mechanism or coupling in
  general.

The first room is the real group; the other rooms are the other session. :func:`run_replication`
gives one replication's row (the real statistic, the pseudo-group mean, the p-value with its
randomised version) through the same code as ``syntony fit --pseudo-from``
(:func:`syntony.physio.fit.pseudo_group_fit_test` for the linear model,
:func:`~syntony.physio.mechanisms.pseudo.pseudo_group_statistic` for the others).
``benchmarks/validate_pseudo_groups.py`` runs the replications; the results are in
docs/pseudo_groups.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony.errors import ParameterError
from syntony.physio.mechanisms.recovery import LoopDesign, simulate_groups

__all__ = ["ARMS", "MODELS", "RoomsDesign", "run_replication", "simulate_rooms"]

#: Models whose pseudo-group test is simulated.
MODELS = ("linear", "gated", "directed", "switching")
#: Arms of the study: no coupling (size), coupling with the mechanism (power), coupling without.
ARMS = ("none", "effect", "plain")


@dataclass(frozen=True)
class RoomsDesign:
    """Rooms that share one stimulus, and the loop settings of each room.

    Parameters
    ----------
    size : int
        People per room (the real group's size, and so the pseudo-groups').
    rooms : int
        Rooms simulated; the first is the real group, the others the pool of strangers.
    duration, dt : float
        Seconds recorded and the loop's step (the fits use the same step).
    kappa, homeostasis, q_x, sigma, tau_rho : float
        The loop's coupling when present, return rate, body noise, sensory noise and the time
        constant of online synchrony (see :class:`~syntony.physio.mechanisms.recovery.LoopDesign`).
    steps, amplitude, step_duration : int, float, float
        The shared stimulus: ``steps`` pushes of +-``amplitude`` (arousal per second) lasting
        ``step_duration`` seconds at random onsets.
    trust_range : (float, float)
        Sender trust of the directed model's effect arm, log-uniform in this range.
    """

    size: int = 4
    rooms: int = 3
    duration: float = 150.0
    dt: float = 0.2
    kappa: float = 0.5
    homeostasis: float = 0.2
    q_x: float = 0.5
    sigma: float = 0.1
    tau_rho: float = 5.0
    steps: int = 8
    amplitude: float = 1.0
    step_duration: float = 3.0
    trust_range: tuple[float, float] = (0.15, 1.0)

    def with_(self, **changes: Any) -> RoomsDesign:
        return replace(self, **changes)

    def events(self, rng: np.random.Generator) -> tuple[dict[str, Any], ...]:
        """The shared stimulus of one replication (event tables of the loop's scenario)."""
        last = self.duration - self.step_duration - 1.0
        onsets = np.sort(rng.uniform(5.0, last, self.steps))
        signs = rng.choice([-1.0, 1.0], self.steps)
        return tuple(
            {
                "kind": "step",
                "onset": float(t),
                "duration": self.step_duration,
                "amplitude": float(s * self.amplitude),
            }
            for t, s in zip(onsets, signs, strict=True)
        )


def _check(model: str, arm: str) -> None:
    if model not in MODELS:
        raise ParameterError("model", f"one of {', '.join(MODELS)}", model)
    if arm not in ARMS:
        raise ParameterError("arm", f"one of {', '.join(ARMS)}", arm)
    if arm == "plain" and model not in ("gated", "directed"):
        raise ParameterError(
            "arm", "'none' or 'effect' for this model ('plain' needs a mechanism)", arm
        )


def simulate_rooms(
    design: RoomsDesign, model: str, arm: str, *, seed: SeedLike | SeedTree = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate the rooms of one replication.

    Returns the real room ``(T, size)``, the other rooms side by side ``(T, size * (rooms - 1))``
    and the mean drive ``(T,)`` (the stimulus every room received).
    """
    _check(model, arm)
    tree = SeedTree(seed)
    coupled = arm != "none"
    loop = LoopDesign(
        size=design.size,
        duration=design.duration,
        dt=design.dt,
        kappa=design.kappa if coupled else 0.0,
        homeostasis=design.homeostasis,
        q_x=design.q_x,
        sigma=design.sigma,
        tau_rho=design.tau_rho,
        online_synchrony=model == "gated" and arm == "effect",
        events=design.events(tree.child("stimulus").generator()),
    )
    trust = None
    if model == "directed" and arm == "effect":
        lo, hi = np.log(design.trust_range[0]), np.log(design.trust_range[1])
        trust = np.exp(tree.child("trust").generator().uniform(lo, hi, (design.rooms, design.size)))
    sim = simulate_groups(loop, design.rooms, seed=tree.child("loop"), trust=trust)
    other = np.concatenate(list(sim.y[1:]), axis=1)
    return sim.y[0], other, sim.u


def _options(design: RoomsDesign) -> dict[str, Any]:
    # the gate reads synchrony with the loop's own exponential window
    return {
        "window": design.tau_rho,
        "weighting": "exponential",
        "couplings": "shared",
        "structure": "sender-receiver",
        "prior_sd": 1.0,
    }


def run_replication(
    design: RoomsDesign,
    model: str,
    arm: str,
    *,
    n_pseudo: int = 19,
    seed: SeedLike | SeedTree = None,
) -> dict[str, Any]:
    """One replication: simulate the rooms, test the real room against ``n_pseudo`` pseudo-groups.

    The row holds the real statistic, the pseudo-groups' mean, the number of pseudo-groups that
    gave a value, the p-value ``(1 + #{pseudo >= real}) / (1 + n)`` and a randomised p-value
    ``p - U / (1 + n)`` (``U`` uniform on [0, 1) from the replication's own stream), which is
    exactly uniform under the null when the statistic has no ties.
    """
    from syntony.physio.fit import pseudo_group_fit_test
    from syntony.physio.mechanisms._base import one_blas_thread
    from syntony.physio.mechanisms.analysis import _statistic
    from syntony.physio.mechanisms.pseudo import pseudo_group_statistic

    tree = SeedTree(seed)
    y, other, u = simulate_rooms(design, model, arm, seed=tree)
    if model == "linear":
        with one_blas_thread():
            res = pseudo_group_fit_test(
                y, other, n_groups=n_pseudo, dt=design.dt, seed=tree.child("pseudo-groups")
            )
        real, values, p = res["c_real"], res["c_pseudo"], res["p_value"]
    else:
        statistic = _statistic(model, design.dt, _options(design))
        with one_blas_thread():
            real = float(statistic(y, None))
        res = pseudo_group_statistic(
            y,
            other,
            statistic,
            real=real,
            n_groups=n_pseudo,
            seed=tree.child("pseudo-groups"),
        )
        values, p = res["values"], res["p_value"]
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    jitter = tree.child("randomise").generator().uniform()
    return {
        "model": model,
        "arm": arm,
        "real": float(real),
        "pseudo_mean": float(finite.mean()) if finite.size else float("nan"),
        "n_pseudo": int(finite.size),
        "p_value": float(p),
        "p_random": float(p - jitter / (1.0 + finite.size)),
        "stimulus_sd": float(np.std(u)),
    }
