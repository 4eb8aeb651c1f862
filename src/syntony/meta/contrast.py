"""ALE contrast (subtraction) of two groups of experiments by label permutation.

The difference of the two groups' ALE maps is compared voxel by voxel with its distribution
when experiments are shuffled between the groups (group sizes kept; Eickhoff et al. 2011).
Two tests are offered, as objects passed to :class:`ALEContrast`:

- :class:`InMainEffects` (default, GingerALE / Eickhoff 2011): one-sided, A > B only inside
  the voxels significant in A's main effect, B > A only inside B's; the p map is thresholded
  (default p < 0.001) and clusters smaller than a minimum volume are dropped.
- :class:`AllVoxels` (NiMARE's ``ALESubtraction``): two-sided on every voxel of the mask.
- :class:`~syntony.meta.balanced.Balanced` (NiMARE's ``BalancedALESubtraction``, from JALE):
  equally many experiments drawn from each group, see :mod:`syntony.meta.balanced`.

The permutations run in :mod:`syntony.meta.permutation` and touch only the tested voxels, so
the one-sided test inside the main effects is cheaper still. ``replay_nimare=True`` reproduces
NiMARE 0.22.1's permutations for the same ``random_state`` (its seeds, shuffles and summation
order), so null distributions and p maps can be compared draw for draw.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from syntony._provenance import provenance
from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer, check_nonnegative, check_probability
from syntony.errors import InputError, ParameterError
from syntony.execution import execution_record
from syntony.meta.ale import check_experiments
from syntony.meta.balanced import Balanced
from syntony.meta.chunks import slot
from syntony.meta.clusters import cluster_table, label_min_size
from syntony.meta.diagnostics.checks import analysis_warnings, unreachable_significance
from syntony.meta.kernel import ALEKernel
from syntony.meta.layout import Layout
from syntony.meta.null import logp_from_p, z_from_p
from syntony.meta.permutation import (
    accumulate_subset,
    experiment_entries,
    permutation_counts,
    permutation_seeds,
)
from syntony.meta.result_files import seed_record
from syntony.meta.results import MapResult, collects_warnings
from syntony.meta.significance import clusters_with_header, mark_significance
from syntony.meta.space import Grid, mni152_grid
from syntony.meta.studyset import Studyset
from syntony.report import methods_text

if TYPE_CHECKING:
    from syntony.meta.results import ALEResult
    from syntony.report import Report

__all__ = [
    "ALEContrast",
    "AllVoxels",
    "ContrastResult",
    "InMainEffects",
    "permutation_seeds",
    "significant_mask",
]

_REFERENCES = {
    "eickhoff2011": (
        "Eickhoff SB, Bzdok D, Laird AR, Roski C, Caspers S, Zilles K, Fox PT (2011). "
        "Co-activation patterns distinguish cortical modules, their connectivity and "
        "functional differentiation. NeuroImage 57:938-949. "
        "doi:10.1016/j.neuroimage.2011.05.021"
    ),
    "laird2005": (
        "Laird AR, Fox PM, Price CJ, et al. (2005). ALE meta-analysis: controlling the false "
        "discovery rate and performing statistical contrasts. Human Brain Mapping 25:155-164. "
        "doi:10.1002/hbm.20136"
    ),
    "eickhoff2012": (
        "Eickhoff SB, Bzdok D, Laird AR, Kurth F, Fox PT (2012). Activation likelihood "
        "estimation meta-analysis revisited. NeuroImage 59:2349-2361. "
        "doi:10.1016/j.neuroimage.2011.09.017"
    ),
    "salo2023": (
        "Salo T, Yarkoni T, Nichols TE, et al. (2023). NiMARE: Neuroimaging Meta-Analysis "
        "Research Environment. Aperture Neuro 3:1-32. doi:10.52294/001c.87681"
    ),
}


# -- tests (strategies) -------------------------------------------------------------------------
@dataclass(frozen=True)
class InMainEffects:
    """One-sided tests inside each group's significant main effect (GingerALE, Eickhoff 2011).

    Parameters
    ----------
    p_threshold : float
        Uncorrected permutation p below which a voxel's difference is significant.
    min_cluster_mm3 : float
        Clusters of significant voxels smaller than this volume are dropped.
    """

    p_threshold: float = 0.001
    min_cluster_mm3: float = 200.0

    def __post_init__(self) -> None:
        check_probability("p_threshold", self.p_threshold)
        check_nonnegative("min_cluster_mm3", self.min_cluster_mm3)

    one_sided = True

    def describe(self) -> str:
        return (
            "Following Eickhoff et al. (2011) as implemented in GingerALE, A > B was tested "
            "one-sided only within voxels significant in A's main effect and B > A only within "
            f"B's; differences were thresholded at a permutation p < {self.p_threshold:g} with "
            f"a minimum cluster volume of {self.min_cluster_mm3:g} mm3."
        )


@dataclass(frozen=True)
class AllVoxels:
    """Two-sided test on every voxel of the mask (NiMARE's ``ALESubtraction``).

    Parameters
    ----------
    p_threshold : float
        Two-sided uncorrected p below which a voxel is significant.
    min_cluster_mm3 : float
        Clusters smaller than this volume are dropped from the thresholded maps.
    """

    p_threshold: float = 0.001
    min_cluster_mm3: float = 0.0

    def __post_init__(self) -> None:
        check_probability("p_threshold", self.p_threshold)
        check_nonnegative("min_cluster_mm3", self.min_cluster_mm3)

    one_sided = False

    def describe(self) -> str:
        return (
            "As in NiMARE's ALESubtraction (Salo et al., 2023), the difference was tested "
            "two-sided at every voxel of the mask; differences were thresholded at a two-sided "
            f"permutation p < {self.p_threshold:g}"
            + (
                f" with a minimum cluster volume of {self.min_cluster_mm3:g} mm3."
                if self.min_cluster_mm3
                else "."
            )
        )


ContrastTest = InMainEffects | AllVoxels | Balanced


# -- results ------------------------------------------------------------------------------------
@dataclass(eq=False)
class ContrastResult(MapResult):
    """Result of :class:`ALEContrast`.

    ``maps``: ``diff`` (ALE A - ALE B), ``p``, ``z`` (signed: > 0 where A > B), ``logp``,
    ``z_thresholded`` (z inside surviving clusters), ``a_gt_b`` / ``b_gt_a`` (cluster
    labels), ``ale_a``, ``ale_b``, ``tested``. ``tables``: ``clusters_a_gt_b``,
    ``clusters_b_gt_a`` (always with their header, also when empty). ``arrays``:
    ``max_abs_diff`` (the permutation null: each permutation's largest absolute value of the
    difference over the tested voxels).
    """

    kind: ClassVar[str] = "contrast"
    title: ClassVar[str] = "ALE contrast"

    def summary(self) -> str:
        p = self.parameters
        a, b = p["group_a"], p["group_b"]
        n_ab, n_ba = len(self.tables["clusters_a_gt_b"]), len(self.tables["clusters_b_gt_a"])
        how = f"{p['n_permutations']} permutations"
        if p["test"] == "Balanced":
            how = (
                f"{p['balanced']['target_n']} experiments drawn from each group, "
                f"{p['n_permutations']} null replicates"
            )
        return "\n".join(
            [
                f"Contrast of {a['name']} ({a['n_experiments']} experiments) and {b['name']} "
                f"({b['n_experiments']} experiments)",
                f"{how}, {p['n_tested_voxels']} voxels tested "
                f"({p['test']}, p < {p['p_threshold']:g}, clusters >= {p['min_cluster_mm3']:g} "
                "mm3)",
                f"{n_ab} cluster(s) A > B and {n_ba} B > A, every one significant by this test",
            ]
        )

    def diagnose(
        self, names: str | list[str], group_a: Studyset, group_b: Studyset, **options: Any
    ) -> Self:
        """Add diagnostics of the contrast's clusters (see :meth:`ALEResult.diagnose`).

        ``group_a`` / ``group_b``: the contrasted studysets; ``options`` (``executor`` among
        them) go to :func:`syntony.meta.diagnostics.apply.diagnose_contrast`.
        """
        from syntony.meta.diagnostics.apply import diagnose_contrast

        self.add_diagnostics(diagnose_contrast(self, group_a, group_b, names, **options))
        return self

    def _build_report(self, report: Report) -> None:
        from syntony.meta.report_sections import contrast_sections

        contrast_sections(self, report)
        self._report_diagnostics(report)


def significant_mask(result: ALEResult, *, level: str = "cluster") -> np.ndarray:
    """In-mask boolean map of a main effect's significant voxels.

    ``level="cluster"`` uses the clusters significant by cluster-level FWE (needs FWE);
    ``"voxel"`` the voxels significant by voxel-level FWE; ``"uncorrected"`` the voxels above
    the cluster-forming threshold.
    """
    maps = result.maps
    alpha = float(result.parameters.get("fwe_alpha", 0.05))
    if level == "uncorrected":
        return maps["ale"].astype(np.float64) > result.threshold
    if "clusters" not in maps:
        raise InputError(
            "the main effect has no FWE maps (n_iters=0): use level='uncorrected' or run FWE",
            source=str(result.parameters.get("studyset", "")),
        )
    if level == "cluster":
        return maps["clusters"] > 0
    if level == "voxel":
        return maps["logp_voxel_fwe"] > -np.log10(alpha)
    raise ParameterError("level", "'cluster', 'voxel' or 'uncorrected'", level)


class ALEContrast:
    """Contrast of two ALE meta-analyses by permuting experiments between groups.

    Parameters
    ----------
    test : InMainEffects, AllVoxels or Balanced
        Which voxels are tested and how (default :class:`InMainEffects`: the published test;
        :class:`~syntony.meta.balanced.Balanced` compares equal numbers of experiments and
        uses its own null instead of ``n_permutations`` label permutations).
    kernel : ALEKernel, optional
        How foci are blurred (default: sample-size dependent Eickhoff kernels).
    grid : Grid, optional
        Voxel grid and mask (default MNI152 2 mm).
    n_permutations : int
        Number of label permutations (default 10,000).
    main_effect_level : {"cluster", "voxel", "uncorrected"}
        Which voxels of the main effects are tested (:class:`InMainEffects` only).
    main_effect_iters : int
        Monte Carlo iterations of the main effects when ``fit`` has to compute them.
    replay_nimare : bool
        Reproduce NiMARE 0.22.1's permutations (seeds, shuffles, summation order) for the same
        ``random_state`` (an int or None, as NiMARE takes). Each permutation then sums both
        groups directly (about twice the work).
    n_jobs : int, optional
        Worker threads (default all cores); results do not depend on it.
    random_state : int, SeedSequence or None
        Root of the contrast's seed tree (:class:`syntony._rng.SeedTree`): permutation ``j``
        shuffles with the stream ``("permutation", j)`` (with ``replay_nimare``: NiMARE's seed
        for this integer instead), and main effects computed here draw their Monte Carlo nulls
        from ``("main-effect", "a")`` and ``("main-effect", "b")``, in both modes.
    progress : bool
        Show a progress bar.
    labeller : callable, optional
        Maps (n, 3) MNI peaks to anatomical labels for the cluster tables.
    """

    def __init__(
        self,
        *,
        test: ContrastTest | None = None,
        kernel: ALEKernel | None = None,
        grid: Grid | None = None,
        n_permutations: int = 10_000,
        main_effect_level: str = "cluster",
        main_effect_iters: int = 5_000,
        replay_nimare: bool = False,
        n_jobs: int | None = None,
        random_state: SeedLike = None,
        progress: bool = False,
        labeller: Any = None,
    ) -> None:
        self.test = test
        self.kernel = kernel
        self.grid = grid
        self.n_permutations = n_permutations
        self.main_effect_level = main_effect_level
        self.main_effect_iters = main_effect_iters
        self.replay_nimare = replay_nimare
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress
        self.labeller = labeller

    def _check(self) -> ContrastTest:
        check_integer("n_permutations", self.n_permutations, minimum=2)
        check_integer("main_effect_iters", self.main_effect_iters, minimum=0)
        test = self.test if self.test is not None else InMainEffects()
        if not isinstance(test, InMainEffects | AllVoxels | Balanced):
            raise ParameterError("test", "InMainEffects(), AllVoxels() or Balanced()", test)
        if self.main_effect_level not in ("cluster", "voxel", "uncorrected"):
            raise ParameterError(
                "main_effect_level", "'cluster', 'voxel' or 'uncorrected'", self.main_effect_level
            )
        return test

    @collects_warnings
    def fit(
        self,
        group_a: Studyset,
        group_b: Studyset,
        *,
        main_a: ALEResult | None = None,
        main_b: ALEResult | None = None,
        checkpoint: Any = None,
        executor: Any = None,
    ) -> ALEContrast:
        """Compute the difference map and its permutation p-values.

        Parameters
        ----------
        group_a, group_b : Studyset
            The two groups, at least two experiments each; their experiment ids must not
            overlap.
        main_a, main_b : ALEResult, optional
            The groups' main effects (for :class:`InMainEffects`); computed here with
            ``main_effect_iters`` Monte Carlo iterations when not given.
        checkpoint : Checkpoint, optional
            Saves finished chunks (batches of permutations in slot 0, blocks of the Monte Carlo
            null of main effects computed here in slots 1 and 2; see
            :mod:`syntony.meta.chunks`) and reuses those of an interrupted run, which then ends
            with the numbers of an uninterrupted one. Not used by the balanced test.
        executor : Executor, optional
            Where the parallel parts run (:mod:`syntony.execution`: local threads or
            processes, a Dask cluster): the batches of permutations are its tasks, and so are
            the Monte Carlo blocks of main effects computed here (:meth:`ALE.fit
            <syntony.meta.ale.ALE.fit>`). The numbers are those of a run without it. Not used
            by the balanced test.

        Returns
        -------
        self
            With ``diff_``, ``p_``, ``z_``, ``null_max_``, ``tested_``, ``seed_tree_`` (the
            seed tree the run drew from), ``main_a_`` / ``main_b_`` (the main effects used by
            :class:`InMainEffects`, else None) and ``result_``.
        """
        test = self._check()
        self.executor_ = executor
        for g, label in ((group_a, "group A"), (group_b, "group B")):
            check_experiments(g, what=label)
        if isinstance(test, Balanced):
            return self._fit_balanced(test, group_a, group_b)
        root = self.random_state
        if self.replay_nimare and isinstance(root, int | np.integer) and not isinstance(root, bool):
            root = int(root) % 2**64  # NiMARE takes any integer; the tree needs one >= 0
        tree = SeedTree(root)
        seeds = permutation_seeds(
            self.random_state if self.replay_nimare else tree,
            self.n_permutations,
            replay_nimare=self.replay_nimare,
        )
        shared = sorted(set(group_a.ids) & set(group_b.ids))
        if shared:
            raise InputError(
                f"{len(shared)} experiment id(s) are in both groups (e.g. {shared[:3]}); "
                "a contrast needs disjoint groups",
                source=f"{group_a.name} vs {group_b.name}",
            )
        grid = self.grid or mni152_grid()
        kernel = self.kernel or ALEKernel()
        if self.replay_nimare:
            # NiMARE's MA-map rows follow the sorted experiment ids of each dataset.
            group_a = group_a.select(sorted(group_a.ids))
            group_b = group_b.select(sorted(group_b.ids))
        pooled = Studyset.concat([group_a, group_b], name=f"{group_a.name}+{group_b.name}")
        layout = Layout.build(grid, kernel, pooled)
        ijk = layout.local_ijk(grid.mm_to_ijk(pooled.coordinates))
        n_a, n_total = group_a.n_experiments, pooled.n_experiments
        bank = layout.bank
        packed = (ijk, layout.foci_start, bank.experiment_kernel, bank.log_values_f32,
                  bank.starts, bank.half_widths)  # fmt: skip
        vol_a = np.zeros(layout.shape)
        vol_b = np.zeros(layout.shape)
        scratch0 = np.zeros(layout.shape)
        accumulate_subset(vol_a, scratch0, np.arange(n_a), *packed)
        accumulate_subset(vol_b, scratch0, np.arange(n_a, n_total), *packed)
        where = tuple(layout.mask_local.T)
        ale_a = (1.0 - np.exp(vol_a[where])).astype(np.float32)
        ale_b = (1.0 - np.exp(vol_b[where])).astype(np.float32)
        diff = ale_a - ale_b  # float32, as NiMARE's observed difference

        in_a = in_b = None
        if test.one_sided:
            main_a = main_a or self._main_effect(
                group_a, grid, kernel, tree.child("main-effect", "a"), slot(checkpoint, 1)
            )
            main_b = main_b or self._main_effect(
                group_b, grid, kernel, tree.child("main-effect", "b"), slot(checkpoint, 2)
            )
            in_a = significant_mask(main_a, level=self.main_effect_level)
            in_b = significant_mask(main_b, level=self.main_effect_level)
            tested = in_a | in_b
            if not tested.any():
                warnings.warn(
                    "no voxel is significant in either main effect: nothing is tested "
                    "(consider main_effect_level='uncorrected' or more FWE iterations)",
                    UserWarning,
                    stacklevel=2,
                )
        else:
            tested = np.ones(grid.n_voxels, dtype=bool)
        test_pos = np.flatnonzero(tested)
        box_flat = np.ravel_multi_index(where, layout.shape).astype(np.int64)

        n_perm = self.n_permutations
        total = (vol_a + vol_b).reshape(-1)[box_flat[test_pos]]
        del vol_a, vol_b
        entries = experiment_entries(layout, packed, box_flat[test_pos])
        observed = diff[test_pos].astype(np.float64)
        upper, lower, null_max = permutation_counts(
            entries, total, observed, seeds, n_a, direct=self.replay_nimare,
            n_jobs=self.n_jobs, progress=self.progress, checkpoint=slot(checkpoint, 0),
            executor=executor,
        )  # fmt: skip
        up = np.zeros(grid.n_voxels, dtype=np.int64)
        lo = np.zeros(grid.n_voxels, dtype=np.int64)
        up[test_pos] = upper
        lo[test_pos] = lower
        p, sign = _p_values(test, up, lo, diff, in_a, in_b, n_perm)
        z = (z_from_p(p) if test.one_sided else z_from_p(p / 2.0)) * sign

        self.layout_ = layout
        self.ale_a_, self.ale_b_ = ale_a, ale_b
        self.diff_ = diff
        self.p_ = p.astype(np.float32)
        self.z_ = z.astype(np.float32)
        self.tested_ = tested
        self.upper_counts_, self.lower_counts_ = up, lo
        self.null_max_ = null_max.astype(np.float32)
        self.test_ = test
        self.seed_tree_ = tree
        self.main_a_, self.main_b_ = main_a, main_b
        self.result_ = self._result(test, grid, kernel, group_a, group_b, tested)
        return self

    # -- helpers ------------------------------------------------------------------------------
    def _fit_balanced(self, test: Balanced, group_a: Studyset, group_b: Studyset) -> ALEContrast:
        """The balanced contrast (:mod:`syntony.meta.balanced`); its own null, no permutations."""
        from syntony.meta.balanced import balanced_contrast, balanced_result

        grid, kernel = self.grid or mni152_grid(), self.kernel or ALEKernel()
        tree = SeedTree(self.random_state if not self.replay_nimare else None)
        seed = self.random_state if self.replay_nimare else tree
        fit = balanced_contrast(group_a, group_b, test, grid=grid, kernel=kernel,
                                replay_nimare=self.replay_nimare, random_state=seed,
                                n_jobs=self.n_jobs, progress=self.progress)  # fmt: skip
        self.balanced_ = fit
        self.diff_, self.p_, self.z_, self.tested_ = fit.diff, fit.p, fit.z, fit.coverage
        self.test_, self.seed_tree_, self.main_a_, self.main_b_ = test, tree, None, None
        self.result_ = balanced_result(
            fit, group_a, group_b, test, grid=grid, kernel=kernel, labeller=self.labeller,
            seed=self.random_state if self.replay_nimare else tree,
            references=list(_REFERENCES.values()),
        )  # fmt: skip
        return self

    def _main_effect(
        self, group: Studyset, grid: Grid, kernel: ALEKernel, seed: SeedTree, checkpoint: Any
    ) -> ALEResult:
        from syntony.meta.ale import ALE

        if self.main_effect_level != "uncorrected" and self.main_effect_iters < 2:
            raise ParameterError(
                "main_effect_iters", ">= 2 (or main_effect_level='uncorrected')",
                self.main_effect_iters,
            )  # fmt: skip
        iters = 0 if self.main_effect_level == "uncorrected" else self.main_effect_iters
        est = ALE(kernel=kernel, grid=grid, n_iters=iters, n_jobs=self.n_jobs,
                  random_state=seed.seed_sequence, labeller=self.labeller)  # fmt: skip
        result = est.fit(group, checkpoint=checkpoint, executor=self.executor_).result_
        if iters:
            # The main effects decide which voxels are tested: say so when their FWE cannot
            # find anything significant, whatever the data.
            alpha = float(result.parameters.get("fwe_alpha", 0.05))
            for message in unreachable_significance(
                iters, alpha, what="Monte Carlo iterations of the main effects"
            ):
                warnings.warn(message, UserWarning, stacklevel=2)
        return result

    def _result(self, test, grid, kernel, group_a, group_b, tested) -> ContrastResult:
        voxel_mm3 = float(np.prod(grid.voxel_size))
        min_voxels = int(np.ceil(test.min_cluster_mm3 / voxel_mm3 - 1e-9))
        sig = self.p_ < test.p_threshold
        pos = label_min_size(grid, sig & (self.z_ > 0), min_voxels)
        neg = label_min_size(grid, sig & (self.z_ < 0), min_voxels)
        z_thr = np.where((pos > 0) | (neg > 0), self.z_, 0).astype(np.float32)
        maps = {
            "diff": self.diff_,
            "p": self.p_,
            "z": self.z_,
            "logp": logp_from_p(self.p_).astype(np.float32),
            "z_thresholded": z_thr,
            "a_gt_b": pos,
            "b_gt_a": neg,
            "ale_a": self.ale_a_,
            "ale_b": self.ale_b_,
            "tested": tested.astype(np.int32),
        }
        side = "one-sided within the main effects" if test.one_sided else "two-sided"
        rule = (
            f"voxelwise permutation p<{test.p_threshold:g} ({side}), clusters >= "
            f"{test.min_cluster_mm3:g} mm3"
        )
        tables = {}
        for name, labels, sign in (("clusters_a_gt_b", pos, 1.0), ("clusters_b_gt_a", neg, -1.0)):
            table = cluster_table(
                grid, labels, sign * self.diff_, sign * self.z_, 0.0, labeller=self.labeller
            )
            table = clusters_with_header(
                table, fwe=False, contributions=False, labels=self.labeller is not None
            )
            table = table.rename(columns={"max_ale": "max_diff", "mass": "sum_diff"})
            tables[name] = mark_significance(table, True, rule)
        parameters = {
            "group_a": {"name": group_a.name, "source": group_a.source,
                        "n_experiments": group_a.n_experiments, "n_foci": group_a.n_foci},
            "group_b": {"name": group_b.name, "source": group_b.source,
                        "n_experiments": group_b.n_experiments, "n_foci": group_b.n_foci},
            "test": type(test).__name__,
            "p_threshold": test.p_threshold,
            "min_cluster_mm3": test.min_cluster_mm3,
            "main_effect_level": self.main_effect_level if test.one_sided else None,
            "n_tested_voxels": int(tested.sum()),
            "n_permutations": self.n_permutations,
            "replay_nimare": self.replay_nimare,
            "kernel": {"fwhm": kernel.fwhm, "sample_size": kernel.sample_size},
            "grid": repr(grid),
        }  # fmt: skip
        seed = self.random_state if self.replay_nimare else seed_record(self.seed_tree_)
        methods = methods_text(
            f"ALE maps of group A ({group_a.name}: {group_a.n_experiments} experiments, "
            f"{group_a.n_foci} foci) and group B ({group_b.name}: {group_b.n_experiments} "
            f"experiments, {group_b.n_foci} foci) were contrasted by subtraction (Laird et al., "
            f"2005; Eickhoff et al., 2011, 2012): the null distribution of the voxelwise "
            f"difference was built from {self.n_permutations} random reassignments of the "
            "pooled experiments to two groups of the original sizes. Each experiment used "
            f"{kernel.describe()}. {test.describe()} Computed with syntony.",
            references=list(_REFERENCES.values()),
        )
        checks = analysis_warnings(
            n_experiments={"group A": group_a.n_experiments, "group B": group_b.n_experiments},
            n_iters=self.n_permutations, alpha=test.p_threshold, iteration_word="permutations",
            test="permutation",
        )  # fmt: skip
        return ContrastResult(
            grid=grid, maps=maps, tables=tables, parameters=parameters, methods=methods,
            arrays={"max_abs_diff": self.null_max_},
            provenance=provenance(parameters=parameters, seed=seed,
                                  execution=execution_record(self.executor_, self.n_jobs or os.cpu_count())),
            warnings=checks,
        )  # fmt: skip


def _p_values(test, up, lo, diff, in_a, in_b, n):
    """p and sign maps from tail counts (NiMARE's formulas for both tests)."""
    # One division of whole numbers per voxel, so the p-values carry no float noise.
    if not test.one_sided:
        p = np.clip(2 * np.minimum(up, lo), 1, n - 1) / n
        p = p.astype(np.float32)
        sign = np.sign(lo - up).astype(np.float32)
        return p.astype(np.float64), sign
    p = np.ones(diff.size, dtype=np.float32)
    sign = np.zeros(diff.size, dtype=np.float32)
    pos = in_a & (diff > 0)
    neg = in_b & (diff < 0)
    p[pos] = np.maximum(1, up[pos]) / n
    p[neg] = np.maximum(1, lo[neg]) / n
    sign[pos], sign[neg] = 1, -1
    return p.astype(np.float64), sign
