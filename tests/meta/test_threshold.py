"""Cluster-forming thresholds: analytic vs Monte Carlo null maps."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_helpers import ball_grid, random_studyset

from syntony.errors import ParameterError
from syntony.meta.ale import ALE
from syntony.meta.kernel import ALEKernel
from syntony.meta.layout import Layout
from syntony.meta.null import histogram_null
from syntony.meta.studyset import Studyset
from syntony.meta.threshold import AnalyticThreshold, MonteCarloThreshold, null_maps


def clustered_studyset(rng, grid, n_exp=40, foci=30, spread_mm=6.0):
    """Null data as database articles look: many foci per experiment, close together."""
    centres = grid.ijk_to_mm(grid.mask_ijk[rng.integers(0, grid.n_voxels, size=n_exp)])
    which = np.repeat(np.arange(n_exp), foci)
    xyz = centres[which] + rng.normal(0, spread_mm, size=(which.size, 3))
    return Studyset.from_arrays(xyz, which, np.full(n_exp, 20.0))


def _fit(studyset, grid, **params):
    return ALE(grid=grid, n_iters=0, **params).fit(studyset)


def test_null_maps_do_not_depend_on_workers_and_lie_in_unit_interval():
    grid = ball_grid()
    rng = np.random.default_rng(0)
    est = _fit(random_studyset(rng, grid, 20), grid)
    one = null_maps(est.layout_, 6, seed=3, n_jobs=1)
    two = null_maps(est.layout_, 6, seed=3, n_jobs=2)
    np.testing.assert_array_equal(one, two)
    assert one.shape == (6, grid.n_voxels) and 0 <= one.min() and one.max() < 1
    assert not np.array_equal(one[0], one[1])


def test_null_maps_equal_the_reference_accumulation_of_the_same_draws():
    from syntony.meta.accumulate import accumulate_log_ma_into
    from syntony.meta.fwe import null_ale_maps

    grid = ball_grid(radius=13, size=34)
    rng = np.random.default_rng(8)
    studyset = clustered_studyset(rng, grid, n_exp=12, foci=15)
    layout = Layout.build(grid, ALEKernel(), studyset)
    draws = rng.integers(0, grid.n_voxels, size=(3, layout.n_foci))
    fast = null_ale_maps(layout, draws, n_jobs=2)
    bank = layout.bank
    for j in range(3):
        local = np.ascontiguousarray(layout.mask_local[draws[j][layout.focus_order]])
        volume, scratch = np.zeros(layout.shape), np.zeros(layout.shape)
        accumulate_log_ma_into(
            volume, scratch, local, layout.foci_start, bank.experiment_kernel, bank.log_values,
            bank.starts, bank.half_widths,
        )  # fmt: skip
        expected = (1.0 - np.exp(volume[tuple(layout.mask_local.T)])).astype(np.float32)
        np.testing.assert_array_equal(fast[j], expected)


def test_thresholds_agree_when_foci_do_not_overlap(shared_data):
    from syntony.meta.readers import read_studyset

    studyset = read_studyset(shared_data / "nimare" / "nidm_pain_dset.json")
    analytic = ALE(n_iters=0).fit(studyset).threshold_
    mc = ALE(n_iters=0, random_state=1, cluster_threshold=MonteCarloThreshold(40)).fit(studyset)
    assert mc.threshold_ == pytest.approx(analytic, rel=0.05)


def test_monte_carlo_threshold_holds_its_level_where_the_analytic_one_does_not():
    grid = ball_grid(radius=13, size=34)
    rng = np.random.default_rng(5)
    studyset = clustered_studyset(rng, grid)
    p = 0.01
    analytic = _fit(studyset, grid, cluster_p=p).threshold_
    rule = MonteCarloThreshold(60)
    mc = _fit(studyset, grid, cluster_p=p, random_state=2, cluster_threshold=rule).threshold_
    fresh = null_maps(Layout.build(grid, ALEKernel(), studyset), 60, seed=99)
    assert np.mean(fresh > analytic) > 3 * p  # overlapping foci: the analytic null leaks
    assert p / 2 < np.mean(fresh > mc) < 2 * p
    assert mc > analytic


def test_threshold_rule_is_reported_and_validated(shared_data):
    grid = ball_grid()
    rng = np.random.default_rng(1)
    studyset = random_studyset(rng, grid, 15)
    est = ALE(grid=grid, n_iters=20, random_state=0, cluster_threshold=MonteCarloThreshold(10))
    result = est.fit(studyset).result_
    assert "Monte Carlo null maps" in result.methods
    assert "Monte Carlo null maps" in result.parameters["cluster_threshold"]
    assert result.fwe.threshold == est.threshold_
    with pytest.raises(ParameterError, match="cluster_threshold"):
        ALE(grid=grid, n_iters=0, cluster_threshold="monte_carlo").fit(studyset)
    with pytest.raises(ParameterError, match="n_maps"):
        MonteCarloThreshold(0)


def test_analytic_rule_is_the_null_threshold():
    counts = np.zeros((2, 50), dtype=np.int64)
    counts[:, 0] = 90
    counts[:, 20] = 10
    null = histogram_null(counts, np.array([2e-4, 2e-4]), 100)
    assert AnalyticThreshold()(None, null, 0.05) == null.threshold(0.05)
