"""Resampled stability: NiMARE's random stream replayed map for map, and its own properties."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _ale_helpers import ball_grid
from _diagnostics_helpers import load_nimare, planted_studyset

from syntony.errors import ParameterError
from syntony.meta.ale import ALE
from syntony.meta.diagnostics import Observed, resampled_stability
from syntony.meta.diagnostics.resampling import (
    coverage_positions,
    resolve_target_n,
    subset_schedule,
    supra_threshold_ale,
)


def test_subset_schedule_rules_and_nimare_replay():
    from nimare.meta.cbma.utils import generate_subset_schedule

    loo = subset_schedule(5, 4, 2)
    assert len(loo) == 5 and loo[0].tolist() == [1, 2, 3, 4]
    every = subset_schedule(5, 2, None)
    assert len(every) == 10 and every[0].tolist() == [0, 1]
    for seed in (0, 3, 11):
        ours = subset_schedule(12, 7, 15, seed=seed, replay_nimare=True)
        theirs = generate_subset_schedule(12, 7, n_samples=15, random_state=seed)
        assert [a.tolist() for a in ours] == [b.tolist() for b in theirs]
    own = subset_schedule(12, 7, 15, seed=4)
    assert len({tuple(s) for s in own}) == 15 and all(np.all(np.diff(s) > 0) for s in own)
    assert [s.tolist() for s in own] == [s.tolist() for s in subset_schedule(12, 7, 15, seed=4)]
    with pytest.raises(ParameterError, match="n_resamples"):
        subset_schedule(30, 10, None)
    assert resolve_target_n("leave_k_out", 10, k=3) == 7
    assert resolve_target_n("subsample", 10) == 10
    with pytest.raises(ParameterError, match="k"):
        resolve_target_n("leave_k_out", 10, k=10)
    with pytest.raises(ParameterError, match="policy"):
        resolve_target_n("bootstrap", 10)


def test_supra_threshold_matches_nimare_z_rule(shared_data):
    from nimare.stats import nullhist_to_p
    from nimare.transforms import p_to_z
    from scipy.stats import norm

    _, ss = load_nimare(shared_data, "nidm_pain")
    null = ALE(n_iters=0).fit(ss).null_
    for voxel_p in (0.001, 0.01):
        a_min = supra_threshold_ale(null, voxel_p)
        near = np.float32(a_min) + np.arange(-40, 41, dtype=np.float32) * np.float32(1e-7)
        z = p_to_z(nullhist_to_p(near, null.weights, null.centres), tail="one")
        theirs = z.astype(np.float32) > norm.ppf(1 - voxel_p)
        np.testing.assert_array_equal(near >= np.float32(a_min), theirs)


def test_gm_coverage_is_nimares(shared_data):
    from nimare.dataset import Dataset
    from nimare.utils import _mask_coverage_to_null_ijk

    from syntony.meta.space import mni152_grid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dset = Dataset(str(shared_data / "nimare" / "nidm_pain_dset.json"))
        theirs = _mask_coverage_to_null_ijk(dset.masker, mask_coverage="gm")
    grid = mni152_grid()
    ours = grid.mask_ijk[coverage_positions(grid, "gm")]
    np.testing.assert_array_equal(ours, theirs)
    assert coverage_positions(grid, "brain").size == grid.n_voxels


def _nimare_stability(shared_data, n_iters, **options):
    from nimare.correct import FWECorrector
    from nimare.diagnostics import ResampledStability
    from nimare.meta.cbma.ale import ALE as NiMAREALE

    dset, ss = load_nimare(shared_data, "nidm_pain")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = NiMAREALE().fit(dset)
        corrected = FWECorrector(method="montecarlo", n_iters=n_iters, n_cores=1).transform(fitted)
        out = ResampledStability(**options).transform(corrected)
    key = next(k for k in out.maps if k.endswith("_diag-ResampledStability"))
    return ss, out.get_map(key, return_type="array")


def test_nidm_pain_stability_replays_nimare(shared_data):
    n_iters = 40
    ss, theirs = _nimare_stability(
        shared_data, n_iters, target_n=15, n_resamples=20, random_state=5
    )
    fit = ALE(n_iters=0).fit(ss)
    obs = Observed.build(ss, layout=fit.layout_, log_sums=fit.log_sums_)
    labels = (fit.ale_ > fit.threshold_).astype(np.int64)
    ours = resampled_stability(
        obs, fit.null_, labels=labels, target_n=15, n_resamples=20, n_iters=n_iters,
        replay_nimare=True, random_state=5, n_jobs=2,
    )  # fmt: skip
    assert ours.map.dtype == np.float32
    np.testing.assert_array_equal(ours.map, theirs)
    assert 0 < (ours.map > 0).sum() < ss.n_foci * 100
    assert ours.clusters.shape[0] == 1 and 0 < ours.clusters["replicate_rate"].iloc[0] <= 1


@pytest.mark.slow
def test_nidm_pain_leave_k_out_whole_brain_replays_nimare(shared_data):
    n_iters = 30
    options = dict(
        resampling_policy="leave_k_out", k=4, n_resamples=12, random_state=2,
        mask_coverage="brain", voxel_thresh=0.005,
    )  # fmt: skip
    ss, theirs = _nimare_stability(shared_data, n_iters, **options)
    fit = ALE(n_iters=0).fit(ss)
    obs = Observed.build(ss, layout=fit.layout_, log_sums=fit.log_sums_)
    ours = resampled_stability(
        obs, fit.null_, policy="leave_k_out", k=4, n_resamples=12, n_iters=n_iters,
        coverage="brain", voxel_p=0.005, replay_nimare=True, random_state=2,
    )  # fmt: skip
    np.testing.assert_array_equal(ours.map, theirs)


@pytest.fixture(scope="module")
def planted():
    grid = ball_grid(radius=11, size=28)
    rng = np.random.default_rng(8)
    ss = planted_studyset(rng, grid, 16, n_carrying=10, centre_mm=(2.0, 0.0, 0.0), spread_mm=1.5)
    fit = ALE(grid=grid, n_iters=0).fit(ss)
    obs = Observed.build(ss, layout=fit.layout_, log_sums=fit.log_sums_)
    return grid, ss, fit, obs


def test_stability_is_seeded_and_independent_of_workers(planted):
    _, _, fit, obs = planted
    options = dict(target_n=12, n_resamples=15, n_iters=60, coverage="brain", voxel_p=0.01)
    a = resampled_stability(obs, fit.null_, random_state=4, n_jobs=1, **options)
    b = resampled_stability(obs, fit.null_, random_state=4, n_jobs=2, **options)
    c = resampled_stability(obs, fit.null_, random_state=5, n_jobs=2, **options)
    np.testing.assert_array_equal(a.map, b.map)
    np.testing.assert_array_equal(a.null_sizes, b.null_sizes)
    assert not np.array_equal(a.null_sizes, c.null_sizes)
    assert a.parameters["n_resamples"] == 15 and a.parameters["target_n"] == 12


def test_planted_cluster_is_stable_and_noise_is_not(planted):
    grid, ss, fit, obs = planted
    labels = np.zeros(grid.n_voxels, dtype=np.int64)
    centre = np.flatnonzero(np.all(grid.mask_ijk == grid.mm_to_ijk(np.array([2.0, 0, 0])), 1))
    assert fit.ale_[centre[0]] > fit.threshold_
    out = resampled_stability(
        obs, fit.null_, labels=np.where(fit.ale_ > fit.threshold_, 1, labels),
        policy="leave_1_out", n_iters=80, coverage="brain", voxel_p=0.01, random_state=1,
    )  # fmt: skip
    assert len(out.subsets) == ss.n_experiments
    assert out.map[centre[0]] >= 0.9
    far = np.linalg.norm(grid.ijk_to_mm(grid.mask_ijk) - [2.0, 0, 0], axis=1) > 14
    assert out.map[far].mean() < 0.05
    assert out.clusters["replicate_rate"].iloc[0] >= 0.9


def test_stability_rejects_bad_options(planted):
    _, _, fit, obs = planted
    with pytest.raises(ParameterError, match="coverage"):
        resampled_stability(obs, fit.null_, target_n=5, n_resamples=3, coverage="wm")
    with pytest.raises(ParameterError, match="alpha"):
        resampled_stability(obs, fit.null_, target_n=5, n_resamples=3, alpha=1.0)
    with pytest.raises(ParameterError, match="target_n"):
        resampled_stability(obs, fit.null_, target_n=50, n_resamples=3)
