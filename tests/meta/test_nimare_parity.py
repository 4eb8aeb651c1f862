"""Side by side with NiMARE 0.22.1 on the real data in ../shared/data/nimare."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from syntony.meta.ale import ALE
from syntony.meta.studyset import Studyset

pytestmark = pytest.mark.filterwarnings("ignore")


def _load(shared_data, name):
    from nimare.dataset import Dataset
    from nimare.io import convert_sleuth_to_dataset

    folder = shared_data / "nimare"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "nidm_pain":
            dset = Dataset(str(folder / "nidm_pain_dset.json"))
        else:
            # NiMARE's Sleuth reader defaults to GingerALE's x-flipped mask; ask for the same one.
            dset = convert_sleuth_to_dataset(
                str(folder / f"{name}_sleuth_MNI.txt"), target="mni152_2mm"
            )
    coords = dset.coordinates.sort_values("id", kind="stable")
    ids = list(dict.fromkeys(coords["id"]))
    index = {k: i for i, k in enumerate(ids)}
    meta = dset.metadata.set_index("id")
    sizes = np.array([np.mean(meta.loc[i, "sample_sizes"]) for i in ids], dtype=float)
    ss = Studyset.from_arrays(
        coords[["x", "y", "z"]].to_numpy(), coords["id"].map(index).to_numpy(), sizes, ids=ids
    )
    return dset, ss


def _compare_maps(dset, ss):
    from nimare.meta.cbma.ale import ALE as NiMAREALE

    theirs_est = NiMAREALE(random_state=7)
    theirs = theirs_est.fit(dset)
    ours = ALE(n_iters=0).fit(ss)
    in_mask = ours.layout_.grid.mask
    assert np.array_equal(np.asanyarray(theirs.masker.mask_img.dataobj) > 0, in_mask)
    for name, mine in (("stat", ours.ale_), ("p", ours.p_), ("z", ours.z_), ("logp", ours.logp_)):
        reference = theirs.get_map(name, return_type="array").astype(np.float64)
        assert np.max(np.abs(reference - mine)) <= 1e-6, name
    np.testing.assert_array_equal(ours.ale_, theirs.get_map("stat", return_type="array"))
    nd = theirs_est.null_distributions_
    np.testing.assert_array_equal(ours.null_.centres, nd["histogram_bins"])
    np.testing.assert_allclose(
        ours.null_.weights, nd["histweights_corr-none_method-approximate"], rtol=0, atol=1e-15
    )
    assert ours.threshold_ == theirs_est._p_to_summarystat(0.001)
    return theirs, ours


def test_nidm_pain_maps_threshold_and_fwe_nulls_draw_for_draw(shared_data):
    from nimare.correct import FWECorrector

    dset, ss = _load(shared_data, "nidm_pain")
    theirs, _ = _compare_maps(dset, ss)
    n_iters = 60
    corrected = FWECorrector(method="montecarlo", n_iters=n_iters, n_cores=1).transform(theirs)
    nd = corrected.estimator.null_distributions_
    ours = ALE(n_iters=n_iters, replay_nimare=True, random_state=7).fit(ss)
    np.testing.assert_array_equal(
        ours.fwe_.max_ale, nd["values_level-voxel_corr-fwe_method-montecarlo"]
    )
    np.testing.assert_array_equal(
        ours.fwe_.max_size.astype(np.float32),
        nd["values_desc-size_level-cluster_corr-fwe_method-montecarlo"],
    )
    np.testing.assert_array_equal(
        ours.fwe_.max_mass.astype(np.float32),
        nd["values_desc-mass_level-cluster_corr-fwe_method-montecarlo"],
    )
    # Same nulls -> the same corrected maps.
    maps = ours.result_.maps
    for key, theirs_key in (
        ("logp_voxel_fwe", "logp_level-voxel"),
        ("logp_cluster_size_fwe", "logp_desc-size_level-cluster"),
        ("logp_cluster_mass_fwe", "logp_desc-mass_level-cluster"),
    ):
        reference = corrected.get_map(
            f"{theirs_key}_corr-FWE_method-montecarlo", return_type="array"
        )
        np.testing.assert_allclose(maps[key], reference, rtol=0, atol=1e-5, err_msg=key)


@pytest.mark.slow
def test_nbackflanker_maps(shared_data):
    dset, ss = _load(shared_data, "nbackflanker_flanker")
    _compare_maps(dset, ss)


def test_gingerale_mask_maps_and_replayed_nulls_match_nimare_ale_2mm(shared_data):
    """NiMARE's ``ale_2mm`` target (GingerALE's x-reversed mask) and our gingerale grid."""
    from nimare.correct import FWECorrector
    from nimare.dataset import Dataset
    from nimare.meta.cbma.ale import ALE as NiMAREALE

    from syntony.meta.space import mni152_grid

    _, ss = _load(shared_data, "nidm_pain")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dset = Dataset(str(shared_data / "nimare" / "nidm_pain_dset.json"), target="ale_2mm")
    theirs_est = NiMAREALE(random_state=3)
    theirs = theirs_est.fit(dset)
    grid = mni152_grid(gingerale=True)
    assert np.array_equal(np.asanyarray(theirs.masker.mask_img.dataobj) > 0, grid.mask)
    n_iters = 25
    ours = ALE(grid=grid, n_iters=n_iters, replay_nimare=True, random_state=3).fit(ss)
    np.testing.assert_array_equal(ours.ale_, theirs.get_map("stat", return_type="array"))
    # Same voxels as with the usual mask, listed in another order.
    plain = ALE(n_iters=0).fit(ss)
    same_place = mni152_grid().mm_to_ijk(grid.ijk_to_mm(grid.mask_ijk))
    position = np.searchsorted(
        mni152_grid().mask_flat, np.ravel_multi_index(same_place.T, grid.shape)
    )
    np.testing.assert_array_equal(ours.ale_, plain.ale_[position])
    assert not np.array_equal(ours.ale_, plain.ale_)
    corrected = FWECorrector(method="montecarlo", n_iters=n_iters, n_cores=1).transform(theirs)
    nd = corrected.estimator.null_distributions_
    np.testing.assert_array_equal(
        ours.fwe_.max_ale, nd["values_level-voxel_corr-fwe_method-montecarlo"]
    )
    np.testing.assert_array_equal(
        ours.fwe_.max_size.astype(np.float32),
        nd["values_desc-size_level-cluster_corr-fwe_method-montecarlo"],
    )
