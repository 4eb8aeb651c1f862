"""Regions of interest: spheres, images, atlas labels, clusters."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from syntony.errors import InputError, ParameterError
from syntony.meta.atlas import label_coordinates
from syntony.meta.roi import ROI, atlas_roi, cluster_rois, image_roi, sphere_roi
from syntony.meta.space import mni152_grid


def test_sphere_holds_the_voxels_within_the_radius():
    grid = mni152_grid()
    roi = sphere_roi((0, -52, 26), 10)
    xyz = roi.coordinates()
    assert np.all(np.linalg.norm(xyz - [0, -52, 26], axis=1) <= 10 + 1e-9)
    # brute force over the whole grid
    every = grid.ijk_to_mm(np.argwhere(np.ones(grid.shape, dtype=bool)))
    inside = np.linalg.norm(every - [0, -52, 26], axis=1) <= 10
    assert roi.n_voxels == int(inside.sum())
    # close to the continuous volume 4/3 pi r^3 / 8 mm3
    assert abs(roi.n_voxels - 4 / 3 * np.pi * 1000 / 8) / roi.n_voxels < 0.05
    np.testing.assert_allclose(roi.centroid_mm, [0, -52, 26], atol=1e-9)


def test_image_roi_round_trip_and_resampling(tmp_path):
    roi = sphere_roi((30, 20, 10), 8)
    path = tmp_path / "mask.nii.gz"
    nib.save(roi.image(), path)
    back = image_roi(path)
    np.testing.assert_array_equal(back.volume, roi.volume)
    assert back.name == "mask"
    # the same region on a 1 mm grid comes back (nearest neighbour) close to the original
    fine_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    fine_affine[:3, 3] = [-90, -126, -72]
    ijk = np.argwhere(np.ones((181, 217, 181), dtype=bool))
    xyz = ijk + fine_affine[:3, 3]
    data = (np.linalg.norm(xyz - [30, 20, 10], axis=1) <= 8).reshape(181, 217, 181)
    fine = nib.Nifti1Image(data.astype(np.uint8), fine_affine)
    resampled = image_roi(fine, name="fine")
    overlap = (resampled.volume & roi.volume).sum() / roi.volume.sum()
    assert overlap > 0.9


def test_atlas_roi_matches_the_labels():
    roi = atlas_roi("Left Insular Cortex")
    labels = label_coordinates(roi.coordinates()[::25])
    assert set(labels) == {"Left Insular Cortex"}
    assert roi.centroid_mm[0] < 0
    with pytest.raises(ParameterError, match="ambiguous"):
        atlas_roi("insular")
    with pytest.raises(ParameterError):
        atlas_roi("no such region anywhere")


def test_cluster_rois():
    grid = mni152_grid()
    labels = np.zeros(grid.n_voxels, dtype=np.int32)
    labels[:10] = 1
    labels[100:105] = 2

    from types import SimpleNamespace

    result = SimpleNamespace(grid=grid, maps={"clusters": labels})
    rois = cluster_rois(result, prefix="c")
    assert [r.name for r in rois] == ["c1", "c2"]
    assert [r.n_voxels for r in rois] == [10, 5]
    np.testing.assert_array_equal(rois[1].in_mask(), labels == 2)
    with pytest.raises(ParameterError):
        cluster_rois(result, clusters=[3])


def test_errors():
    grid = mni152_grid()
    with pytest.raises(InputError, match="empty"):
        ROI("nothing", grid, np.zeros(grid.shape, dtype=bool))
    with pytest.raises(ParameterError):
        sphere_roi((0, 0), 5)
    with pytest.raises(ParameterError):
        sphere_roi((0, 0, 0), -1)
    with pytest.raises(InputError):
        sphere_roi((500, 500, 500), 2)
    with pytest.raises(InputError):
        image_roi("/nonexistent/mask.nii.gz")
