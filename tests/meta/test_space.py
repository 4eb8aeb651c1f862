"""Grid, packaged mask and mm <-> voxel conversion."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from syntony.errors import InputError, ParameterError
from syntony.meta.space import Grid, mni152_grid, mni_to_tal, tal_to_mni


def test_packaged_mask_is_nimares():
    grid = mni152_grid()
    assert grid.shape == (91, 109, 91)
    assert grid.n_voxels == 228_483
    expected = np.diag([2.0, 2.0, 2.0, 1.0])
    expected[:3, 3] = [-90, -126, -72]
    np.testing.assert_array_equal(grid.affine, expected)
    np.testing.assert_array_equal(grid.voxel_size, [2, 2, 2])
    # Voxel order is numpy's argwhere (C order), the order NiMARE draws null foci from.
    np.testing.assert_array_equal(grid.mask_ijk, np.argwhere(grid.mask))


def test_gingerale_mask_is_nimares_ale_2mm_file():
    from pathlib import Path

    import nimare

    path = (
        Path(nimare.__file__).parent / "resources" / "templates" / "MNI152_2x2x2_brainmask.nii.gz"
    )
    theirs = nib.load(path)
    ours = mni152_grid(gingerale=True)
    np.testing.assert_array_equal(ours.mask, np.asanyarray(theirs.dataobj) > 0)
    np.testing.assert_array_equal(ours.affine, theirs.affine)
    plain = mni152_grid()
    # Same voxel count, x reversed in the array, same places in millimetres.
    assert ours.n_voxels == plain.n_voxels == 228_483
    np.testing.assert_array_equal(ours.mask, plain.mask[::-1])
    assert ours.affine[0, 0] == -2.0 and ours.affine[0, 3] == 90.0
    mm = ours.ijk_to_mm(ours.mask_ijk)
    np.testing.assert_array_equal(plain.mm_to_ijk(mm), plain.mask_ijk[np.lexsort(
        (plain.mask_ijk[:, 2], plain.mask_ijk[:, 1], -plain.mask_ijk[:, 0])
    )])  # fmt: skip
    # Focus rounding agrees: odd-mm ties land on the same millimetre position in both.
    xyz = np.random.default_rng(1).integers(-80, 80, size=(300, 3)).astype(float)
    np.testing.assert_array_equal(
        ours.ijk_to_mm(ours.mm_to_ijk(xyz)), plain.ijk_to_mm(plain.mm_to_ijk(xyz))
    )
    values = np.arange(ours.n_voxels, dtype=np.float32)
    np.testing.assert_array_equal(ours.from_image(ours.to_image(values)), values)


def test_mm_to_voxel_rounds_half_to_even():
    grid = mni152_grid()
    # x = -89 mm is voxel 0.5 -> 0; x = -87 mm is 1.5 -> 2 (ties go to the even neighbour)
    ijk = grid.mm_to_ijk([[-89.0, -126.0, -72.0], [-87.0, -125.0, -71.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(ijk, [[0, 0, 0], [2, 0, 0], [45, 63, 36]])
    np.testing.assert_allclose(grid.ijk_to_mm([45, 63, 36]), [0, 0, 0])
    np.testing.assert_allclose(grid.mm_to_continuous([[-89.0, 0, 0]])[0], [0.5, 63, 36])


def test_mm_to_voxel_matches_nimare():
    from nimare.utils import mm2vox

    grid = mni152_grid()
    rng = np.random.default_rng(0)
    xyz = rng.integers(-80, 80, size=(500, 3)).astype(float)  # odd and even mm: many ties
    np.testing.assert_array_equal(grid.mm_to_ijk(xyz), mm2vox(xyz, grid.affine))


def test_images_roundtrip_float32(tmp_path):
    grid = mni152_grid()
    values = np.linspace(0, 1, grid.n_voxels)
    image = grid.to_image(values)
    assert image.get_data_dtype() == np.float32
    nib.save(image, tmp_path / "x.nii.gz")
    back = grid.from_image(str(tmp_path / "x.nii.gz"))
    np.testing.assert_array_equal(back, values.astype(np.float32))
    assert np.asanyarray(image.dataobj)[~grid.mask].max() == 0


def test_grid_errors(tmp_path):
    with pytest.raises(ParameterError):
        Grid(affine=np.eye(4), mask=np.zeros((3, 3, 3), bool))
    rotated = np.eye(4)
    rotated[:2, :2] = [[0, 1], [1, 0]]
    with pytest.raises(ParameterError, match="axis-aligned"):
        Grid(affine=rotated, mask=np.ones((3, 3, 3), bool))
    with pytest.raises(InputError, match="cannot read"):
        Grid.from_mask_image(str(tmp_path / "missing.nii.gz"))
    with pytest.raises(InputError, match="shape"):
        mni152_grid().from_image(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)))


def test_talairach_roundtrip():
    xyz = np.array([[10.0, -20.0, 30.0], [-40.0, 12.0, -6.0]])
    np.testing.assert_allclose(mni_to_tal(tal_to_mni(xyz)), xyz, atol=1e-12)
