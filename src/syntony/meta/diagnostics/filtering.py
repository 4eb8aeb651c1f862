"""Focus filter: drop the foci that fall outside the mask, and say which (NiMARE's ``FocusFilter``).

A focus is kept when its nearest voxel (coordinates rounded half to even, NiMARE's rounding)
lies inside the grid and inside the mask, exactly NiMARE 0.22.1's test. ALE itself keeps such
foci (only the part of their kernel that reaches the mask counts), so filtering is a choice: this
module makes it visible, with every dropped focus listed and a warning that counts them.

NiMARE keeps an analysis whose foci are all dropped (it then has no points); a
:class:`~syntony.meta.studyset.Studyset` cannot hold an experiment without foci, so such an
experiment is removed and named. Its ALE is the same either way: an experiment without foci
adds nothing to the maps or to NiMARE's inputs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from syntony.errors import InputError
from syntony.meta.space import Grid, mni152_grid
from syntony.meta.studyset import Studyset

__all__ = ["FilteredFoci", "focus_filter"]


@dataclass(frozen=True, eq=False)
class FilteredFoci:
    """The studyset without its out-of-mask foci, and what was removed.

    Attributes
    ----------
    studyset : Studyset
        The kept foci (experiments left without any focus removed).
    dropped : pandas.DataFrame
        One row per dropped focus: ``experiment``, ``x``, ``y``, ``z`` (MNI mm), ``i``, ``j``,
        ``k`` (its nearest voxel) and ``reason`` ("outside the grid" / "outside the mask").
    dropped_experiments : tuple of str
        Experiments all of whose foci were dropped.
    n_foci : int
        Foci before filtering.
    """

    studyset: Studyset
    dropped: pd.DataFrame
    dropped_experiments: tuple[str, ...]
    n_foci: int

    def diagnostic(self) -> Any:
        """This filtering as a result's diagnostic (``diagnostics_focus-filter.tsv``)."""
        from syntony.meta.diagnostics.bundle import Diagnostic

        n = len(self.dropped)
        text = (
            "Foci whose nearest voxel lies outside the brain mask were removed before the "
            f"analysis, as NiMARE's FocusFilter does (Salo et al., 2023): {n} of {self.n_foci} "
            "foci"
            + (
                f"; {len(self.dropped_experiments)} experiment(s) lost all their foci and were "
                "removed"
                if self.dropped_experiments
                else ""
            )
            + ". The table lists every removed focus."
        )
        return Diagnostic(
            "focus-filter", self.dropped, text,
            parameters={"n_foci": self.n_foci, "n_dropped": n,
                        "dropped_experiments": list(self.dropped_experiments)},
            warnings=[self.message()] if n else [],
        )  # fmt: skip

    def message(self) -> str:
        """One sentence for the warnings of a result (empty when nothing was dropped)."""
        n = len(self.dropped)
        if n == 0:
            return ""
        text = (
            f"focus filter: {n} of {self.n_foci} foci lie outside the brain mask and were "
            "removed before the analysis (NiMARE's FocusFilter rule: nearest voxel outside "
            "the mask)"
        )
        if self.dropped_experiments:
            shown = ", ".join(self.dropped_experiments[:5])
            more = len(self.dropped_experiments) - 5
            text += (
                f"; {len(self.dropped_experiments)} experiment(s) lost all their foci and were "
                f"removed ({shown}{f' and {more} more' if more > 0 else ''})"
            )
        return text


def focus_filter(
    studyset: Studyset, grid: Grid | None = None, *, warn: bool = True
) -> FilteredFoci:
    """Remove the foci of ``studyset`` whose nearest voxel lies outside ``grid``'s mask.

    Parameters
    ----------
    studyset : Studyset
    grid : Grid, optional
        The analysis grid and mask (default: the MNI152 2 mm grid with NiMARE's brain mask).
    warn : bool
        Issue a :class:`UserWarning` stating what was removed (when anything was).

    Returns
    -------
    FilteredFoci
    """
    grid = grid or mni152_grid()
    ijk = grid.mm_to_ijk(studyset.coordinates).reshape(-1, 3)
    in_grid = np.all((ijk >= 0) & (ijk < np.array(grid.shape)), axis=1)
    in_mask = np.zeros(ijk.shape[0], dtype=bool)
    in_mask[in_grid] = grid.mask[tuple(ijk[in_grid].T)]
    foci = studyset.foci
    dropped = pd.DataFrame(
        {
            "experiment": foci["experiment"].to_numpy()[~in_mask].astype(str),
            "x": foci["x"].to_numpy()[~in_mask],
            "y": foci["y"].to_numpy()[~in_mask],
            "z": foci["z"].to_numpy()[~in_mask],
            "i": ijk[~in_mask, 0],
            "j": ijk[~in_mask, 1],
            "k": ijk[~in_mask, 2],
            "reason": np.where(in_grid[~in_mask], "outside the mask", "outside the grid"),
        }
    ).astype({"experiment": "str", "reason": "str"})
    kept_per_exp = np.bincount(studyset.focus_experiment[in_mask], minlength=studyset.n_experiments)
    empty = tuple(str(i) for i, n in zip(studyset.ids, kept_per_exp, strict=True) if n == 0)
    if len(empty) == studyset.n_experiments:
        raise InputError(
            "every focus lies outside the brain mask: nothing is left to analyse",
            source=studyset.source or studyset.name,
        )
    if dropped.empty:
        filtered = studyset
    else:
        keep_ids = [i for i in studyset.ids if i not in set(empty)]
        experiments = studyset.experiments.loc[keep_ids]
        filtered = Studyset(experiments, foci[in_mask], name=studyset.name, source=studyset.source)
    out = FilteredFoci(
        studyset=filtered, dropped=dropped, dropped_experiments=empty, n_foci=studyset.n_foci
    )
    if warn and len(dropped):
        warnings.warn(out.message(), UserWarning, stacklevel=2)
    return out
