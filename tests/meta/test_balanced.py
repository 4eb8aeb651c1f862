"""Balanced contrast: NiMARE's BalancedALESubtraction replayed map for map, and its own behaviour."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _ale_helpers import ball_grid
from _diagnostics_helpers import load_nimare, planted_studyset

from syntony.errors import InputError, ParameterError
from syntony.meta.balanced import Balanced, balanced_contrast, mean_balanced_difference


def test_mean_balanced_difference_repeats_dense_float32_products():
    """Sparse rows, the same numbers as NiMARE's dense ``1 - prod(1 - MA, axis=0)``."""
    rng = np.random.default_rng(0)
    n_cols = 50

    def dense_and_rows(n):
        dense = np.zeros((n, n_cols), dtype=np.float32)
        for e in range(n):
            cols = rng.choice(n_cols, size=rng.integers(1, 30), replace=False)
            dense[e, cols] = rng.uniform(1e-4, 0.4, size=cols.size).astype(np.float32)
        ptr = np.concatenate([[0], np.cumsum((dense > 0).sum(axis=1))]).astype(np.int64)
        cols = np.concatenate([np.flatnonzero(row) for row in dense]).astype(np.int64)
        vals = np.concatenate([row[row > 0] for row in dense]).astype(np.float32)
        return dense, (ptr, cols, vals)

    a, rows_a = dense_and_rows(9)
    b, rows_b = dense_and_rows(7)
    d, t = 13, 5
    idx_a = np.stack([rng.choice(9, t, replace=False) for _ in range(d)])
    idx_b = np.stack([rng.choice(7, t, replace=False) for _ in range(d)])
    expected = np.zeros(n_cols, dtype=np.float32)
    for i in range(d):
        expected += (1.0 - np.prod(1.0 - a[idx_a[i]], axis=0)) - (
            1.0 - np.prod(1.0 - b[idx_b[i]], axis=0)
        )
    expected = (expected / float(d)).astype(np.float32)
    got = mean_balanced_difference(rows_a, rows_b, idx_a, idx_b, n_cols)
    np.testing.assert_array_equal(got, expected)


def _nidm_groups(shared_data):
    dset, ss = load_nimare(shared_data, "nidm_pain")
    ids = sorted(dset.ids)
    return dset.slice(ids[:11]), dset.slice(ids[11:]), ss.select(ids[:11]), ss.select(ids[11:])


@pytest.mark.parametrize(
    "null", ["label-permutation", pytest.param("random-foci", marks=pytest.mark.slow)]
)
def test_nidm_pain_balanced_contrast_replays_nimare(shared_data, null):
    from nimare.meta.cbma.ale import BalancedALESubtraction

    d1, d2, s1, s2 = _nidm_groups(shared_data)
    options = dict(n_subsamples=6, difference_iterations=4, n_iters=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = BalancedALESubtraction(null_method=null, random_state=3, **options).fit(d1, d2)
    ours = balanced_contrast(
        s1, s2, Balanced(null=null, **options), replay_nimare=True, random_state=3, n_jobs=2
    )
    for mine, key in (
        (ours.diff, "stat_desc-balancedGroup1MinusGroup2"),
        (ours.p, "p_desc-balancedGroup1MinusGroup2"),
        (ours.z, "z_desc-balancedGroup1MinusGroup2"),
        (ours.prob_a, "prob_desc-group1"),
        (ours.prob_b, "prob_desc-group2"),
        (ours.conjunction, "stat_desc-conjunction"),
    ):
        np.testing.assert_array_equal(mine, theirs.get_map(key, return_type="array"), err_msg=key)
    np.testing.assert_allclose(
        ours.logp, theirs.get_map("logp_desc-balancedGroup1MinusGroup2", return_type="array"),
        rtol=0, atol=1e-6,
    )  # fmt: skip
    nd = theirs.estimator.null_distributions_
    np.testing.assert_array_equal(ours.null_min, nd["values_desc-balancedMinNull_corr-none"])
    np.testing.assert_array_equal(ours.null_max, nd["values_desc-balancedMaxNull_corr-none"])
    assert ours.target_n == 10 and 0 < ours.prob_a.max() <= 1


@pytest.fixture(scope="module")
def planted_groups():
    grid = ball_grid(radius=12, size=30)
    rng = np.random.default_rng(5)
    a = planted_studyset(rng, grid, 14, n_carrying=10, centre_mm=(6.0, 0.0, 0.0), prefix="a")
    b = planted_studyset(rng, grid, 10, n_carrying=0, prefix="b")
    return grid, a, b


def test_planted_difference_is_found_and_runs_are_seeded(planted_groups):
    grid, a, b = planted_groups
    test = Balanced(n_subsamples=8, difference_iterations=20, n_iters=40, coverage="brain")
    fit = balanced_contrast(a, b, test, grid=grid, random_state=2, n_jobs=1)
    again = balanced_contrast(a, b, test, grid=grid, random_state=2, n_jobs=2)
    for name in ("diff", "p", "prob_a", "prob_b", "null_max"):
        np.testing.assert_array_equal(getattr(fit, name), getattr(again, name), err_msg=name)
    spot = np.flatnonzero(np.all(grid.mask_ijk == grid.mm_to_ijk(np.array([6.0, 0, 0])), axis=1))
    assert fit.diff[spot[0]] > fit.high and fit.p[spot[0]] < 0.05 and fit.z[spot[0]] > 0
    assert fit.prob_a[spot[0]] >= 0.5 and fit.prob_b[spot[0]] == 0
    assert fit.target_n == 10 and fit.coverage.all()
    other = balanced_contrast(a, b, test, grid=grid, random_state=3, n_jobs=2)
    assert not np.array_equal(other.null_max, fit.null_max)


def test_balanced_options_are_checked(planted_groups):
    grid, a, b = planted_groups
    with pytest.raises(ParameterError, match="null"):
        Balanced(null="bootstrap")
    with pytest.raises(ParameterError, match="coverage"):
        Balanced(coverage="wm")
    with pytest.raises(ParameterError, match="target_n"):
        balanced_contrast(a, b, Balanced(target_n=12, coverage="brain"), grid=grid)
    with pytest.raises(InputError, match="both groups"):
        balanced_contrast(a, a, Balanced(coverage="brain"), grid=grid)
    with pytest.raises(ParameterError, match="random_state"):
        balanced_contrast(a, b, Balanced(coverage="brain"), grid=grid, replay_nimare=True,
                          random_state=np.random.SeedSequence(1))  # fmt: skip
    assert "balanced subtraction" in Balanced().describe()
