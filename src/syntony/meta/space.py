"""Coordinate spaces: Talairach <-> MNI (Lancaster et al. 2007, icbm_other).

This is the one module where coordinates change space and, together with the grid helpers
added beside these functions, where millimetres become voxels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from typing import Any

import numpy as np

from syntony.errors import InputError, ParameterError

__all__ = [
    "MNI_TO_TAL_ICBM_OTHER",
    "Grid",
    "load_image",
    "mni152_grid",
    "mni_to_tal",
    "tal_to_mni",
]

#: Lancaster 2007 ``icbm_other`` transform, MNI (mm) -> Talairach (mm), homogeneous 4 x 4.
MNI_TO_TAL_ICBM_OTHER = np.array(
    [
        [0.9357, 0.0029, -0.0072, -1.0423],
        [-0.0065, 0.9396, -0.0726, -1.3940],
        [0.0103, 0.0752, 0.8967, 3.6475],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def _apply(matrix: np.ndarray, xyz: np.typing.ArrayLike) -> np.ndarray:
    points = np.atleast_2d(np.asarray(xyz, dtype=float))
    if points.shape[-1] != 3:
        raise ValueError(f"coordinates must have 3 columns (x, y, z), got shape {points.shape}")
    moved = points @ matrix[:3, :3].T + matrix[:3, 3]
    return moved.reshape(np.shape(xyz))


def mni_to_tal(xyz: np.typing.ArrayLike) -> np.ndarray:
    """Convert MNI coordinates (..., 3) in mm to Talairach with Lancaster's icbm_other."""
    return _apply(MNI_TO_TAL_ICBM_OTHER, xyz)


def tal_to_mni(xyz: np.typing.ArrayLike) -> np.ndarray:
    """Convert Talairach coordinates (..., 3) in mm to MNI (inverse of icbm_other)."""
    return _apply(np.linalg.inv(MNI_TO_TAL_ICBM_OTHER), xyz)


# -- the voxel grid and the brain mask ---------------------------------------------------------

_MASK_FILE = "tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz"


@dataclass(frozen=True, eq=False)
class Grid:
    """A voxel grid with a brain mask: the only place where images become arrays.

    Parameters
    ----------
    affine : ndarray, shape (4, 4)
        Voxel -> MNI millimetre transform (no rotation or shear).
    mask : ndarray of bool, shape (nx, ny, nz)
        In-mask voxels. The order of in-mask voxels everywhere in syntony is the C order of
        ``numpy.argwhere(mask)``, the order NiMARE uses.
    """

    affine: np.ndarray
    mask: np.ndarray
    _ijk: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        affine = np.asarray(self.affine, dtype=float)
        mask = np.ascontiguousarray(np.asarray(self.mask).astype(bool))
        if affine.shape != (4, 4) or mask.ndim != 3:
            raise ParameterError("grid", "a 4x4 affine and a 3-D mask", (affine.shape, mask.shape))
        if not np.allclose(affine[:3, :3], np.diag(np.diag(affine[:3, :3]))):
            raise ParameterError("grid.affine", "an axis-aligned affine (no rotation)", affine)
        if not mask.any():
            raise ParameterError("grid.mask", "a mask with at least one voxel", "empty mask")
        object.__setattr__(self, "affine", affine)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "_ijk", np.argwhere(mask).astype(np.int32))

    # -- geometry ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.mask.shape)  # type: ignore[return-value]

    @property
    def voxel_size(self) -> np.ndarray:
        """Voxel edge lengths in mm, (3,)."""
        return np.abs(np.diag(self.affine)[:3])

    @property
    def n_voxels(self) -> int:
        """Number of in-mask voxels."""
        return int(self._ijk.shape[0])

    @property
    def mask_ijk(self) -> np.ndarray:
        """Voxel indices of the in-mask voxels, (n_voxels, 3) int32, C order."""
        return self._ijk

    @property
    def mask_flat(self) -> np.ndarray:
        """Flat (C order) indices of the in-mask voxels, (n_voxels,) int64."""
        return np.ravel_multi_index(self._ijk.T, self.shape).astype(np.int64)

    def mm_to_ijk(self, xyz: np.typing.ArrayLike) -> np.ndarray:
        """Nearest voxel of MNI coordinates (..., 3) in mm (ties round half to even).

        Voxels may lie outside the box or the mask; callers decide what to do with them.
        """
        points = np.atleast_2d(np.asarray(xyz, dtype=float))
        ijk = points @ np.linalg.inv(self.affine)[:3, :3].T + np.linalg.inv(self.affine)[:3, 3]
        return np.round(ijk).astype(np.int64).reshape(np.shape(xyz))

    def mm_to_continuous(self, xyz: np.typing.ArrayLike) -> np.ndarray:
        """Fractional voxel coordinates of MNI points (..., 3) in mm."""
        points = np.atleast_2d(np.asarray(xyz, dtype=float))
        inv = np.linalg.inv(self.affine)
        return (points @ inv[:3, :3].T + inv[:3, 3]).reshape(np.shape(xyz))

    def ijk_to_mm(self, ijk: np.typing.ArrayLike) -> np.ndarray:
        """MNI mm coordinates of voxel indices (..., 3)."""
        points = np.atleast_2d(np.asarray(ijk, dtype=float))
        return (points @ self.affine[:3, :3].T + self.affine[:3, 3]).reshape(np.shape(ijk))

    def mirrored_x(self) -> Grid:
        """The same voxels in space, stored with the x axis reversed (x step of the affine negated).

        Voxel ``i`` of the result is voxel ``nx - 1 - i`` of this grid; every voxel keeps its
        millimetre position. The order of in-mask voxels (C order) changes, which is what
        matters for random draws indexed by mask position.
        """
        affine = self.affine.copy()
        affine[:3, 3] = self.affine[:3, 3] + self.affine[:3, 0] * (self.shape[0] - 1)
        affine[:3, 0] = -self.affine[:3, 0]
        return Grid(affine=affine, mask=self.mask[::-1])

    # -- images <-> arrays ------------------------------------------------------------------
    def unmask(self, values: np.typing.ArrayLike, *, fill: float = 0.0) -> np.ndarray:
        """Scatter in-mask values (n_voxels,) into a volume of the grid's shape."""
        values = np.asarray(values)
        volume = np.full(self.shape, fill, dtype=values.dtype)
        volume[self.mask] = values
        return volume

    def to_image(self, values: np.typing.ArrayLike, *, dtype: type = np.float32) -> Any:
        """A NIfTI image (float32 by default) of in-mask values, zero outside the mask."""
        import nibabel as nib

        volume = self.unmask(np.asarray(values, dtype=dtype))
        image = nib.Nifti1Image(volume, self.affine)
        image.header.set_data_dtype(dtype)
        image.header.set_xyzt_units("mm")
        return image

    def from_image(self, image: Any) -> np.ndarray:
        """In-mask values (n_voxels,) of a NIfTI image on this grid."""
        data = np.asanyarray(load_image(image).dataobj)
        if data.shape[:3] != self.shape:
            raise InputError(f"image has shape {data.shape}, expected {self.shape} (the grid)")
        return np.asarray(data)[self.mask]

    @classmethod
    def from_mask_image(cls, image: Any) -> Grid:
        """A grid from a mask image (a path or a nibabel image); non-zero voxels are in mask."""
        img = load_image(image)
        data = np.asanyarray(img.dataobj)
        if data.ndim != 3:
            raise InputError(f"mask image must be 3-D, got shape {data.shape}", source=str(image))
        return cls(affine=img.affine, mask=data != 0)

    def __repr__(self) -> str:
        size = "x".join(f"{v:g}" for v in self.voxel_size)
        return f"Grid({'x'.join(map(str, self.shape))}, {size} mm, {self.n_voxels} voxels in mask)"


def load_image(image: Any) -> Any:
    """A nibabel image from a path (an unreadable file is an :class:`InputError`) or as given."""
    import nibabel as nib

    if isinstance(image, (str, PathLike)):
        try:
            return nib.load(image)
        except (OSError, nib.filebasedimages.ImageFileError) as exc:
            raise InputError(f"cannot read image: {exc}", source=str(image)) from None
    return image


@functools.cache
def mni152_grid(*, gingerale: bool = False) -> Grid:
    """The MNI152 2 mm grid (91 x 109 x 91) with NiMARE's brain mask (228,483 voxels).

    The mask is ``tpl-MNI152NLin6Asym_res-02_desc-brain_mask`` shipped with the package; see
    ``syntony/meta/data/NOTICE.txt`` for its provenance and licence.

    Parameters
    ----------
    gingerale : bool
        Use GingerALE's "more conservative" 2 mm mask instead (``MNI152_2x2x2_brainmask``,
        NiMARE's ``ale_2mm`` target): the same voxels in millimetre space, stored with x
        reversed (affine ``diag(-2, 2, 2)``, origin (90, -126, -72)). Maps are the same voxel
        for voxel; the order of in-mask voxels, and so which voxel a random draw picks,
        follows GingerALE's.
    """
    if gingerale:
        return mni152_grid().mirrored_x()
    path = resources.files("syntony.meta") / "data" / _MASK_FILE
    with resources.as_file(path) as real:
        return Grid.from_mask_image(str(real))
