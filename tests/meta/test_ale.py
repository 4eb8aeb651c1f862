"""Properties of the ALE map and the estimator (hypothesis, on a small grid)."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_helpers import ball_grid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syntony.errors import ParameterError
from syntony.meta.ale import ALE, ale_map
from syntony.meta.kernel import ALEKernel
from syntony.meta.studyset import Studyset

GRID = ball_grid()


@st.composite
def studysets(draw, max_exp: int = 5):
    n_exp = draw(st.integers(1, max_exp))
    counts = draw(st.lists(st.integers(1, 5), min_size=n_exp, max_size=n_exp))
    n = sum(counts)
    coords = draw(st.lists(st.tuples(*[st.integers(-34, 34)] * 3), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(5, 60), min_size=n_exp, max_size=n_exp))
    which = np.repeat(np.arange(n_exp), counts)
    return Studyset.from_arrays(np.array(coords, float), which, np.array(sizes, float))


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(studysets())
def test_ale_in_unit_interval_and_p_valid(studyset):
    est = ALE(n_iters=0, grid=GRID).fit(studyset)
    assert est.ale_.dtype == np.float32
    assert np.all((est.ale_ >= 0) & (est.ale_ <= 1))
    assert np.all((est.p_ > 0) & (est.p_ <= 1))
    assert np.all(est.z_ >= 0) and np.all(est.logp_ >= 0)
    # p is non-increasing in ALE
    order = np.argsort(est.ale_, kind="stable")
    assert np.all(np.diff(est.p_[order]) <= 1e-12)


@SETTINGS
@given(studysets(), st.data())
def test_ale_invariant_to_order_of_experiments_and_foci(studyset, data):
    base = ale_map(studyset, grid=GRID)
    perm_exp = data.draw(st.permutations(range(studyset.n_experiments)))
    perm_foci = data.draw(st.permutations(range(studyset.n_foci)))
    ids = [studyset.ids[i] for i in perm_exp]
    shuffled = Studyset(studyset.experiments.loc[ids], studyset.foci.iloc[list(perm_foci)])
    # Reordering changes the order of a float64 sum only: equal to float32 rounding.
    np.testing.assert_allclose(ale_map(shuffled, grid=GRID), base, rtol=0, atol=1e-7)


@SETTINGS
@given(studysets(), st.tuples(*[st.integers(-30, 30)] * 3), st.booleans())
def test_ale_monotone_in_added_foci(studyset, focus, new_experiment):
    base = ale_map(studyset, grid=GRID)
    foci = studyset.foci.copy()
    experiments = studyset.experiments.copy()
    target = studyset.ids[0]
    if new_experiment:
        experiments.loc["added"] = {"study": "added", "sample_size": 20.0, "space": "MNI"}
        target = "added"
    foci.loc[len(foci)] = {"experiment": target, "x": focus[0], "y": focus[1], "z": focus[2]}
    more = ale_map(Studyset(experiments, foci), grid=GRID)
    assert np.all(more >= base)


def test_single_focus_ale_is_the_kernel():
    ss = Studyset.from_arrays([[0.0, 0.0, 0.0]], [0], [20.0])
    grid = ball_grid(radius=14, size=40)
    ale = grid.unmask(ale_map(ss, grid=grid))
    centre = tuple(grid.mm_to_ijk([0.0, 0.0, 0.0]))
    kernel = ALEKernel().bank([20.0], 2.0).kernels[0]
    h = (kernel.shape[0] - 1) // 2
    window = ale[tuple(slice(c - h, c + h + 1) for c in centre)]
    np.testing.assert_allclose(window, kernel, rtol=2e-7, atol=1e-12)
    assert ale.sum() == pytest.approx(kernel.sum(dtype=float), rel=1e-5)


def test_two_experiments_combine_as_independent_events():
    ss = Studyset.from_arrays([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0]], [0, 1], [20.0, 20.0])
    one = ale_map(Studyset.from_arrays([[0.0, 0.0, 0.0]], [0], [20.0]), grid=GRID).astype(float)
    two = ale_map(Studyset.from_arrays([[4.0, 0.0, 0.0]], [0], [20.0]), grid=GRID).astype(float)
    np.testing.assert_allclose(ale_map(ss, grid=GRID), 1 - (1 - one) * (1 - two), atol=1e-7)
    # Within one experiment the maximum is taken (Turkeltaub 2012), not the union.
    same = ale_map(
        Studyset.from_arrays([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0]], [0, 0], [20.0]), grid=GRID
    )
    np.testing.assert_allclose(same, np.maximum(one, two), atol=1e-7)


def test_estimator_contract_and_errors():
    ss = Studyset.from_arrays([[0.0, 0.0, 0.0]], [0], [20.0])
    est = ALE(n_iters=0, grid=GRID)
    assert est.fit(ss) is est
    assert est.fwe_ is None and est.result_.fwe is None
    assert set(est.result_.maps) == {"ale", "p", "z", "logp"}
    for bad in (
        {"n_iters": -1},
        {"n_iters": 1},
        {"cluster_p": 0.0},
        {"fwe_alpha": 2.0},
        {"kernel": "gauss"},
    ):
        with pytest.raises(ParameterError):
            ALE(grid=GRID, **bad).fit(ss)
