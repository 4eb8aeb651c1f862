"""Coordinate spaces: Talairach <-> MNI (Lancaster et al. 2007, icbm_other).

This is the one module where coordinates change space and, together with the grid helpers
added beside these functions, where millimetres become voxels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MNI_TO_TAL_ICBM_OTHER", "mni_to_tal", "tal_to_mni"]

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
