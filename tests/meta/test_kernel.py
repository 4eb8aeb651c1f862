"""ALE kernels against NiMARE and closed forms; the log-sum accumulation against brute force."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from syntony.errors import ParameterError
from syntony.meta.accumulate import accumulate_log_ma, accumulate_log_ma_into, accumulate_rows_into
from syntony.meta.kernel import (
    FWHM_TEMPLATE,
    ROW_ALIGN,
    ALEKernel,
    KernelBank,
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


def test_folded_form_holds_every_log():
    bank = ALEKernel().bank([6.0, 25.0, 300.0], 2.0)
    logs, starts, widths = bank.folded()
    assert bank.folded() is bank.folded()  # computed once
    for k, kernel in enumerate(bank.kernels):
        hx, hy, hz = bank.half_widths[k]
        assert widths[k] % ROW_ALIGN == 0 and widths[k] >= 2 * hz + 1
        quadrant = logs[starts[k] : starts[k + 1]].reshape(hx + 1, hy + 1, widths[k])
        assert np.all(quadrant[:, :, 2 * hz + 1 :] == 0.0)  # padding is exact zeros
        full = np.log1p(-kernel.astype(np.float64))
        for dx in range(-hx, hx + 1):
            for dy in range(-hy, hy + 1):
                np.testing.assert_array_equal(
                    quadrant[abs(dx), abs(dy), : 2 * hz + 1], full[hx + dx, hy + dy]
                )
    odd = np.ones((3, 3, 3), dtype=np.float32) * 0.01
    odd[0, 1, 1] = 0.02
    with pytest.raises(ParameterError):
        KernelBank(kernels=(odd,), experiment_kernel=np.array([0]), fwhm=np.array([1.0])).folded()


def _padded(shape, bank):
    """Geometry of the z-padded box of accumulate_rows_into for a box of ``shape``."""
    nx, ny, nz = shape
    zoff = int(bank.half_widths[:, 2].max())
    nzp = nz + zoff + int(bank.folded()[2].max())
    return np.array([nx, ny, nzp, zoff], dtype=np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_row_accumulation_is_bit_identical_to_the_reference(seed):
    rng = np.random.default_rng(seed)
    shape = (26, 22, 24)
    n_exp = 7
    bank = ALEKernel().bank(rng.choice([6.0, 15.0, 40.0, 300.0], size=n_exp), 2.0)
    counts = rng.integers(1, 12, size=n_exp)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # Foci crowd a few centres (large overlapping groups, duplicates, chains), x and y run
    # past the box edges; z stays inside the box, as for Monte Carlo foci.
    centres = rng.integers(0, 22, size=(3, 3))
    ijk = centres[rng.integers(0, 3, size=starts[-1])] + rng.integers(-9, 10, size=(starts[-1], 3))
    ijk[:, 0] = np.clip(ijk[:, 0], -4, shape[0] + 3)
    ijk[:, 1] = np.clip(ijk[:, 1], -4, shape[1] + 3)
    ijk[:, 2] = np.clip(ijk[:, 2], 0, shape[2] - 1)
    ijk[1] = ijk[0]
    reference = np.zeros(shape)
    accumulate_log_ma_into(
        reference, np.zeros(shape), ijk, starts, bank.experiment_kernel, bank.log_values,
        bank.starts, bank.half_widths,
    )  # fmt: skip
    dims = _padded(shape, bank)
    logs, kstarts, widths = bank.folded()
    # Only voxels inside each row's [lo, hi] range are promised; make some rows partial or empty.
    row_lo = rng.integers(0, 8, size=shape[:2])
    row_hi = rng.integers(14, shape[2], size=shape[:2])
    row_hi[rng.random(shape[:2]) < 0.1] = -1
    most = int(counts.max())
    flat = np.zeros(int(np.prod(dims[:3])))
    accumulate_rows_into(
        flat, dims, ijk, starts, bank.experiment_kernel, logs, kstarts, widths, bank.half_widths,
        row_lo, row_hi, np.empty(most, np.int64), np.empty(most, np.int64),
        np.empty(most, np.int64), np.zeros(dims[2]),
    )  # fmt: skip
    ours = flat.reshape(dims[:3])[:, :, dims[3] : dims[3] + shape[2]]
    z = np.arange(shape[2])
    promised = (z >= row_lo[..., None]) & (z <= row_hi[..., None])
    assert promised.sum() > 0.5 * promised.size
    np.testing.assert_array_equal(ours[promised], reference[promised])
