"""ALE contrast: difference map, permutation null, both tests, and NiMARE's ALESubtraction."""

from __future__ import annotations

import numpy as np
import pytest

from syntony.errors import InputError, ParameterError
from syntony.meta.ale import ALE, ale_map
from syntony.meta.contrast import (
    ALEContrast,
    AllVoxels,
    InMainEffects,
    significant_mask,
)
from syntony.meta.kernel import ALEKernel
from syntony.meta.layout import Layout
from syntony.meta.permutation import permutation_seeds, shuffles
from syntony.meta.readers import read_studyset
from syntony.meta.space import mni152_grid
from syntony.meta.studyset import Studyset


@pytest.fixture(scope="module")
def groups(shared_data):
    folder = shared_data / "nimare"
    a = read_studyset(folder / "semantic_knowledge_children.txt")
    b = read_studyset(folder / "semantic_relatedness_children.txt")
    return a, b


def _ale64(studyset: Studyset) -> np.ndarray:
    """In-mask ALE in float64 from the engine's own layout (no permutation code involved)."""
    grid = mni152_grid()
    layout = Layout.build(grid, ALEKernel(), studyset)
    logs = layout.log_sums(layout.local_ijk(grid.mm_to_ijk(studyset.coordinates)))
    return 1.0 - np.exp(logs[tuple(layout.mask_local.T)])


def _brute_force(a: Studyset, b: Studyset, seeds, observed):
    """Permutation null by refitting ALE maps of the shuffled groups (no log-sum trick)."""
    pooled = Studyset.concat([a, b])
    ids = np.array(pooled.ids)
    perms = shuffles(seeds, pooled.n_experiments, a.n_experiments)
    maxima, upper, lower = [], 0, 0
    for row in perms:
        g1 = pooled.select(ids[row[: a.n_experiments]])
        g2 = pooled.select(ids[row[a.n_experiments :]])
        d = _ale64(g1) - _ale64(g2)
        maxima.append(np.abs(d).max())
        upper = upper + (d >= observed)
        lower = lower + (d <= observed)
    return np.array(maxima), upper, lower


def test_difference_map_is_the_difference_of_the_two_ale_maps(groups):
    a, b = groups
    est = ALEContrast(test=AllVoxels(), n_permutations=2, random_state=0).fit(a, b)
    np.testing.assert_array_equal(est.ale_a_, ale_map(a))
    np.testing.assert_array_equal(est.ale_b_, ale_map(b))
    np.testing.assert_array_equal(est.diff_, ale_map(a) - ale_map(b))


def test_permutation_null_matches_refitting_the_shuffled_groups(groups):
    a, b = groups
    n = 6
    est = ALEContrast(test=AllVoxels(), n_permutations=n, random_state=11).fit(a, b)
    seeds = permutation_seeds(11, n)
    maxima, upper, lower = _brute_force(a, b, seeds, est.diff_.astype(np.float64))
    np.testing.assert_allclose(est.null_max_, maxima, rtol=0, atol=1e-6)
    # Permuted differences that equal the observed one in exact arithmetic (same experiments
    # on the same side) are decided by the last bit of exp (numba's libm here, numpy's SIMD
    # exp in the reference) against the float32 rounding of the observed map; that flips a
    # few hundredths of a percent of the counts, nothing else does.
    assert np.mean(est.upper_counts_ == upper) > 0.995
    assert np.mean(est.lower_counts_ == lower) > 0.995
    p = np.clip(2 * np.minimum(upper, lower) / n, 1 / n, 1 - 1 / n)
    assert np.mean(np.isclose(est.p_, p, rtol=1e-6, atol=0)) > 0.995


def test_log_sum_trick_equals_summing_both_groups(groups, monkeypatch):
    a, b = groups
    # replay_nimare sums both groups directly; the default subtracts one group's log-sums
    # from the pooled ones. Give both the same shuffles.
    direct = ALEContrast(test=AllVoxels(), n_permutations=8, replay_nimare=True, random_state=5)
    direct.fit(a, b)
    seeds = permutation_seeds(5, 8, replay_nimare=True)
    monkeypatch.setattr("syntony.meta.contrast.permutation_seeds", lambda *_a, **_k: seeds)
    fast = ALEContrast(test=AllVoxels(), n_permutations=8, random_state=5).fit(a, b)
    np.testing.assert_allclose(fast.null_max_, direct.null_max_, rtol=0, atol=1e-12)
    assert np.mean(fast.p_ == direct.p_) > 0.999


def test_seeded_and_independent_of_threads(groups):
    a, b = groups
    one = ALEContrast(test=AllVoxels(), n_permutations=10, random_state=3, n_jobs=1).fit(a, b)
    two = ALEContrast(test=AllVoxels(), n_permutations=10, random_state=3, n_jobs=2).fit(a, b)
    np.testing.assert_array_equal(one.null_max_, two.null_max_)
    np.testing.assert_array_equal(one.p_, two.p_)
    other = ALEContrast(test=AllVoxels(), n_permutations=10, random_state=4, n_jobs=2).fit(a, b)
    assert not np.array_equal(one.null_max_, other.null_max_)


def test_permutation_seeds_replay_nimare():
    from nimare.utils import _seed_sequence

    ours = permutation_seeds(42, 4, replay_nimare=True)
    theirs = _seed_sequence(42, stream="alesubtraction_permutations").spawn(4)
    for x, y in zip(ours, theirs, strict=True):
        assert np.array_equal(
            np.random.default_rng(x).permutation(50), np.random.default_rng(y).permutation(50)
        )
    assert permutation_seeds(None, 3, replay_nimare=True) == [0, 1, 2]


def test_in_main_effects_tests_only_significant_voxels_one_sided(groups):
    a, b = groups
    ma = ALE(n_iters=0).fit(a).result_
    mb = ALE(n_iters=0).fit(b).result_
    est = ALEContrast(
        test=InMainEffects(p_threshold=0.2, min_cluster_mm3=0),
        n_permutations=20,
        main_effect_level="uncorrected",
        random_state=1,
    ).fit(a, b, main_a=ma, main_b=mb)
    in_a = significant_mask(ma, level="uncorrected")
    in_b = significant_mask(mb, level="uncorrected")
    np.testing.assert_array_equal(est.tested_, in_a | in_b)
    untested = ~((in_a & (est.diff_ > 0)) | (in_b & (est.diff_ < 0)))
    assert np.all(est.p_[untested] == 1.0) and np.all(est.z_[untested] == 0)
    assert np.all(est.z_[in_a & (est.diff_ > 0)] >= 0)
    assert np.all(est.z_[in_b & (est.diff_ < 0)] <= 0)
    # one-sided p: the share of permutations at least as large as the observed difference
    pos = np.flatnonzero(in_a & (est.diff_ > 0))
    expected = np.maximum(est.upper_counts_[pos] / 20, 1 / 20)
    np.testing.assert_allclose(est.p_[pos], expected, rtol=1e-6)
    res = est.result_
    for name in ("diff", "p", "z", "z_thresholded", "a_gt_b", "b_gt_a"):
        assert res.maps[name].shape == (ma.grid.n_voxels,)
    sig = (res.maps["a_gt_b"] > 0) | (res.maps["b_gt_a"] > 0)
    assert np.all(est.p_[sig] < 0.2)
    assert len(res.tables["clusters_a_gt_b"]) == res.maps["a_gt_b"].max()


def test_identical_groups_shape_null_symmetric(groups):
    a, _ = groups
    # Splitting one studyset in two random halves: p-values are not all tiny (no effect).
    ids = a.ids
    g1 = a.select(ids[::2], name="even")
    g2 = a.select(ids[1::2], name="odd")
    est = ALEContrast(test=AllVoxels(), n_permutations=50, random_state=0).fit(g1, g2)
    touched = (est.ale_a_ > 0) | (est.ale_b_ > 0)
    assert np.mean(est.p_[touched] < 0.05) < 0.2


def test_save_writes_maps_and_tables(groups, tmp_path):
    a, b = groups
    est = ALEContrast(test=AllVoxels(p_threshold=0.5), n_permutations=4, random_state=0)
    res = est.fit(a, b).result_
    written = res.save(tmp_path / "out")
    names = {p.name for p in written}
    assert {"diff.nii.gz", "z.nii.gz", "clusters_a_gt_b.tsv", "methods.md"} <= names
    import nibabel as nib

    img = nib.load(tmp_path / "out" / "diff.nii.gz")
    assert img.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.asarray(img.dataobj)[res.grid.mask], res.maps["diff"])
    from syntony.errors import OutputExistsError

    with pytest.raises(OutputExistsError):
        res.save(tmp_path / "out")


def test_errors(groups):
    a, b = groups
    with pytest.raises(InputError, match="both groups"):
        ALEContrast(test=AllVoxels(), n_permutations=2).fit(a, a)
    with pytest.raises(ParameterError):
        ALEContrast(test="gingerale", n_permutations=2).fit(a, b)
    with pytest.raises(ParameterError):
        ALEContrast(n_permutations=1).fit(a, b)
    with pytest.raises(ParameterError):
        InMainEffects(p_threshold=2.0)
    ma = ALE(n_iters=0).fit(a).result_
    with pytest.raises(InputError, match="FWE"):
        significant_mask(ma, level="cluster")


@pytest.mark.slow
def test_replays_nimare_alesubtraction_on_nback_vs_flanker(shared_data):
    """Same difference map, same permutation null, same p and z as NiMARE 0.22.1."""
    from nimare.io import convert_sleuth_to_dataset
    from nimare.meta.cbma.ale import ALESubtraction

    folder = shared_data / "nimare"
    files = [folder / f"nbackflanker_{k}_sleuth_MNI.txt" for k in ("nback", "flanker")]
    # target mni152_2mm: NiMARE's brain mask, the grid syntony uses
    da, db = (convert_sleuth_to_dataset(str(f), target="mni152_2mm") for f in files)
    a, b = (read_studyset(f) for f in files)
    n = 4
    nim = ALESubtraction(n_iters=n, random_state=7)
    res = nim.fit(da, db)
    ours = ALEContrast(test=AllVoxels(), n_permutations=n, replay_nimare=True, random_state=7)
    ours.fit(a, b)
    diff = res.get_map("stat_desc-group1MinusGroup2", return_type="array")
    assert np.max(np.abs(diff - ours.diff_)) <= 1e-6
    null = nim.null_distributions_["values_level-voxel_corr-fwe_method-montecarlo"]
    np.testing.assert_allclose(ours.null_max_, null, rtol=0, atol=1e-7)
    p = res.get_map("p_desc-group1MinusGroup2", return_type="array")
    z = res.get_map("z_desc-group1MinusGroup2", return_type="array")
    assert np.mean(p == ours.p_) > 0.9999
    np.testing.assert_allclose(ours.z_, z, rtol=0, atol=1e-5)

    # The one-sided test inside given main-effect voxels: NiMARE's inference maps.
    in_a = ale_map(a) > 0.02
    in_b = ale_map(b) > 0.02
    nim1 = ALESubtraction(n_iters=n, random_state=7)
    res1 = nim1.fit(da, db, inference_map1=in_a.astype(np.float32),
                    inference_map2=in_b.astype(np.float32))  # fmt: skip

    class Fixed:
        def __init__(self, mask):
            self.maps = {"clusters": mask.astype(np.int32)}
            self.parameters = {}

    one = ALEContrast(test=InMainEffects(), n_permutations=n, replay_nimare=True, random_state=7)
    one.fit(a, b, main_a=Fixed(in_a), main_b=Fixed(in_b))
    p1 = res1.get_map("p_desc-group1MinusGroup2", return_type="array")
    z1 = res1.get_map("z_desc-group1MinusGroup2", return_type="array")
    assert np.mean(p1 == one.p_) > 0.9999
    np.testing.assert_allclose(one.z_, z1, rtol=0, atol=1e-5)
