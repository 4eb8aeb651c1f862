"""MACM: experiments of a reference database with a focus in a region, their ALE, networks."""

from __future__ import annotations

import numpy as np
import pytest

from syntony.errors import InputError, ParameterError
from syntony.meta.ale import ALE
from syntony.meta.databases import load_neuroquery
from syntony.meta.macm import macm, macm_network
from syntony.meta.roi import sphere_roi


@pytest.fixture(scope="module")
def database(shared_data):
    return load_neuroquery(shared_data / "neuroquery").select(terms=["empathy"])


@pytest.fixture(scope="module")
def two(database):
    est = ALE(n_iters=8, random_state=0)
    left = macm(sphere_roi((-38, 16, 2), 10, name="L_insula"), database, default_n=20,
                estimator=est)  # fmt: skip
    right = macm(sphere_roi((40, 18, 0), 10, name="R_insula"), database, default_n=20,
                 estimator=est)  # fmt: skip
    return left, right


def test_selects_every_article_with_a_peak_in_the_region(database, two):
    left, _ = two
    grid = left.roi.grid
    # brute force: each peak to its nearest voxel, inside the sphere volume
    ijk = np.rint((database.coordinates - grid.affine[:3, 3]) / np.diag(grid.affine)[:3]).astype(
        int
    )
    ok = np.all((ijk >= 0) & (ijk < grid.shape), axis=1)
    hit = np.zeros(len(ijk), dtype=bool)
    hit[ok] = left.roi.volume[tuple(ijk[ok].T)]
    expected = sorted(set(map(str, database.ids[database.peak_article[hit]])))
    assert sorted(left.experiment_ids) == expected
    assert left.ale.parameters["n_experiments"] == len(expected)
    # every article's foci are all used (not only those in the region), with N = default_n
    n_foci = int(database.select(ids=expected).n_peaks)
    assert left.ale.parameters["n_foci"] == n_foci
    assert "N = 20" in left.methods


def test_the_region_is_covered_by_its_own_coactivation(two):
    left, _ = two
    ale = left.ale.maps["ale"]
    inside = left.roi.in_mask()
    # every selected article has a peak in the seed: the seed has the highest ALE values
    assert ale[inside].mean() > 5 * ale[~inside].mean()


def test_network_merges_regions(two, tmp_path):
    left, right = two
    net = macm_network([left, right], level="uncorrected")
    count = net.maps["n_regions"]
    a = left.ale.maps["ale"].astype(np.float64) > left.ale.threshold
    b = right.ale.maps["ale"].astype(np.float64) > right.ale.threshold
    np.testing.assert_array_equal(count, a.astype(int) + b.astype(int))
    np.testing.assert_array_equal(net.maps["ale_min"] > 0, a & b)
    table = net.tables["network"]
    assert len(table) == net.maps["clusters"].max()
    assert table["regions"].str.contains("L_insula").any()
    # saved once: the network's maps, and each region's MACM in its own folder
    names = {str(p.relative_to(tmp_path / "net")) for p in net.save(tmp_path / "net")}
    assert {"n_regions.nii.gz", "network.tsv", "report.html"} <= names
    for name in ("roi.nii.gz", "experiments.tsv", "ale.nii.gz", "clusters.tsv", "report.html"):
        assert f"L_insula/{name}" in names and f"R_insula/{name}" in names


def test_errors(database):
    tiny = sphere_roi((0, 60, -40), 2)
    with pytest.raises(InputError, match="at least"):
        macm(tiny, database, default_n=20, estimator=ALE(n_iters=2), min_experiments=1000)
    with pytest.raises(ParameterError):
        macm(tiny, database, default_n=0)
    with pytest.raises(ParameterError):
        macm_network([])
