"""Monte Carlo FWE: reproducibility, worker independence, early stop, and null calibration."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_helpers import ball_grid, random_studyset

from syntony.errors import ParameterError
from syntony.meta.ale import ALE
from syntony.meta.fwe import BLOCK, EarlyStop, monte_carlo_null, nimare_draws, null_to_p

GRID = ball_grid()


@pytest.fixture(scope="module")
def fitted():
    ss = random_studyset(np.random.default_rng(5), GRID, 8)
    return ALE(n_iters=0, grid=GRID).fit(ss)


def test_same_seed_same_numbers_any_number_of_workers(fitted):
    runs = [
        monte_carlo_null(
            fitted.layout_, n_iters=150, threshold=fitted.threshold_, seed=11, n_jobs=n
        )
        for n in (1, 2, 3)
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.max_ale, runs[0].max_ale)
        np.testing.assert_array_equal(other.max_size, runs[0].max_size)
        np.testing.assert_array_equal(other.max_mass, runs[0].max_mass)
    different = monte_carlo_null(fitted.layout_, n_iters=150, threshold=fitted.threshold_, seed=12)
    assert not np.array_equal(different.max_ale, runs[0].max_ale)
    # A longer run extends a shorter one: draws come in fixed blocks of BLOCK iterations.
    longer = monte_carlo_null(
        fitted.layout_, n_iters=150 + BLOCK, threshold=fitted.threshold_, seed=11
    )
    np.testing.assert_array_equal(longer.max_ale[:150], runs[0].max_ale)


def test_null_values_are_consistent(fitted):
    null = monte_carlo_null(fitted.layout_, n_iters=100, threshold=fitted.threshold_, seed=1)
    assert null.max_ale.dtype == np.float32 and null.n_iters == 100 and not null.stopped_early
    assert np.all((null.max_ale > 0) & (null.max_ale < 1))
    assert np.all(null.max_size >= 0) and np.all(null.max_mass >= 0)
    assert np.all((null.max_size > 0) == (null.max_mass > 0))
    voxel_only = monte_carlo_null(fitted.layout_, n_iters=100, threshold=None, seed=1)
    np.testing.assert_array_equal(voxel_only.max_ale, null.max_ale)
    crit = null.critical(0.05)
    assert crit["ale"] == pytest.approx(np.quantile(null.max_ale, 0.95))


def test_replay_draws_are_nimares_stream():
    import hashlib

    key = int.from_bytes(hashlib.sha256(b"correct_fwe_montecarlo").digest()[:8], "big")
    rng = np.random.default_rng(np.random.SeedSequence([3, key]))
    expected = rng.choice(1000, size=(700, 40))
    np.testing.assert_array_equal(nimare_draws(3, 1000, 700, 40, chunk_rows=64), expected)
    with pytest.raises(ParameterError):
        nimare_draws(None, 10, 2, 2)  # type: ignore[arg-type]


def test_null_to_p_clipped():
    null = np.arange(1, 101, dtype=float)
    p = null_to_p([0, 50, 100, 1000], null)
    np.testing.assert_allclose(p, [0.99, 0.51, 0.01, 0.01])


def test_early_stop(fitted):
    rule = EarlyStop(tol=0.5, min_iters=BLOCK * 2, patience=1)
    null = monte_carlo_null(
        fitted.layout_, n_iters=5000, threshold=fitted.threshold_, seed=2, n_jobs=1, early_stop=rule
    )
    assert null.stopped_early and BLOCK * 2 <= null.n_iters < 5000
    with pytest.raises(ParameterError):
        EarlyStop(tol=0)
    with pytest.raises(ParameterError):
        monte_carlo_null(fitted.layout_, n_iters=1, threshold=None)


@pytest.mark.slow
def test_cluster_fwe_calibrated_on_random_studysets():
    """Random-foci studysets are draws from the null: cluster-level FWE 0.05 rejects ~5%.

    Small grid (ball mask, 5,616 voxels), 200 studysets of 10 experiments, 100 iterations each
    (measured: 8/200 rejections by cluster size, 11/200 by mass, 12/200 voxel-level).
    The rejection count is Binomial(200, ~0.05): between 3 and 19 with probability > 0.999.
    """
    rng = np.random.default_rng(2024)
    rejections = 0
    runs = 200
    for r in range(runs):
        ss = random_studyset(rng, GRID, 10)
        est = ALE(n_iters=100, grid=GRID, random_state=r, n_jobs=2).fit(ss)
        table = est.result_.clusters
        if len(table) and table["p_fwe_size"].min() < 0.05:
            rejections += 1
    assert 3 <= rejections <= 19, rejections
