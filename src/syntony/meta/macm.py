"""Meta-analytic connectivity modelling (MACM; Robinson et al. 2010, Eickhoff et al. 2010).

For a region of interest, every experiment of a reference database with at least one focus
in the region is taken, and an ALE meta-analysis with family-wise error correction of those
experiments shows which regions are co-activated with it. The open databases record no
sample sizes, so the kernel width follows an explicit ``default_n`` that the methods text
reports. :func:`macm_network` merges the maps of several regions into one network view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony._io_utils import atomic_path, prepare_output_dir, write_text
from syntony._provenance import provenance
from syntony.errors import InputError, ParameterError
from syntony.meta.clusters import cluster_table, label_min_size
from syntony.meta.conjunction import thresholded_ale
from syntony.meta.contrast import MapBundle

if TYPE_CHECKING:
    from syntony.meta.ale import ALE
    from syntony.meta.databases import ReferenceDatabase
    from syntony.meta.results import ALEResult
    from syntony.meta.roi import ROI

__all__ = ["MACMResult", "macm", "macm_network"]

_REFERENCES = (
    "Robinson JL, Laird AR, Glahn DC, Lovallo WR, Fox PT (2010). Metaanalytic connectivity "
    "modeling: delineating the functional connectivity of the human amygdala. Human Brain "
    "Mapping 31:173-184. doi:10.1002/hbm.20854",
    "Eickhoff SB, Jbabdi S, Caspers S, et al. (2010). Anatomical and functional connectivity "
    "of cytoarchitectonic areas within the human parietal operculum. Journal of Neuroscience "
    "30:6409-6421. doi:10.1523/JNEUROSCI.5664-09.2010",
)


@dataclass(frozen=True, eq=False)
class MACMResult:
    """The co-activation map of one region.

    Attributes
    ----------
    roi : ROI
    experiment_ids : list of str
        The database articles with a focus in the region.
    ale : ALEResult
        ALE + FWE of those articles (maps, cluster table with labels, nulls).
    database : str
    default_n : float
    methods : str
    """

    roi: ROI
    experiment_ids: list[str]
    ale: ALEResult
    database: str
    default_n: float
    methods: str

    @property
    def clusters(self) -> pd.DataFrame:
        return self.ale.clusters

    def save(self, directory: str | Path, *, force: bool = False) -> list[Path]:
        """The ALE outputs plus ``roi.nii.gz`` and ``experiments.tsv``; methods replaced."""
        import nibabel as nib

        out = prepare_output_dir(
            directory, force=force, outputs=[*self.ale.file_names(), "roi.nii.gz",
                                             "experiments.tsv"]
        )  # fmt: skip
        written = self.ale.save(out, force=True)
        target = out / "roi.nii.gz"
        with atomic_path(target, force=True) as tmp:
            nib.save(self.roi.image(), tmp)
        written.append(target)
        ids = pd.DataFrame({"id": self.experiment_ids})
        written.append(write_text(out / "experiments.tsv", ids.to_csv(sep="\t", index=False)))
        write_text(out / "methods.md", self.methods + "\n", force=True)
        return written

    def __repr__(self) -> str:
        return (
            f"MACMResult({self.roi.name!r}: {len(self.experiment_ids)} experiments, "
            f"{len(self.ale.clusters)} clusters)"
        )


def macm(
    roi: ROI,
    database: ReferenceDatabase,
    *,
    default_n: float,
    estimator: ALE | None = None,
    min_experiments: int = 10,
    labeller: Callable[[np.ndarray], list[str]] | None = None,
) -> MACMResult:
    """Co-activation ALE of the database articles with a focus in ``roi``.

    Parameters
    ----------
    roi : ROI
        The seed region.
    database : ReferenceDatabase
        NeuroQuery or Neurosynth (or a selection of it).
    default_n : float
        Sample size given to every article (the databases have none).
    estimator : ALE, optional
        A configured, unfitted ALE (or SCALE) estimator; it is cloned per call, so one can
        serve several regions. Default ``ALE(n_iters=5000, null_method=auto_null,
        cluster_threshold=MonteCarloThreshold())``: the selections of a MACM often hold
        thousands of articles, for which the exact histogram null takes hours (see
        :func:`~syntony.meta.null.log_space_null`), and their many overlapping foci make the
        analytic cluster-forming threshold leak (see :mod:`syntony.meta.threshold`).
    min_experiments : int
        Fewer articles than this is an error (ALE needs enough experiments to be meaningful).
    labeller : callable, optional
        Anatomical labels for the cluster table (overrides the estimator's).
    """
    from syntony.meta.ale import ALE
    from syntony.meta.null import auto_null
    from syntony.meta.threshold import MonteCarloThreshold

    if not (np.isfinite(default_n) and default_n > 0):
        raise ParameterError("default_n", "a number > 0", default_n)
    ids = [str(i) for i in database.experiments_with_focus_in(roi.image())]
    if len(ids) < min_experiments:
        raise InputError(
            f"only {len(ids)} article(s) of {database.name} have a focus in {roi.name} "
            f"({roi.n_voxels} voxels); at least {min_experiments} are needed",
            source=roi.description or roi.name,
        )
    studyset = database.select(ids=ids).studyset(
        default_n=default_n, name=f"MACM {roi.name} ({database.name})"
    )
    default = ALE(n_iters=5000, null_method=auto_null, cluster_threshold=MonteCarloThreshold())
    est = _clone(estimator if estimator is not None else default, labeller)
    est.fit(studyset)
    ale: ALEResult = est.result_
    methods = (
        f"Meta-analytic connectivity modelling (Robinson et al., 2010; Eickhoff et al., 2010) "
        f"of {roi.name} ({roi.description}; {roi.volume_mm3:g} mm3): the {len(ids)} articles "
        f"of {database.name} with at least one peak inside the region were meta-analysed "
        f"together. {database.name} records no sample sizes; every article was given "
        f"N = {default_n:g}, which sets the kernel width.\n\n"
        + ale.methods
        + "\n"
        + "\n".join(f"- {r}" for r in _REFERENCES)
    )
    return MACMResult(roi, ids, ale, database.name, float(default_n), methods)


def _clone(est: Any, labeller: Any) -> Any:
    params = {k: v for k, v in vars(est).items() if not k.endswith("_")}
    if labeller is not None:
        params["labeller"] = labeller
    return type(est)(**params)


def macm_network(
    results: Sequence[MACMResult],
    *,
    level: str = "cluster",
    min_cluster_mm3: float = 0.0,
    labeller: Callable[[np.ndarray], list[str]] | None = None,
) -> MapBundle:
    """Merge several regions' MACM maps into one network view.

    Maps: ``n_regions`` (how many regions' co-activation maps cover each voxel),
    ``ale_max`` (union: the largest thresholded ALE), ``ale_min`` (conjunction of all regions:
    the smallest, 0 unless every region covers the voxel) and ``clusters`` (labels of the
    union). Table ``network``: one row per union cluster with its peak, label and which
    regions cover it (and by how many voxels).
    """
    results = list(results)
    if not results:
        raise ParameterError("results", "at least one MACM result", 0)
    grid = results[0].ale.grid
    stack = np.stack([thresholded_ale(r.ale, level=level) for r in results])
    covered = stack > 0
    count = covered.sum(axis=0).astype(np.int32)
    ale_max = stack.max(axis=0).astype(np.float32)
    ale_min = np.where(covered.all(axis=0), stack.min(axis=0), 0).astype(np.float32)
    voxel_mm3 = float(np.prod(grid.voxel_size))
    labels = label_min_size(grid, count > 0, int(np.ceil(min_cluster_mm3 / voxel_mm3 - 1e-9)))
    table = cluster_table(grid, labels, ale_max, count.astype(np.float64), 0.0, labeller=labeller)
    if len(table):
        table = table.rename(columns={"max_ale": "max_ale", "peak_z_score": "regions_at_peak"})
        table = table.drop(columns=["mass"])
        table["regions"] = [
            "; ".join(
                f"{r.roi.name} ({int(np.sum(covered[k] & (labels == c)))} vox)"
                for k, r in enumerate(results)
                if np.any(covered[k] & (labels == c))
            )
            for c in table["cluster"]
        ]
    parameters = {
        "regions": [r.roi.name for r in results],
        "n_experiments": [len(r.experiment_ids) for r in results],
        "database": results[0].database,
        "default_n": results[0].default_n,
        "level": level,
        "min_cluster_mm3": min_cluster_mm3,
    }
    methods = (
        f"The co-activation maps of {len(results)} regions "
        f"({', '.join(r.roi.name for r in results)}) were merged: their FWE-thresholded ALE "
        "maps were overlaid (number of regions co-activating each voxel, union and minimum "
        "across regions)."
    )
    return MapBundle(
        grid=grid,
        maps={"n_regions": count, "ale_max": ale_max, "ale_min": ale_min, "clusters": labels},
        tables={"network": table},
        parameters=parameters,
        methods=methods,
        provenance=provenance(parameters=parameters),
    )
