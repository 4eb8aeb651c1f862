"""Monte Carlo FWE: reproducibility, worker independence, early stop, and null calibration."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_helpers import ball_grid, random_studyset

from syntony._rng import seed_sequence
from syntony.errors import ParameterError
from syntony.meta.accumulate import accumulate_log_ma_into
from syntony.meta.ale import ALE
from syntony.meta.fwe import (
    BLOCK,
    EarlyStop,
    _default_block,
    monte_carlo_null,
    nimare_draws,
    null_to_p,
)

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


def _direct_null(layout, draws, threshold):
    """Max ALE, largest cluster size and mass of each draw, from the reference accumulation
    on the plain (unpadded) box and scipy's labelling."""
    from scipy import ndimage

    bank = layout.bank
    mask = np.zeros(layout.shape, dtype=bool)
    mask[tuple(layout.mask_local.T)] = True
    out = []
    for draw in draws:
        volume = np.zeros(layout.shape)
        accumulate_log_ma_into(
            volume, np.zeros(layout.shape), layout.mask_local[draw].astype(np.int64),
            layout.foci_start, bank.experiment_kernel, bank.log_values, bank.starts,
            bank.half_widths,
        )  # fmt: skip
        ale = np.where(mask, (1.0 - np.exp(volume)).astype(np.float32), 0).astype(np.float64)
        labels, n = ndimage.label(ale > threshold, ndimage.generate_binary_structure(3, 1))
        sizes = np.bincount(labels.ravel())[1:] if n else np.zeros(1, int)
        masses = ndimage.sum(ale - threshold, labels, np.arange(1, n + 1)) if n else [0.0]
        out.append((np.float32(ale.max()), sizes.max(), np.max(masses)))
    return out


@pytest.mark.parametrize("n_foci_max", [3, 12])
def test_null_equals_direct_evaluation_of_the_same_draws(n_foci_max):
    # Many foci per experiment: large groups of overlapping kernels in every draw.
    ss = random_studyset(np.random.default_rng(n_foci_max), GRID, 9, max_foci=n_foci_max)
    est = ALE(n_iters=0, grid=GRID, cluster_p=0.01).fit(ss)
    layout = est.layout_
    n = 40
    null = monte_carlo_null(layout, n_iters=n, threshold=est.threshold_, seed=21, n_jobs=2)
    draws = _default_block(seed_sequence(21), 0, n, layout.n_foci, layout.mask_local.shape[0])
    direct = _direct_null(layout, draws[:, layout.focus_order], est.threshold_)
    assert np.any(null.max_size > 1)
    np.testing.assert_array_equal(null.max_ale, [d[0] for d in direct])
    np.testing.assert_array_equal(null.max_size, [d[1] for d in direct])
    np.testing.assert_allclose(null.max_mass, [d[2] for d in direct], rtol=1e-12, atol=0)


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


@pytest.mark.parametrize("grid", [GRID, None], ids=["ball", "mni152"])
def test_padded_box_reads_every_mask_voxel_once(grid):
    from syntony.meta.fwe import _PaddedBox
    from syntony.meta.space import mni152_grid

    grid = grid or mni152_grid()
    ss = random_studyset(np.random.default_rng(0), grid, 3)
    layout = ALE(n_iters=0, grid=grid).fit(ss).layout_
    box = _PaddedBox.build(layout)
    voxels = np.concatenate(
        [[(x, y, z) for z in range(z0, z1 + 1)] for x, y, z0, z1 in box.runs.tolist()]
    )
    np.testing.assert_array_equal(voxels, layout.mask_local)  # every voxel, C order
    x, y, z = layout.mask_local.T
    assert np.all(box.row_lo[x, y] <= z) and np.all(z <= box.row_hi[x, y])
