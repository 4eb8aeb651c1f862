"""Diagnostics of ALE, contrast and conjunction results, as :class:`~.bundle.Diagnostic` s.

``diagnose_ale``, ``diagnose_contrast`` and ``diagnose_conjunction`` take a result and the
studysets it was computed from (a saved result keeps no coordinates) and return the requested
diagnostics, each with its table(s), maps and methods paragraph:

- ``"jackknife"``: each experiment's share of each significant cluster (NiMARE's definition).
- ``"focus-counter"``: foci of each experiment in each significant cluster.
- ``"stability"``: resampled stability (NiMARE's ``ResampledStability`` semantics); a map and a
  per-cluster summary.
- ``"fsn"``: the fail-safe N of every cluster (Acar et al. 2018).

Clusters are numbered as in the result's cluster tables. Without Monte Carlo FWE an ALE has no
significant clusters, so the jackknife, focus counter and stability then characterise every
cluster above the cluster-forming threshold (and say so); the fail-safe N needs FWE.

A contrast compares two groups and a conjunction intersects two maps; NiMARE defines none of
stability and FSN for them. Here they are the diagnostics of the group that carries each
cluster: a contrast's A > B clusters are summarised on group A's stability map and get group
A's fail-safe N there (and B > A on group B's); a conjunction cluster gets each map's value and
the weakest of them. Each diagnostic's paragraph states this.

Every function takes an ``executor`` (:mod:`syntony.execution`). With one, each diagnostic's
independent pieces become its tasks, with what all of them need sent once per worker and the
results merged in a fixed order, so the numbers equal those of a run without it:

- jackknife: blocks of experiments of the one compiled leave-one-out pass (no refits exist to
  distribute);
- stability: blocks of null replicates, each drawing from its own seed stream in the worker,
  then blocks of resamples, returning whole-number counts that add up exactly;
- fail-safe N: the Monte Carlo chunks of each augmented analysis, sent in rounds as large as a
  decision must still wait for (the search between analyses is sequential by nature); a
  contrast's main effects pass the executor to ``ALE.fit``, whose blocks are the natural grain
  of a full Monte Carlo null.

The focus counter is a count over the foci and runs here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony._rng import SeedLike, SeedTree
from syntony.errors import InputError, ParameterError
from syntony.meta.clusters import label_clusters
from syntony.meta.diagnostics.bundle import Diagnostic
from syntony.meta.diagnostics.counts import focus_counter
from syntony.meta.diagnostics.failsafe import REFERENCE as ACAR
from syntony.meta.diagnostics.failsafe import fail_safe_n
from syntony.meta.diagnostics.observed import Observed
from syntony.meta.diagnostics.shares import jackknife, jackknife_conjunction, jackknife_contrast
from syntony.meta.diagnostics.stability import resampled_stability

if TYPE_CHECKING:
    from syntony.execution import Executor
    from syntony.meta.ale import ALE
    from syntony.meta.conjunction import ConjunctionResult
    from syntony.meta.contrast import ContrastResult
    from syntony.meta.results import ALEResult
    from syntony.meta.studyset import Studyset

__all__ = [
    "DIAGNOSTICS",
    "DiagnosticSettings",
    "diagnose_ale",
    "diagnose_conjunction",
    "diagnose_contrast",
    "estimator_from",
    "parse_diagnostics",
]

#: The diagnostics a result can be asked for, in the order they run.
DIAGNOSTICS = ("jackknife", "focus-counter", "stability", "fsn")

SALO = (
    "Salo T, Yarkoni T, Nichols TE, et al. (2023). NiMARE: Neuroimaging Meta-Analysis Research "
    "Environment. Aperture Neuro 3:1-32. doi:10.52294/001c.87681"
)
FRAHM = (
    "Frahm L, Cieslik EC, Hoffstaedter F, et al. (2022). Evaluation of thresholding methods for "
    "activation likelihood estimation meta-analysis via large-scale simulations. Human Brain "
    "Mapping 43:3987-3997. doi:10.1002/hbm.25898"
)


def parse_diagnostics(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Diagnostic names from ``"jackknife,fsn"`` (or a list, or ``"all"``), in run order."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    names = {str(v).strip().lower().replace("_", "-") for v in items if str(v).strip()}
    if "all" in names:
        return DIAGNOSTICS
    unknown = sorted(names.difference(DIAGNOSTICS))
    if unknown:
        raise ParameterError(
            "--diagnostics", f"names among {', '.join(DIAGNOSTICS)} or all", unknown
        )
    return tuple(n for n in DIAGNOSTICS if n in names)


@dataclass(frozen=True)
class DiagnosticSettings:
    """Options of the resampled stability and the fail-safe N.

    Parameters
    ----------
    stability_fraction : float
        Fraction of the experiments each stability replicate keeps (policy ``"subsample"``).
    stability_resamples : int
        Stability replicates.
    stability_iters : int, optional
        Null replicates of the stability's cluster-size threshold (default: the analysis'
        Monte Carlo iterations, as NiMARE takes its corrector's, else 1,000).
    coverage : {"gm", "brain"}
        Where the stability's null foci fall (NiMARE's default: grey matter).
    fsn_iters : int, optional
        Monte Carlo iterations of each fail-safe-N analysis (default: the analysis').
    fsn_reference : (float, float)
        The FSN's minimum and maximum as multiples of the number of experiments.
    fsn_max : int, optional
        Most null experiments tried (default 10 k + 10).
    fsn_coverage : {"brain", "gm"}
        Where the null experiments' foci fall.
    """

    stability_fraction: float = 0.8
    stability_resamples: int = 100
    stability_iters: int | None = None
    coverage: str = "gm"
    fsn_iters: int | None = None
    fsn_reference: tuple[float, float] = (2.0, 10.0)
    fsn_max: int | None = None
    fsn_coverage: str = "brain"

    def __post_init__(self) -> None:
        if not 0 < self.stability_fraction <= 1:
            raise ParameterError(
                "stability_fraction", "a fraction in (0, 1]", self.stability_fraction
            )

    def target_n(self, n: int) -> int:
        return int(min(n, max(1, round(self.stability_fraction * n))))


# -- ALE ----------------------------------------------------------------------------------------
def estimator_from(result: ALEResult) -> ALE:
    """An ALE estimator with the saved result's settings (kernel, grid, thresholds, nulls)."""
    from syntony.meta.ale import ALE
    from syntony.meta.kernel import ALEKernel
    from syntony.meta.null import histogram_null, log_space_null
    from syntony.meta.threshold import AnalyticThreshold, MonteCarloThreshold

    p = result.parameters
    kernel = p.get("kernel") or {}
    rule_text = str(p.get("cluster_threshold", ""))
    maps = re.search(r"of (\d+) Monte Carlo null maps", rule_text)
    rule = MonteCarloThreshold(int(maps.group(1))) if maps else AnalyticThreshold()
    method = str(p.get("null_method", ""))
    return ALE(
        kernel=ALEKernel(fwhm=kernel.get("fwhm"), sample_size=kernel.get("sample_size"),
                         subvoxel=bool(kernel.get("subvoxel", False))),
        grid=result.grid, n_iters=int(p.get("n_iters", p.get("n_iters_run", 0)) or 0),
        cluster_p=float(p.get("cluster_p", 0.001)), fwe_alpha=float(p.get("fwe_alpha", 0.05)),
        null_method=log_space_null if "FFT" in method else histogram_null,
        cluster_threshold=rule,
    )  # fmt: skip


def _check_studyset(result: Any, studyset: Studyset, what: str = "the result") -> None:
    n = result.parameters.get("n_experiments")
    foci = result.parameters.get("n_foci")
    if (n is not None and int(n) != studyset.n_experiments) or (
        foci is not None and int(foci) != studyset.n_foci
    ):
        raise InputError(
            f"{studyset.n_experiments} experiments / {studyset.n_foci} foci, but {what} was "
            f"computed from {n} / {foci}: pass the studyset the analysis used",
            source=studyset.source or studyset.name,
        )


def _ale_clusters(result: ALEResult) -> tuple[np.ndarray, np.ndarray | None]:
    """All clusters above the forming threshold (clusters.tsv numbers), and the significant."""
    grid = result.grid
    volume, _ = label_clusters(
        grid.unmask(result.maps["ale"].astype(np.float64) > result.threshold)
    )
    labels = volume[grid.mask].astype(np.int64)
    table = result.clusters
    if result.fwe is None or "significant" not in table.columns:
        return labels, None
    flags = table["significant"].fillna(False).astype(bool).to_numpy()
    return labels, table["cluster"].to_numpy()[flags].astype(np.int64)


def _keep(labels: np.ndarray, numbers: np.ndarray | None) -> np.ndarray:
    if numbers is None:
        return labels
    return np.where(np.isin(labels, numbers), labels, 0)


def _which(significant: np.ndarray | None) -> str:
    if significant is None:
        return (
            "every cluster above the cluster-forming threshold (no Monte Carlo FWE was run, so "
            "no cluster was tested)"
        )
    return "each significant cluster"


def _jackknife_text(which: str) -> str:
    return (
        f"For {which}, each experiment's influence was measured with NiMARE's jackknife "
        "(Salo et al., 2023): the mean over the cluster's voxels of 1 - S_without / S, where S "
        "is the statistic with every experiment and S_without the statistic with that one left "
        "out. syntony obtains the leave-one-out statistic from the observed log-sums in one "
        "pass instead of refitting; the numbers equal NiMARE's to about 1e-7."
    )


def _stability_text(kept: int, total: int, n_res: int, iters: int, coverage: str, voxel_p: float,
                    alpha: float, how: str) -> str:  # fmt: skip
    where = "grey-matter" if coverage == "gm" else "brain-mask"
    return (
        f"Stability under resampling followed JALE (Frahm et al., 2022) as implemented in "
        f"NiMARE's ResampledStability (Salo et al., 2023): {n_res} replicates each kept {kept} of "
        f"the {total} experiments; each replicate's ALE was thresholded at voxel p < {voxel_p:g} "
        "under the full analysis' analytic null and its clusters larger than the "
        f"{100 * (1 - alpha):g}th percentile of {iters} null replicates' largest clusters (foci "
        f"at random {where} voxels) survived. The map gives the fraction of replicates in which "
        f"a voxel survived; the table summarises {how}."
    )


def _fsn_text(k: int | None, out: Any, what: str) -> str:
    p = out.parameters
    low, high = p["reference_factors"]
    if k is None:
        bounds = (
            f"up to {p['max_null']} null experiments over one fixed seeded list; an FSN below "
            f"{low:g} times the number of experiments k marks a cluster a small file drawer "
            f"would remove, one above {high:g} k a cluster that may rest on a few strongly "
            "converging experiments."
        )
    else:
        bounds = (
            f"between {p['minimum_reference']:g} and {p['max_null']} null experiments over one "
            f"fixed seeded list; an FSN below {p['minimum_reference']:g} ({low:g} x {k} "
            "experiments) marks a cluster a small file drawer would remove, one above "
            f"{p['maximum_reference']:g} ({high:g} x {k}) a cluster that may rest on a few "
            "strongly converging experiments."
        )
    return (
        f"The fail-safe N (Acar et al., 2018) of {what} is the number of null experiments "
        "(numbers of foci and sample sizes drawn from the analysed experiments, foci at random "
        f"{'brain-mask' if p['coverage'] == 'brain' else 'grey-matter'} voxels) that can be added "
        "before the cluster is no longer significant (cluster-size FWE, the analysis' own "
        f"settings, {p['n_iters_per_step']} Monte Carlo iterations per analysis). It was searched "
        f"by bisection {bounds}"
    )


def diagnose_ale(
    result: ALEResult,
    studyset: Studyset,
    names: str | Sequence[str],
    *,
    estimator: ALE | None = None,
    settings: DiagnosticSettings | None = None,
    random_state: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
    executor: Executor | None = None,
) -> list[Diagnostic]:
    """The requested diagnostics of an ALE result (see the module docstring).

    Parameters
    ----------
    result : ALEResult
    studyset : Studyset
        The experiments the result was computed from.
    names : str or sequence of str
        ``"jackknife"``, ``"focus-counter"``, ``"stability"``, ``"fsn"`` (or ``"all"``).
    estimator : ALE, optional
        The estimator that produced the result (its settings are reused by the fail-safe N);
        default: rebuilt from the result's parameters.
    settings : DiagnosticSettings, optional
    random_state : int, SeedSequence or None
        Root of the stability's (``"stability"``) and the FSN's (``"fsn"``) seed streams.
    n_jobs : int, optional
    progress : bool
    executor : Executor, optional
        Where the diagnostics' independent pieces run (:mod:`syntony.execution`: local
        processes, a Dask cluster): blocks of experiments of the jackknife, blocks of null
        replicates and resamples of the stability, Monte Carlo chunks of the fail-safe N's
        analyses. The tables and maps are the same as without it.
    """
    names = parse_diagnostics(names)
    settings = settings or DiagnosticSettings()
    _check_studyset(result, studyset)
    est = estimator or estimator_from(result)
    grid = result.grid
    labels, significant = _ale_clusters(result)
    characterised = _keep(labels, significant)
    which = _which(significant)
    tree = SeedTree(random_state)
    observed = None
    out: list[Diagnostic] = []
    for name in names:
        if name in ("jackknife", "stability") and observed is None:
            observed = Observed.build(studyset, grid=grid, kernel=est.kernel)
        if name == "jackknife":
            table = jackknife(observed, characterised, executor=executor)
            text = _jackknife_text(which)
            if est.kernel is not None and est.kernel.subvoxel:
                text += (
                    " The maps used sub-voxel kernels; the jackknife uses voxel-centred ones "
                    "(as the contributions do), an approximation."
                )
            out.append(Diagnostic(name, table, text, references=[SALO]))
        elif name == "focus-counter":
            table = focus_counter(studyset, characterised, grid)
            out.append(Diagnostic(name, table, f"For {which}, the foci of each experiment whose "
                                  "nearest voxel lies in the cluster were counted (NiMARE's "
                                  "FocusCounter; Salo et al., 2023).", references=[SALO]))  # fmt: skip
        elif name == "stability":
            iters = settings.stability_iters or (result.fwe.n_iters if result.fwe else 1000)
            kept = settings.target_n(studyset.n_experiments)
            st = resampled_stability(
                observed, result.null, labels=characterised, target_n=kept,
                n_resamples=settings.stability_resamples, n_iters=iters,
                voxel_p=float(result.parameters.get("cluster_p", 0.001)),
                alpha=float(result.parameters.get("fwe_alpha", 0.05)), coverage=settings.coverage,
                random_state=tree.child("stability"), n_jobs=n_jobs, progress=progress,
                executor=executor,
            )  # fmt: skip
            text = _stability_text(kept, studyset.n_experiments, len(st.subsets), iters,
                                   settings.coverage, st.parameters["voxel_p"],
                                   st.parameters["alpha"], which)  # fmt: skip
            out.append(Diagnostic(name, st.clusters, text, parameters=st.parameters,
                                  maps={"": st.map}, references=[FRAHM, SALO]))  # fmt: skip
        elif name == "fsn":
            if result.fwe is None:
                raise ParameterError(
                    "--diagnostics fsn", "an analysis with Monte Carlo FWE (--n-iters > 0)", 0
                )
            res = fail_safe_n(
                studyset, labels, significant=significant, estimator=est,
                n_iters=settings.fsn_iters or result.fwe.n_iters,
                reference=settings.fsn_reference, max_null=settings.fsn_max,
                coverage=settings.fsn_coverage, random_state=tree.child("fsn"), n_jobs=n_jobs,
                progress=progress, executor=executor,
            )  # fmt: skip
            out.append(
                Diagnostic(
                    name, res.table, _fsn_text(studyset.n_experiments, res, "each cluster"),
                    parameters=res.parameters,
                    parts={"analyses": res.analyses, "null_experiments": res.null.to_table()},
                    references=[ACAR], warnings=_fsn_warnings(res.table),
                )
            )  # fmt: skip
    return out


def _fsn_warnings(table: pd.DataFrame, label: str = "cluster") -> list[str]:
    low = table[table["significant"] & (table["fsn"] < table["minimum_reference"])]
    return [
        f"{label} {int(r.cluster)}: fail-safe N {int(r.fsn)}, below the minimum "
        f"{r.minimum_reference:g}: a small file drawer of null experiments would remove it "
        "(Acar et al., 2018)"
        for r in low.itertuples()
    ]


# -- contrast -----------------------------------------------------------------------------------
def diagnose_contrast(
    result: ContrastResult,
    group_a: Studyset,
    group_b: Studyset,
    names: str | Sequence[str],
    *,
    settings: DiagnosticSettings | None = None,
    n_iters: int = 1000,
    random_state: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
    executor: Executor | None = None,
) -> list[Diagnostic]:
    """The requested diagnostics of a contrast's clusters.

    ``n_iters`` are the Monte Carlo iterations of each group's main effect where the stability
    and the fail-safe N need one (the contrast keeps no main-effect null). With an ``executor``
    (:mod:`syntony.execution`) the diagnostics' pieces run as its tasks, as in
    :func:`diagnose_ale`, and so do the main effects' Monte Carlo blocks
    (``ALE.fit(executor=)``); the numbers are the same as without it.
    """
    from syntony.meta.ale import ALE

    names = parse_diagnostics(names)
    settings = settings or DiagnosticSettings()
    for g, key in ((group_a, "group_a"), (group_b, "group_b")):
        info = result.parameters.get(key, {})
        if info and int(info.get("n_experiments", g.n_experiments)) != g.n_experiments:
            raise InputError(
                f"{g.n_experiments} experiments, but the contrast's {key} had "
                f"{info['n_experiments']}: pass the studysets the contrast used",
                source=g.source or g.name,
            )
    grid = result.grid
    pos = result.maps["a_gt_b"].astype(np.int64)
    neg = result.maps["b_gt_a"].astype(np.int64)
    tree = SeedTree(random_state)
    groups = {"a": group_a, "b": group_b}
    directions = {"a": pos, "b": neg}
    observed = {k: Observed.build(g, grid=grid) for k, g in groups.items()} if (
        {"jackknife", "stability"} & set(names)
    ) else {}  # fmt: skip
    out: list[Diagnostic] = []
    fits: dict[str, Any] = {}

    def main_effect(k: str) -> Any:
        if k not in fits:
            fits[k] = ALE(grid=grid, n_iters=n_iters, n_jobs=n_jobs,
                          random_state=tree.child("main-effect", k).seed_sequence).fit(
                groups[k], executor=executor)  # fmt: skip
        return fits[k]

    for name in names:
        if name == "jackknife":
            table = jackknife_contrast(observed["a"], observed["b"], pos, neg,
                                       diff=result.maps["diff"], executor=executor)  # fmt: skip
            out.append(Diagnostic(name, table, _jackknife_text("each A > B and B > A cluster")
                                  + " The statistic is the ALE difference A - B: for an A > B "
                                  "cluster NiMARE reports group A's experiments; the table also "
                                  "gives group B's, whose shares are negative (the difference "
                                  "grows without them), and symmetrically for B > A.",
                                  references=[SALO]))  # fmt: skip
        elif name == "focus-counter":
            table = focus_counter([group_a, group_b], [pos, neg], grid,
                                  prefixes=("a_gt_b", "b_gt_a"), group_names=("A", "B"))  # fmt: skip
            out.append(Diagnostic(name, table, "The foci of each experiment of both groups "
                                  "lying in each A > B and B > A cluster were counted (NiMARE's "
                                  "FocusCounter).", references=[SALO]))  # fmt: skip
        elif name == "stability":
            rows, maps = [], {}
            for k in ("a", "b"):
                fit = main_effect(k)
                kept = settings.target_n(groups[k].n_experiments)
                st = resampled_stability(
                    observed[k], fit.null_, labels=directions[k], target_n=kept,
                    n_resamples=settings.stability_resamples,
                    n_iters=settings.stability_iters or n_iters, coverage=settings.coverage,
                    random_state=tree.child("stability", k), n_jobs=n_jobs, progress=progress,
                    executor=executor,
                )  # fmt: skip
                maps[k] = st.map
                rows.append(st.clusters.assign(direction=f"{k}_gt_{'b' if k == 'a' else 'a'}",
                                               group=k.upper()))  # fmt: skip
            table = pd.concat(rows, ignore_index=True)
            table = table[["direction", "group", *[c for c in table.columns
                                                  if c not in ("direction", "group")]]]  # fmt: skip
            text = (
                "Each group's main effect was resampled (a contrast has no resampling of its "
                "own in NiMARE); an A > B cluster is summarised on group A's stability map and "
                "a B > A cluster on group B's. "
                + _stability_text(settings.target_n(group_a.n_experiments), group_a.n_experiments,
                                  settings.stability_resamples, settings.stability_iters or n_iters,
                                  settings.coverage, 0.001, 0.05, "the clusters of each direction")
            )  # fmt: skip
            out.append(Diagnostic(name, table, text, maps=maps, references=[FRAHM, SALO]))
        elif name == "fsn":
            tables, parts = [], {}
            for k in ("a", "b"):
                numbers = np.unique(directions[k][directions[k] > 0])
                res = fail_safe_n(
                    groups[k], directions[k], significant=numbers, estimator=ALE(grid=grid,
                    n_iters=n_iters), n_iters=settings.fsn_iters or n_iters,
                    reference=settings.fsn_reference, max_null=settings.fsn_max,
                    coverage=settings.fsn_coverage, random_state=tree.child("fsn", k),
                    n_jobs=n_jobs, progress=progress, executor=executor,
                )  # fmt: skip
                tables.append(res.table.assign(direction=f"{k}_gt_{'b' if k == 'a' else 'a'}",
                                               group=k.upper()))  # fmt: skip
                parts[f"analyses_{k}"] = res.analyses
            table = pd.concat(tables, ignore_index=True)
            table = table[["direction", "group", *[c for c in table.columns
                                                  if c not in ("direction", "group")]]]  # fmt: skip
            text = (
                "A contrast's significance comes from permutations, which the fail-safe N "
                "cannot repeat for every number of null experiments; each A > B cluster gets "
                "the fail-safe N of group A's main effect there (null experiments added to "
                "group A, the cluster counted as surviving while group A still converges "
                "significantly on it), each B > A cluster that of group B. "
                + _fsn_text(None, res, "a group's main effect at a cluster")
            )
            out.append(Diagnostic(name, table, text, parameters=res.parameters, parts=parts,
                                  references=[ACAR]))  # fmt: skip
    return out


# -- conjunction --------------------------------------------------------------------------------
def diagnose_conjunction(
    result: ConjunctionResult,
    studysets: Sequence[Studyset],
    names: str | Sequence[str],
    *,
    settings: DiagnosticSettings | None = None,
    random_state: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
    executor: Executor | None = None,
) -> list[Diagnostic]:
    """The requested diagnostics of a conjunction's clusters (needs its main effects).

    With an ``executor`` (:mod:`syntony.execution`) the diagnostics' pieces run as its tasks, as
    in :func:`diagnose_ale`; the numbers are the same as without it.
    """
    from syntony.meta.conjunction import thresholded_ale

    names = parse_diagnostics(names)
    settings = settings or DiagnosticSettings()
    mains = list(result.main_effects)
    if len(mains) != len(studysets) or not mains:
        raise InputError(
            "the conjunction's main effects and one studyset per map are needed for its "
            f"diagnostics ({len(mains)} main effects, {len(studysets)} studysets)"
        )
    for r, s in zip(mains, studysets, strict=True):
        _check_studyset(r, s, "its main effect")
    grid = result.grid
    labels = result.maps["clusters"].astype(np.int64)
    level = str(result.parameters.get("level", "cluster"))
    map_names = [str(n) for n in result.parameters.get("maps", [])] or [
        str(k + 1) for k in range(len(mains))
    ]
    tree = SeedTree(random_state)
    observed = [Observed.build(s, grid=grid, kernel=estimator_from(r).kernel)
                for r, s in zip(mains, studysets, strict=True)] if (
        {"jackknife", "stability"} & set(names)
    ) else []  # fmt: skip
    out: list[Diagnostic] = []
    for name in names:
        if name == "jackknife":
            thresholded = [thresholded_ale(r, level=level) for r in mains]
            table = jackknife_conjunction(observed, thresholded, labels, names=map_names,
                                          executor=executor)  # fmt: skip
            out.append(Diagnostic(name, table, _jackknife_text("each conjunction cluster")
                                  + " The statistic is the minimum of the maps' ALE at the "
                                  "cluster (each map's significance held fixed), so leaving out "
                                  "an experiment lowers it only where its map is, or becomes, "
                                  "the smallest.", references=[SALO]))  # fmt: skip
        elif name == "focus-counter":
            table = focus_counter(list(studysets), labels, grid, group_names=map_names,
                                  group_column="map")  # fmt: skip
            out.append(Diagnostic(name, table, "The foci of each experiment of every combined "
                                  "map lying in each conjunction cluster were counted (NiMARE's "
                                  "FocusCounter).", references=[SALO]))  # fmt: skip
        elif name == "stability":
            rows, maps = [], {}
            for k, (r, obs) in enumerate(zip(mains, observed, strict=True)):
                kept = settings.target_n(obs.studyset.n_experiments)
                iters = settings.stability_iters or (r.fwe.n_iters if r.fwe else 1000)
                st = resampled_stability(
                    obs, r.null, labels=labels, target_n=kept,
                    n_resamples=settings.stability_resamples, n_iters=iters,
                    coverage=settings.coverage, random_state=tree.child("stability", k),
                    n_jobs=n_jobs, progress=progress, executor=executor,
                )  # fmt: skip
                maps[map_names[k]] = st.map
                rows.append(st.clusters.assign(map=map_names[k]))
            table = pd.concat(rows, ignore_index=True)
            table = table[["map", *[c for c in table.columns if c != "map"]]]
            text = (
                "Each combined map's experiments were resampled and every conjunction cluster "
                "summarised on each map's stability map (a conjunction cluster is only as stable "
                "as its least stable map). "
                + _stability_text(settings.target_n(studysets[0].n_experiments),
                                  studysets[0].n_experiments, settings.stability_resamples,
                                  settings.stability_iters or 1000, settings.coverage, 0.001,
                                  0.05, "the conjunction clusters on each map")
            )  # fmt: skip
            out.append(Diagnostic(name, table, text, maps=maps, references=[FRAHM, SALO]))
        elif name == "fsn":
            tables, parts = [], {}
            numbers = np.unique(labels[labels > 0])
            for k, (r, s) in enumerate(zip(mains, studysets, strict=True)):
                if r.fwe is None:
                    raise ParameterError(
                        "--diagnostics fsn", "main effects with Monte Carlo FWE", "no FWE"
                    )
                est = estimator_from(r)
                res = fail_safe_n(
                    s, labels, significant=numbers, estimator=est,
                    n_iters=settings.fsn_iters or r.fwe.n_iters, reference=settings.fsn_reference,
                    max_null=settings.fsn_max, coverage=settings.fsn_coverage,
                    random_state=tree.child("fsn", k), n_jobs=n_jobs, progress=progress,
                    executor=executor,
                )  # fmt: skip
                tables.append(res.table.assign(map=map_names[k]))
                parts[f"analyses_{k + 1}"] = res.analyses
            table = pd.concat(tables, ignore_index=True)
            table = table[["map", *[c for c in table.columns if c != "map"]]]
            weakest = table.groupby("cluster", sort=True)["fsn"].min()
            parts["weakest"] = pd.DataFrame(
                {"cluster": weakest.index.astype("int64"), "fsn": weakest.to_numpy("int64")}
            )
            text = (
                "Each conjunction cluster gets the fail-safe N of every combined map there (null "
                "experiments added to that map's studyset, the cluster surviving while the map "
                "is still significant on it); the conjunction survives only as long as every "
                "map does, so its fail-safe N is the smallest (diagnostics_fsn_weakest.tsv). "
                + _fsn_text(None, res, "a map at a cluster")
            )
            out.append(Diagnostic(name, table, text, parameters=res.parameters, parts=parts,
                                  references=[ACAR]))  # fmt: skip
    return out
