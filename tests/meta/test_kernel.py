"""ALE kernels against NiMARE and closed forms; the log-sum accumulation against brute force."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from syntony.errors import ParameterError
from syntony.meta.kernel import (
    FWHM_TEMPLATE,
    ALEKernel,
    accumulate_log_ma,
    accumulate_log_ma_into,
    ale_fwhm,
    gaussian_kernel,
)
from syntony.meta.space import mni152_grid


def test_fwhm_constants():
    assert FWHM_TEMPLATE == pytest.approx(8.411288, abs=1e-6)
    subject = float(np.sqrt(ale_fwhm(1.0) ** 2 - FWHM_TEMPLATE**2))
    assert subject == pytest.approx(17.117710, abs=1e-6)
    assert float(ale_fwhm(20)) == pytest.approx(np.sqrt(8.411288**2 + 17.117710**2 / 20), abs=1e-5)


def test_kernel_n20_shape_and_peak():
    k = gaussian_kernel(float(ale_fwhm(20)), 2.0)
    assert k.dtype == np.float32
    assert k.shape == (17, 17, 17)
    assert float(k.max()) == pytest.approx(0.008405, abs=5e-7)
    assert k[8, 8, 8] == k.max()
    assert float(k.sum(dtype=np.float64)) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(k, k[::-1, ::-1, ::-1])


@pytest.mark.parametrize("n", [2, 5, 10, 20, 21.5, 37, 100, 1000])
def test_kernel_bit_identical_to_nimare(n):
    from nimare.meta.utils import get_ale_kernel

    img = nib.Nifti1Image(mni152_grid().mask.astype(np.uint8), mni152_grid().affine)
    _, theirs = get_ale_kernel(img, sample_size=n)
    ours = gaussian_kernel(float(ale_fwhm(n)), 2.0)
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))


def test_kernel_correct_for_other_voxel_sizes():
    # The same physical Gaussian sampled on 1 mm and on 2 mm voxels: the variance in mm is the
    # same (NiMARE's formula would give the 1 mm kernel a width off by sqrt(2)).
    fwhm = 12.0
    for size in (1.0, 2.0, 3.0):
        k = gaussian_kernel(fwhm, size).astype(np.float64)
        half = (k.shape[0] - 1) // 2
        x = (np.arange(k.shape[0]) - half) * size
        profile = k.sum(axis=(1, 2))
        variance = np.sum(profile * x**2) / profile.sum()
        assert np.sqrt(variance) == pytest.approx(fwhm / np.sqrt(8 * np.log(2)), rel=0.02)
    anisotropic = gaussian_kernel(fwhm, (1.0, 2.0, 3.0))
    assert anisotropic.shape[0] > anisotropic.shape[1] > anisotropic.shape[2]


def test_kernel_parameters():
    with pytest.raises(ParameterError):
        ALEKernel(fwhm=10, sample_size=20)
    with pytest.raises(ParameterError):
        ALEKernel(fwhm=-1)
    with pytest.raises(ParameterError):
        ale_fwhm([10, 0])
    bank = ALEKernel(sample_size=20).bank([5, 50, 7], 2.0)
    assert len(bank.kernels) == 1 and list(bank.experiment_kernel) == [0, 0, 0]
    bank = ALEKernel().bank([5, 50, 5], 2.0)
    assert len(bank.kernels) == 2 and list(bank.experiment_kernel) == [1, 0, 1]  # by FWHM
    assert ALEKernel(fwhm=10).fwhm_for([3, 4]).tolist() == [10, 10]


def _brute_force(shape, ijk, foci_start, kernels, exp_kernel):
    """sum_e log(1 - max over the experiment's foci of its kernel), one experiment at a time."""
    total = np.zeros(shape)
    for e in range(len(foci_start) - 1):
        k = kernels[exp_kernel[e]]
        h = (np.array(k.shape) - 1) // 2
        ma = np.zeros(shape, dtype=np.float32)
        for c in ijk[foci_start[e] : foci_start[e + 1]]:
            lo, hi = c - h, c + h + 1
            vlo, vhi = np.maximum(lo, 0), np.minimum(hi, shape)
            if np.any(vlo >= vhi):
                continue
            sub = k[tuple(slice(a - b, c_ - b) for a, c_, b in zip(vlo, vhi, lo, strict=True))]
            region = tuple(slice(a, b) for a, b in zip(vlo, vhi, strict=True))
            ma[region] = np.maximum(ma[region], sub)
        total += np.log1p(-ma.astype(np.float64))
    return total


@pytest.mark.parametrize("seed", range(4))
def test_accumulation_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    shape = (24, 20, 22)
    bank = ALEKernel().bank(rng.choice([8.0, 15.0, 40.0], size=6), 2.0)
    counts = rng.integers(1, 7, size=6)
    starts = np.concatenate([[0], np.cumsum(counts)])
    # Clustered foci (many overlaps), duplicates, and foci outside the box.
    ijk = rng.integers(-4, 26, size=(starts[-1], 3))
    ijk[1] = ijk[0]
    ours = np.zeros(shape)
    accumulate_log_ma_into(
        ours,
        np.zeros(shape),
        ijk,
        starts,
        bank.experiment_kernel,
        bank.log_values,
        bank.starts,
        bank.half_widths,
    )
    expected = _brute_force(shape, ijk, starts, bank.kernels, bank.experiment_kernel)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-15)
    other = np.zeros(shape)
    accumulate_log_ma(
        other, ijk, starts, bank.experiment_kernel, bank.log_values, bank.starts, bank.half_widths
    )
    np.testing.assert_array_equal(other, ours)
