"""The analysis of Fu et al. (2025) end to end: two ALEs, conjunction, contrasts, MACM.

:func:`run_fu2025` chains ALE(A), ALE(B), their conjunction, the contrast (A > B and B > A),
MACM from every conjunction cluster and the merged MACM network, and compares the outcome
with the paper's findings (shared cingulate, middle frontal and inferior parietal regions;
thalamus, putamen, precentral gyrus and insula in the co-activation network) by counting
the voxels of each map that carry the corresponding AAL labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony._io_utils import prepare_output_dir, write_text
from syntony._rng import SeedLike, seed_sequence
from syntony._validate import check_integer, check_nonnegative
from syntony.errors import InputError, ParameterError
from syntony.meta.contrast import ALEContrast, AllVoxels, InMainEffects, MapBundle
from syntony.meta.null import HistogramNull, auto_null
from syntony.meta.threshold import AnalyticThreshold, MonteCarloThreshold

if TYPE_CHECKING:
    from syntony.meta.conjunction import ConjunctionResult
    from syntony.meta.databases import ReferenceDatabase
    from syntony.meta.macm import MACMResult
    from syntony.meta.results import ALEResult
    from syntony.meta.studyset import Studyset

__all__ = ["PAPER_FINDINGS", "Fu2025Config", "Fu2025Result", "compare_with_paper", "run_fu2025"]

#: (analysis, region in the paper, AAL label fragments that make up the region).
PAPER_FINDINGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("conjunction", "cingulate gyrus", ("Cingulate",)),
    ("conjunction", "middle frontal gyrus", ("Frontal Mid",)),
    ("conjunction", "inferior parietal lobule", ("Parietal Inf", "SupraMarginal", "Angular")),
    ("macm", "thalamus", ("Thalamus",)),
    ("macm", "putamen", ("Putamen",)),
    ("macm", "precentral gyrus", ("Precentral",)),
    ("macm", "insula", ("Insula",)),
)


@dataclass(frozen=True)
class Fu2025Config:
    """Settings of :func:`run_fu2025`.

    Parameters
    ----------
    n_iters : int
        Monte Carlo iterations of each main-effect ALE.
    n_permutations : int
        Permutations of the contrast.
    macm_iters : int
        Monte Carlo iterations of each MACM ALE.
    cluster_p, fwe_alpha : float
        Cluster-forming threshold and cluster-level FWE of the ALEs.
    contrast : InMainEffects or AllVoxels
        The contrast test (default: the published one-sided test in the main effects).
    conjunction_min_mm3 : float
        Smallest conjunction cluster kept (and used as a MACM seed).
    max_rois : int or None
        Use at most this many (largest) conjunction clusters as MACM seeds.
    macm_min_experiments : int
        A seed with fewer database articles than this is skipped (and reported).
    default_n : float or None
        Sample size of database articles (required when a group or MACM uses a database).
    min_label_voxels : int
        A paper region counts as found when at least this many voxels of the map carry it.
    cluster_threshold : AnalyticThreshold or MonteCarloThreshold
        Cluster-forming rule of every ALE (default Monte Carlo: database articles report many
        overlapping foci, for which the analytic threshold leaks; on task experiments the two
        agree; see :mod:`syntony.meta.threshold`).
    null_method : callable
        Analytic null of every ALE (default :func:`~syntony.meta.null.auto_null`: NiMARE's
        exact binning up to 500 experiments, the log-space FFT null above).
    """

    n_iters: int = 5000
    n_permutations: int = 10_000
    macm_iters: int = 5000
    cluster_p: float = 0.001
    fwe_alpha: float = 0.05
    contrast: InMainEffects | AllVoxels = field(default_factory=InMainEffects)
    conjunction_min_mm3: float = 0.0
    max_rois: int | None = None
    macm_min_experiments: int = 10
    default_n: float | None = None
    min_label_voxels: int = 10
    null_method: Callable[[np.ndarray, np.ndarray, int], HistogramNull] = auto_null
    cluster_threshold: AnalyticThreshold | MonteCarloThreshold = field(
        default_factory=MonteCarloThreshold
    )

    def __post_init__(self) -> None:
        check_integer("n_iters", self.n_iters, minimum=2)
        check_integer("n_permutations", self.n_permutations, minimum=2)
        check_integer("macm_iters", self.macm_iters, minimum=2)
        check_nonnegative("conjunction_min_mm3", self.conjunction_min_mm3)
        check_integer("min_label_voxels", self.min_label_voxels, minimum=1)
        if self.max_rois is not None:
            check_integer("max_rois", self.max_rois, minimum=1)
        if not isinstance(self.contrast, InMainEffects | AllVoxels):
            raise ParameterError("contrast", "InMainEffects() or AllVoxels()", self.contrast)


@dataclass(frozen=True, eq=False)
class Fu2025Result:
    """Everything :func:`run_fu2025` produced."""

    ale_a: ALEResult
    ale_b: ALEResult
    conjunction: ConjunctionResult
    contrast: MapBundle
    macm: list[MACMResult]
    skipped_rois: dict[str, str]
    network: MapBundle | None
    comparison: pd.DataFrame
    methods: str
    parameters: dict[str, Any]

    def save(self, directory: str | Path, *, force: bool = False) -> list[Path]:
        """Write every map, table and the methods text under ``directory``."""
        names = ["comparison.tsv", "comparison.md", "methods.md", "ale_a", "ale_b",
                 "conjunction", "contrast", "macm", "macm_network"]  # fmt: skip
        out = prepare_output_dir(directory, force=force, outputs=names)
        written: list[Path] = []
        written += self.ale_a.save(out / "ale_a", force=force)
        written += self.ale_b.save(out / "ale_b", force=force)
        written += self.conjunction.save(out / "conjunction", force=force)
        written += self.contrast.save(out / "contrast", force=force)
        for r in self.macm:
            written += r.save(out / "macm" / r.roi.name, force=force)
        if self.network is not None:
            written += self.network.save(out / "macm_network", force=force)
        table = self.comparison.to_csv(sep="\t", index=False)
        written.append(write_text(out / "comparison.tsv", table, force=force))
        written.append(write_text(out / "comparison.md", comparison_markdown(self.comparison)))
        written.append(write_text(out / "methods.md", self.methods + "\n", force=force))
        return written


def _labeller(xyz: np.ndarray) -> list[str]:
    from syntony.meta.atlas import label_coordinates

    return label_coordinates(xyz, atlas="harvard_oxford")


def label_voxel_counts(grid: Any, selected: np.ndarray, fragments: tuple[str, ...]) -> int:
    """Number of in-mask voxels in ``selected`` whose AAL label contains a fragment."""
    from syntony.meta.atlas import atlas_labels, label_indices

    if not selected.any():
        return 0
    names = atlas_labels("aal")
    wanted = np.array([any(f.lower() in n.lower() for f in fragments) for n in names])
    codes = label_indices(grid.ijk_to_mm(grid.mask_ijk[selected]), atlas="aal")
    return int(np.sum((codes >= 0) & wanted[np.clip(codes, 0, None)]))


def compare_with_paper(
    conjunction: ConjunctionResult, network: MapBundle | None, *, min_voxels: int = 10
) -> pd.DataFrame:
    """Side-by-side table: each finding of Fu et al. (2025) and whether it appears here."""
    rows = []
    grid = conjunction.grid
    for analysis, region, fragments in PAPER_FINDINGS:
        if analysis == "conjunction":
            selected = conjunction.maps["clusters"] > 0
            where = "conjunction of the two main effects"
        else:
            selected = network.maps["n_regions"] > 0 if network is not None else None
            where = "MACM network (union over seeds)"
        count = 0 if selected is None else label_voxel_counts(grid, selected, fragments)
        every = None
        if analysis == "macm" and network is not None:
            every = label_voxel_counts(grid, network.maps["ale_min"] > 0, fragments)
        rows.append(
            {
                "analysis": analysis,
                "paper_finding": region,
                "paper": "reported",
                "aal_labels": " / ".join(fragments),
                "voxels_here": count,
                "voxels_in_every_seed_map": every,
                "found_here": "yes" if count >= min_voxels else "no",
                "map": where,
            }
        )
    return pd.DataFrame(rows)


def comparison_markdown(table: pd.DataFrame) -> str:
    """The comparison table as Markdown."""
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def run_fu2025(
    group_a: Studyset,
    group_b: Studyset,
    database: ReferenceDatabase,
    *,
    config: Fu2025Config | None = None,
    random_state: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
    log: Any = None,
) -> Fu2025Result:
    """Run the Fu et al. (2025) workflow.

    Parameters
    ----------
    group_a, group_b : Studyset
        The two sets of experiments (e.g. emotional mimicry and emotional contagion).
    database : ReferenceDatabase
        Reference database for MACM (NeuroQuery or Neurosynth).
    config : Fu2025Config
        Iterations, thresholds and the contrast test; ``default_n`` is required for MACM.
    random_state : int, SeedSequence or None
        Seeds every step (each from its own child stream).
    n_jobs : int, optional
        Worker threads.
    progress : bool
        Progress bars.
    log : callable, optional
        Called with one line of text at each step.
    """
    from syntony.meta.ale import ALE
    from syntony.meta.conjunction import conjunction
    from syntony.meta.macm import macm, macm_network
    from syntony.meta.roi import cluster_rois

    cfg = config or Fu2025Config()
    if cfg.default_n is None:
        raise InputError(
            f"MACM on {database.name} needs a default sample size (default_n); the database "
            "has none"
        )
    say = log or (lambda _msg: None)
    seq = seed_sequence(random_state)
    child = [np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, k)) for k in range(4)]

    def ale(iters: int, seed: Any) -> ALE:
        return ALE(n_iters=iters, cluster_p=cfg.cluster_p, fwe_alpha=cfg.fwe_alpha,
                   n_jobs=n_jobs, random_state=seed, progress=progress,
                   labeller=_labeller, null_method=cfg.null_method,
                   cluster_threshold=cfg.cluster_threshold)  # fmt: skip

    say(f"ALE of group A ({group_a.name}: {group_a.n_experiments} experiments)")
    ale_a = ale(cfg.n_iters, child[0]).fit(group_a).result_
    say(f"ALE of group B ({group_b.name}: {group_b.n_experiments} experiments)")
    ale_b = ale(cfg.n_iters, child[1]).fit(group_b).result_
    say("conjunction")
    conj = conjunction(
        [ale_a, ale_b], min_cluster_mm3=cfg.conjunction_min_mm3,
        names=[group_a.name, group_b.name], labeller=_labeller,
    )  # fmt: skip
    say(f"contrast ({cfg.n_permutations} permutations)")
    contrast = ALEContrast(
        test=cfg.contrast, n_permutations=cfg.n_permutations, n_jobs=n_jobs,
        random_state=child[2], progress=progress, labeller=_labeller,
    ).fit(group_a, group_b, main_a=ale_a, main_b=ale_b).result_  # fmt: skip
    n_clusters = int(conj.maps["clusters"].max(initial=0))
    chosen = list(range(1, n_clusters + 1))[: cfg.max_rois]
    rois = cluster_rois(conj, clusters=chosen, prefix="conjunction") if chosen else []
    results: list[MACMResult] = []
    skipped: dict[str, str] = {}
    template = ale(cfg.macm_iters, child[3])
    for roi in rois:
        say(f"MACM from {roi.name} ({roi.n_voxels} voxels)")
        try:
            results.append(
                macm(
                    roi,
                    database,
                    default_n=cfg.default_n,
                    estimator=template,
                    min_experiments=cfg.macm_min_experiments,
                )
            )
        except InputError as exc:
            skipped[roi.name] = str(exc)
            say(f"  skipped: {exc}")
    network = macm_network(results, labeller=_labeller) if results else None
    comparison = compare_with_paper(conj, network, min_voxels=cfg.min_label_voxels)
    parameters = {
        "group_a": group_a.name, "group_b": group_b.name, "database": database.name,
        "n_iters": cfg.n_iters, "n_permutations": cfg.n_permutations,
        "macm_iters": cfg.macm_iters, "cluster_p": cfg.cluster_p, "fwe_alpha": cfg.fwe_alpha,
        "contrast": type(cfg.contrast).__name__, "default_n": cfg.default_n,
        "macm_seeds": [r.name for r in rois], "skipped_seeds": skipped,
        "null_method": getattr(cfg.null_method, "__name__", repr(cfg.null_method)),
        "cluster_threshold": cfg.cluster_threshold.describe(cfg.cluster_p),
    }  # fmt: skip
    methods = "\n\n".join(
        [
            "# Methods (Fu et al. 2025 workflow, syntony)",
            f"## Main effect A: {group_a.name}\n\n{ale_a.methods}",
            f"## Main effect B: {group_b.name}\n\n{ale_b.methods}",
            f"## Conjunction\n\n{conj.methods}",
            f"## Contrast\n\n{contrast.methods}",
            "## MACM\n\n"
            + (
                "\n\n".join(r.methods for r in results)
                if results
                else "No conjunction cluster could seed a MACM."
            ),
        ]
    )
    return Fu2025Result(
        ale_a=ale_a, ale_b=ale_b, conjunction=conj, contrast=contrast, macm=results,
        skipped_rois=skipped, network=network, comparison=comparison, methods=methods,
        parameters=parameters,
    )  # fmt: skip
