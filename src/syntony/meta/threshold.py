"""Cluster-forming thresholds for ALE: from the analytic null, or from Monte Carlo null maps.

The analytic null (Eickhoff et al. 2012) takes each experiment's observed MA histogram and
assumes its voxels are spread at random; the Monte Carlo FWE null instead moves every focus on
its own. When an experiment's foci overlap (typical of database articles with dozens of peaks
each), moving them apart enlarges the experiment's MA footprint, so null maps carry more
high ALE values than the analytic null predicts. The p < 0.001 threshold of the analytic null
then lets several percent of every null map through, null clusters grow huge and cluster-level
FWE loses nearly all power (seen on NeuroQuery MACM selections: 46 foci per article, 23 % more
MA mass once the foci are moved apart, 6 % of null voxels above the analytic threshold).

:class:`MonteCarloThreshold` takes the threshold from null maps drawn exactly as the FWE loop
draws them, so the cluster-forming step and the cluster-size null agree by construction.
:class:`AnalyticThreshold` is the published and NiMARE default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer
from syntony.meta.fwe import null_ale_maps

if TYPE_CHECKING:
    from syntony.meta.layout import Layout
    from syntony.meta.null import HistogramNull

__all__ = ["AnalyticThreshold", "MonteCarloThreshold", "null_maps"]


@dataclass(frozen=True)
class AnalyticThreshold:
    """The ALE at which the analytic null's upper tail reaches ``p`` (NiMARE, GingerALE)."""

    def __call__(
        self,
        layout: Layout,
        null: HistogramNull,
        p: float,
        *,
        seed: SeedLike = None,
        n_jobs: int | None = None,
        pool: np.ndarray | None = None,
    ) -> float:
        return null.threshold(p)

    def describe(self, p: float) -> str:
        return f"uncorrected p < {p} under the analytic null"


@dataclass(frozen=True)
class MonteCarloThreshold:
    """The ALE exceeded by a fraction ``p`` of all in-mask voxels of ``n_maps`` null maps.

    Null maps place every focus at a random in-mask voxel (or a random entry of ``pool``,
    as SCALE does), map ``k`` from the named stream ``SeedTree(seed).child("threshold-map", k)``,
    so the threshold does not depend on the number of workers and never shares draws with the
    FWE loop seeded alike. 100 maps pool 22.8 million voxels: the p = 0.001
    threshold then rests on about 22,800 exceedances.
    """

    n_maps: int = 100

    def __post_init__(self) -> None:
        check_integer("n_maps", self.n_maps, minimum=1)

    def __call__(
        self,
        layout: Layout,
        null: HistogramNull,
        p: float,
        *,
        seed: SeedLike = None,
        n_jobs: int | None = None,
        pool: np.ndarray | None = None,
    ) -> float:
        values = null_maps(layout, self.n_maps, seed=seed, n_jobs=n_jobs, pool=pool).ravel()
        above = int(np.floor(p * values.size))
        if above >= values.size:
            return float(values.min())
        # At most a fraction p of the pooled null voxels is strictly above this value.
        return float(np.partition(values, values.size - above - 1)[values.size - above - 1])

    def describe(self, p: float) -> str:
        return (
            f"exceeded by a fraction {p} of the voxels of {self.n_maps} Monte Carlo null maps "
            "(foci placed at random as in the FWE procedure)"
        )


def null_maps(
    layout: Layout,
    n_maps: int,
    *,
    seed: SeedLike = None,
    n_jobs: int | None = None,
    pool: np.ndarray | None = None,
) -> np.ndarray:
    """In-mask ALE of ``n_maps`` null maps (float32, n_maps x n_mask_voxels).

    Built by :func:`syntony.meta.fwe.null_ale_maps`, exactly as the FWE loop builds its maps;
    map ``k`` draws its foci from ``SeedTree(seed).child("threshold-map", k)``.
    """
    maps = SeedTree(seed).children("threshold-map", n_maps)
    n_mask = layout.mask_local.shape[0]
    candidates = np.arange(n_mask) if pool is None else np.asarray(pool, dtype=np.int64)
    draws = np.stack(
        [candidates[node.generator().integers(0, candidates.size, layout.n_foci)] for node in maps]
    )
    return null_ale_maps(layout, draws, n_jobs=n_jobs)
