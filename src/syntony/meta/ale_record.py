"""What an ALE fit computed, as an explicit record, and the result built from it.

:class:`ALEFit` is everything :func:`build_result` needs — maps, threshold, nulls, layout,
studyset summary, kernel and labeller descriptions — so a result never reads an estimator's
attributes. SCALE hands in its own record (its null described in its own words) and result type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from syntony._provenance import provenance
from syntony.meta.clusters import cluster_table, label_clusters
from syntony.meta.contributions import contributions
from syntony.meta.diagnostics.checks import analysis_warnings
from syntony.meta.null import HistogramNull, logp_from_p, z_from_p
from syntony.meta.result_files import json_safe, seed_record
from syntony.meta.results import REFERENCES, ALEResult, contribution_frame
from syntony.meta.significance import (
    NOT_TESTED,
    clusters_with_header,
    mark_significance,
)
from syntony.report import methods_text

if TYPE_CHECKING:
    from syntony.meta.fwe import FWENull
    from syntony.meta.kernel import ALEKernel
    from syntony.meta.layout import Layout
    from syntony.meta.studyset import Studyset

__all__ = ["ALEFit", "StudysetSummary", "build_result"]


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
    frame = contribution_frame(rows)
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
