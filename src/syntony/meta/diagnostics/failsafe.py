"""Fail-safe N of ALE clusters (Acar, Seurinck, Eickhoff and Moerkerke 2018, PLoS ONE 13:e0208177).

The fail-safe N (FSN) of a significant cluster is the number of null experiments - experiments
like the analysed ones but whose foci fall at random - that can be added to the meta-analysis
before the cluster stops being significant. It asks how robust a finding is to a file drawer of
unpublished experiments that found nothing there.

What the paper fixes, and how it is done here:

- Null experiments resemble the analysed ones: each draws its number of foci and its sample size
  from those of the analysed experiments (with replacement, independently, as the paper's
  companion code ``NeuroStat/GenerateNull`` does), and places its foci at distinct random voxels.
- The number is searched between a minimum and a maximum by bisection over one fixed list of
  null experiments: the analysis with ``n`` null experiments adds the first ``n`` of the list.
- Reference values to judge the number: a cluster whose FSN is below the minimum is fragile (a
  small file drawer would remove it); one above the maximum may be driven by a few experiments
  with strongly converging foci rather than by many.

What the paper leaves open, and the choice made here (each one a parameter):

- Where null foci fall: uniformly among the mask's voxels (``coverage="brain"``; the companion
  code uses the voxels of GingerALE's MNI mask). ``coverage="gm"`` restricts them to grey matter.
- The minimum and maximum: twice and ten times the number of analysed experiments k
  (``reference=(2, 10)``; the range a reading of the paper gives, as summarised by NiMARE's
  maintainers in their issue #730; other implementations use k as the minimum). The companion
  code generates ``10 k + 10`` null experiments, which is the default search maximum.
- When a cluster "is still significant" with n null experiments: when any of its voxels lies in
  a cluster of the augmented analysis that is significant by the original test (cluster-level
  FWE by size at the original alpha, same kernel, grid, cluster-forming rule and analytic null).
  The paper's own simulations looked at one target voxel; a cluster may shrink or drift while
  it survives, so the whole cluster is the target here.
- Monte Carlo noise: each augmented analysis has its own FWE null of ``n_iters`` iterations.
  Its random stream depends only on n (chunk c of 100 iterations from
  ``SeedTree(seed).child("fsn", "fwe", n, c)``), so an analysis is the same whichever cluster
  or bisection path asks for it, and each n is computed once for all clusters. Iterations are
  run only until the decision cannot change (a cluster of size s is significant when fewer
  than ``alpha n_iters`` null maxima reach s), so every decision is that of the full null, and
  a cluster no longer above the cluster-forming threshold needs no Monte Carlo at all. The null list draws experiment j from
  ``SeedTree(seed).child("fsn", "null-experiment", j)``: the first n experiments do not depend on
  the search maximum, so the list is nested and the answer reproducible.
- Bisection assumes survival is monotone in n; it returns the last surviving n before the first
  failing one on its path (the exact boundary whenever survival is monotone).
- A cluster that is not significant in the analysis itself has FSN 0 (nothing is searched).

On an executor (:mod:`syntony.execution`): the search itself is sequential (each number tried
depends on the previous answer), and each augmented analysis' map and cluster-forming threshold
are computed here. What is parallel, and what costs, is each analysis' Monte Carlo null, so its
chunks of :data:`CHUNK` iterations are the tasks, with the analysis' layout sent once per worker.
Tasks go out in rounds: as many chunks as must still be run before any decision could be
reached (for a cluster that survives, nearly all of them, at once), and at least one per worker.
Chunks are the grain rather than ``ALE.fit(executor=)``, which would run every iteration of the
null, while a decision usually needs only part of it. Each chunk draws from its own stream
(``("fsn", "fwe", n, c)``) and every decision is read at the first chunk that settles it, so the
table and the record of analyses (its ``n_iters_run`` included) are those of a serial run; a
chunk computed ahead of need is kept for the next decision on that analysis.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer
from syntony.errors import ParameterError
from syntony.meta.diagnostics.observed import check_labels
from syntony.meta.diagnostics.resampling import coverage_positions
from syntony.meta.diagnostics.tasks import gather, worker_count
from syntony.meta.space import Grid, mni152_grid
from syntony.meta.studyset import Studyset

if TYPE_CHECKING:
    from syntony.execution import Executor
    from syntony.meta.ale import ALE

__all__ = ["FailSafeN", "bisect_fail_safe", "fail_safe_n", "null_experiments"]

REFERENCE = (
    "Acar F, Seurinck R, Eickhoff SB, Moerkerke B (2018). Assessing robustness against "
    "potential publication bias in Activation Likelihood Estimation (ALE) meta-analyses for "
    "fMRI. PLoS ONE 13(11):e0208177. doi:10.1371/journal.pone.0208177"
)

NULL_PREFIX = "fsn-null-"


def null_experiments(
    studyset: Studyset,
    n: int,
    *,
    grid: Grid | None = None,
    coverage: str = "brain",
    seed: SeedLike | SeedTree = None,
) -> Studyset:
    """The first ``n`` null experiments of the fixed list for ``studyset``.

    Experiment ``j`` draws, from ``SeedTree(seed).child("fsn", "null-experiment", j)``, a sample
    size and a number of foci from those of ``studyset`` (independently, with replacement) and
    that many distinct voxels of the coverage; its foci are the voxel centres (MNI mm). Ids are
    ``fsn-null-<j>`` (1-based, zero-padded).
    """
    check_integer("n", n, minimum=1)
    grid = grid or mni152_grid()
    positions = coverage_positions(grid, coverage)
    counts = np.bincount(studyset.focus_experiment, minlength=studyset.n_experiments)
    sizes = studyset.sample_sizes
    tree = SeedTree(seed).child("fsn", "null-experiment")
    width = max(4, len(str(n)))
    xyz, which, sample = [], [], []
    for j in range(n):
        rng = tree.child(j).generator()
        size = float(sizes[rng.integers(0, sizes.size)])
        k = int(min(counts[rng.integers(0, counts.size)], positions.size))
        voxels = positions[rng.choice(positions.size, size=k, replace=False)]
        xyz.append(grid.ijk_to_mm(grid.mask_ijk[voxels]).reshape(-1, 3))
        which.append(np.full(k, j))
        sample.append(size)
    ids = [f"{NULL_PREFIX}{j + 1:0{width}d}" for j in range(n)]
    return Studyset.from_arrays(
        np.vstack(xyz), np.concatenate(which), np.asarray(sample), ids=ids,
        name=f"{n} null experiments", source="fail-safe N null experiments",
    )  # fmt: skip


def bisect_fail_safe(
    survives: Callable[[int], bool], minimum: int, maximum: int
) -> tuple[int, bool, list[tuple[int, bool]]]:
    """The fail-safe N of one cluster by the paper's search.

    ``survives(n)`` says whether the cluster is still significant with ``n`` null
    experiments (``survives(0)`` is taken as true). The minimum is tried first; if the cluster
    survives it, the maximum; then bisection between the last surviving and the first failing
    number. Returns ``(fsn, reached_maximum, [(n, survived), ...])``.
    """
    if maximum < 1 or not 0 <= minimum:
        raise ParameterError("minimum/maximum", "0 <= minimum and maximum >= 1", (minimum, maximum))
    steps: list[tuple[int, bool]] = []

    def test(n: int) -> bool:
        ok = bool(survives(n))
        steps.append((n, ok))
        return ok

    first = min(max(int(minimum), 1), int(maximum))
    if test(first):
        if first == maximum or test(int(maximum)):
            return int(maximum), True, steps
        low, high = first, int(maximum)
    else:
        low, high = 0, first
    while high - low > 1:
        mid = (low + high) // 2
        if test(mid):
            low = mid
        else:
            high = mid
    return low, False, steps


@dataclass(frozen=True, eq=False)
class FailSafeN:
    """Outcome of :func:`fail_safe_n`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per cluster: ``cluster``, ``significant``, ``fsn``, ``at_maximum`` (the search
        reached its maximum, so the FSN is at least that), ``fsn_per_experiment`` (FSN / k),
        ``minimum_reference``, ``maximum_reference``, ``verdict``, ``steps`` (the numbers of
        null experiments tried, with ``+`` when the cluster survived them).
    analyses : pandas.DataFrame
        Every augmented analysis run: ``n_null``, ``n_experiments``, ``cluster_forming_ale``,
        ``n_iters_run`` (Monte Carlo iterations its decisions needed, at most ``n_iters``) and
        ``decided`` (the original clusters it was asked about, ``+`` when still significant).
    null : Studyset
        The null experiments used (the first ``max_null`` of the fixed list).
    parameters : dict
    """

    table: pd.DataFrame
    analyses: pd.DataFrame
    null: Studyset
    parameters: dict[str, Any] = field(default_factory=dict)


#: Monte Carlo iterations per chunk of an augmented analysis' FWE null.
CHUNK = 100


def _chunk_sizes(total: int, chunk: int = CHUNK) -> list[int]:
    sizes = [chunk] * (total // chunk) + ([total % chunk] if total % chunk else [])
    if len(sizes) > 1 and sizes[-1] < 2:  # monte_carlo_null needs at least 2 iterations
        last = sizes.pop()
        sizes[-1] += last
    return sizes


@dataclass(eq=False)
class _Step:
    """The analysis with the first ``n`` null experiments, and its FWE decisions.

    The cluster-size null is computed in chunks (chunk ``c`` from the stream
    ``("fsn", "fwe", n, c)``) only as far as a decision needs: with ``N`` iterations in all, a
    cluster of size ``s`` is significant when ``max(#(null >= s), 1) / N < alpha``; once the
    count is that large it cannot be, and once the count plus the iterations left is still
    small enough, it must be. Decisions are therefore those of the full ``N``-iteration null.
    Both tests only become true as chunks are added, so each decision is read at the first
    chunk that settles it, and ``n_run`` counts the chunks the decisions read: chunks an
    executor computed ahead of need are kept for later decisions but not counted.
    """

    n: int
    n_experiments: int
    threshold: float
    layout: Any
    overlaps: dict[int, np.ndarray]
    total: int
    alpha: float
    tree: SeedTree
    n_jobs: int | None
    executor: Any = None
    chunks: list[np.ndarray] = field(default_factory=list)
    used: int = 0
    decided: dict[int, bool] = field(default_factory=dict)

    @classmethod
    def run(cls, studyset, null, n, settings, iters, alpha, labels, numbers, tree,
            executor=None) -> _Step:  # fmt: skip
        from syntony.meta.ale import ALE
        from syntony.meta.clusters import label_clusters

        grid = settings["grid"]
        augmented = Studyset.concat(
            [studyset, null.select(null.ids[:n])], name=f"{studyset.name} + {n} null"
        )
        est = ALE(n_iters=0, random_state=tree.child("fsn", "threshold", n).seed_sequence,
                  **settings)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = est.fit(augmented)
        volume, _ = label_clusters(grid.unmask(fit.ale_.astype(np.float64) > fit.threshold_))
        aug = volume[grid.mask]
        sizes = np.bincount(aug)
        overlaps = {}
        for c in numbers:
            touching = np.unique(aug[(labels == c) & (aug > 0)])
            overlaps[int(c)] = sizes[touching].astype(np.int64)
        return cls(
            n=n, n_experiments=augmented.n_experiments, threshold=float(fit.threshold_),
            layout=fit.layout_, overlaps=overlaps, total=iters, alpha=alpha, tree=tree,
            n_jobs=settings.get("n_jobs"), executor=executor,
        )  # fmt: skip

    @property
    def n_run(self) -> int:
        return int(sum(c.size for c in self.chunks[: self.used]))

    def _verdict(self, counts: np.ndarray, left: int) -> bool | None:
        # p = count / N, one division of whole numbers as the FWE null computes it
        # (syntony.meta.fwe.null_to_p), compared with alpha as that p would be.
        if np.any(np.maximum(counts + left, 1) / self.total < self.alpha):
            return True
        if np.all(np.maximum(counts, 1) / self.total >= self.alpha):
            return False
        return None

    def survives(self, cluster: int) -> bool:
        """Whether some cluster overlapping ``cluster`` is significant (cluster-size FWE)."""
        if cluster in self.decided:
            return self.decided[cluster]
        observed = self.overlaps[cluster]
        if observed.size == 0:
            self.decided[cluster] = False
            return False
        plan = _chunk_sizes(self.total)
        counts = np.zeros(observed.size, dtype=np.int64)
        done = c = 0
        while True:
            verdict = self._verdict(counts, self.total - done)
            if verdict is not None:
                self.used = max(self.used, c)
                self.decided[cluster] = verdict
                return verdict
            if c == len(self.chunks):
                self._compute(plan, observed, counts, done)
            sizes = self.chunks[c]
            counts += np.array([np.count_nonzero(sizes >= s) for s in observed])
            done += sizes.size
            c += 1

    def _compute(self, plan: list[int], observed: np.ndarray, counts: np.ndarray,
                 done: int) -> None:  # fmt: skip
        """Add the next chunk; on an executor, as many as could be needed before a decision
        (at least one per worker), each a task."""
        from syntony.meta.fwe import monte_carlo_null

        first = len(self.chunks)
        if self.executor is None:
            fwe = monte_carlo_null(
                self.layout, n_iters=plan[first], threshold=self.threshold,
                seed=self.tree.child("fsn", "fwe", self.n, first), n_jobs=self.n_jobs,
            )  # fmt: skip
            self.chunks.append(fwe.max_size)
            return
        # The fewest chunks after which a decision is possible: the best case for "significant"
        # (no further null maximum reaches a size) or for "not" (every one does).
        needed, added = len(plan) - first, 0
        for m, size in enumerate(plan[first:], start=1):
            added += size
            left = self.total - done - added
            if np.any(np.maximum(counts + left, 1) / self.total < self.alpha) or np.all(
                np.maximum(counts + added, 1) / self.total >= self.alpha
            ):
                needed = m
                break
        count = min(len(plan) - first, max(needed, worker_count(self.executor)))
        items = [(c, plan[c]) for c in range(first, first + count)]
        shared = _ChunkShared(layout=self.layout, threshold=self.threshold, tree=self.tree,
                              n=self.n)  # fmt: skip
        self.chunks.extend(gather(self.executor, _chunk_task, items, shared=shared))

    def record(self) -> dict[str, Any]:
        return {
            "n_null": self.n,
            "n_experiments": self.n_experiments,
            "cluster_forming_ale": self.threshold,
            "n_iters_run": self.n_run,
            "decided": " ".join(
                f"{c}{'+' if ok else '-'}" for c, ok in sorted(self.decided.items())
            ),
        }


@dataclass(frozen=True, eq=False)
class _ChunkShared:
    """What every Monte Carlo chunk of one augmented analysis needs (sent once per worker)."""

    layout: Any
    threshold: float
    tree: SeedTree
    n: int


def _chunk_task(item: tuple[int, int], shared: _ChunkShared) -> np.ndarray:
    """Chunk ``c`` of the analysis' cluster-size null: its largest cluster per iteration."""
    from syntony.meta.fwe import monte_carlo_null

    c, iters = item
    fwe = monte_carlo_null(
        shared.layout, n_iters=iters, threshold=shared.threshold,
        seed=shared.tree.child("fsn", "fwe", shared.n, c), n_jobs=1,
    )  # fmt: skip
    return fwe.max_size


def _verdict(fsn: int, at_max: bool, low: float, high: float) -> str:
    if fsn > high:
        return "above the maximum: it may rest on a few strongly converging experiments"
    if at_max:
        return f"at least {fsn}: it survived every null experiment tried"
    if fsn < low:
        return "below the minimum: a small file drawer would remove it"
    return "between the minimum and the maximum: robust to a plausible file drawer"


def fail_safe_n(
    studyset: Studyset,
    labels: np.typing.ArrayLike,
    *,
    significant: np.typing.ArrayLike | None = None,
    estimator: ALE | None = None,
    n_iters: int | None = None,
    reference: tuple[float, float] = (2.0, 10.0),
    max_null: int | None = None,
    coverage: str = "brain",
    random_state: SeedLike = None,
    n_jobs: int | None = None,
    progress: bool = False,
    executor: Executor | None = None,
) -> FailSafeN:
    """Fail-safe N of every cluster of an ALE (Acar et al. 2018); see the module docstring.

    Parameters
    ----------
    studyset : Studyset
        The analysed experiments.
    labels : int array (n_mask_voxels,)
        The result's clusters (numbers as in ``clusters.tsv``; 0 outside). Typically every
        cluster above the cluster-forming threshold, with ``significant`` saying which passed.
    significant : array of int, optional
        Numbers of the significant clusters (default: every cluster in ``labels``); the others
        get FSN 0.
    estimator : ALE, optional
        The analysis settings to repeat (kernel, grid, cluster_p, fwe_alpha, analytic null,
        cluster-forming rule); its seed is replaced by the FSN's streams and its early stop is
        not used (each decision is that of the full ``n_iters`` null, see below).
    n_iters : int, optional
        Monte Carlo FWE iterations of every augmented analysis (default: the estimator's).
    reference : (float, float)
        Minimum and maximum as multiples of the number of experiments k.
    max_null : int, optional
        Largest number of null experiments tried (default ``10 k + 10``).
    coverage : {"brain", "gm"}
        Where null foci fall.
    random_state : int, SeedSequence or None
        Root of the FSN's seed streams.
    n_jobs : int, optional
        Threads of each analysis' Monte Carlo loop.
    progress : bool
        Show one line per augmented analysis.
    executor : Executor, optional
        Run each analysis' Monte Carlo chunks as tasks (:mod:`syntony.execution`: local
        processes, a Dask cluster); see the module docstring. The table and the analyses are
        the same as without it.
    """
    from syntony.meta.ale import ALE

    template = estimator or ALE()
    if not isinstance(template, ALE):
        raise ParameterError("estimator", "an ALE estimator (its settings are reused)", template)
    grid = template.grid or mni152_grid()
    labels = check_labels(labels, grid.n_voxels)
    k = studyset.n_experiments
    low_factor, high_factor = (float(v) for v in reference)
    if not 0 <= low_factor <= high_factor:
        raise ParameterError(
            "reference", "(minimum, maximum) with 0 <= minimum <= maximum", reference
        )
    minimum, maximum = low_factor * k, high_factor * k
    top = 10 * k + 10 if max_null is None else check_integer("max_null", max_null, minimum=1)
    iters = template.n_iters if n_iters is None else n_iters
    check_integer("n_iters", iters, minimum=2)
    numbers = np.unique(labels[labels > 0])
    wanted = (
        set(numbers.tolist()) if significant is None else {int(c) for c in np.ravel(significant)}
    )
    unknown = wanted.difference(numbers.tolist())
    if unknown:
        raise ParameterError(
            "significant", "numbers of clusters present in labels", sorted(unknown)
        )
    tree = SeedTree(random_state)
    null = null_experiments(studyset, top, grid=grid, coverage=coverage, seed=tree)
    settings = dict(
        kernel=template.kernel, grid=grid, cluster_p=template.cluster_p,
        null_method=template.null_method, cluster_threshold=template.cluster_threshold,
        n_jobs=n_jobs,
    )  # fmt: skip
    steps_cache: dict[int, _Step] = {}

    def step(n: int) -> _Step:
        if n not in steps_cache:
            steps_cache[n] = _Step.run(studyset, null, n, settings, iters, template.fwe_alpha,
                                       labels, numbers, tree, executor)  # fmt: skip
            if progress:
                print(f"fail-safe N: analysis with {n} null experiments", flush=True)
        return steps_cache[n]

    rows = []
    for c in numbers:
        if int(c) not in wanted:
            fsn, at_max, steps = 0, False, []
        else:
            fsn, at_max, steps = bisect_fail_safe(
                lambda n, c=int(c): step(n).survives(c), int(np.ceil(minimum)), top
            )
        rows.append(
            {
                "cluster": int(c),
                "significant": int(c) in wanted,
                "fsn": int(fsn),
                "at_maximum": bool(at_max),
                "fsn_per_experiment": fsn / k,
                "minimum_reference": minimum,
                "maximum_reference": maximum,
                "verdict": _verdict(fsn, at_max, minimum, maximum)
                if int(c) in wanted
                else "not significant in the analysis",
                "steps": " ".join(f"{n}{'+' if ok else '-'}" for n, ok in steps),
            }
        )
    columns = ["cluster", "significant", "fsn", "at_maximum", "fsn_per_experiment",
               "minimum_reference", "maximum_reference", "verdict", "steps"]  # fmt: skip
    table = pd.DataFrame(rows, columns=columns).astype(
        {
            "cluster": "int64",
            "fsn": "int64",
            "significant": "bool",
            "at_maximum": "bool",
            "verdict": "str",
            "steps": "str",
        }
    )
    analyses = pd.DataFrame(
        [steps_cache[n].record() for n in sorted(steps_cache)],
        columns=["n_null", "n_experiments", "cluster_forming_ale", "n_iters_run", "decided"],
    )
    parameters = {
        "n_experiments": k,
        "reference_factors": [low_factor, high_factor],
        "minimum_reference": minimum,
        "maximum_reference": maximum,
        "max_null": top,
        "n_iters_per_step": iters,
        "coverage": coverage,
        "n_analyses": len(steps_cache),
        "criterion": "any voxel of the cluster in a cluster significant by cluster-size FWE "
        f"p<{template.fwe_alpha:g}",
    }
    return FailSafeN(table=table, analyses=analyses, null=null, parameters=parameters)
