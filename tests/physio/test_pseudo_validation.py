"""The pseudo-group tests on agent-loop rooms that share one stimulus (a CI-sized version of
benchmarks/validate_pseudo_groups.py; the full study is in docs/pseudo_groups.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from syntony._rng import SeedTree
from syntony.errors import ParameterError
from syntony.physio.mechanisms.pseudo_validation import (
    RoomsDesign,
    run_replication,
    simulate_rooms,
)

DESIGN = RoomsDesign()


def _within_and_across(y: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    n = y.shape[1]
    corr = np.corrcoef(np.concatenate([y, other], axis=1).T)
    return float(corr[:n, :n][np.triu_indices(n, 1)].mean()), float(corr[:n, n:].mean())


def test_rooms_share_the_stimulus_and_are_coupled_only_inside():
    y0, other0, u0 = simulate_rooms(DESIGN, "linear", "none", seed=3)
    y1, other1, u1 = simulate_rooms(DESIGN, "linear", "effect", seed=3)
    steps = round(DESIGN.duration / DESIGN.dt)
    assert y0.shape == (steps, DESIGN.size)
    assert other0.shape == (steps, DESIGN.size * (DESIGN.rooms - 1))
    # one seed, one stimulus, whatever the coupling; and it is really there
    np.testing.assert_array_equal(u0, u1)
    # (steps may overlap)
    assert np.count_nonzero(u0) >= 0.5 * DESIGN.steps * DESIGN.step_duration / DESIGN.dt
    within0, across0 = _within_and_across(y0, other0)
    within1, across1 = _within_and_across(y1, other1)
    # the stimulus alone correlates strangers as much as room mates ...
    assert across0 > 0.2
    assert abs(within0 - across0) < 0.1
    # ... and coupling adds correlation inside the room only
    assert within1 - across1 > 0.05
    assert within1 > within0 + 0.15


def test_linear_pseudo_group_test_holds_its_level_and_finds_coupling():
    warnings.simplefilter("ignore", RuntimeWarning)
    n_pseudo = 9  # smallest p-value 0.1
    p = {
        arm: [
            run_replication(
                DESIGN, "linear", arm, n_pseudo=n_pseudo, seed=SeedTree(7).child(arm, r)
            )["p_value"]
            for r in range(5)
        ]
        for arm in ("none", "effect")
    }
    smallest = 1 / (n_pseudo + 1)
    # coupling inside the room beats pseudo-groups that share only the stimulus
    assert sum(v <= smallest + 1e-12 for v in p["effect"]) >= 4, p
    # without it the real room is one group among the others (the stimulus makes every
    # pseudo-group look coupled as much as the real room)
    assert sum(v <= smallest + 1e-12 for v in p["none"]) <= 2, p
    assert np.mean(p["none"]) > 0.3, p
    again = run_replication(
        DESIGN, "linear", "none", n_pseudo=n_pseudo, seed=SeedTree(7).child("none", 0)
    )
    assert again["p_value"] == p["none"][0]


@pytest.mark.parametrize(
    ("model", "arm"), [("linear", "plain"), ("ising", "none"), ("gated", "all")]
)
def test_unknown_model_or_arm_is_refused(model, arm):
    with pytest.raises(ParameterError):
        simulate_rooms(DESIGN, model, arm, seed=0)
