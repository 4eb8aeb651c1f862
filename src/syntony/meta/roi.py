"""Regions of interest on the analysis grid: clusters, NIfTI masks, spheres, atlas labels.

An :class:`ROI` is a boolean volume on a :class:`~syntony.meta.space.Grid` (it may extend
beyond the brain mask: a database peak just outside the mask can still fall in a sphere).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from syntony.errors import InputError, ParameterError
from syntony.meta.space import Grid, load_image, mni152_grid

__all__ = ["ROI", "atlas_roi", "cluster_rois", "image_roi", "sphere_roi"]


@dataclass(frozen=True, eq=False)
class ROI:
    """A named region: a boolean volume on a grid.

    Parameters
    ----------
    name : str
        Used in file names and reports.
    grid : Grid
    volume : ndarray of bool, shape ``grid.shape``
    description : str
        How the region was made (for the methods text).
    """

    name: str
    grid: Grid
    volume: np.ndarray
    description: str = ""

    def __post_init__(self) -> None:
        vol = np.asarray(self.volume, dtype=bool)
        if vol.shape != self.grid.shape:
            raise ParameterError("volume", f"a boolean array of shape {self.grid.shape}", vol.shape)
        if not vol.any():
            raise InputError(f"region {self.name!r} is empty", source=self.description or None)
        object.__setattr__(self, "volume", vol)

    @property
    def n_voxels(self) -> int:
        return int(self.volume.sum())

    @property
    def volume_mm3(self) -> float:
        return self.n_voxels * float(np.prod(self.grid.voxel_size))

    @property
    def centroid_mm(self) -> np.ndarray:
        """Mean MNI position of the region's voxels, (3,)."""
        return self.grid.ijk_to_mm(np.argwhere(self.volume)).mean(axis=0)

    def coordinates(self) -> np.ndarray:
        """MNI mm of every voxel of the region, (n, 3)."""
        return self.grid.ijk_to_mm(np.argwhere(self.volume))

    def in_mask(self) -> np.ndarray:
        """The region restricted to the grid's brain mask, as in-mask booleans (n_voxels,)."""
        return self.volume[self.grid.mask]

    def image(self) -> Any:
        """The region as a NIfTI image (uint8, 1 inside)."""
        import nibabel as nib

        img = nib.Nifti1Image(self.volume.astype(np.uint8), self.grid.affine)
        img.header.set_data_dtype(np.uint8)
        return img

    def __repr__(self) -> str:
        c = ", ".join(f"{v:.0f}" for v in self.centroid_mm)
        return f"ROI({self.name!r}, {self.n_voxels} voxels, centroid ({c}) mm)"


def sphere_roi(
    center_mm: Sequence[float],
    radius_mm: float,
    *,
    grid: Grid | None = None,
    name: str | None = None,
) -> ROI:
    """Voxels whose centres lie within ``radius_mm`` of ``center_mm`` (MNI mm)."""
    grid = grid or mni152_grid()
    center = np.asarray(center_mm, dtype=float)
    if center.shape != (3,) or not np.isfinite(center).all():
        raise ParameterError("center_mm", "three finite numbers (x, y, z in MNI mm)", center_mm)
    if not (np.isfinite(radius_mm) and radius_mm > 0):
        raise ParameterError("radius_mm", "a number > 0 (mm)", radius_mm)
    axes = [
        grid.affine[d, d] * np.arange(grid.shape[d]) + grid.affine[d, 3] - center[d]
        for d in range(3)
    ]
    d2 = axes[0][:, None, None] ** 2 + axes[1][None, :, None] ** 2 + axes[2][None, None, :] ** 2
    volume = d2 <= radius_mm**2 + 1e-9
    label = name or "sphere_{:g}_{:g}_{:g}_r{:g}".format(*center, radius_mm)
    desc = (
        f"a sphere of radius {radius_mm:g} mm around ({center[0]:g}, {center[1]:g}, {center[2]:g})"
    )
    if not volume.any():
        raise InputError(f"the sphere {label} holds no voxel of the grid", source=desc)
    return ROI(label, grid, volume, desc)


def image_roi(
    image: Any, *, grid: Grid | None = None, name: str | None = None, threshold: float = 0.0
) -> ROI:
    """Voxels of a NIfTI image (path or nibabel image) above ``threshold``.

    An image on another grid is resampled to ``grid`` by nearest neighbour.
    """
    grid = grid or mni152_grid()
    img = load_image(image)
    source = str(image) if not hasattr(image, "affine") else "image"
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"a region image must be 3-D, got shape {data.shape}", source=source)
    if data.shape != grid.shape or not np.allclose(img.affine, grid.affine):
        import nibabel as nib
        from nilearn.image import resample_img

        img = resample_img(
            nib.Nifti1Image(np.asarray(data, dtype=np.float32), img.affine),
            target_affine=grid.affine,
            target_shape=grid.shape,
            interpolation="nearest",
            force_resample=True,
            copy_header=True,
        )
        data = np.asanyarray(img.dataobj)
    volume = np.asarray(data, dtype=float) > threshold
    if not volume.any():
        raise InputError(f"no voxel above {threshold:g} on the analysis grid", source=source)
    label = name or re.sub(r"\.nii(\.gz)?$", "", source.rsplit("/", 1)[-1])
    return ROI(label, grid, volume, f"the mask image {source}")


def atlas_roi(
    label: str, *, atlas: str = "harvard_oxford", grid: Grid | None = None, name: str | None = None
) -> ROI:
    """The voxels carrying an atlas label (case-insensitive; a unique substring suffices).

    Labels come from :mod:`syntony.meta.atlas` (for Harvard-Oxford, the most probable label
    at each voxel, kept at >= 5 % probability).
    """
    from syntony.meta.atlas import atlas_labels, label_indices

    grid = grid or mni152_grid()
    all_names = atlas_labels(atlas)
    names = [n.lower() for n in all_names]
    wanted = label.strip().lower()
    hits = [k for k, n in enumerate(names) if n == wanted]
    if not hits:
        hits = [k for k, n in enumerate(names) if wanted in n]
    if not hits:
        raise ParameterError("label", f"a label of the {atlas} atlas", label)
    if len({names[k] for k in hits}) > 1:
        choices = sorted({all_names[k] for k in hits})
        raise ParameterError("label", f"one of {choices[:8]} (ambiguous)", label)
    xyz = grid.ijk_to_mm(np.argwhere(np.ones(grid.shape, dtype=bool)))
    codes = label_indices(xyz, atlas=atlas)
    volume = np.isin(codes, hits).reshape(grid.shape)
    proper = all_names[hits[0]]
    return ROI(
        name or re.sub(r"\W+", "_", proper).strip("_"), grid, volume, f"the {atlas} label {proper}"
    )


def cluster_rois(
    result: Any, *, clusters: Sequence[int] | None = None, prefix: str = "cluster"
) -> list[ROI]:
    """One ROI per cluster of a result's ``clusters`` label map (ALE or conjunction result).

    Parameters
    ----------
    result : ALEResult or ConjunctionResult
        Any result with a ``grid`` and an in-mask integer map ``maps["clusters"]``.
    clusters : sequence of int, optional
        Cluster numbers to take (default all, largest first).
    prefix : str
        ROI names are ``{prefix}{number}``.
    """
    if "clusters" not in result.maps:
        raise InputError("the result has no cluster map (run FWE to get significant clusters)")
    labels = np.asarray(result.maps["clusters"])
    grid: Grid = result.grid
    available = sorted(int(c) for c in np.unique(labels) if c > 0)
    chosen = available if clusters is None else [int(c) for c in clusters]
    missing = [c for c in chosen if c not in available]
    if missing:
        raise ParameterError("clusters", f"cluster numbers among {available}", missing)
    return [
        ROI(f"{prefix}{c}", grid, grid.unmask(labels == c), f"cluster {c} of the result")
        for c in chosen
    ]
