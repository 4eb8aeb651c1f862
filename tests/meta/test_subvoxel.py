"""GingerALE-style sub-voxel kernel centring, against a direct evaluation of the Gaussian."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_helpers import ball_grid, random_studyset

from syntony.errors import ParameterError
from syntony.meta.ale import ALE, ale_map
from syntony.meta.kernel import ALEKernel, _sigma_voxels, focus_weights
from syntony.meta.studyset import Studyset

GRID = ball_grid(radius=12, size=32)


def _direct_ma(grid, xyz, fwhm, half):
    """MA of one focus at every voxel centre: the 3-D Gaussian at the exact position,
    normalised over the (2r+1)^3 cube around the nearest voxel, cropped to ``half``."""
    sigma = _sigma_voxels(fwhm, 2.0)
    radius = int(4.0 * sigma + 0.5)
    exact = grid.mm_to_continuous(xyz)
    centre = grid.mm_to_ijk(xyz)
    d = np.arange(-radius, radius + 1)
    cube = np.stack(np.meshgrid(d, d, d, indexing="ij"), axis=-1) + centre - exact
    g = np.exp(-0.5 * np.sum(cube**2, axis=-1) / sigma**2)
    g /= g.sum()
    out = np.zeros(grid.shape)
    crop = slice(radius - half, radius + half + 1)
    g = g[crop, crop, crop]
    lo = centre - half
    region = tuple(slice(a, a + 2 * half + 1) for a in lo)
    out[region] = g
    return out


def test_zero_offsets_give_the_centred_kernels_exactly():
    bank = ALEKernel().bank([5.0, 20.0, 300.0], 2.0)
    kernels = np.arange(3)
    w = focus_weights(bank, kernels, np.zeros((3, 3)), 2.0)
    for k in kernels:
        side = bank.kernels[k].shape[0]
        a, b, c = (w[k, axis, :side] for axis in range(3))
        rebuilt = ((a[:, None, None] * b[None, :, None]) * c[None, None, :]).astype(np.float32)
        np.testing.assert_array_equal(rebuilt, bank.kernels[k])


@pytest.mark.parametrize("xyz", [[1.0, -3.0, 5.0], [0.4, 2.7, -1.2], [-6.0, 4.0, 3.0]])
def test_subvoxel_map_is_the_gaussian_at_the_exact_position(xyz):
    ss = Studyset.from_arrays(np.array([xyz]), [0], [20.0])
    kernel = ALEKernel(subvoxel=True)
    ours = ale_map(ss, kernel=kernel, grid=GRID)
    bank = kernel.bank([20.0], 2.0)
    expected = _direct_ma(GRID, np.array(xyz), float(bank.fwhm[0]), int(bank.half_widths[0, 0]))
    # One experiment: ALE = MA (float32).
    np.testing.assert_allclose(ours, expected[GRID.mask], rtol=2e-6, atol=1e-12)


def test_two_foci_and_several_experiments_against_direct_evaluation():
    rng = np.random.default_rng(4)
    xyz = rng.uniform(-8, 8, size=(7, 3))
    which = np.array([0, 0, 0, 1, 1, 2, 2])
    sizes = np.array([12.0, 25.0, 40.0])
    ss = Studyset.from_arrays(xyz, which, sizes)
    kernel = ALEKernel(subvoxel=True)
    ours = ale_map(ss, kernel=kernel, grid=GRID)
    bank = kernel.bank(sizes, 2.0)
    survive = np.ones(GRID.shape)
    for e in range(3):
        k = bank.experiment_kernel[e]
        ma = np.max(
            [
                _direct_ma(GRID, p, float(bank.fwhm[k]), int(bank.half_widths[k, 0]))
                for p in xyz[which == e]
            ],
            axis=0,
        )
        survive *= 1.0 - ma.astype(np.float32).astype(np.float64)  # MA is stored in float32
    np.testing.assert_allclose(ours, (1.0 - survive)[GRID.mask], rtol=1e-5, atol=1e-9)


def test_voxel_centre_foci_give_the_default_results():
    ss = random_studyset(np.random.default_rng(1), GRID, 12)  # foci at voxel centres
    default = ALE(n_iters=0, grid=GRID).fit(ss)
    sub = ALE(n_iters=0, grid=GRID, kernel=ALEKernel(subvoxel=True)).fit(ss)
    np.testing.assert_allclose(sub.ale_, default.ale_, rtol=0, atol=2e-8)
    np.testing.assert_array_equal(sub.null_.weights, default.null_.weights)  # same MA values
    assert sub.threshold_ == default.threshold_


def test_odd_millimetre_foci_are_placed_symmetrically():
    # A focus 1 mm right of a voxel centre lies halfway between two voxels: sub-voxel
    # centring gives both the same MA, the default puts the kernel on one of them.
    centre = GRID.ijk_to_mm(np.array([16, 16, 16]))
    ss = Studyset.from_arrays(np.array([centre + np.array([1.0, 0, 0])]), [0], [20.0])
    mm = GRID.ijk_to_mm(GRID.mask_ijk)
    at = [np.flatnonzero((mm == centre + np.array([dx, 0, 0])).all(1))[0] for dx in (0.0, 2.0)]
    sub = ale_map(ss, kernel=ALEKernel(subvoxel=True), grid=GRID)
    default = ale_map(ss, grid=GRID)
    assert sub[at[0]] == sub[at[1]]
    assert default[at[0]] != default[at[1]]
    assert sub.max() < default.max()  # the mass is shared between two voxels
    est = ALE(n_iters=0, grid=GRID, kernel=ALEKernel(subvoxel=True)).fit(ss)
    np.testing.assert_array_equal(est.ale_, sub)
    assert "exact position" in ALEKernel(subvoxel=True).describe()
    with pytest.raises(ParameterError):
        ALEKernel(subvoxel="yes")  # type: ignore[arg-type]
