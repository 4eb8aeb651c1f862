"""SCALE: the Monte Carlo null with foci drawn from a reference database."""

from __future__ import annotations

import numpy as np
import pytest

from syntony.errors import InputError, ParameterError
from syntony.meta.ale import ALE
from syntony.meta.readers import read_studyset
from syntony.meta.scale import SCALE, reference_pool
from syntony.meta.space import mni152_grid


@pytest.fixture(scope="module")
def studyset(shared_data):
    return read_studyset(shared_data / "nimare" / "semantic_relatedness_children.txt")


def test_pool_of_every_mask_voxel_is_the_uniform_null(studyset):
    grid = mni152_grid()
    every = grid.ijk_to_mm(grid.mask_ijk)
    np.testing.assert_array_equal(reference_pool(every, grid), np.arange(grid.n_voxels))
    # Drawing uniformly from a pool holding each voxel once is exactly ALE's own null.
    scale = SCALE(reference=every, n_iters=12, random_state=3).fit(studyset)
    plain = ALE(n_iters=12, random_state=3).fit(studyset)
    np.testing.assert_array_equal(scale.fwe_.max_ale, plain.fwe_.max_ale)
    np.testing.assert_array_equal(scale.fwe_.max_size, plain.fwe_.max_size)
    np.testing.assert_array_equal(scale.fwe_.max_mass, plain.fwe_.max_mass)
    np.testing.assert_array_equal(scale.ale_, plain.ale_)
    assert "SCALE" in scale.result_.methods
    assert scale.result_.parameters["reference_pool_size"] == grid.n_voxels


def test_concentrated_reference_raises_the_null(studyset):
    grid = mni152_grid()
    rng = np.random.default_rng(0)
    hot = np.array([40.0, 20.0, 0.0]) + rng.normal(0, 4, size=(500, 3))
    scale = SCALE(reference=hot, n_iters=10, random_state=1).fit(studyset)
    plain = ALE(n_iters=10, random_state=1).fit(studyset)
    # all null foci fall in one small region: far higher null maxima, fewer survivors
    assert scale.fwe_.max_ale.min() > plain.fwe_.max_ale.max()
    assert scale.fwe_.critical(0.05)["ale"] > plain.fwe_.critical(0.05)["ale"]
    pool = reference_pool(hot, grid)
    assert 0 < pool.size <= 500


def test_pool_keeps_multiplicity_and_drops_outside():
    grid = mni152_grid()
    xyz = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [400.0, 0.0, 0.0], [-88.0, -124.0, -70.0]])
    pool = reference_pool(xyz, grid)
    assert pool.size == 2 and pool[0] == pool[1]


def test_errors(studyset):
    with pytest.raises(ParameterError):
        SCALE(n_iters=4).fit(studyset)
    with pytest.raises(ParameterError):
        SCALE(reference=np.zeros((3, 3)), replay_nimare=True)
    with pytest.raises(InputError):
        reference_pool(np.array([[500.0, 0, 0]]), mni152_grid())
