"""Cluster contributions against a direct per-experiment recomputation of the ALE."""

from __future__ import annotations

import numpy as np
import pytest

from syntony.meta.ale import ALE, ale_map
from syntony.meta.clusters import label_clusters
from syntony.meta.contributions import contribution_matrix, contributions
from syntony.meta.readers import read_studyset


@pytest.fixture(scope="module")
def pain(shared_data):
    studyset = read_studyset(shared_data / "nimare" / "nidm_pain_dset.json")
    est = ALE(n_iters=0).fit(studyset)
    grid = est.layout_.grid
    volume, _ = label_clusters(grid.unmask(est.ale_.astype(np.float64) > est.threshold_))
    labels = volume[grid.mask]
    local = est.layout_.local_ijk(grid.mm_to_ijk(studyset.coordinates))
    return studyset, est, labels, local


def test_matrix_equals_ale_minus_ale_without_each_experiment(pain):
    studyset, est, labels, local = pain
    raw, reached = contribution_matrix(est.layout_, local, labels)
    assert raw.shape == (studyset.n_experiments, labels.max())
    full = ale_map(studyset).astype(np.float64)
    for e in (0, 3, 10, studyset.n_experiments - 1):
        without = ale_map(studyset.drop([studyset.ids[e]])).astype(np.float64)
        expected = np.bincount(labels, weights=full - without, minlength=labels.max() + 1)[1:]
        # ale_map is float32: compare to its resolution, summed over a cluster.
        np.testing.assert_allclose(raw[e], expected, atol=2e-7 * np.bincount(labels)[1:].max())
        assert np.all(reached[e][expected > 1e-6])


def test_shares_sum_to_100_and_are_sorted(pain):
    studyset, est, labels, local = pain
    shares = contributions(est.layout_, local, labels, studyset.ids)
    assert len(shares) == labels.max()
    for cluster in shares:
        values = list(cluster.values())
        assert sum(values) == pytest.approx(100.0)
        assert values == sorted(values, reverse=True)
        assert set(cluster) <= set(studyset.ids)
