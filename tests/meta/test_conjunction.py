"""Conjunction by the minimum statistic."""

from __future__ import annotations

import numpy as np
import pytest

from syntony.errors import InputError, ParameterError
from syntony.meta.ale import ALE
from syntony.meta.clusters import label_clusters
from syntony.meta.conjunction import conjunction, thresholded_ale
from syntony.meta.readers import read_studyset


@pytest.fixture(scope="module")
def mains(shared_data):
    folder = shared_data / "nimare"
    a = read_studyset(folder / "semantic_knowledge_children.txt")
    b = read_studyset(folder / "semantic_relatedness_children.txt")
    return ALE(n_iters=0).fit(a).result_, ALE(n_iters=0).fit(b).result_


def test_minimum_of_thresholded_maps(mains):
    ra, rb = mains
    res = conjunction([ra, rb], level="uncorrected")
    a = ra.maps["ale"].astype(np.float64)
    b = rb.maps["ale"].astype(np.float64)
    both = (a > ra.threshold) & (b > rb.threshold)
    assert both.any()
    expected = np.where(both, np.minimum(ra.maps["ale"], rb.maps["ale"]), 0)
    np.testing.assert_array_equal(res.maps["ale_min"], expected)
    np.testing.assert_array_equal(
        res.maps["z_min"], np.where(both, np.minimum(ra.maps["z"], rb.maps["z"]), 0)
    )
    # clusters: the 6-connected components of the overlap, one table row each
    _, n = label_clusters(ra.grid.unmask(both))
    assert res.maps["clusters"].max() == n == len(res.tables["clusters"])
    table = res.tables["clusters"]
    assert table["size_voxels"].sum() == both.sum()
    assert (table["max_min_ale"] > 0).all()


def test_conjunction_with_itself_is_the_thresholded_map(mains):
    ra, _ = mains
    res = conjunction([ra, ra], level="uncorrected")
    np.testing.assert_array_equal(res.maps["ale_min"], thresholded_ale(ra, level="uncorrected"))


def test_min_cluster_volume_drops_small_clusters(mains):
    ra, rb = mains
    full = conjunction([ra, rb], level="uncorrected")
    sizes = full.tables["clusters"]["size_voxels"].to_numpy()
    cut = float(np.median(sizes)) * 8  # mm3 of 2 mm voxels
    pruned = conjunction([ra, rb], level="uncorrected", min_cluster_mm3=cut)
    assert len(pruned.tables["clusters"]) == int(np.sum(sizes * 8 >= cut))
    assert (pruned.maps["ale_min"] > 0).sum() == int(sizes[sizes * 8 >= cut].sum())


def test_labels_and_save(mains, tmp_path):
    ra, rb = mains
    res = conjunction(
        [ra, rb], level="uncorrected", labeller=lambda xyz: [f"r{len(xyz)}"] * len(xyz)
    )
    assert (res.tables["clusters"]["label"] == f"r{len(res.tables['clusters'])}").all()
    names = {p.name for p in res.save(tmp_path)}
    assert {"ale_min.nii.gz", "clusters.nii.gz", "clusters.tsv", "methods.md"} <= names
    assert "Nichols" in (tmp_path / "methods.md").read_text()


def test_errors(mains):
    ra, rb = mains
    with pytest.raises(ParameterError):
        conjunction([ra])
    with pytest.raises(InputError, match="FWE"):
        conjunction([ra, rb], level="cluster")  # fitted without FWE
    with pytest.raises(ParameterError):
        conjunction([ra, rb], level="voxelwise")
