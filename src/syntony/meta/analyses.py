"""The meta-analyses as one call each, from the options a user gives.

Each ``run_*`` function takes plain values (file paths or SPECs, numbers, names of options) and
returns a :class:`syntony.report.Result`; ``syntony ale | contrast | conjunction | macm |
workflow fu2025`` parse their options and call exactly one of them, and a script can call them
the same way. Warnings raised while reading the inputs and running the analysis end up in the
result's ``warnings`` (and in its report).

Seeds: one :class:`~syntony._rng.SeedTree` per call. The main effects of a conjunction, of a
contrast and of the Fu et al. workflow draw from ``("main-effect", "a")`` and
``("main-effect", "b")``, the contrast's permutations from ``("permutation", j)`` and the MACM
of region ``name`` from ``("macm", name)``, so ``syntony macm`` and the workflow give a region
the same stream for the same seed.

Execution: every ``run_*`` takes ``executor=`` (:mod:`syntony.execution`; the commands' options
``--scheduler`` / ``--dask-local``). With one, the Monte Carlo blocks, the permutation batches
and the MACM regions are its tasks; without, they run on ``n_jobs`` threads of this process.
The numbers are the same either way; the result's provenance says where they ran
(``"execution"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony.errors import InputError, ParameterError
from syntony.execution import execution_record
from syntony.meta.ale import check_experiments
from syntony.meta.chunks import slot
from syntony.meta.diagnostics.apply import parse_diagnostics
from syntony.meta.results import collect_warnings

if TYPE_CHECKING:
    from syntony.meta.ale import ALE
    from syntony.meta.balanced import Balanced
    from syntony.meta.conjunction import ConjunctionResult
    from syntony.meta.contrast import AllVoxels, ContrastResult, InMainEffects
    from syntony.meta.macm import MACMNetwork
    from syntony.meta.reference import ReferenceDatabase
    from syntony.meta.results import ALEResult
    from syntony.meta.roi import ROI
    from syntony.meta.specs import Databases
    from syntony.meta.threshold import AnalyticThreshold, MonteCarloThreshold
    from syntony.meta.workflow import Fu2025Result

__all__ = [
    "AtlasLabeller",
    "cluster_threshold_rule",
    "contrast_test",
    "databases",
    "macm_estimator",
    "parse_roi",
    "peak_labeller",
    "run_ale",
    "run_conjunction",
    "run_contrast",
    "run_fu2025_workflow",
    "run_macm",
]

#: Null maps of the Monte Carlo cluster-forming threshold: at most this many.
THRESHOLD_MAPS = 100


# -- options -> objects ------------------------------------------------------------------------
class AtlasLabeller:
    """The anatomical label of each peak, from the first atlas that has one there.

    Harvard-Oxford leaves the cerebellum unlabelled; with ``("harvard_oxford", "aal")`` a
    cerebellar peak gets AAL's label, marked with the atlas it came from.

    Parameters
    ----------
    atlases : sequence of str
        Atlas names of :func:`syntony.meta.atlas.available_atlases`, in order of preference.
    """

    def __init__(self, atlases: Sequence[str] = ("harvard_oxford", "aal")) -> None:
        from syntony.meta.atlas import available_atlases

        names = available_atlases()
        self.atlases = tuple(atlases)
        if not self.atlases:
            raise ParameterError("atlases", "at least one atlas name", atlases)
        for atlas in self.atlases:
            if atlas not in names:
                raise ParameterError("--atlas", f"one of {names} or 'none'", atlas)

    def __call__(self, xyz_mm: np.typing.ArrayLike) -> list[str]:
        from syntony.meta.atlas import NO_LABEL, label_coordinates

        labels = label_coordinates(xyz_mm, atlas=self.atlases[0])
        for atlas in self.atlases[1:]:
            missing = [k for k, label in enumerate(labels) if label == NO_LABEL]
            if not missing:
                break
            points = np.atleast_2d(np.asarray(xyz_mm, dtype=float))[missing]
            for k, label in zip(missing, label_coordinates(points, atlas=atlas), strict=True):
                if label != NO_LABEL:
                    labels[k] = f"{label} ({atlas})"
        return labels

    def describe(self) -> str:
        first, *rest = self.atlases
        return first + "".join(f", else {a}" for a in rest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AtlasLabeller) and other.atlases == self.atlases

    def __hash__(self) -> int:
        return hash(self.atlases)

    def __repr__(self) -> str:
        return f"AtlasLabeller({self.atlases!r})"


def peak_labeller(atlas: str = "harvard_oxford", *, fallback: str | None = "aal"):
    """Labeller for an ``--atlas`` choice (None for ``"none"``), with a fallback atlas."""
    if atlas.lower() == "none":
        return None
    atlases = (atlas,) if fallback in (None, atlas) else (atlas, fallback)
    return AtlasLabeller(atlases)


def cluster_threshold_rule(name: str, n_iters: int) -> AnalyticThreshold | MonteCarloThreshold:
    """The cluster-forming rule of a ``--cluster-threshold`` choice for ``n_iters`` iterations.

    ``"monte-carlo"`` draws ``min(100, n_iters)`` null maps (at least one), ``"analytic"``
    takes the analytic null's threshold.
    """
    from syntony.meta.threshold import AnalyticThreshold, MonteCarloThreshold

    if name == "monte-carlo":
        return MonteCarloThreshold(max(1, min(THRESHOLD_MAPS, int(n_iters))))
    if name == "analytic":
        return AnalyticThreshold()
    raise ParameterError("--cluster-threshold", "'analytic' or 'monte-carlo'", name)


def contrast_test(name: str, p: float, min_cluster_mm3: float | None) -> InMainEffects | AllVoxels:
    """The contrast test of a ``--test`` choice (default smallest cluster: 200 / 0 mm3)."""
    from syntony.meta.contrast import AllVoxels, InMainEffects

    if name == "gingerale":
        size = 200.0 if min_cluster_mm3 is None else min_cluster_mm3
        return InMainEffects(p_threshold=p, min_cluster_mm3=size)
    if name == "nimare":
        return AllVoxels(p_threshold=p, min_cluster_mm3=min_cluster_mm3 or 0.0)
    raise ParameterError("--test", "'gingerale' or 'nimare'", name)


def databases(database_dir: str | Path | None = None) -> Databases:
    """The reference databases, the one in ``database_dir`` (by its files) first."""
    from syntony.meta.specs import Databases

    if database_dir is None:
        return Databases()
    folder = Path(database_dir)
    if any(folder.glob("data-neuroquery_version-*")):
        return Databases({"neuroquery": folder})
    if any(folder.glob("data-neurosynth_version-*")):
        return Databases({"neurosynth": folder})
    raise InputError("no NeuroQuery or Neurosynth files", source=str(folder))


def parse_roi(text: str, *, atlas: str = "harvard_oxford") -> ROI:
    """A region from ``sphere:X,Y,Z,R`` (MNI mm), ``atlas:LABEL`` or a NIfTI mask path."""
    from syntony.meta.roi import atlas_roi, image_roi, sphere_roi

    kind, sep, rest = text.partition(":")
    if sep and kind == "sphere":
        try:
            x, y, z, r = (float(v) for v in rest.split(","))
        except ValueError:
            raise InputError("expected sphere:X,Y,Z,RADIUS (mm)", source=text) from None
        return sphere_roi((x, y, z), r)
    if sep and kind == "atlas":
        return atlas_roi(rest, atlas="harvard_oxford" if atlas == "none" else atlas)
    return image_roi(text)


def _require_default_n(default_n: float | None, what: str) -> float:
    if default_n is None:
        raise InputError(f"{what} has no sample sizes: give a default sample size (--default-n)")
    return float(default_n)


# -- the analyses ------------------------------------------------------------------------------
def run_ale(
    inputs: str | Path | Sequence[str | Path],
    *,
    default_n: float | None = None,
    select: Sequence[str] = (),
    n_iters: int = 10_000,
    seed: SeedLike = None,
    cluster_p: float = 0.001,
    fwe_alpha: float = 0.05,
    atlas: str = "harvard_oxford",
    replay_nimare: bool = False,
    gingerale_mask: bool = False,
    subvoxel: bool = False,
    null: str = "exact",
    cluster_threshold: str = "analytic",
    early_stop: bool = False,
    focus_filter: bool = False,
    diagnostics: str | Sequence[str] | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    checkpoint: Any = None,
    executor: Any = None,
) -> ALEResult:
    """ALE of a coordinate file (or several), with Monte Carlo FWE when ``n_iters > 0``.

    Fewer than two experiments are refused. ``checkpoint`` (a
    :class:`~syntony._checkpoint.Checkpoint`) keeps the finished blocks of the Monte Carlo null
    so that an interrupted run resumes to the same numbers (``syntony ale --resume``).

    ``focus_filter`` removes the foci outside the mask first (NiMARE's FocusFilter), listed in
    ``diagnostics_focus-filter.tsv``. ``diagnostics`` (``"jackknife,focus-counter,stability,
    fsn"`` or a list) are added to the result
    (:meth:`~syntony.meta.results.ALEResult.diagnose`), their random parts drawn from the seed
    stream ``("diagnostics",)``.

    ``executor`` runs the Monte Carlo blocks and the diagnostics' pieces as its tasks
    (:meth:`ALE.fit <syntony.meta.ale.ALE.fit>`), with the same numbers.
    """
    from syntony.meta.ale import ALE
    from syntony.meta.fwe import EarlyStop
    from syntony.meta.kernel import ALEKernel
    from syntony.meta.null import NULL_METHODS
    from syntony.meta.readers import read_studyset
    from syntony.meta.space import mni152_grid

    if n_iters == 1:
        raise ParameterError("--n-iters", "0 or at least 2", n_iters)
    if replay_nimare and seed is None:
        raise ParameterError("--seed", "an integer seed with --replay-nimare", None)
    labeller = peak_labeller(atlas)
    paths = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    with collect_warnings() as caught:
        studyset = read_studyset(paths if len(paths) > 1 else paths[0], default_n=default_n)
        ids = [item.strip() for chunk in select for item in chunk.split(",") if item.strip()]
        if ids:
            studyset = studyset.select(ids)
        names = parse_diagnostics(diagnostics)
        grid = mni152_grid(gingerale=gingerale_mask)
        filtered = None
        if focus_filter:
            from syntony.meta.diagnostics.filtering import focus_filter as drop_outside

            filtered = drop_outside(studyset, grid)
            studyset = filtered.studyset
        estimator = ALE(
            kernel=ALEKernel(subvoxel=subvoxel), grid=grid,
            n_iters=n_iters, cluster_p=cluster_p, fwe_alpha=fwe_alpha,
            replay_nimare=replay_nimare, early_stop=EarlyStop() if early_stop else None,
            n_jobs=n_jobs, random_state=seed, progress=progress, labeller=labeller,
            null_method=NULL_METHODS[null],
            cluster_threshold=cluster_threshold_rule(cluster_threshold, n_iters),
        )  # fmt: skip
        check_experiments(studyset)
        result = estimator.fit(studyset, checkpoint=checkpoint, executor=executor).result_
        if filtered is not None:
            result.add_diagnostics([filtered.diagnostic()])
        if names:
            result.diagnose(names, studyset, estimator=estimator, n_jobs=n_jobs,
                            random_state=SeedTree(seed).child("diagnostics"),
                            progress=progress, executor=executor)  # fmt: skip
    result.add_warnings(caught)
    result.provenance["execution"] = execution_record(executor, n_jobs or os.cpu_count())
    return result


def _ale(n_iters: int, seed: Any, *, labeller: Any, null: Callable, threshold: Any,
         n_jobs: int | None, progress: bool, cluster_p: float = 0.001,
         fwe_alpha: float = 0.05) -> ALE:  # fmt: skip
    from syntony.meta.ale import ALE

    return ALE(n_iters=n_iters, cluster_p=cluster_p, fwe_alpha=fwe_alpha, n_jobs=n_jobs,
               random_state=seed, progress=progress, labeller=labeller, null_method=null,
               cluster_threshold=threshold)  # fmt: skip


def run_contrast(
    group_a: str,
    group_b: str,
    *,
    test: str = "gingerale",
    p_threshold: float = 0.001,
    min_cluster_mm3: float | None = None,
    n_permutations: int = 10_000,
    n_iters: int = 5000,
    main_effect: str = "cluster",
    replay_nimare: bool = False,
    balanced: Balanced | None = None,
    diagnostics: str | Sequence[str] | None = None,
    default_n: float | None = None,
    database_dir: str | Path | None = None,
    atlas: str = "harvard_oxford",
    seed: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
    checkpoint: Any = None,
    executor: Any = None,
) -> ContrastResult:
    """Contrast of two SPECs (files or database queries) by label permutation.

    ``checkpoint`` keeps finished batches of permutations and blocks of the main effects'
    Monte Carlo nulls (:meth:`~syntony.meta.contrast.ALEContrast.fit`) for a resumed run.

    ``balanced`` (a :class:`~syntony.meta.balanced.Balanced`) replaces the permutation test by
    the balanced contrast; ``diagnostics`` are added to the result (seed stream
    ``("diagnostics",)``; main effects the stability and fail-safe N need get ``n_iters``).
    ``executor`` runs the permutation batches and the main effects' Monte Carlo blocks as its
    tasks (:meth:`~syntony.meta.contrast.ALEContrast.fit`), with the same numbers.
    """
    from syntony.meta.contrast import ALEContrast
    from syntony.meta.specs import resolve_spec

    labeller = peak_labeller(atlas)
    chosen = balanced or contrast_test(test, p_threshold, min_cluster_mm3)
    names = parse_diagnostics(diagnostics)
    with collect_warnings() as caught:
        dbs = databases(database_dir)
        a = resolve_spec(group_a, default_n=default_n, databases=dbs)
        b = resolve_spec(group_b, default_n=default_n, databases=dbs)
        result = ALEContrast(
            test=chosen, n_permutations=n_permutations, main_effect_iters=n_iters,
            main_effect_level=main_effect, replay_nimare=replay_nimare, n_jobs=n_jobs,
            random_state=seed, progress=progress, labeller=labeller,
        ).fit(a, b, checkpoint=checkpoint, executor=executor).result_  # fmt: skip
        if names:
            result.diagnose(names, a, b, n_iters=n_iters, n_jobs=n_jobs, progress=progress,
                            random_state=SeedTree(seed).child("diagnostics"),
                            executor=executor)  # fmt: skip
    result.add_warnings(caught)
    # (The balanced test takes no executor: its null ran on this process' threads.)
    result.provenance.setdefault("execution", execution_record(None, n_jobs or os.cpu_count()))
    return result


def run_conjunction(
    group_a: str,
    group_b: str,
    *,
    n_iters: int = 5000,
    min_cluster_mm3: float = 0.0,
    null: str = "auto",
    cluster_threshold: str = "analytic",
    default_n: float | None = None,
    database_dir: str | Path | None = None,
    atlas: str = "harvard_oxford",
    seed: SeedLike = None,
    diagnostics: str | Sequence[str] | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    checkpoint: Any = None,
    executor: Any = None,
) -> ConjunctionResult:
    """ALE of each SPEC (with FWE) and the conjunction of their significant clusters.

    The main effects are kept in the result (saved in ``ale_a/`` and ``ale_b/``);
    ``diagnostics`` are added to it (seed stream ``("diagnostics",)``). ``checkpoint`` keeps
    the finished Monte Carlo blocks of main effect A (slot 0) and B (slot 1); ``executor`` runs
    them as its tasks, with the same numbers.
    """
    from syntony.meta.conjunction import conjunction
    from syntony.meta.null import NULL_METHODS
    from syntony.meta.specs import resolve_spec

    labeller = peak_labeller(atlas)
    tree = SeedTree(seed)
    rule = cluster_threshold_rule(cluster_threshold, n_iters)
    with collect_warnings() as caught:
        dbs = databases(database_dir)
        groups = [resolve_spec(g, default_n=default_n, databases=dbs) for g in (group_a, group_b)]
        for group, label in zip(groups, ("group A", "group B"), strict=True):
            check_experiments(group, what=label)
        mains = [
            _ale(n_iters, tree.child("main-effect", name), labeller=labeller,
                 null=NULL_METHODS[null], threshold=rule, n_jobs=n_jobs, progress=progress)
            .fit(group, checkpoint=slot(checkpoint, k), executor=executor).result_
            for k, (name, group) in enumerate(zip("ab", groups, strict=True))
        ]  # fmt: skip
        result = conjunction(mains, min_cluster_mm3=min_cluster_mm3,
                             names=[g.name for g in groups], labeller=labeller)  # fmt: skip
        names = parse_diagnostics(diagnostics)
        if names:
            result.diagnose(names, groups, n_jobs=n_jobs, progress=progress,
                            random_state=tree.child("diagnostics"),
                            executor=executor)  # fmt: skip
    result.add_warnings([w for r in mains for w in r.warnings] + caught)
    result.provenance["seed"] = tree.record()
    result.provenance["execution"] = execution_record(executor, n_jobs or os.cpu_count())
    for main in mains:
        main.provenance["execution"] = result.provenance["execution"]
    return result


def macm_estimator(
    n_iters: int,
    *,
    null: str | Callable = "auto",
    cluster_threshold: str | AnalyticThreshold | MonteCarloThreshold = "monte-carlo",
    labeller: Any = None,
    reference: ReferenceDatabase | None = None,
    cluster_p: float = 0.001,
    fwe_alpha: float = 0.05,
    n_jobs: int | None = None,
    progress: bool = False,
) -> ALE:
    """The estimator of each region's MACM: ALE, or SCALE when a ``reference`` is given.

    ``syntony macm`` and the Fu et al. workflow both build it here, so the same options give
    the same analysis.
    """
    from syntony.meta.null import NULL_METHODS

    null_method = NULL_METHODS[null] if isinstance(null, str) else null
    rule = (
        cluster_threshold_rule(cluster_threshold, n_iters)
        if isinstance(cluster_threshold, str)
        else cluster_threshold
    )
    if reference is not None:
        from syntony.meta.scale import SCALE

        return SCALE(reference=reference, n_iters=n_iters, cluster_p=cluster_p,
                     fwe_alpha=fwe_alpha, n_jobs=n_jobs, progress=progress, labeller=labeller,
                     null_method=null_method, cluster_threshold=rule)  # fmt: skip
    return _ale(n_iters, None, labeller=labeller, null=null_method, threshold=rule,
                n_jobs=n_jobs, progress=progress, cluster_p=cluster_p, fwe_alpha=fwe_alpha)  # fmt: skip


def run_macm(
    rois: Sequence[str],
    database: str,
    *,
    default_n: float | None,
    database_dir: str | Path | None = None,
    n_iters: int = 5000,
    min_experiments: int = 10,
    scale: bool = False,
    null: str = "auto",
    cluster_threshold: str = "monte-carlo",
    atlas: str = "harvard_oxford",
    seed: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    checkpoint: Any = None,
    executor: Any = None,
) -> MACMNetwork:
    """MACM of each region (``sphere:X,Y,Z,R``, ``atlas:LABEL`` or a mask) and their network.

    Region ``name`` draws its Monte Carlo null from ``SeedTree(seed).child("macm", name)``;
    with a ``checkpoint`` the finished blocks of region ``k``'s null are kept in its slot ``k``.
    With an ``executor``, the regions are its tasks when there are at least as many as it has
    workers, else each region's Monte Carlo blocks are
    (:func:`~syntony.meta.macm.macm_regions`); the numbers are the same.
    """
    from syntony.meta.macm import macm_network, macm_regions

    default_n = _require_default_n(default_n, "the reference database")
    labeller = peak_labeller(atlas)
    regions = [parse_roi(r, atlas=atlas) for r in rois]
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise InputError(f"two regions have the same name: {names}")
    tree = SeedTree(seed)
    with collect_warnings() as caught:
        db = databases(database_dir).get(database)
        est = macm_estimator(n_iters, null=null, cluster_threshold=cluster_threshold,
                             labeller=labeller, reference=db if scale else None, n_jobs=n_jobs,
                             progress=progress)  # fmt: skip
        results, _ = macm_regions(
            regions, db, default_n=default_n, estimator=est, min_experiments=min_experiments,
            random_states=[tree.child("macm", name) for name in names], checkpoint=checkpoint,
            executor=executor, log=log,
        )  # fmt: skip
        network = macm_network(results, labeller=labeller)
    network.add_warnings(caught)
    network.provenance["seed"] = tree.record()
    network.provenance["execution"] = execution_record(executor, n_jobs or os.cpu_count())
    return network


def run_fu2025_workflow(
    group_a: str,
    group_b: str,
    database: str,
    *,
    default_n: float | None,
    database_dir: str | Path | None = None,
    n_iters: int = 5000,
    macm_iters: int = 5000,
    max_rois: int | None = None,
    null: str = "auto",
    cluster_threshold: str = "monte-carlo",
    test: str = "gingerale",
    p_threshold: float = 0.001,
    min_cluster_mm3: float | None = None,
    n_permutations: int = 10_000,
    seed: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    executor: Any = None,
) -> Fu2025Result:
    """The Fu et al. (2025) workflow from two SPECs and a reference database name or folder.

    ``executor`` runs the parallel parts (Monte Carlo blocks, permutation batches, MACM
    regions) as its tasks (:func:`~syntony.meta.workflow.run_fu2025`), with the same numbers.
    """
    from syntony.meta.null import NULL_METHODS
    from syntony.meta.specs import resolve_spec
    from syntony.meta.workflow import Fu2025Config, run_fu2025

    default_n = _require_default_n(default_n, "MACM on a reference database")
    config = Fu2025Config(
        n_iters=n_iters, n_permutations=n_permutations, macm_iters=macm_iters,
        contrast=contrast_test(test, p_threshold, min_cluster_mm3), max_rois=max_rois,
        default_n=default_n, null_method=NULL_METHODS[null], cluster_threshold=cluster_threshold,
    )  # fmt: skip
    with collect_warnings() as caught:
        dbs = databases(database_dir)
        a = resolve_spec(group_a, default_n=default_n, databases=dbs)
        b = resolve_spec(group_b, default_n=default_n, databases=dbs)
        db = dbs.get(database)
    result = run_fu2025(a, b, db, config=config, random_state=seed, n_jobs=n_jobs,
                        progress=progress, log=log, executor=executor)  # fmt: skip
    result.add_warnings(caught)
    return result
