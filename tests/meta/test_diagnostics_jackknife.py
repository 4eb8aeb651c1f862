"""Jackknife and focus counter: against refits by brute force, and side by side with NiMARE."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _ale_helpers import ball_grid
from _diagnostics_helpers import load_nimare, planted_studyset

from syntony.errors import ParameterError
from syntony.meta.clusters import label_clusters
from syntony.meta.diagnostics import (
    Observed,
    focus_counter,
    jackknife,
    jackknife_conjunction,
    jackknife_contrast,
)


def _ale64(studyset, grid):
    """ALE in float64 straight from the log-sums (the refit the jackknife avoids)."""
    obs = Observed.build(studyset, grid=grid)
    return 1.0 - np.exp(obs.in_mask(obs.log_sums))


def _clusters(grid, values, threshold):
    volume, _ = label_clusters(grid.unmask(values > threshold))
    return volume[grid.mask]


@pytest.fixture(scope="module")
def small():
    grid = ball_grid(radius=10, size=26)
    rng = np.random.default_rng(3)
    a = planted_studyset(rng, grid, 12, n_carrying=7, centre_mm=(4.0, 2.0, 0.0))
    b = planted_studyset(rng, grid, 10, n_carrying=6, centre_mm=(-6.0, -4.0, 2.0), prefix="b")
    return grid, a, b


def test_jackknife_equals_leave_one_out_refits(small):
    grid, a, _ = small
    ale = _ale64(a, grid)
    labels = _clusters(grid, ale, np.quantile(ale, 0.97))
    assert labels.max() >= 1
    table = jackknife(Observed.build(a, grid=grid), labels)
    assert list(table["id"]) == a.ids
    assert list(table.columns[1:]) == [f"cluster_{c}" for c in range(1, labels.max() + 1)]
    for e in a.ids:
        without = _ale64(a.drop([e]), grid)
        for c in range(1, labels.max() + 1):
            inside = labels == c
            expected = np.mean(1.0 - without[inside] / ale[inside])
            got = float(table.loc[table["id"] == e, f"cluster_{c}"].iloc[0])
            assert got == pytest.approx(expected, abs=1e-10, rel=1e-7), (e, c)
    # The planted experiments carry the cluster around the planted focus, the others hardly.
    centre = grid.unmask(labels)[tuple(grid.mm_to_ijk(np.array([4.0, 2.0, 0.0])))]
    assert centre >= 1
    shares = table[f"cluster_{centre}"].to_numpy()
    assert shares[:7].mean() > 5 * max(shares[7:].mean(), 1e-3)


def test_jackknife_contrast_equals_refits(small):
    grid, a, b = small
    obs_a, obs_b = Observed.build(a, grid=grid), Observed.build(b, grid=grid)
    diff = obs_a.ale() - obs_b.ale()
    d64 = _ale64(a, grid) - _ale64(b, grid)
    pos = _clusters(grid, d64, np.quantile(d64, 0.98))
    neg = _clusters(grid, -d64, np.quantile(-d64, 0.98))
    table = jackknife_contrast(obs_a, obs_b, pos, neg, diff=d64)
    assert list(table["group"]) == ["A"] * a.n_experiments + ["B"] * b.n_experiments
    for group, studyset in (("A", a), ("B", b)):
        for e in studyset.ids[:4]:
            if group == "A":
                without = _ale64(a.drop([e]), grid) - _ale64(b, grid)
            else:
                without = _ale64(a, grid) - _ale64(b.drop([e]), grid)
            row = table[(table["id"] == e) & (table["group"] == group)]
            for name, labels in (("a_gt_b", pos), ("b_gt_a", neg)):
                for c in range(1, labels.max() + 1):
                    inside = labels == c
                    expected = np.mean(1.0 - without[inside] / d64[inside])
                    got = float(row[f"{name}_{c}"].iloc[0])
                    assert got == pytest.approx(expected, abs=1e-10, rel=1e-7)
    # Sign: the winning group's experiments take positive shares, the other group's negative.
    a_rows = table[table["group"] == "A"]
    assert (a_rows.filter(like="a_gt_b").to_numpy() >= 0).all()
    assert (a_rows.filter(like="b_gt_a").to_numpy() <= 0).all()
    _ = diff  # the float32 default diff is exercised by the NiMARE comparison


def test_jackknife_conjunction_equals_refits(small):
    grid, a, b = small
    ale_a, ale_b = _ale64(a, grid), _ale64(b, grid)
    thr_a = np.where(ale_a > np.quantile(ale_a, 0.6), ale_a, 0.0)
    thr_b = np.where(ale_b > np.quantile(ale_b, 0.6), ale_b, 0.0)
    both = (thr_a > 0) & (thr_b > 0)
    labels = _clusters(grid, both.astype(float), 0.5)
    assert labels.max() >= 1
    obs = [Observed.build(a, grid=grid), Observed.build(b, grid=grid)]
    table = jackknife_conjunction(obs, [thr_a, thr_b], labels, names=["A", "B"])
    stat = np.minimum(thr_a, thr_b)
    for k, (studyset, name) in enumerate(((a, "A"), (b, "B"))):
        for e in studyset.ids[:5]:
            w = _ale64(studyset.drop([e]), grid)
            maps = [thr_a, thr_b]
            maps[k] = np.where(maps[k] > 0, w, 0.0)
            without = np.minimum(*maps)
            row = table[(table["id"] == e) & (table["map"] == name)]
            for c in range(1, labels.max() + 1):
                inside = labels == c
                expected = np.mean(1.0 - without[inside] / stat[inside])
                assert float(row[f"cluster_{c}"].iloc[0]) == pytest.approx(
                    expected, abs=1e-10, rel=1e-7
                )


def test_jackknife_without_clusters_and_bad_labels(small):
    grid, a, _ = small
    obs = Observed.build(a, grid=grid)
    empty = jackknife(obs, np.zeros(grid.n_voxels, dtype=int))
    assert list(empty.columns) == ["id"] and len(empty) == a.n_experiments
    with pytest.raises(ParameterError, match="labels"):
        jackknife(obs, np.zeros(5, dtype=int))
    with pytest.raises(ParameterError, match="labels"):
        jackknife(obs, -np.ones(grid.n_voxels, dtype=int))


def test_focus_counter_counts_nearest_voxels(small):
    grid, a, _ = small
    ale = _ale64(a, grid)
    labels = _clusters(grid, ale, np.quantile(ale, 0.9))
    table = focus_counter(a, labels, grid)
    volume = grid.unmask(labels)
    ijk = grid.mm_to_ijk(a.coordinates)
    for e_index in range(a.n_experiments):
        mine = ijk[a.focus_experiment == e_index]
        for c in range(1, labels.max() + 1):
            expected = sum(
                1
                for v in mine
                if np.all(v >= 0) and np.all(v < grid.shape) and volume[tuple(v)] == c
            )
            assert table.loc[e_index, f"cluster_{c}"] == expected
    assert table.filter(like="cluster_").to_numpy().sum() <= a.n_foci


# -- side by side with NiMARE 0.22.1 ------------------------------------------------------------
def _nimare_tables(result, target, threshold):
    from nimare.diagnostics import FocusCounter, Jackknife

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jk = Jackknife(target_image=target, target_threshold=threshold).transform(result)
        fc = FocusCounter(target_image=target, target_threshold=threshold).transform(result)
    jk_table = next(v for k, v in jk.tables.items() if "Jackknife_tab-counts" in k)
    fc_table = next(v for k, v in fc.tables.items() if "FocusCounter_tab-counts" in k)
    label_map = next(v for k, v in jk.maps.items() if k.startswith("label"))
    return jk_table, fc_table, np.asarray(label_map)


def _compare(ours_jk, ours_fc, labels, theirs_jk, theirs_fc, label_map):
    """Map NiMARE's clusters (numbered by peak) onto ours (numbered by size) by their voxels."""
    assert list(theirs_jk["id"]) == list(ours_jk["id"])
    assert list(theirs_fc["id"]) == list(ours_fc["id"])
    assert len(theirs_jk.columns) - 1 == len(np.unique(labels[labels > 0]))
    worst = 0.0
    for column in theirs_jk.columns[1:]:
        voxels = label_map == int(column.split()[-1])
        mine = np.unique(labels[voxels])
        assert mine.size == 1 and np.sum(labels == mine[0]) == np.sum(voxels), column
        a = theirs_jk[column].to_numpy(dtype=float)
        b = ours_jk[f"cluster_{mine[0]}"].to_numpy()
        worst = max(worst, float(np.max(np.abs(a - b))))
        np.testing.assert_array_equal(
            theirs_fc[column].to_numpy(dtype=np.int64), ours_fc[f"cluster_{mine[0]}"].to_numpy()
        )
    assert worst <= 1e-6, worst
    return worst


def test_nidm_pain_jackknife_and_focus_counter_match_nimare(shared_data):
    """Significant clusters from the same (replayed) FWE null in both; tables to 1e-6."""
    from nimare.correct import FWECorrector
    from nimare.meta.cbma.ale import ALE as NiMAREALE

    from syntony.meta.ale import ALE

    dset, ss = load_nimare(shared_data, "nidm_pain")
    n_iters = 60
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = NiMAREALE(random_state=7).fit(dset)
        corrected = FWECorrector(method="montecarlo", n_iters=n_iters, n_cores=1).transform(fitted)
    ours = ALE(n_iters=n_iters, replay_nimare=True, random_state=7).fit(ss)
    labels = ours.result_.maps["clusters"]
    assert labels.max() >= 3
    obs = Observed.build(ss, layout=ours.layout_, log_sums=ours.log_sums_)
    # cluster-size FWE p < 0.05  <=>  z > z(0.05) on NiMARE's corrected map
    theirs = _nimare_tables(
        corrected, "z_desc-size_level-cluster_corr-FWE_method-montecarlo", 1.6448536269514722
    )
    _compare(jackknife(obs, labels), focus_counter(ss, labels, obs.grid), labels, *theirs)


@pytest.mark.slow
def test_nbackflanker_subset_jackknife_and_focus_counter_match_nimare(shared_data):
    """The first 30 experiments of nbackflanker_all; our clusters handed to NiMARE as its target."""
    from nimare.meta.cbma.ale import ALE as NiMAREALE

    from syntony.meta.ale import ALE

    dset, ss = load_nimare(shared_data, "nbackflanker_all", first=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = NiMAREALE().fit(dset)
    ours = ALE(n_iters=0).fit(ss)
    np.testing.assert_array_equal(ours.ale_, fitted.get_map("stat", return_type="array"))
    labels = _clusters(ours.layout_.grid, ours.ale_.astype(np.float64), ours.threshold_)
    assert labels.max() >= 3
    # Same clusters in: NiMARE characterises the clusters of a map holding our labels.
    fitted.maps["z_desc-syntonyclusters"] = (labels > 0).astype(np.float32)
    theirs = _nimare_tables(fitted, "z_desc-syntonyclusters", 0.5)
    obs = Observed.build(ss, layout=ours.layout_, log_sums=ours.log_sums_)
    _compare(jackknife(obs, labels), focus_counter(ss, labels, obs.grid), labels, *theirs)
