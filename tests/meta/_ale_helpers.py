"""Small synthetic grids and studysets for the ALE engine tests."""

from __future__ import annotations

import numpy as np

from syntony.meta.space import Grid
from syntony.meta.studyset import Studyset


def ball_grid(radius: int = 11, size: int = 30) -> Grid:
    """A 2 mm grid with a ball-shaped mask (a few thousand voxels): fast Monte Carlo."""
    centre = (size - 1) / 2
    x, y, z = np.indices((size, size, size))
    mask = (x - centre) ** 2 + (y - centre) ** 2 + (z - centre) ** 2 <= radius**2
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = -2.0 * centre
    return Grid(affine=affine, mask=mask)


def random_studyset(
    rng: np.random.Generator, grid: Grid, n_exp: int, max_foci: int = 6
) -> Studyset:
    """Experiments whose foci are drawn uniformly from the mask voxels (the ALE null)."""
    counts = rng.integers(1, max_foci + 1, size=n_exp)
    which = np.repeat(np.arange(n_exp), counts)
    voxels = grid.mask_ijk[rng.integers(0, grid.n_voxels, size=which.size)]
    xyz = grid.ijk_to_mm(voxels)
    sizes = rng.integers(8, 40, size=n_exp).astype(float)
    return Studyset.from_arrays(xyz, which, sizes)
