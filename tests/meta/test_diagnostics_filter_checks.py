"""Focus filter (against NiMARE's FocusFilter) and the warnings that cite their source."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _ale_helpers import ball_grid

from syntony.errors import InputError
from syntony.meta.diagnostics import (
    analysis_warnings,
    dominant_experiments,
    few_experiments,
    focus_filter,
    unreachable_significance,
)
from syntony.meta.studyset import Studyset


def _studyset(xyz, which, n_exp):
    return Studyset.from_arrays(np.asarray(xyz, float), which, np.full(n_exp, 20.0))


def test_focus_filter_drops_and_reports_out_of_mask_foci():
    grid = ball_grid(radius=6, size=20)
    inside = grid.ijk_to_mm(grid.mask_ijk[[0, 5, 9]])
    far = grid.ijk_to_mm(np.array([[0, 0, 0], [19, 19, 19]]))  # in the grid, outside the ball
    beyond = np.array([[500.0, 0.0, 0.0]])  # outside the grid
    xyz = np.vstack([inside[:2], far[:1], inside[2:], far[1:], beyond])
    which = [0, 0, 0, 1, 2, 2]
    ss = _studyset(xyz, which, 3)
    with pytest.warns(UserWarning, match="3 of 6 foci lie outside"):
        out = focus_filter(ss, grid)
    assert out.studyset.n_foci == 3 and out.n_foci == 6
    assert out.dropped_experiments == ("exp0002",)
    assert out.studyset.ids == ["exp0000", "exp0001"]
    assert list(out.dropped["reason"]) == [
        "outside the mask",
        "outside the mask",
        "outside the grid",
    ]
    assert list(out.dropped["experiment"]) == ["exp0000", "exp0002", "exp0002"]
    assert "exp0002" in out.message()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = focus_filter(out.studyset, grid)
    assert clean.dropped.empty and clean.message() == "" and clean.studyset is out.studyset
    with pytest.raises(InputError, match="every focus"):
        focus_filter(_studyset(beyond, [0], 1), grid, warn=False)


def test_focus_filter_keeps_what_nimare_keeps(shared_data):
    from nimare.diagnostics import FocusFilter
    from nimare.io import convert_sleuth_to_dataset

    from syntony.meta.readers import read_studyset

    path = shared_data / "nimare" / "nbackflanker_all_sleuth_MNI.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dset = convert_sleuth_to_dataset(str(path), target="mni152_2mm")
        kept = FocusFilter().transform(dset).coordinates
    with pytest.warns(UserWarning, match="outside the MNI152 2 mm box"):
        ss = read_studyset(path)
    out = focus_filter(ss, warn=False)
    assert out.studyset.n_foci == len(kept) < ss.n_foci

    def points(x):
        return sorted(map(tuple, np.round(np.asarray(x, dtype=float), 3).tolist()))

    assert points(out.studyset.coordinates) == points(kept[["x", "y", "z"]])
    assert len(out.dropped) == ss.n_foci - len(kept)


def test_few_experiments_warning_cites_eickhoff_2016():
    assert few_experiments(17) == []
    (text,) = few_experiments(12, what="group A")
    assert "only 12 experiments (group A)" in text and "Eickhoff et al., 2016" in text


def test_unreachable_significance_states_smallest_p():
    assert unreachable_significance(100, 0.05) == []
    (text,) = unreachable_significance(20, 0.05)
    assert "1/20 = 0.05" in text and "no cluster can be significant" in text
    assert unreachable_significance(0, 0.05) == []
    (perm,) = unreachable_significance(500, 0.001, what="permutations", test="voxelwise")
    assert "1/500" in perm and "voxelwise" in perm


def test_dominant_experiments_from_contributions_and_jackknife():
    long = pd.DataFrame(
        {
            "cluster": [1, 1, 2, 2, 3],
            "experiment": ["a", "b", "a", "c", "d"],
            "percent": [62.0, 38.0, 30.0, 70.0, 100.0],
        }
    )
    found = dominant_experiments(long, clusters=[1, 2])
    assert len(found) == 2
    assert found[0].startswith("cluster 1: experiment a accounts for 62%")
    assert "cluster 2: experiment c" in found[1] and "Müller et al., 2018" in found[1]
    jk = pd.DataFrame({"id": ["a", "b"], "cluster_1": [0.2, 0.55], "cluster_4": [0.1, 0.3]})
    (only,) = dominant_experiments(jk)
    assert only.startswith("cluster 1: experiment b accounts for 55%") and "jackknife" in only


def test_analysis_warnings_collects_in_order():
    long = pd.DataFrame({"cluster": [1], "experiment": ["x"], "percent": [80.0]})
    out = analysis_warnings(
        n_experiments={"A": 10, "B": 30}, n_iters=10, alpha=0.05, shares=long, significant=[1]
    )
    assert len(out) == 3
    assert "(A)" in out[0] and "1/10" in out[1] and "cluster 1" in out[2]
    assert analysis_warnings(n_experiments=25, n_iters=1000, alpha=0.05) == []
