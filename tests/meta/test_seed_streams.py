"""Meta seeding: every random part draws from a named stream of one seed tree.

The contrast's main effects, its permutations, the FWE loop and the Monte Carlo threshold each
have their own stream, so a seeded run repeats exactly, also when it replays NiMARE.
"""

from __future__ import annotations

import numpy as np
import pytest
from _ale_helpers import ball_grid

from syntony._rng import SeedTree
from syntony.meta.ale import ALE
from syntony.meta.contrast import ALEContrast, InMainEffects
from syntony.meta.fwe import BLOCK, monte_carlo_null, null_ale_maps
from syntony.meta.permutation import permutation_seeds
from syntony.meta.studyset import Studyset
from syntony.meta.threshold import MonteCarloThreshold, null_maps

GRID = ball_grid()


def _group(rng: np.random.Generator, centre_mm, n_exp: int, prefix: str) -> Studyset:
    """Experiments with foci scattered a few mm around ``centre_mm`` (a clear main effect)."""
    counts = rng.integers(2, 5, size=n_exp)
    which = np.repeat(np.arange(n_exp), counts)
    xyz = np.asarray(centre_mm, dtype=float) + rng.normal(0.0, 4.0, size=(which.size, 3))
    sizes = rng.integers(10, 30, size=n_exp).astype(float)
    ids = [f"{prefix}{k:02d}" for k in range(n_exp)]
    return Studyset.from_arrays(xyz, which, sizes, ids=ids, name=prefix)


@pytest.fixture(scope="module")
def groups():
    rng = np.random.default_rng(2024)
    return _group(rng, (-8, 0, 0), 9, "a"), _group(rng, (8, 4, 0), 9, "b")


def _contrast(groups, seed, *, replay: bool) -> ALEContrast:
    est = ALEContrast(
        test=InMainEffects(p_threshold=0.05, min_cluster_mm3=0.0),
        grid=GRID,
        n_permutations=40,
        main_effect_level="voxel",
        main_effect_iters=40,
        replay_nimare=replay,
        random_state=seed,
        n_jobs=1,
    )
    return est.fit(*groups)


def _same(one: ALEContrast, two: ALEContrast) -> None:
    for name in ("diff_", "p_", "z_", "tested_", "null_max_"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    for a, b in ((one.main_a_, two.main_a_), (one.main_b_, two.main_b_)):
        np.testing.assert_array_equal(a.fwe.max_ale, b.fwe.max_ale)
        np.testing.assert_array_equal(a.maps["logp_voxel_fwe"], b.maps["logp_voxel_fwe"])
    assert one.result_.maps.keys() == two.result_.maps.keys()
    for name, values in one.result_.maps.items():
        np.testing.assert_array_equal(values, two.result_.maps[name], err_msg=name)


@pytest.mark.parametrize("replay", [True, False])
def test_contrast_with_a_seed_repeats_exactly_and_another_seed_differs(groups, replay):
    one = _contrast(groups, 17, replay=replay)
    assert one.tested_.any()  # the main effects do select voxels, so the test is not vacuous
    _same(one, _contrast(groups, 17, replay=replay))
    other = _contrast(groups, 18, replay=replay)
    assert not np.array_equal(one.null_max_, other.null_max_)
    assert not np.array_equal(one.main_a_.fwe.max_ale, other.main_a_.fwe.max_ale)
    assert not np.array_equal(one.main_b_.fwe.max_ale, other.main_b_.fwe.max_ale)


def test_contrast_main_effects_are_the_named_streams_of_the_seed(groups):
    a, b = groups
    est = _contrast(groups, 5, replay=True)
    assert est.seed_tree_ == SeedTree(5)
    for group, main, name in ((a, est.main_a_, "a"), (b, est.main_b_, "b")):
        seed = SeedTree(5).child("main-effect", name).seed_sequence
        alone = ALE(grid=GRID, n_iters=40, n_jobs=1, random_state=seed).fit(group)
        np.testing.assert_array_equal(main.fwe.max_ale, alone.fwe_.max_ale)
        np.testing.assert_array_equal(main.fwe.max_size, alone.fwe_.max_size)
    # The two groups' nulls come from different streams.
    assert not np.array_equal(
        SeedTree(5).child("main-effect", "a").generator().random(4),
        SeedTree(5).child("main-effect", "b").generator().random(4),
    )


def test_permutation_seeds_are_named_children_and_replay_ignores_the_tree():
    ours = permutation_seeds(9, 3)
    expected = [SeedTree(9).child("permutation", j).seed_sequence for j in range(3)]
    for got, want in zip(ours, expected, strict=True):
        assert got.entropy == want.entropy
        assert tuple(got.spawn_key) == tuple(want.spawn_key)
    # A tree given directly is the same as its integer seed.
    tree_seeds = permutation_seeds(SeedTree(9), 3)
    assert [tuple(s.spawn_key) for s in tree_seeds] == [tuple(s.spawn_key) for s in ours]
    # NiMARE's stream does not go through the tree: indices of its SeedSequence children.
    replay = permutation_seeds(9, 3, replay_nimare=True)
    assert [tuple(s.spawn_key) for s in replay] == [(0,), (1,), (2,)]


def test_fwe_blocks_and_threshold_maps_draw_from_their_own_named_streams(groups):
    a, _ = groups
    est = ALE(grid=GRID, n_iters=0).fit(a)
    layout = est.layout_
    n_mask = layout.mask_local.shape[0]
    # FWE block b draws from ("fwe", b): rebuild block 1's maps from that stream alone.
    null = monte_carlo_null(layout, n_iters=BLOCK + 5, threshold=None, seed=3, n_jobs=1)
    draws = SeedTree(3).child("fwe", 1).generator().integers(0, n_mask, size=(5, layout.n_foci))
    maps = null_ale_maps(layout, draws, n_jobs=1)  # draws are in studyset focus order
    np.testing.assert_array_equal(null.max_ale[BLOCK:], maps.max(axis=1))
    # Threshold map k draws from ("threshold-map", k).
    ours = null_maps(layout, 2, seed=3, n_jobs=1)
    for k in range(2):
        rng = SeedTree(3).child("threshold-map", k).generator()
        foci = rng.integers(0, n_mask, layout.n_foci)
        direct = null_ale_maps(layout, foci[None, :], n_jobs=1)
        np.testing.assert_array_equal(ours[k], direct[0])
    # An ALE seeded once gives its threshold and its FWE loop different draws.
    first_fwe = SeedTree(3).child("fwe", 0).generator().integers(0, n_mask, layout.n_foci)
    first_map = SeedTree(3).child("threshold-map", 0).generator().integers(0, n_mask, layout.n_foci)
    assert not np.array_equal(first_fwe, first_map)
    # Seeded ALE with the Monte Carlo threshold repeats exactly.
    rule = MonteCarloThreshold(n_maps=2)
    one = ALE(grid=GRID, n_iters=20, cluster_threshold=rule, random_state=4).fit(a)
    two = ALE(grid=GRID, n_iters=20, cluster_threshold=rule, random_state=4).fit(a)
    assert one.threshold_ == two.threshold_
    np.testing.assert_array_equal(one.fwe_.max_size, two.fwe_.max_size)
