"""What the diagnostics need of a fitted ALE: the studyset placed on its layout.

:class:`Observed` bundles a studyset with the frame of its ALE (:class:`~syntony.meta.layout.Layout`:
the grid's box, the mask and the experiments' kernels), its foci in that frame and the observed
log-sum box ``sum_e log(1 - MA_e)``. An :class:`~syntony.meta.ale.ALE` fit computes all three
(``layout_``, the foci it placed and ``log_sums_``); :meth:`Observed.build` recomputes them from a
studyset, which costs one compiled pass over the foci.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from syntony.errors import InputError, ParameterError
from syntony.meta.kernel import ALEKernel
from syntony.meta.layout import Layout
from syntony.meta.space import Grid, mni152_grid

if TYPE_CHECKING:
    from syntony.meta.studyset import Studyset

__all__ = ["Observed", "check_labels", "cluster_columns"]


@dataclass(frozen=True, eq=False)
class Observed:
    """A studyset on the layout of its ALE, with the observed log-sums.

    Attributes
    ----------
    studyset : Studyset
    layout : Layout
        Grid box, mask and kernels (experiment ``e`` of the layout is experiment ``e`` of the
        studyset).
    local_ijk : ndarray (n_foci, 3) int64
        Foci in the layout's box, grouped by experiment (the layout's focus order).
    log_sums : ndarray (box) float64
        ``sum_e log(1 - MA_e)`` on the box, with the float32 logs of the observed map.
    """

    studyset: Studyset
    layout: Layout
    local_ijk: np.ndarray
    log_sums: np.ndarray

    @classmethod
    def build(
        cls,
        studyset: Studyset,
        *,
        grid: Grid | None = None,
        kernel: ALEKernel | None = None,
        layout: Layout | None = None,
        log_sums: np.ndarray | None = None,
    ) -> Observed:
        """Place ``studyset`` on its ALE layout (reusing ``layout`` / ``log_sums`` when given)."""
        if studyset.n_experiments < 1:
            raise InputError("the studyset has no experiments", source=studyset.source or "")
        if kernel is not None and not isinstance(kernel, ALEKernel):
            raise ParameterError("kernel", "an ALEKernel", kernel)
        if layout is None:
            layout = Layout.build(grid or mni152_grid(), kernel or ALEKernel(), studyset)
        elif layout.foci_start.size != studyset.n_experiments + 1:
            raise ParameterError(
                "layout", f"the layout of this studyset ({studyset.n_experiments} experiments)",
                f"a layout of {layout.foci_start.size - 1} experiments",
            )  # fmt: skip
        local = layout.local_ijk(layout.grid.mm_to_ijk(studyset.coordinates))
        if log_sums is None:
            log_sums = layout.log_sums(local)
        elif tuple(log_sums.shape) != tuple(layout.shape):
            raise ParameterError("log_sums", f"a box of shape {layout.shape}", log_sums.shape)
        return cls(studyset=studyset, layout=layout, local_ijk=local, log_sums=log_sums)

    @property
    def grid(self) -> Grid:
        return self.layout.grid

    @property
    def ids(self) -> list[str]:
        return self.studyset.ids

    def in_mask(self, box: np.ndarray) -> np.ndarray:
        """In-mask values (mask order) of a box-shaped volume."""
        return box[tuple(self.layout.mask_local.T)]

    def to_box(self, values: np.ndarray, *, fill: float = 0.0) -> np.ndarray:
        """A box-shaped volume holding in-mask ``values`` (``fill`` elsewhere)."""
        values = np.asarray(values)
        box = np.full(self.layout.shape, fill, dtype=values.dtype)
        box[tuple(self.layout.mask_local.T)] = values
        return box

    def ale(self) -> np.ndarray:
        """In-mask ALE (float32, NiMARE's values) of the observed foci."""
        return self.layout.ale_from_log_sums(self.log_sums)


def check_labels(labels: np.typing.ArrayLike, n_voxels: int, name: str = "labels") -> np.ndarray:
    """In-mask integer cluster labels (0 outside clusters) of the right length, as int64."""
    array = np.asarray(labels)
    if array.ndim != 1 or array.size != n_voxels:
        raise ParameterError(name, f"an in-mask label vector of {n_voxels} voxels", array.shape)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ParameterError(name, "integer cluster numbers", "non-integer values")
        array = array.astype(np.int64)
    if array.size and array.min() < 0:
        raise ParameterError(name, "cluster numbers >= 0 (0: no cluster)", int(array.min()))
    return array.astype(np.int64)


def cluster_columns(numbers: np.typing.ArrayLike, prefix: str = "cluster") -> list[str]:
    """Column names of per-cluster tables: ``cluster_<n>`` with n the number in clusters.tsv."""
    return [f"{prefix}_{int(n)}" for n in numbers]
