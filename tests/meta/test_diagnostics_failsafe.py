"""Fail-safe N (Acar et al. 2018): the search, the null experiments, properties and a planted effect."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_helpers import ball_grid
from _diagnostics_helpers import planted_studyset
from hypothesis import given, settings
from hypothesis import strategies as st

from syntony._rng import SeedTree
from syntony.errors import ParameterError
from syntony.meta.ale import ALE
from syntony.meta.clusters import label_clusters
from syntony.meta.diagnostics import bisect_fail_safe, fail_safe_n, null_experiments
from syntony.meta.diagnostics.failsafe import _chunk_sizes, _Step
from syntony.meta.fwe import monte_carlo_null
from syntony.meta.studyset import Studyset


@settings(max_examples=200, deadline=None)
@given(
    boundary=st.integers(0, 400),
    minimum=st.integers(0, 100),
    maximum=st.integers(1, 300),
)
def test_bisection_finds_the_boundary_of_a_monotone_survival(boundary, minimum, maximum):
    fsn, at_max, steps = bisect_fail_safe(lambda n: n <= boundary, minimum, maximum)
    assert fsn == min(boundary, maximum)
    assert at_max == (boundary >= maximum)
    assert all(ok == (n <= boundary) for n, ok in steps)
    assert len(steps) <= 2 + int(np.ceil(np.log2(maximum + 1)))
    # Monotone: a cluster that survives more null experiments never gets a smaller FSN.
    more, _, _ = bisect_fail_safe(lambda n: n <= boundary + 7, minimum, maximum)
    assert more >= fsn


def test_bisection_rejects_an_empty_range():
    with pytest.raises(ParameterError):
        bisect_fail_safe(lambda n: True, 0, 0)


def test_chunks_cover_the_iterations():
    for total in (2, 99, 100, 101, 250, 1000):
        sizes = _chunk_sizes(total)
        assert sum(sizes) == total and min(sizes) >= 2


@pytest.fixture(scope="module")
def grid():
    return ball_grid(radius=16, size=38)


def test_null_experiments_are_a_fixed_nested_list(grid):
    rng = np.random.default_rng(0)
    ss = planted_studyset(rng, grid, 12, n_carrying=0, max_foci=7)
    long = null_experiments(ss, 30, grid=grid, seed=5)
    short = null_experiments(ss, 10, grid=grid, seed=5)
    assert long.n_experiments == 30 and short.n_experiments == 10
    first = long.select(long.ids[:10])
    np.testing.assert_array_equal(first.coordinates, short.coordinates)
    np.testing.assert_array_equal(first.sample_sizes, short.sample_sizes)
    assert set(long.sample_sizes) <= set(ss.sample_sizes)
    counts = set(np.bincount(ss.focus_experiment).tolist())
    assert set(np.bincount(long.focus_experiment).tolist()) <= counts
    ijk = grid.mm_to_ijk(long.coordinates)
    assert grid.mask[tuple(ijk.T)].all()
    for e in range(long.n_experiments):  # distinct voxels within an experiment
        mine = ijk[long.focus_experiment == e]
        assert len({tuple(v) for v in mine}) == len(mine)
    other = null_experiments(ss, 10, grid=grid, seed=6)
    assert not np.array_equal(other.coordinates, short.coordinates)
    assert long.ids[0] == "fsn-null-0001"


def _two_cluster_studyset(grid, seed):
    """Nine experiments converge at (-12, 0, 0), five at (12, 0, 0), sixteen are noise."""
    rng = np.random.default_rng(seed)
    base = planted_studyset(rng, grid, 30, n_carrying=0, max_foci=6)
    xyz, which = [base.coordinates], [base.focus_experiment]
    for centre, members in (((-12.0, 0.0, 0.0), range(9)), ((12.0, 0.0, 0.0), range(9, 14))):
        members = np.asarray(list(members))
        xyz.append(np.asarray(centre) + rng.normal(0.0, 1.5, size=(members.size, 3)))
        which.append(members)
    return Studyset.from_arrays(
        np.vstack(xyz), np.concatenate(which), base.sample_sizes, ids=base.ids
    )


def _clusters(grid, fit):
    labels = label_clusters(grid.unmask(fit.ale_.astype(np.float64) > fit.threshold_))[0]
    labels = labels[grid.mask]
    significant = np.unique(fit.result_.maps["clusters"])
    return labels, significant[significant > 0]


def _cluster_at(grid, labels, mm):
    return int(grid.unmask(labels)[tuple(grid.mm_to_ijk(np.asarray(mm, float)))])


def test_more_supporting_experiments_give_a_larger_fsn_and_insignificant_clusters_zero(grid):
    ss = _two_cluster_studyset(grid, 1)
    est = ALE(grid=grid, n_iters=100, random_state=0)
    fit = est.fit(ss)
    labels, significant = _clusters(grid, fit)
    strong = _cluster_at(grid, labels, (-12, 0, 0))
    weak = _cluster_at(grid, labels, (12, 0, 0))
    assert strong and weak and strong in significant and weak in significant
    out = fail_safe_n(ss, labels, significant=significant, estimator=est, random_state=3,
                      max_null=90)  # fmt: skip
    table = out.table.set_index("cluster")
    assert table.loc[strong, "fsn"] > table.loc[weak, "fsn"] > 0
    assert table.loc[strong, "minimum_reference"] == 2 * ss.n_experiments
    assert (out.analyses["n_iters_run"] <= 100).all()
    # A cluster that is not significant is not searched: FSN 0.
    only_weak = fail_safe_n(ss, labels, significant=[weak], estimator=est, random_state=3,
                            max_null=90).table.set_index("cluster")  # fmt: skip
    others = [c for c in only_weak.index if c != weak]
    assert (only_weak.loc[others, "fsn"] == 0).all()
    assert (only_weak.loc[others, "verdict"] == "not significant in the analysis").all()
    assert only_weak.loc[weak, "fsn"] == table.loc[weak, "fsn"]  # same streams, same answer
    # Nothing significant: nothing run.
    none = fail_safe_n(ss, labels, significant=[], estimator=est, random_state=3)
    assert (none.table["fsn"] == 0).all() and none.analyses.empty


def test_sequential_decisions_equal_full_null_decisions(grid):
    ss = _two_cluster_studyset(grid, 2)
    est = ALE(grid=grid, n_iters=300, random_state=0)
    labels, _ = _clusters(grid, est.fit(ss))
    null = null_experiments(ss, 40, grid=grid, seed=9)

    settings = dict(kernel=None, grid=grid, cluster_p=0.001, null_method=est.null_method,
                    cluster_threshold=None, n_jobs=2)  # fmt: skip
    numbers = np.unique(labels[labels > 0])
    for n in (5, 25, 40):
        lazy = _Step.run(ss, null, n, settings, 300, 0.05, labels, numbers, SeedTree(9))
        full = _Step.run(ss, null, n, settings, 300, 0.05, labels, numbers, SeedTree(9))
        for c, size in enumerate(_chunk_sizes(300)):
            full.chunks.append(
                monte_carlo_null(full.layout, n_iters=size, threshold=full.threshold,
                                 seed=SeedTree(9).child("fsn", "fwe", n, c)).max_size
            )  # fmt: skip
        null_sizes = np.concatenate(full.chunks)
        for cluster in numbers:
            observed = full.overlaps[int(cluster)]
            p = [max(np.count_nonzero(null_sizes >= s), 1) / 300 for s in observed]
            assert lazy.survives(int(cluster)) == any(v < 0.05 for v in p)
        assert lazy.n_run <= 300


def test_fail_safe_n_is_reproducible_and_checks_its_inputs(grid):
    ss = _two_cluster_studyset(grid, 1)
    est = ALE(grid=grid, n_iters=60, random_state=0)
    fit = est.fit(ss)
    labels, significant = _clusters(grid, fit)
    a = fail_safe_n(ss, labels, significant=significant, estimator=est, random_state=4,
                    max_null=40, n_jobs=1)  # fmt: skip
    b = fail_safe_n(ss, labels, significant=significant, estimator=est, random_state=4,
                    max_null=40, n_jobs=2)  # fmt: skip
    assert a.table.equals(b.table)
    assert a.parameters["max_null"] == 40 and a.null.n_experiments == 40
    with pytest.raises(ParameterError, match="significant"):
        fail_safe_n(ss, labels, significant=[99], estimator=est)
    with pytest.raises(ParameterError, match="reference"):
        fail_safe_n(ss, labels, estimator=est, reference=(3, 1))
    with pytest.raises(ParameterError, match="n_iters"):
        fail_safe_n(ss, labels, estimator=est, n_iters=1)


@pytest.mark.slow
def test_planted_effect_fsn_grows_with_the_experiments_that_carry_it(grid):
    """Twenty experiments, k of them converging on one spot: the FSN grows with k."""
    means = []
    for k in (4, 6, 9):
        values = []
        for seed in (8, 9, 10):
            rng = np.random.default_rng(seed)
            ss = planted_studyset(rng, grid, 20, n_carrying=k, centre_mm=(2.0, 0.0, 0.0),
                                  spread_mm=2.0, max_foci=6)  # fmt: skip
            est = ALE(grid=grid, n_iters=100, random_state=seed)
            fit = est.fit(ss)
            labels, significant = _clusters(grid, fit)
            spot = _cluster_at(grid, labels, (2, 0, 0))
            if spot == 0 or spot not in significant:
                values.append(0)
                continue
            out = fail_safe_n(ss, labels, significant=[spot], estimator=est, random_state=seed,
                              max_null=80)  # fmt: skip
            values.append(int(out.table.set_index("cluster").loc[spot, "fsn"]))
        means.append(np.mean(values))
    assert means[0] < means[1] < means[2], means
    assert means[2] >= 20
