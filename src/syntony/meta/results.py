"""The result of an ALE analysis: maps, clusters, nulls, provenance and methods text."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony._io_utils import atomic_path, prepare_output_dir, write_json, write_text
from syntony._provenance import provenance
from syntony.meta.clusters import cluster_table, label_clusters
from syntony.meta.contributions import contributions
from syntony.meta.null import HistogramNull, logp_from_p, z_from_p

if TYPE_CHECKING:
    from syntony.meta.ale import ALE
    from syntony.meta.fwe import FWENull
    from syntony.meta.kernel import ALEKernel
    from syntony.meta.space import Grid
    from syntony.meta.studyset import Studyset

__all__ = ["REFERENCES", "ALEResult", "MapBundle", "build_result", "contributions"]

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


@dataclass(frozen=True, eq=False)
class MapBundle:
    """In-mask maps, tables, parameters and methods text, saved as NIfTI/TSV/JSON/Markdown.

    The common shape of the contrast, conjunction and MACM results.
    """

    grid: Grid
    maps: dict[str, np.ndarray]
    tables: dict[str, pd.DataFrame]
    parameters: dict[str, Any]
    methods: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def image(self, name: str) -> Any:
        """A map as a NIfTI image (int32 for integer maps, float32 otherwise)."""
        values = self.maps[name]
        dtype = np.int32 if np.issubdtype(values.dtype, np.integer) else np.float32
        return self.grid.to_image(values, dtype=dtype)

    def file_names(self) -> list[str]:
        names = [f"{k}.nii.gz" for k in self.maps] + [f"{k}.tsv" for k in self.tables]
        if self.arrays:
            names.append("null_distributions.npz")
        return [*names, "analysis.json", "methods.md"]

    def save(self, directory: str | Path, *, force: bool = False) -> list[Path]:
        """Write every map, table, null, the parameters and the methods text to ``directory``.

        Existing files are not replaced unless ``force``; each file is written to a temporary
        name and renamed.
        """
        import nibabel as nib

        out = prepare_output_dir(directory, force=force, outputs=self.file_names())
        written = []
        for name in self.maps:
            target = out / f"{name}.nii.gz"
            with atomic_path(target, force=True) as tmp:
                nib.save(self.image(name), tmp)
            written.append(target)
        for name, table in self.tables.items():
            written.append(
                write_text(out / f"{name}.tsv", table.to_csv(sep="\t", index=False), force=True)
            )
        if self.arrays:
            target = out / "null_distributions.npz"
            with atomic_path(target, force=True) as tmp:
                with open(tmp, "wb") as stream:
                    np.savez_compressed(stream, **self.arrays)
            written.append(target)
        payload = {"parameters": self.parameters, "provenance": self.provenance}
        written.append(write_json(out / "analysis.json", payload, force=True))
        written.append(write_text(out / "methods.md", self.methods + "\n", force=True))
        return written

    def __repr__(self) -> str:
        tables = ", ".join(f"{k}: {len(v)} rows" for k, v in self.tables.items())
        return f"{type(self).__name__}(maps={list(self.maps)}, tables={{{tables}}})"


@dataclass(frozen=True, eq=False)
class ALEResult:
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
        One row per cluster above the cluster-forming threshold.
    null : HistogramNull
    fwe : FWENull or None
    threshold : float
        Cluster-forming ALE threshold.
    parameters : dict
    methods : str
        A methods paragraph with citations.
    """

    grid: Grid
    maps: dict[str, np.ndarray]
    clusters: pd.DataFrame
    null: HistogramNull
    fwe: FWENull | None
    threshold: float
    parameters: dict[str, Any]
    methods: str
    provenance: dict[str, Any] = field(default_factory=dict)

    def bundle(self) -> MapBundle:
        """Maps, cluster table, nulls, parameters and methods as a :class:`MapBundle`."""
        arrays = {
            "histogram_bin_centres": self.null.centres,
            "histogram_weights": self.null.weights,
        }
        if self.fwe is not None:
            arrays.update(self.fwe.to_npz_dict())
        return MapBundle(
            grid=self.grid,
            maps=self.maps,
            tables={"clusters": self.clusters},
            parameters=self.parameters,
            methods=self.methods,
            arrays=arrays,
            provenance=self.provenance,
        )

    def image(self, name: str) -> Any:
        """A map as a NIfTI image (int32 for the cluster labels, float32 otherwise)."""
        return self.bundle().image(name)

    def file_names(self) -> list[str]:
        return self.bundle().file_names()

    def save(self, directory: str | Path, *, force: bool = False) -> list[Path]:
        """Write maps (NIfTI, float32), cluster table (TSV), nulls (NPZ), JSON and methods.

        Existing files are not replaced unless ``force``; each file is written to a temporary
        name and renamed.
        """
        return self.bundle().save(directory, force=force)

    def _repr_html_(self) -> str:
        p = self.parameters
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in [
                ("experiments", p.get("n_experiments")),
                ("foci", p.get("n_foci")),
                ("cluster-forming ALE", f"{self.threshold:.5f} (p < {p.get('cluster_p')})"),
                ("FWE iterations", p.get("n_iters_run")),
                ("clusters", len(self.clusters)),
            ]
        )
        table = (
            self.clusters.to_html(index=False, float_format=lambda v: f"{v:.4g}")
            if len(self.clusters)
            else "<p>No clusters.</p>"
        )
        return f"<div><h4>ALE result</h4><table>{rows}</table>{table}<p>{html.escape(self.methods)}</p></div>"

    def __repr__(self) -> str:
        return f"ALEResult({len(self.clusters)} clusters, threshold={self.threshold:.5f}, maps={list(self.maps)})"


def _threshold_rule(est: ALE) -> str:
    from syntony.meta.threshold import AnalyticThreshold

    return (est.cluster_threshold or AnalyticThreshold()).describe(est.cluster_p)


def _methods(
    est: ALE, studyset: Studyset, kernel: ALEKernel, fwe: FWENull | None, threshold: float
) -> str:
    text = (
        f"A coordinate-based meta-analysis of {studyset.n_experiments} experiments "
        f"({studyset.n_foci} foci, {studyset.n_subjects:g} subjects) was performed with "
        "activation likelihood estimation (ALE; Eickhoff et al., 2009, 2012) in syntony. "
        f"Each focus was modelled with {kernel.describe()}; within an experiment the maximum "
        "over its foci was taken (Turkeltaub et al., 2012). Foci reported in Talairach space "
        "were converted to MNI space (Lancaster et al., 2007). ALE scores were computed on the "
        "MNI152 2 mm grid inside the brain mask and converted to p-values with the analytic "
        f"null distribution ({est.null_.method}; Eickhoff et al., 2012). "
    )
    if fwe is not None:
        stopped = " (stopped early once the thresholds had converged)" if fwe.stopped_early else ""
        text += (
            f"Family-wise error was controlled by a Monte Carlo procedure with {fwe.n_iters} "
            f"iterations{stopped} in which foci were redistributed at random within the mask: "
            f"clusters were formed at ALE > {threshold:.5f} ({_threshold_rule(est)}; "
            f"6-connectivity) and retained at a cluster-level FWE of p < {est.fwe_alpha} "
            "(cluster size), with voxel-level and cluster-mass FWE maps also reported "
            "(Eickhoff et al., 2016). "
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
    text += f"{parity} (Salo et al., 2023).\n\nReferences\n\n" + "\n".join(
        f"- {r}" for r in REFERENCES.values()
    )
    return text


def build_result(est: ALE, studyset: Studyset, kernel: ALEKernel) -> ALEResult:
    """Assemble the :class:`ALEResult` of a fitted :class:`ALE` estimator."""
    grid: Grid = est.layout_.grid
    thr = est.threshold_
    maps: dict[str, np.ndarray] = {
        "ale": est.ale_,
        "p": est.p_.astype(np.float32),
        "z": est.z_.astype(np.float32),
        "logp": est.logp_.astype(np.float32),
    }
    supra = grid.unmask(est.ale_.astype(np.float64) > thr)
    label_volume, n_clusters = label_clusters(supra)
    labels = label_volume[grid.mask]
    ale64 = est.ale_.astype(np.float64)
    sizes = np.bincount(labels, minlength=n_clusters + 1)[1:]
    masses = np.bincount(
        labels, weights=np.where(labels > 0, ale64 - thr, 0.0), minlength=n_clusters + 1
    )[1:]
    fwe = est.fwe_
    size_p = mass_p = None
    if fwe is not None:
        size_p, mass_p = fwe.size_p(sizes), fwe.mass_p(masses)
        background = 1.0 - 1.0 / fwe.n_iters
        p_voxel = fwe.voxel_p(est.ale_)
        p_size = np.where(labels > 0, np.r_[background, size_p][labels], background)
        p_mass = np.where(labels > 0, np.r_[background, mass_p][labels], background)
        for name, p in (("voxel", p_voxel), ("cluster_size", p_size), ("cluster_mass", p_mass)):
            maps[f"logp_{name}_fwe"] = logp_from_p(p).astype(np.float32)
            maps[f"z_{name}_fwe"] = z_from_p(p).astype(np.float32)
        keep = np.flatnonzero(size_p < est.fwe_alpha) + 1
        significant = np.isin(labels, keep)
        maps["clusters"] = np.where(significant, labels, 0).astype(np.int32)
        maps["ale_thresholded"] = np.where(significant, est.ale_, 0).astype(np.float32)
    local = est.layout_.local_ijk(grid.mm_to_ijk(studyset.coordinates))
    shares = contributions(est.layout_, local, labels, studyset.ids, log_sums=est.log_sums_)
    labeller = est.labeller
    table = cluster_table(
        grid, labels, est.ale_, est.z_, thr, size_p=size_p, mass_p=mass_p,
        contributions=shares, labeller=labeller,
    )  # fmt: skip
    parameters = {
        "n_experiments": studyset.n_experiments,
        "n_foci": studyset.n_foci,
        "n_subjects": studyset.n_subjects,
        "studyset": studyset.name,
        "source": studyset.source,
        "kernel": {"fwhm": kernel.fwhm, "sample_size": kernel.sample_size},
        "kernel_fwhm_mm": [float(v) for v in est.layout_.bank.fwhm],
        "grid": repr(grid),
        "cluster_p": est.cluster_p,
        "cluster_forming_ale": thr,
        "cluster_threshold": _threshold_rule(est),
        "fwe_alpha": est.fwe_alpha,
        "n_iters": est.n_iters,
        "n_iters_run": fwe.n_iters if fwe is not None else 0,
        "replay_nimare": est.replay_nimare,
        "null_method": est.null_.method,
        "early_stop": None if est.early_stop is None else vars(est.early_stop),
    }
    seed = est.seed_
    record = provenance(parameters=parameters, seed=seed)
    return ALEResult(
        grid=grid, maps=maps, clusters=table, null=est.null_, fwe=fwe, threshold=thr,
        parameters=parameters, methods=_methods(est, studyset, kernel, fwe, thr), provenance=record,
    )  # fmt: skip
