"""The analysis of Fu et al. (2025) end to end: two ALEs, conjunction, contrasts, MACM.

:func:`run_fu2025` chains ALE(A), ALE(B), their conjunction, the contrast (A > B and B > A),
MACM from every conjunction cluster and the merged MACM network, and compares the outcome
with the paper's findings (shared cingulate, middle frontal and inferior parietal regions;
thalamus, putamen, precentral gyrus and insula in the co-activation network) by counting
the voxels of each map that carry the corresponding AAL labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from syntony._io_utils import write_json, write_text
from syntony._provenance import provenance
from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer, check_nonnegative
from syntony.errors import InputError, ParameterError
from syntony.meta.contrast import ALEContrast, AllVoxels, InMainEffects
from syntony.meta.null import HistogramNull, auto_null
from syntony.meta.result_files import read_analysis, read_table, table_types, write_table
from syntony.meta.threshold import AnalyticThreshold, MonteCarloThreshold
from syntony.report import Result, methods_text, split_references

if TYPE_CHECKING:
    from syntony.meta.conjunction import ConjunctionResult
    from syntony.meta.contrast import ContrastResult
    from syntony.meta.macm import MACMNetwork, MACMResult
    from syntony.meta.reference import ReferenceDatabase
    from syntony.meta.results import ALEResult
    from syntony.meta.studyset import Studyset
    from syntony.report import Report

__all__ = ["PAPER_FINDINGS", "Fu2025Config", "Fu2025Result", "compare_with_paper", "run_fu2025"]

FU2025 = (
    "Fu Y, Wang D, Liu J, Wang H, Wen F, Chen W, Liu Z (2025). The shared neural substrates of "
    "emotional mimicry and emotional contagion: an activation likelihood estimation "
    "meta-analysis and meta-analytic connectivity modeling analysis. Social Cognitive and "
    "Affective Neuroscience. doi:10.1093/scan/nsaf091"
)

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
    cluster_threshold : "monte-carlo", "analytic", AnalyticThreshold or MonteCarloThreshold
        Cluster-forming rule of every ALE. A name is resolved per analysis by
        :func:`~syntony.meta.analyses.cluster_threshold_rule` (``"monte-carlo"``, the default:
        ``min(100, iterations)`` null maps of that analysis, exactly as ``syntony macm`` does);
        an object is used for every ALE. Monte Carlo because database articles report many
        overlapping foci, for which the analytic threshold leaks; on task experiments the two
        agree (see :mod:`syntony.meta.threshold`).
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
    cluster_threshold: str | AnalyticThreshold | MonteCarloThreshold = "monte-carlo"

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
        if isinstance(self.cluster_threshold, str) and self.cluster_threshold not in (
            "monte-carlo",
            "analytic",
        ):
            raise ParameterError(
                "cluster_threshold", "'monte-carlo', 'analytic' or a threshold object",
                self.cluster_threshold,
            )  # fmt: skip

    def threshold_rule(self, n_iters: int) -> AnalyticThreshold | MonteCarloThreshold:
        """The cluster-forming rule of an ALE with ``n_iters`` Monte Carlo iterations."""
        from syntony.meta.analyses import cluster_threshold_rule

        if isinstance(self.cluster_threshold, str):
            return cluster_threshold_rule(self.cluster_threshold, n_iters)
        return self.cluster_threshold


@dataclass(eq=False)
class Fu2025Result(Result):
    """Everything :func:`run_fu2025` produced, saved as one result with its parts.

    The parts are results of their own, each saved (with its report) in a subdirectory:
    ``ale_a/``, ``ale_b/``, ``conjunction/``, ``contrast/`` and ``macm/`` (the MACM network,
    with one subdirectory per seed region); beside them ``comparison.tsv`` / ``.md`` and
    ``methods.md``.
    """

    kind: ClassVar[str] = "fu2025-workflow"
    title: ClassVar[str] = "Fu et al. (2025) workflow: mimicry and contagion"

    ale_a: ALEResult
    ale_b: ALEResult
    conjunction: ConjunctionResult
    contrast: ContrastResult
    macm_network: MACMNetwork | None
    skipped_rois: dict[str, str]
    comparison: pd.DataFrame
    methods: str
    parameters: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def macm(self) -> list[MACMResult]:
        """The MACM result of every seed region that could be analysed."""
        return [] if self.macm_network is None else list(self.macm_network.regions)

    @property
    def network(self) -> MACMNetwork | None:
        """The merged MACM network (None when no seed region could be analysed)."""
        return self.macm_network

    def add_warnings(self, messages: list[str]) -> None:
        for message in messages:
            if message not in self.warnings:
                self.warnings.append(message)

    def summary(self) -> str:
        found = self.comparison[self.comparison["found_here"] == "yes"]
        lines = [
            f"Fu et al. (2025) workflow: {self.parameters['group_a']} and "
            f"{self.parameters['group_b']} over {self.parameters['database']}",
            "A: " + self.ale_a.counts_text(),
            "B: " + self.ale_b.counts_text(),
            "conjunction: " + self.conjunction.summary().splitlines()[0],
            "contrast: " + self.contrast.summary().splitlines()[-1],
            f"MACM: {len(self.macm)} seed region(s) analysed, {len(self.skipped_rois)} skipped",
            f"paper's regions found here: {len(found)} of {len(self.comparison)}",
        ]
        return "\n".join(lines)

    def _parts(self) -> dict[str, Result]:
        parts: dict[str, Result] = {
            "ale_a": self.ale_a,
            "ale_b": self.ale_b,
            "conjunction": self.conjunction.without_main_effects(),
            "contrast": self.contrast,
        }
        if self.macm_network is not None:
            parts["macm"] = self.macm_network
        return parts

    def _write(self, directory: Path) -> None:
        for name, part in self._parts().items():
            part._write_into(directory / name)
        write_table(directory / "comparison.tsv", self.comparison)
        write_text(directory / "comparison.md", comparison_markdown(self.comparison), force=True)
        write_text(directory / "methods.md", self.methods + "\n", force=True)
        record = {"tables": {"comparison": table_types(self.comparison)},
                  "skipped_rois": self.skipped_rois}  # fmt: skip
        write_json(directory / "analysis.json", record, force=True)

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> Self:
        record = read_analysis(directory)
        macm = Result.load(directory / "macm") if (directory / "macm").is_dir() else None
        return cls(
            ale_a=Result.load(directory / "ale_a"),
            ale_b=Result.load(directory / "ale_b"),
            conjunction=Result.load(directory / "conjunction"),
            contrast=Result.load(directory / "contrast"),
            macm_network=macm,
            skipped_rois=dict(record.get("skipped_rois", {})),
            comparison=read_table(directory / "comparison.tsv", record["tables"]["comparison"]),
            methods=manifest["methods"],
            parameters=manifest["parameters"],
            provenance=manifest["provenance"],
            warnings=list(manifest.get("warnings", [])),
        )

    def _build_report(self, report: Report) -> None:
        from syntony.meta.report_sections import workflow_sections

        workflow_sections(self, report)


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
    conjunction: ConjunctionResult, network: MACMNetwork | None, *, min_voxels: int = 10
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
    return pd.DataFrame(rows).astype({"voxels_in_every_seed_map": "Int64"})


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
    executor: Any = None,
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
    random_state : int, SeedSequence, SeedTree or None
        Root of the seed tree: the main effects draw from ``("main-effect", "a")`` and
        ``("main-effect", "b")``, the contrast's permutations from ``("permutation", j)`` and
        the MACM of seed region ``name`` from ``("macm", name)`` — the streams ``syntony
        conjunction``, ``syntony contrast`` and ``syntony macm`` use for the same seed.
    n_jobs : int, optional
        Worker threads.
    progress : bool
        Progress bars.
    log : callable, optional
        Called with one line of text at each step.
    executor : Executor, optional
        Where the parallel parts run (:mod:`syntony.execution`): the main effects' Monte Carlo
        blocks, the contrast's permutation batches and the MACM regions (one task per seed
        region when there are at least as many as workers, else their Monte Carlo blocks; see
        :func:`~syntony.meta.macm.macm_regions`). The numbers are those of a run without it.
    """
    from syntony.execution import execution_record
    from syntony.meta.ale import ALE
    from syntony.meta.analyses import macm_estimator, peak_labeller
    from syntony.meta.conjunction import conjunction
    from syntony.meta.macm import macm_network, macm_regions
    from syntony.meta.results import collect_warnings
    from syntony.meta.roi import cluster_rois

    cfg = config or Fu2025Config()
    if cfg.default_n is None:
        raise InputError(
            f"MACM on {database.name} needs a default sample size (default_n); the database "
            "has none"
        )
    say = log or (lambda _msg: None)
    tree = SeedTree(random_state)
    labeller = peak_labeller("harvard_oxford")

    def main_effect(group: Studyset, name: str) -> ALEResult:
        return ALE(
            n_iters=cfg.n_iters, cluster_p=cfg.cluster_p, fwe_alpha=cfg.fwe_alpha,
            n_jobs=n_jobs, random_state=tree.child("main-effect", name), progress=progress,
            labeller=labeller, null_method=cfg.null_method,
            cluster_threshold=cfg.threshold_rule(cfg.n_iters),
        ).fit(group, executor=executor).result_  # fmt: skip

    with collect_warnings() as caught:
        say(f"ALE of group A ({group_a.name}: {group_a.n_experiments} experiments)")
        ale_a = main_effect(group_a, "a")
        say(f"ALE of group B ({group_b.name}: {group_b.n_experiments} experiments)")
        ale_b = main_effect(group_b, "b")
        say("conjunction")
        conj = conjunction(
            [ale_a, ale_b], min_cluster_mm3=cfg.conjunction_min_mm3,
            names=[group_a.name, group_b.name], labeller=labeller, keep_main_effects=False,
        )  # fmt: skip
        say(f"contrast ({cfg.n_permutations} permutations)")
        contrast = ALEContrast(
            test=cfg.contrast, n_permutations=cfg.n_permutations, n_jobs=n_jobs,
            random_state=tree, progress=progress, labeller=labeller,
        ).fit(group_a, group_b, main_a=ale_a, main_b=ale_b, executor=executor).result_  # fmt: skip
        n_clusters = int(conj.maps["clusters"].max(initial=0))
        chosen = list(range(1, n_clusters + 1))[: cfg.max_rois]
        rois = cluster_rois(conj, clusters=chosen, prefix="conjunction") if chosen else []
        template = macm_estimator(
            cfg.macm_iters, null=cfg.null_method,
            cluster_threshold=cfg.threshold_rule(cfg.macm_iters), labeller=labeller,
            cluster_p=cfg.cluster_p, fwe_alpha=cfg.fwe_alpha, n_jobs=n_jobs, progress=progress,
        )  # fmt: skip
        results, skipped = macm_regions(
            rois, database, default_n=cfg.default_n, estimator=template,
            min_experiments=cfg.macm_min_experiments,
            random_states=[tree.child("macm", roi.name) for roi in rois], executor=executor,
            skip_errors=True, log=say,
        )  # fmt: skip
        network = macm_network(results, labeller=labeller, skipped=skipped) if results else None
        comparison = compare_with_paper(conj, network, min_voxels=cfg.min_label_voxels)
    record = execution_record(executor, n_jobs or os.cpu_count())
    for part in (ale_a, ale_b, conj, network):  # (the contrast and regions record their own)
        if part is not None:
            part.provenance["execution"] = record
    threshold = cfg.cluster_threshold
    parameters = {
        "group_a": group_a.name, "group_b": group_b.name, "database": database.name,
        "n_iters": cfg.n_iters, "n_permutations": cfg.n_permutations,
        "macm_iters": cfg.macm_iters, "cluster_p": cfg.cluster_p, "fwe_alpha": cfg.fwe_alpha,
        "contrast": type(cfg.contrast).__name__, "default_n": cfg.default_n,
        "macm_seeds": [r.name for r in rois], "skipped_seeds": skipped,
        "null_method": getattr(cfg.null_method, "__name__", repr(cfg.null_method)),
        "cluster_threshold": threshold if isinstance(threshold, str)
        else threshold.describe(cfg.cluster_p),
    }  # fmt: skip
    return Fu2025Result(
        ale_a=ale_a, ale_b=ale_b, conjunction=conj, contrast=contrast, macm_network=network,
        skipped_rois=skipped, comparison=comparison,
        methods=_methods(group_a, group_b, ale_a, ale_b, conj, contrast, results),
        parameters=parameters,
        provenance=provenance(parameters=parameters, seed=tree.record(), execution=record),
        warnings=list(dict.fromkeys(caught)),
    )  # fmt: skip


def _methods(group_a, group_b, ale_a, ale_b, conj, contrast, macm_results) -> str:
    """The parts' methods in order, each introduced, with one merged reference list."""
    paragraphs: list[str] = []
    references: list[str] = [FU2025]
    parts = [
        (f"Main effect A ({group_a.name}).", ale_a.methods),
        (f"Main effect B ({group_b.name}).", ale_b.methods),
        ("Conjunction.", conj.methods),
        ("Contrast.", contrast.methods),
        *((f"MACM of {r.roi.name}.", r.methods) for r in macm_results),
    ]
    for heading, text in parts:
        body, refs = split_references(text)
        if body:
            paragraphs.append(f"{heading} {body[0]}")
            paragraphs.extend(body[1:])
        references.extend(r for r in refs if r not in references)
    if not macm_results:
        paragraphs.append("MACM. No conjunction cluster could seed a MACM.")
    intro = (
        "The workflow of Fu et al. (2025) was run with syntony: an ALE of each group, their "
        "conjunction and contrast, and meta-analytic connectivity modelling (MACM) from each "
        "conjunction cluster."
    )
    return methods_text(intro, *paragraphs, references=references)
