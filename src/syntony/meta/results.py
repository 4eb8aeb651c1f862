"""Results of the meta-analyses: the ALE result and the map results of contrast and friends.

An ALE fit hands :func:`build_result` an explicit record (:class:`ALEFit`) of what it computed;
the result never reads an estimator's attributes. Every meta result saves the same layout:
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from syntony._io_utils import write_json, write_text
from syntony._provenance import provenance
from syntony.meta.clusters import cluster_table, label_clusters
from syntony.meta.contributions import contributions
from syntony.meta.diagnostics.bundle import Diagnosable, read_diagnostics_record
from syntony.meta.diagnostics.checks import analysis_warnings
from syntony.meta.null import HistogramNull, logp_from_p, z_from_p
from syntony.meta.result_files import (
    ANALYSIS,
    NULLS,
    json_safe,
    read_analysis,
    read_arrays,
    read_grid,
    read_maps,
    read_table,
    seed_record,
    table_types,
    write_arrays,
    write_grid,
    write_maps,
    write_table,
)
from syntony.meta.significance import (
    NOT_TESTED,
    clusters_with_header,
    count_significant,
    mark_significance,
)
from syntony.report import Report, Result, methods_text

if TYPE_CHECKING:
    from syntony.meta.fwe import FWENull
    from syntony.meta.kernel import ALEKernel
    from syntony.meta.layout import Layout
    from syntony.meta.space import Grid
    from syntony.meta.studyset import Studyset

__all__ = [
    "REFERENCES",
    "ALEFit",
    "ALEResult",
    "MapResult",
    "StudysetSummary",
    "build_result",
    "collect_warnings",
    "collects_warnings",
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
@dataclass(frozen=True)
class StudysetSummary:
    """What a result keeps of its studyset: names and counts, the experiment ids."""

    name: str
    source: str | None
    n_experiments: int
    n_foci: int
    n_subjects: float
    ids: tuple[str, ...]

    @classmethod
    def of(cls, studyset: Studyset) -> StudysetSummary:
        return cls(
            name=str(studyset.name),
            source=None if studyset.source is None else str(studyset.source),
            n_experiments=int(studyset.n_experiments),
            n_foci=int(studyset.n_foci),
            n_subjects=float(studyset.n_subjects),
            ids=tuple(str(i) for i in studyset.ids),
        )


@dataclass(frozen=True, eq=False)
class ALEFit:
    """Everything an ALE fit computed that its result reports.

    Attributes
    ----------
    layout : Layout
        Grid, kernels and experiment grouping (the contributions need them).
    local_ijk : ndarray (n_foci, 3)
        The observed foci in the layout's box, grouped by experiment.
    log_sums : ndarray
        The voxel-centred observed log-sum box (for the contributions).
    ale, p, z, logp : ndarray (n_voxels,)
        In-mask maps.
    null : HistogramNull
        The analytic null.
    threshold : float
        Cluster-forming ALE.
    threshold_rule : str
        How it was found (for the methods text).
    fwe : FWENull or None
        The Monte Carlo null (None without iterations).
    cluster_p, fwe_alpha : float
    studyset : StudysetSummary
    kernel : ALEKernel
    labeller : callable or None
        (n, 3) MNI peaks -> anatomical labels.
    seed : object
        What provenance records of the seed.
    settings : dict
        Further JSON-able settings of the fit (iterations asked, replay, early stop).
    null_foci : str
        How the Monte Carlo null placed its foci (SCALE replaces the uniform default).
    references : tuple of str
        References beyond ALE's own (e.g. SCALE's).
    extra : dict
        Parameters the caller adds (e.g. SCALE's reference database).
    """

    layout: Layout
    local_ijk: np.ndarray
    log_sums: np.ndarray
    ale: np.ndarray
    p: np.ndarray
    z: np.ndarray
    logp: np.ndarray
    null: HistogramNull
    threshold: float
    threshold_rule: str
    fwe: FWENull | None
    cluster_p: float
    fwe_alpha: float
    studyset: StudysetSummary
    kernel: ALEKernel
    labeller: Callable[[np.ndarray], list[str]] | None = None
    seed: Any = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    null_foci: str = "foci were redistributed at random within the mask"
    references: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


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
    contributions: pd.DataFrame = field(default_factory=lambda: _contribution_frame([]))
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

    def diagnose(self, names: str | list[str], studyset: Studyset, **options: Any) -> Self:
        """Add diagnostics (``"jackknife"``, ``"focus-counter"``, ``"stability"``, ``"fsn"``).

        ``studyset`` is the one the result was computed from; ``options`` go to
        :func:`syntony.meta.diagnostics.apply.diagnose_ale` (``estimator``, ``settings``,
        ``random_state``, ``n_jobs``, ``progress``). The diagnostics are saved with the result
        (``diagnostics_<name>.tsv`` and maps) and shown in its report. Returns the result.
        """
        from syntony.meta.diagnostics.apply import diagnose_ale

        self.add_diagnostics(diagnose_ale(self, studyset, names, **options))
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


def _contribution_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster": pd.Series([r[0] for r in rows], dtype="int64"),
            "experiment": pd.Series([r[1] for r in rows], dtype="str"),
            "percent": pd.Series([r[2] for r in rows], dtype="float64"),
        }
    )


# -- building the ALE result -------------------------------------------------------------------
def _methods(fit: ALEFit) -> str:
    s, kernel, fwe = fit.studyset, fit.kernel, fit.fwe
    text = (
        f"A coordinate-based meta-analysis of {s.n_experiments} experiments "
        f"({s.n_foci} foci, {s.n_subjects:g} subjects) was performed with "
        "activation likelihood estimation (ALE; Eickhoff et al., 2009, 2012) in syntony. "
        f"Each focus was modelled with {kernel.describe()}; within an experiment the maximum "
        "over its foci was taken (Turkeltaub et al., 2012). Foci reported in Talairach space "
        "were converted to MNI space (Lancaster et al., 2007). ALE scores were computed on the "
        "MNI152 2 mm grid inside the brain mask and converted to p-values with the analytic "
        f"null distribution ({fit.null.method}; Eickhoff et al., 2012). "
    )
    if fwe is not None:
        stopped = " (stopped early once the thresholds had converged)" if fwe.stopped_early else ""
        text += (
            f"Family-wise error was controlled by a Monte Carlo procedure with {fwe.n_iters} "
            f"iterations{stopped} in which {fit.null_foci}: clusters were formed at "
            f"ALE > {fit.threshold:.5f} ({fit.threshold_rule}; 6-connectivity) and retained at "
            f"a cluster-level FWE of p < {fit.fwe_alpha} (cluster size), with voxel-level and "
            "cluster-mass FWE maps also reported (Eickhoff et al., 2016). "
        )
    else:
        text += (
            f"Clusters were formed at ALE > {fit.threshold:.5f} ({fit.threshold_rule}; "
            "6-connectivity); no Monte Carlo correction was run, so no cluster was tested for "
            "family-wise error. "
        )
    if kernel.subvoxel:
        text += (
            "The cluster table's experiment contributions use voxel-centred kernels (an "
            "approximation of the sub-voxel kernels of the maps). "
        )
    parity = (
        "With voxel-centred kernels the implementation reproduces the numbers of NiMARE 0.22.1"
        if kernel.subvoxel
        else "The implementation reproduces the numbers of NiMARE 0.22.1"
    )
    text += f"{parity} (Salo et al., 2023)."
    return methods_text(text, references=[*REFERENCES.values(), *fit.references])


def _labels_description(labeller: Any) -> str | None:
    if labeller is None:
        return None
    describe = getattr(labeller, "describe", None)
    return describe() if callable(describe) else "custom labeller"


def build_result(fit: ALEFit, *, result_type: type[ALEResult] | None = None) -> ALEResult:
    """Assemble the :class:`ALEResult` (or ``result_type``) of an ALE fit's record."""
    layout, grid, thr = fit.layout, fit.layout.grid, float(fit.threshold)
    maps: dict[str, np.ndarray] = {
        "ale": fit.ale,
        "p": np.asarray(fit.p).astype(np.float32),
        "z": np.asarray(fit.z).astype(np.float32),
        "logp": np.asarray(fit.logp).astype(np.float32),
    }
    ale64 = np.asarray(fit.ale, dtype=np.float64)
    label_volume, n_clusters = label_clusters(grid.unmask(ale64 > thr))
    labels = label_volume[grid.mask]
    sizes = np.bincount(labels, minlength=n_clusters + 1)[1:]
    masses = np.bincount(
        labels, weights=np.where(labels > 0, ale64 - thr, 0.0), minlength=n_clusters + 1
    )[1:]
    fwe = fit.fwe
    size_p = mass_p = None
    significant = None
    test = NOT_TESTED
    if fwe is not None:
        size_p, mass_p = fwe.size_p(sizes), fwe.mass_p(masses)
        background = 1.0 - 1.0 / fwe.n_iters
        p_size = np.where(labels > 0, np.r_[background, size_p][labels], background)
        p_mass = np.where(labels > 0, np.r_[background, mass_p][labels], background)
        for name, p in (("voxel", fwe.voxel_p(fit.ale)), ("cluster_size", p_size),
                        ("cluster_mass", p_mass)):  # fmt: skip
            maps[f"logp_{name}_fwe"] = logp_from_p(p).astype(np.float32)
            maps[f"z_{name}_fwe"] = z_from_p(p).astype(np.float32)
        significant = np.asarray(size_p) < fit.fwe_alpha
        keep = np.flatnonzero(significant) + 1
        inside = np.isin(labels, keep)
        maps["clusters"] = np.where(inside, labels, 0).astype(np.int32)
        maps["ale_thresholded"] = np.where(inside, fit.ale, 0).astype(np.float32)
        test = f"cluster-size FWE p<{fit.fwe_alpha:g}"
    shares = contributions(layout, fit.local_ijk, labels, list(fit.studyset.ids),
                           log_sums=fit.log_sums)  # fmt: skip
    table = cluster_table(
        grid, labels, fit.ale, fit.z, thr, size_p=size_p, mass_p=mass_p,
        contributions=shares, labeller=fit.labeller,
    )  # fmt: skip
    table = clusters_with_header(
        table, fwe=fwe is not None, contributions=True, labels=fit.labeller is not None
    )
    table = mark_significance(table, significant, test)
    rows = [(c + 1, e, float(v)) for c, share in enumerate(shares) for e, v in share.items()]
    s = fit.studyset
    parameters = {
        "n_experiments": s.n_experiments,
        "n_foci": s.n_foci,
        "n_subjects": s.n_subjects,
        "studyset": s.name,
        "source": s.source,
        "kernel": {
            "fwhm": fit.kernel.fwhm,
            "sample_size": fit.kernel.sample_size,
            "subvoxel": fit.kernel.subvoxel,
        },
        "kernel_fwhm_mm": [float(v) for v in layout.bank.fwhm],
        "grid": repr(grid),
        "cluster_p": fit.cluster_p,
        "cluster_forming_ale": thr,
        "cluster_threshold": fit.threshold_rule,
        "fwe_alpha": fit.fwe_alpha,
        "n_iters_run": fwe.n_iters if fwe is not None else 0,
        "null_method": fit.null.method,
        "labels": _labels_description(fit.labeller),
        **dict(fit.settings),
        **dict(fit.extra),
    }
    parameters = json_safe(parameters)
    cls = result_type or ALEResult
    frame = _contribution_frame(rows)
    # Warnings that cite their source: too few experiments, significance out of reach of the
    # iterations, a significant cluster carried by one experiment.
    checks = analysis_warnings(
        n_experiments=s.n_experiments, n_iters=None if fwe is None else fwe.n_iters,
        alpha=fit.fwe_alpha, shares=None if fwe is None else frame,
        significant=None if significant is None else np.flatnonzero(significant) + 1,
    )  # fmt: skip
    return cls(
        grid=grid, maps=maps, clusters=table, null=fit.null, fwe=fwe, threshold=thr,
        parameters=parameters, methods=_methods(fit),
        provenance=provenance(parameters=parameters, seed=seed_record(fit.seed)),
        contributions=frame, warnings=checks,
    )  # fmt: skip
