"""Results of the meta-analyses: the ALE result and the map results of contrast and friends.

An ALE fit hands :func:`syntony.meta.ale_record.build_result` an explicit record of what it
computed; the result never reads an estimator's attributes. Every meta result saves the same layout:
float32 NIfTI maps (``int32`` for cluster labels) and the grid's ``mask.nii.gz``, one TSV per
table (always with its header, read back with the same column types), ``null_distributions.npz``,
``analysis.json`` (parameters, provenance, methods, column types) and ``methods.md`` — plus the
``result.json`` and ``report.html`` of :class:`syntony.report.Result`.

Cluster tables say which clusters are significant and by which test (columns ``significant``
and ``significance_test``), so a table never lists clusters above the cluster-forming threshold
as if they had all survived.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from syntony._io_utils import write_json, write_text
from syntony.meta.diagnostics.bundle import Diagnosable, read_diagnostics_record
from syntony.meta.null import HistogramNull
from syntony.meta.result_files import (
    ANALYSIS,
    NULLS,
    json_safe,
    read_analysis,
    read_arrays,
    read_grid,
    read_maps,
    read_table,
    table_types,
    write_arrays,
    write_grid,
    write_maps,
    write_table,
)
from syntony.meta.significance import (
    count_significant,
)
from syntony.report import Report, Result

if TYPE_CHECKING:
    from syntony.execution import Executor
    from syntony.meta.fwe import FWENull
    from syntony.meta.space import Grid
    from syntony.meta.studyset import Studyset

__all__ = [
    "REFERENCES",
    "ALEResult",
    "MapResult",
    "collect_warnings",
    "collects_warnings",
    "contribution_frame",
]

REFERENCES = {
    "eickhoff2009": (
        "Eickhoff SB, Laird AR, Grefkes C, Wang LE, Zilles K, Fox PT (2009). Coordinate-based "
        "activation likelihood estimation meta-analysis of neuroimaging data: a random-effects "
        "approach based on empirical estimates of spatial uncertainty. Human Brain Mapping "
        "30:2907-2926. doi:10.1002/hbm.20718"
    ),
    "eickhoff2012": (
        "Eickhoff SB, Bzdok D, Laird AR, Kurth F, Fox PT (2012). Activation likelihood "
        "estimation meta-analysis revisited. NeuroImage 59:2349-2361. "
        "doi:10.1016/j.neuroimage.2011.09.017"
    ),
    "turkeltaub2012": (
        "Turkeltaub PE, Eickhoff SB, Laird AR, Fox M, Wiener M, Fox P (2012). Minimizing "
        "within-experiment and within-group effects in activation likelihood estimation "
        "meta-analyses. Human Brain Mapping 33:1-13. doi:10.1002/hbm.21186"
    ),
    "eickhoff2016": (
        "Eickhoff SB, Nichols TE, Laird AR, et al. (2016). Behavior, sensitivity, and power of "
        "activation likelihood estimation characterized by massive empirical simulation. "
        "NeuroImage 137:70-85. doi:10.1016/j.neuroimage.2016.04.072"
    ),
    "salo2023": (
        "Salo T, Yarkoni T, Nichols TE, et al. (2023). NiMARE: Neuroimaging Meta-Analysis "
        "Research Environment. Aperture Neuro 3:1-32. doi:10.52294/001c.87681"
    ),
    "lancaster2007": (
        "Lancaster JL, Tordesillas-Gutierrez D, Martinez M, et al. (2007). Bias between MNI and "
        "Talairach coordinates analyzed using the ICBM-152 brain template. Human Brain Mapping "
        "28:1194-1205. doi:10.1002/hbm.20345"
    ),
}


# -- warnings raised while an analysis runs ----------------------------------------------------
@contextlib.contextmanager
def collect_warnings() -> Iterator[list[str]]:
    """Record every warning raised in the block (as text) and show it as usual afterwards."""
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        yield caught
    for record in records:
        text = str(record.message)
        if text not in caught:
            caught.append(text)
        warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)


def collects_warnings(fit: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an estimator's ``fit`` so that ``result_.warnings`` lists its warnings."""

    @functools.wraps(fit)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with collect_warnings() as caught:
            out = fit(self, *args, **kwargs)
        result = getattr(self, "result_", None)
        if result is not None and hasattr(result, "add_warnings"):
            result.add_warnings(caught)
        return out

    return wrapper


# -- the record an ALE fit hands over ----------------------------------------------------------


# -- shared behaviour of the meta results ------------------------------------------------------
class _MetaResult(Diagnosable, Result):
    """Warnings and diagnostics shared by the meta results (``warnings`` is a list of str)."""

    warnings: list[str]

    def add_warnings(self, messages: list[str]) -> None:
        for message in messages:
            if message not in self.warnings:
                self.warnings.append(message)


@dataclass(eq=False)
class MapResult(_MetaResult):
    """In-mask maps, tables and null arrays with their parameters and methods text.

    The common shape of the contrast, conjunction and MACM-network results; subclasses give
    the kind, the summary and the report, and may add parts saved in subdirectories.
    """

    kind: ClassVar[str]
    title: ClassVar[str]

    grid: Grid
    maps: dict[str, np.ndarray]
    tables: dict[str, pd.DataFrame]
    parameters: dict[str, Any]
    methods: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    diagnostics: list[Any] = field(default_factory=list)

    def image(self, name: str) -> Any:
        """A map as a NIfTI image (int32 for integer maps, float32 otherwise)."""
        values = self.maps[name]
        dtype = np.int32 if np.issubdtype(values.dtype, np.integer) else np.float32
        return self.grid.to_image(values, dtype=dtype)

    def _write(self, directory: Path) -> None:
        write_grid(directory, self.grid)
        write_maps(directory, self.grid, self.maps)
        for name, table in self.tables.items():
            write_table(directory / f"{name}.tsv", table)
        if self.arrays:
            write_arrays(directory / NULLS, self.arrays)
        record = {
            "parameters": self.parameters,
            "provenance": self.provenance,
            "methods": self.methods,
            "warnings": self.warnings,
            "diagnostics": self._write_diagnostics(directory),
            "maps": list(self.maps),
            "tables": {name: table_types(t) for name, t in self.tables.items()},
            **self._extra_record(),
        }
        write_json(directory / ANALYSIS, json_safe(record), force=True)
        write_text(directory / "methods.md", self.methods + "\n", force=True)
        self._write_parts(directory)

    def _write_parts(self, directory: Path) -> None:
        """Subclasses with parts write them into subdirectories here."""

    def _extra_record(self) -> dict[str, Any]:
        """Further JSON-able entries of ``analysis.json`` (read back by the subclass)."""
        return {}

    @classmethod
    def read_fields(cls, directory: Path) -> dict[str, Any]:
        """The constructor's arguments, read from a saved result's files."""
        record = read_analysis(directory)
        grid = read_grid(directory)
        return {
            "grid": grid,
            "maps": read_maps(directory, grid, record["maps"]),
            "tables": {
                name: read_table(directory / f"{name}.tsv", types)
                for name, types in record["tables"].items()
            },
            "parameters": record["parameters"],
            "methods": record["methods"],
            "arrays": read_arrays(directory / NULLS),
            "provenance": record["provenance"],
            "warnings": list(record.get("warnings", [])),
            "diagnostics": read_diagnostics_record(directory, grid, record),
        }

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> Self:
        return cls(**cls.read_fields(directory))

    def __repr__(self) -> str:
        tables = ", ".join(f"{k}: {len(v)} rows" for k, v in self.tables.items())
        return f"{type(self).__name__}(maps={list(self.maps)}, tables={{{tables}}})"


# -- the ALE result ----------------------------------------------------------------------------
@dataclass(eq=False)
class ALEResult(_MetaResult):
    """Maps (in-mask arrays), cluster table, null distributions, parameters and methods text.

    Attributes
    ----------
    grid : Grid
    maps : dict of str -> ndarray (n_voxels,)
        ``ale``, ``p``, ``z``, ``logp``; with FWE also ``logp_voxel_fwe``, ``z_voxel_fwe``,
        ``logp_cluster_size_fwe``, ``z_cluster_size_fwe``, ``logp_cluster_mass_fwe``,
        ``z_cluster_mass_fwe``, ``clusters`` (labels of significant clusters) and
        ``ale_thresholded`` (ALE inside clusters significant by size at ``fwe_alpha``).
    clusters : pandas.DataFrame
        One row per cluster above the cluster-forming threshold; ``significant`` and
        ``significance_test`` say which survived and by which test.
    null : HistogramNull
    fwe : FWENull or None
    threshold : float
        Cluster-forming ALE threshold.
    parameters : dict
    methods : str
        Methods paragraphs and their reference list.
    contributions : pandas.DataFrame
        Long table (cluster, experiment, percent): each experiment's share of each cluster.
    warnings : list of str
        Warnings raised during the analysis, and those of :mod:`syntony.meta.diagnostics.checks`.
    diagnostics : list of Diagnostic
        Jackknife, focus counter, stability, fail-safe N (:meth:`diagnose`).
    """

    kind: ClassVar[str] = "ale"
    title: ClassVar[str] = "ALE meta-analysis"

    grid: Grid
    maps: dict[str, np.ndarray]
    clusters: pd.DataFrame
    null: HistogramNull
    fwe: FWENull | None
    threshold: float
    parameters: dict[str, Any]
    methods: str
    provenance: dict[str, Any] = field(default_factory=dict)
    contributions: pd.DataFrame = field(default_factory=lambda: contribution_frame([]))
    warnings: list[str] = field(default_factory=list)
    diagnostics: list[Any] = field(default_factory=list)

    # -- numbers -------------------------------------------------------------------------------
    @property
    def n_clusters(self) -> int:
        """Clusters above the cluster-forming threshold."""
        return len(self.clusters)

    @property
    def n_significant(self) -> int | None:
        """Clusters significant by the cluster-level test (None without Monte Carlo)."""
        return count_significant(self.clusters)

    def image(self, name: str) -> Any:
        """A map as a NIfTI image (int32 for the cluster labels, float32 otherwise)."""
        values = self.maps[name]
        dtype = np.int32 if np.issubdtype(values.dtype, np.integer) else np.float32
        return self.grid.to_image(values, dtype=dtype)

    def counts_text(self) -> str:
        """Both counts in one sentence: above the forming threshold, and significant."""
        n, alpha = self.n_clusters, self.parameters.get("fwe_alpha")
        above = f"{n} cluster{'s' if n != 1 else ''} above the cluster-forming threshold"
        if self.fwe is None:
            return f"{above}; significance not tested (no Monte Carlo iterations)"
        smallest = 1.0 / self.fwe.n_iters
        if alpha is not None and not smallest < alpha:
            # "0 significant" would read as a finding; with this few iterations it is not one.
            needed = int(np.floor(1.0 / alpha)) + 1
            return (
                f"{above}; none can reach cluster-size FWE p < {alpha:g} with "
                f"{self.fwe.n_iters} Monte Carlo iterations (smallest attainable p "
                f"{smallest:g}; at least {needed} needed)"
            )
        return (
            f"{above}, {self.n_significant} significant at cluster-size FWE p < {alpha} "
            f"({self.fwe.n_iters} Monte Carlo iterations)"
        )

    def summary(self) -> str:
        p = self.parameters
        lines = [
            f"ALE of {p.get('studyset')}: {p.get('n_experiments')} experiments, "
            f"{p.get('n_foci')} foci, {float(p.get('n_subjects', 0)):g} subjects",
            f"cluster-forming ALE {self.threshold:.5g} ({p.get('cluster_threshold')})",
            self.counts_text(),
        ]
        top = self.clusters[self.clusters["significant"].fillna(False).astype(bool)] if (
            "significant" in self.clusters.columns
        ) else self.clusters.iloc[:0]  # fmt: skip
        if len(top):
            row = top.iloc[0]
            label = f", {row['label']}" if "label" in top.columns else ""
            lines.append(
                f"largest significant cluster: {int(row['size_voxels'])} voxels, peak "
                f"({row['peak_x']:g}, {row['peak_y']:g}, {row['peak_z']:g}) MNI{label}"
            )
        return "\n".join(lines)

    def diagnose(
        self,
        names: str | list[str],
        studyset: Studyset,
        *,
        executor: Executor | None = None,
        **options: Any,
    ) -> Self:
        """Add diagnostics (``"jackknife"``, ``"focus-counter"``, ``"stability"``, ``"fsn"``).

        ``studyset`` is the one the result was computed from; ``options`` go to
        :func:`syntony.meta.diagnostics.apply.diagnose_ale` (``estimator``, ``settings``,
        ``random_state``, ``n_jobs``, ``progress``). With an ``executor``
        (:mod:`syntony.execution`: local processes, a Dask cluster) the diagnostics' pieces run
        as its tasks, with the same numbers as without it. The diagnostics are saved with the
        result (``diagnostics_<name>.tsv`` and maps) and shown in its report. Returns the result.
        """
        from syntony.meta.diagnostics.apply import diagnose_ale

        self.add_diagnostics(diagnose_ale(self, studyset, names, executor=executor, **options))
        return self

    # -- files ---------------------------------------------------------------------------------
    def _write(self, directory: Path) -> None:
        self.write_files(directory)

    def write_files(self, directory: Path) -> None:
        """Write maps, tables, nulls, ``analysis.json`` and ``methods.md`` into ``directory``.

        What :meth:`save` writes besides ``result.json`` and ``report.html``; results that
        contain an ALE (MACM) write it with this and read it back with :meth:`read_fields`.
        """
        write_grid(directory, self.grid)
        write_maps(directory, self.grid, self.maps)
        write_table(directory / "clusters.tsv", self.clusters)
        write_table(directory / "contributions.tsv", self.contributions)
        arrays = {
            "histogram_bin_centres": self.null.centres,
            "histogram_weights": self.null.weights,
        }
        if self.fwe is not None:
            arrays.update(self.fwe.to_npz_dict())
        write_arrays(directory / NULLS, arrays)
        record = {
            "parameters": self.parameters,
            "provenance": self.provenance,
            "methods": self.methods,
            "warnings": self.warnings,
            "diagnostics": self._write_diagnostics(directory),
            "threshold": float(self.threshold),
            "null_method": self.null.method,
            "fwe_iterations_requested": None if self.fwe is None else int(self.fwe.n_requested),
            "maps": list(self.maps),
            "tables": {
                "clusters": table_types(self.clusters),
                "contributions": table_types(self.contributions),
            },
        }
        write_json(directory / ANALYSIS, json_safe(record), force=True)
        write_text(directory / "methods.md", self.methods + "\n", force=True)

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> Self:
        return cls(**cls.read_fields(directory))

    @classmethod
    def read_fields(cls, directory: Path) -> dict[str, Any]:
        """The constructor's arguments, read from files written by :meth:`write_files`."""
        from syntony.meta.fwe import FWENull

        record = read_analysis(directory)
        grid = read_grid(directory)
        arrays = read_arrays(directory / NULLS)
        null = HistogramNull(
            arrays["histogram_bin_centres"], arrays["histogram_weights"], record["null_method"]
        )
        fwe = None
        if "max_ale" in arrays:
            fwe = FWENull(
                max_ale=arrays["max_ale"],
                max_size=arrays["max_cluster_size"],
                max_mass=arrays["max_cluster_mass"],
                threshold=float(arrays["cluster_forming_threshold"]),
                n_requested=int(record["fwe_iterations_requested"]),
            )
        types = record["tables"]
        return {
            "grid": grid,
            "maps": read_maps(directory, grid, record["maps"]),
            "clusters": read_table(directory / "clusters.tsv", types["clusters"]),
            "null": null,
            "fwe": fwe,
            "threshold": float(record["threshold"]),
            "parameters": record["parameters"],
            "methods": record["methods"],
            "provenance": record["provenance"],
            "contributions": read_table(directory / "contributions.tsv", types["contributions"]),
            "warnings": list(record.get("warnings", [])),
            "diagnostics": read_diagnostics_record(directory, grid, record),
        }

    def _build_report(self, report: Report) -> None:
        from syntony.meta.reporting import ale_sections

        ale_sections(self, report)
        self._report_diagnostics(report)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.n_clusters} clusters above threshold, "
            f"{self.n_significant} significant, threshold={self.threshold:.5f})"
        )


def contribution_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster": pd.Series([r[0] for r in rows], dtype="int64"),
            "experiment": pd.Series([r[1] for r in rows], dtype="str"),
            "percent": pd.Series([r[2] for r in rows], dtype="float64"),
        }
    )


# -- building the ALE result -------------------------------------------------------------------
