"""Studyset container: validation, views, selection, equality and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syntony.errors import InputError
from syntony.meta.studyset import Studyset, warn_outside_box


def _small() -> Studyset:
    xyz = np.array([[0, 0, 0], [10, 10, 10], [-20, 4, 2], [30, -40, 50], [2, 2, 2.0]])
    return Studyset.from_arrays(xyz, [0, 0, 1, 2, 2], [10, 12.5, 20], ids=["a", "b", "c"])


def test_views_and_summary():
    ss = _small()
    assert ss.ids == ["a", "b", "c"]
    assert ss.focus_experiment.tolist() == [0, 0, 1, 2, 2]
    assert ss.sample_sizes.tolist() == [10.0, 12.5, 20.0]
    assert ss.n_subjects == 42.5
    summary = ss.summary()
    assert summary["n_foci"] == 5
    assert summary["median_foci_per_experiment"] == 2.0
    assert summary["n_foci_outside_box"] == 0


def test_select_keeps_order_and_foci():
    ss = _small()
    sub = ss.select(["c", "a"])
    assert sub.ids == ["c", "a"]
    # Foci keep file order; each still points at its own experiment.
    exp_of_focus = np.array(sub.ids)[sub.focus_experiment]
    assert exp_of_focus.tolist() == ["a", "a", "c", "c"]
    np.testing.assert_array_equal(sub.coordinates, ss.coordinates[[0, 1, 3, 4]])
    assert ss.drop(["b"]).ids == ["a", "c"]
    with pytest.raises(InputError, match="unknown experiment"):
        ss.select(["zz"])
    with pytest.raises(InputError, match="unknown experiment"):
        ss.drop(["zz"])


def test_equality_and_unhashable():
    assert _small() == _small()
    assert _small() != _small().with_sample_size(20)
    assert _small() != _small().select(["a", "b"])
    with pytest.raises(TypeError):
        hash(_small())


def test_validation_errors():
    exps = pd.DataFrame({"study": ["s"], "sample_size": [10], "space": ["MNI"]}, index=["e"])
    foci = pd.DataFrame({"experiment": ["e"], "x": [0.0], "y": [0.0], "z": [np.nan]})
    with pytest.raises(InputError, match="non-finite"):
        Studyset(exps, foci)
    foci = pd.DataFrame({"experiment": ["f"], "x": [0.0], "y": [0.0], "z": [0.0]})
    with pytest.raises(InputError, match="unknown experiment 'f'"):
        Studyset(exps, foci)
    exps2 = pd.concat([exps, exps.rename(index={"e": "g"})])
    foci = pd.DataFrame({"experiment": ["e"], "x": [0.0], "y": [0.0], "z": [0.0]})
    with pytest.raises(InputError, match="'g' has no foci"):
        Studyset(exps2, foci)
    with pytest.raises(InputError, match="sample_size"):
        Studyset(exps.assign(sample_size=0), foci)


def test_outside_box_uses_nearest_voxel_and_warns():
    # The 2 mm grid spans x in [-90, 90], y in [-126, 90], z in [-72, 108] (voxel centres).
    xyz = np.array(
        [[-91, 0, 0], [91, 0, 0], [93, 0, 0], [0, -129, 0], [0, 0, 109.0], [0, 0, 109.9]]
    )
    ss = Studyset.from_arrays(xyz, np.arange(6), np.full(6, 10.0))
    # -91 -> -0.5 -> voxel 0 and 91 -> 90.5 -> voxel 90 (half to even): inside.
    assert ss.outside_box().tolist() == [False, False, True, True, False, True]
    with pytest.warns(UserWarning, match=r"3 of 6 foci \(in 3 experiment\(s\)\)"):
        assert warn_outside_box(ss) == 3


def test_concat_rejects_overlapping_ids():
    with pytest.raises(InputError, match="not unique"):
        Studyset.concat([_small(), _small()])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_select_then_concat_recovers_everything(counts, rnd):
    n_exp = len(counts)
    which = np.repeat(np.arange(n_exp), counts)
    xyz = np.array([[rnd.uniform(-80, 80) for _ in range(3)] for _ in which])
    ss = Studyset.from_arrays(xyz, which, np.arange(1, n_exp + 1, dtype=float))
    ids = ss.ids
    cut = rnd.randint(0, n_exp)
    if 0 < cut < n_exp:
        joined = Studyset.concat([ss.select(ids[:cut]), ss.select(ids[cut:])])
        assert joined == ss
    assert ss.to_table()["sample_size"].tolist() == [float(i + 1) for i in which]
