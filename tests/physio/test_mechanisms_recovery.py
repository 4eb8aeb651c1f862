"""Simulate-and-recover on the agent loop, small: the CI version of
benchmarks/validate_mechanisms.py (whose full run, 200 replications per model, is in
docs/mechanisms.md). Few replications, fixed seeds, bounds loose enough for a correct method
and tight enough that a biased estimator, a wrong interval or a test without its level fails.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from syntony.physio.mechanisms import recovery as R

pytestmark = pytest.mark.slow


def _count(rows, key):
    return sum(bool(r[key]) for r in rows)


def test_gated_model_recovers_the_gate_of_the_agent_loop():
    on = R.run_gated(8, effect=True, seed=11)
    off = R.run_gated(8, effect=False, seed=12)
    for rows in (on, off):
        assert _count(rows, "g_covered") >= 6
        assert _count(rows, "c_covered") >= 6
        assert _count(rows, "lambda_covered") >= 6
    # without a gate in the loop, g = 0 is rarely rejected; with one, g is clearly larger
    assert sum(r["p_value"] < 0.05 for r in off) <= 2
    assert np.mean([r["g"] for r in on]) - np.mean([r["g"] for r in off]) > 0.25


def test_switching_model_recovers_the_loops_modes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one-mode data: boundary fits
        on = R.run_switching(3, effect=True, seed=21)
        off = R.run_switching(2, effect=False, seed=22)
    # the design's premise: the shared stimuli switch the whole group at once
    assert all(r["mixed"] < 0.01 for r in on)
    assert _count(on, "b_gap_covered") >= 2
    assert _count(on, "c_covered") >= 2
    assert _count(on, "lambda_covered") >= 2
    assert all(r["decoded"] > 0.95 for r in on)
    # with modes the likelihood ratio dwarfs what one-mode series give; without, it does not
    assert all(r["lr"] > 20 + r["lr_boot"] for r in on)
    assert all(r["lr"] < 10 for r in off)


def test_directed_model_recovers_sender_and_receiver_effects():
    unequal = R.run_directed(6, effect=True, seed=31)
    equal = R.run_directed(4, effect=False, seed=32)
    assert np.mean([r["send_coverage"] for r in unequal]) >= 0.75
    assert np.mean([r["recv_coverage"] for r in unequal]) >= 0.75
    assert _count(unequal, "c_covered") >= 4
    assert sum(r["p_send"] > 0.01 for r in equal) >= 3
    assert np.mean([r["p_send"] for r in unequal]) < np.mean([r["p_send"] for r in equal])


def test_pooled_model_recovers_mu_and_tau():
    spread = R.run_pooled(20, tau=0.1, seed=41)
    same = R.run_pooled(20, tau=0.0, seed=42)
    assert abs(spread["mu"] - 0.5) < 0.08 and abs(same["mu"] - 0.5) < 0.08
    assert spread["tau_covered"] and spread["p_lrt"] < 0.05
    assert same["p_lrt"] > 0.01
    assert spread["shrunk_coverage"] >= 0.75
