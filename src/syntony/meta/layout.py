"""The fixed frame of an ALE computation: the grid's cropped box, the mask, the kernels.

A :class:`Layout` is built once per studyset (and grid and kernel) and shared by everything
that moves foci around it: the observed map (:mod:`syntony.meta.ale`), the Monte Carlo FWE
null (:mod:`syntony.meta.fwe`), the null-map threshold (:mod:`syntony.meta.threshold`), the
cluster contributions and the contrast's permutations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from syntony.meta.accumulate import accumulate_log_ma_into
from syntony.meta.kernel import ALEKernel, KernelBank
from syntony.meta.space import Grid

if TYPE_CHECKING:
    from syntony.meta.studyset import Studyset

__all__ = ["Layout"]


@dataclass(frozen=True, eq=False)
class Layout:
    """Everything fixed while foci move: the grid's box, the mask, the experiments' kernels.

    Volumes are cropped to the bounding box of the mask (voxels outside the mask never count),
    and foci are grouped by experiment, keeping the studyset's order within each experiment.
    """

    grid: Grid
    bank: KernelBank
    focus_order: np.ndarray  # studyset focus row -> position in grouped order
    foci_start: np.ndarray
    lo: np.ndarray = field(init=False, repr=False)
    shape: tuple[int, int, int] = field(init=False, repr=False)
    mask_local: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ijk = self.grid.mask_ijk.astype(np.int64)
        lo, hi = ijk.min(axis=0), ijk.max(axis=0)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "shape", tuple(int(v) for v in hi - lo + 1))
        object.__setattr__(self, "mask_local", np.ascontiguousarray(ijk - lo))

    @classmethod
    def build(cls, grid: Grid, kernel: ALEKernel, studyset: Studyset) -> Layout:
        which = studyset.focus_experiment
        order = np.argsort(which, kind="stable")
        counts = np.bincount(which, minlength=studyset.n_experiments)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        bank = kernel.bank(studyset.sample_sizes, grid.voxel_size)
        return cls(grid=grid, bank=bank, focus_order=order, foci_start=starts)

    @property
    def n_foci(self) -> int:
        return int(self.foci_start[-1])

    def local_ijk(self, ijk: np.ndarray) -> np.ndarray:
        """Grouped-order foci in the cropped box's index space, from studyset-order voxels."""
        return np.ascontiguousarray(np.asarray(ijk, dtype=np.int64)[self.focus_order] - self.lo)

    def log_sums(self, local_ijk: np.ndarray) -> np.ndarray:
        """Sum over experiments of log(1 - MA_e) on the box (float64).

        The logs of the float32 kernel values are taken in float32, as NiMARE does for
        observed maps (its Monte Carlo loop takes them in float64; see :mod:`fwe`).
        """
        volume = np.zeros(self.shape, dtype=np.float64)
        bank = self.bank
        scratch = np.zeros(self.shape, dtype=np.float64)
        accumulate_log_ma_into(
            volume, scratch, local_ijk, self.foci_start, bank.experiment_kernel, bank.log_values_f32,
            bank.starts, bank.half_widths,
        )  # fmt: skip
        return volume

    def ale(self, local_ijk: np.ndarray) -> np.ndarray:
        """In-mask ALE values (float32, NiMARE's precision) for foci ``local_ijk``."""
        return self.ale_from_log_sums(self.log_sums(local_ijk))

    def ale_from_log_sums(self, log_sums: np.ndarray) -> np.ndarray:
        """In-mask ALE values (float32) of a box of log-sums from :meth:`log_sums`."""
        return (1.0 - np.exp(log_sums[tuple(self.mask_local.T)])).astype(np.float32)

    def mask_index_volume(self) -> np.ndarray:
        """Box volume holding each in-mask voxel's position (-1 outside the mask)."""
        index = np.full(self.shape, -1, dtype=np.int64)
        index[tuple(self.mask_local.T)] = np.arange(self.mask_local.shape[0])
        return index
