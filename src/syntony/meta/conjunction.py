"""Conjunction of thresholded ALE maps by the minimum statistic (Nichols et al. 2005).

A voxel belongs to the conjunction when it is significant in every map; its value is the
smallest of the maps' ALE values there (and its z the smallest z), so the conjunction is
exactly as strong as its weakest member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from syntony._provenance import provenance
from syntony._validate import check_nonnegative
from syntony.errors import InputError, ParameterError
from syntony.meta.clusters import cluster_table, label_min_size
from syntony.meta.results import MapResult
from syntony.meta.significance import clusters_with_header, mark_significance
from syntony.report import methods_text

if TYPE_CHECKING:
    from syntony.meta.results import ALEResult
    from syntony.meta.studyset import Studyset
    from syntony.report import Report

__all__ = ["ConjunctionResult", "conjunction", "thresholded_ale"]

_NICHOLS = (
    "Nichols T, Brett M, Andersson J, Wager T, Poline JB (2005). Valid conjunction inference "
    "with the minimum statistic. NeuroImage 25:653-660. doi:10.1016/j.neuroimage.2004.12.005"
)


def main_effect_folder(k: int) -> str:
    """Subdirectory of the ``k``-th main effect of a saved conjunction (``ale_a``, ``ale_b``...)."""
    return f"ale_{chr(ord('a') + k)}"


@dataclass(eq=False)
class ConjunctionResult(MapResult):
    """Result of :func:`conjunction`.

    ``maps``: ``ale_min`` (minimum of the thresholded ALE maps, 0 outside the conjunction),
    ``z_min``, ``clusters`` (labels 1..n by size); ``tables``: ``clusters``.
    ``main_effects``: the ALE results it combines, saved in ``ale_a/``, ``ale_b/``, ... when
    kept (an empty list leaves them out).
    """

    kind: ClassVar[str] = "conjunction"
    title: ClassVar[str] = "Conjunction of ALE maps"

    main_effects: list[ALEResult] = field(default_factory=list)

    @property
    def clusters(self) -> pd.DataFrame:
        return self.tables["clusters"]

    def without_main_effects(self) -> ConjunctionResult:
        """The same conjunction with its main effects left out (when they are saved elsewhere)."""
        return replace(self, main_effects=[])

    def summary(self) -> str:
        p = self.parameters
        n = len(self.clusters)
        what = "clusters significant at cluster-size FWE" if p["level"] == "cluster" else (
            "voxels above the cluster-forming threshold (uncorrected)"
        )  # fmt: skip
        lines = [
            f"Conjunction of {' and '.join(p['maps'])}: {p['n_voxels']} voxels in {n} "
            f"cluster{'s' if n != 1 else ''} in every map's {what}",
        ]
        if n:
            row = self.clusters.iloc[0]
            label = f", {row['label']}" if "label" in self.clusters.columns else ""
            lines.append(
                f"largest: {int(row['size_voxels'])} voxels, peak ({row['peak_x']:g}, "
                f"{row['peak_y']:g}, {row['peak_z']:g}) MNI{label}"
            )
        return "\n".join(lines)

    def _write_parts(self, directory: Path) -> None:
        for k, part in enumerate(self.main_effects):
            part._write_into(directory / main_effect_folder(k))

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> Self:
        from syntony.report import Result

        fields = cls.read_fields(directory)
        parts = []
        for k in range(len(fields["parameters"].get("maps", []))):
            folder = directory / main_effect_folder(k)
            if folder.is_dir():
                parts.append(Result.load(folder))
        return cls(**fields, main_effects=parts)

    def diagnose(
        self, names: str | list[str], studysets: Sequence[Studyset], **options: Any
    ) -> Self:
        """Add diagnostics of the conjunction's clusters (see :meth:`ALEResult.diagnose`).

        ``studysets``: those of the combined maps, in order (the main effects must be kept);
        ``options`` (``executor`` among them) go to
        :func:`syntony.meta.diagnostics.apply.diagnose_conjunction`.
        """
        from syntony.meta.diagnostics.apply import diagnose_conjunction

        self.add_diagnostics(diagnose_conjunction(self, studysets, names, **options))
        return self

    def _build_report(self, report: Report) -> None:
        from syntony.meta.report_sections import conjunction_sections

        conjunction_sections(self, report)
        self._report_diagnostics(report)


def thresholded_ale(result: ALEResult, *, level: str = "cluster") -> np.ndarray:
    """A main effect's ALE map kept only where significant (0 elsewhere), float32.

    ``level="cluster"``: clusters significant by cluster-level FWE (``ale_thresholded``);
    ``"uncorrected"``: voxels above the cluster-forming threshold.
    """
    ale = result.maps["ale"]
    if level == "uncorrected":
        return np.where(ale.astype(np.float64) > result.threshold, ale, 0).astype(np.float32)
    if level != "cluster":
        raise ParameterError("level", "'cluster' or 'uncorrected'", level)
    if "ale_thresholded" not in result.maps:
        raise InputError(
            "the result has no FWE-thresholded map (it was run with n_iters=0); "
            "use level='uncorrected' or run FWE",
            source=str(result.parameters.get("studyset", "")),
        )
    return result.maps["ale_thresholded"].astype(np.float32)


def conjunction(
    results: Sequence[ALEResult],
    *,
    level: str = "cluster",
    min_cluster_mm3: float = 0.0,
    names: Sequence[str] | None = None,
    labeller: Callable[[np.ndarray], list[str]] | None = None,
    keep_main_effects: bool = True,
) -> ConjunctionResult:
    """Voxelwise minimum of two or more thresholded ALE maps, with a cluster table.

    Parameters
    ----------
    results : sequence of ALEResult
        Main effects on the same grid.
    level : {"cluster", "uncorrected"}
        Which significance each map is thresholded at (see :func:`thresholded_ale`).
    min_cluster_mm3 : float
        Conjunction clusters smaller than this volume are dropped.
    names : sequence of str, optional
        Names of the maps for the report (default: their studysets' names).
    labeller : callable, optional
        Maps (n, 3) MNI peaks to anatomical labels.
    keep_main_effects : bool
        Keep ``results`` in the result (saved with it in ``ale_a/``, ``ale_b/``, ...).
    """
    results = list(results)
    if len(results) < 2:
        raise ParameterError("results", "at least two ALE results", len(results))
    check_nonnegative("min_cluster_mm3", min_cluster_mm3)
    grid = results[0].grid
    for r in results[1:]:
        if r.grid.shape != grid.shape or not np.array_equal(r.grid.mask, grid.mask):
            raise InputError("the ALE results are on different grids or masks")
    names = list(names) if names is not None else [
        str(r.parameters.get("studyset", f"map{k + 1}")) for k, r in enumerate(results)
    ]  # fmt: skip
    stack = np.stack([thresholded_ale(r, level=level) for r in results])
    both = np.all(stack > 0, axis=0)
    ale_min = np.where(both, stack.min(axis=0), 0).astype(np.float32)
    z_min = np.where(both, np.stack([r.maps["z"] for r in results]).min(axis=0), 0)
    z_min = z_min.astype(np.float32)
    voxel_mm3 = float(np.prod(grid.voxel_size))
    labels = label_min_size(grid, both, int(np.ceil(min_cluster_mm3 / voxel_mm3 - 1e-9)))
    kept = labels > 0
    ale_min[~kept] = 0
    z_min[~kept] = 0
    table = cluster_table(grid, labels, ale_min, z_min, 0.0, labeller=labeller)
    table = clusters_with_header(table, fwe=False, contributions=False, labels=labeller is not None)
    table = table.rename(columns={"max_ale": "max_min_ale", "mass": "sum_min_ale"})
    if level == "cluster":
        alphas = sorted({float(r.parameters.get("fwe_alpha", 0.05)) for r in results})
        test = (
            "in every map's clusters significant at cluster-size FWE "
            f"p<{'/'.join(f'{a:g}' for a in alphas)} (minimum statistic)"
        )
        table = mark_significance(table, True, test)
    else:
        table = mark_significance(
            table, None, "not tested (uncorrected: above every map's cluster-forming threshold)"
        )
    parameters = {
        "maps": names,
        "level": level,
        "min_cluster_mm3": min_cluster_mm3,
        "n_voxels": int(kept.sum()),
        "n_clusters": int(labels.max(initial=0)),
        "cluster_forming_ale": [float(r.threshold) for r in results],
    }
    what = (
        "clusters significant at a cluster-level family-wise error"
        if level == "cluster"
        else "voxels above the cluster-forming threshold"
    )
    methods = methods_text(
        f"The conjunction of {', '.join(names)} was computed as the voxelwise minimum of their "
        f"thresholded ALE maps ({what}; minimum statistic, Nichols et al., 2005), retaining "
        f"clusters of at least {min_cluster_mm3:g} mm3. Computed with syntony.",
        references=[_NICHOLS],
    )
    return ConjunctionResult(
        grid=grid,
        maps={"ale_min": ale_min, "z_min": z_min, "clusters": labels},
        tables={"clusters": table},
        parameters=parameters,
        methods=methods,
        provenance=provenance(parameters=parameters),
        main_effects=list(results) if keep_main_effects else [],
    )
