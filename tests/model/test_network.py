"""Perception networks: shape, symmetry, no self-loops, degrees, and the generators' contracts."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from syntony.errors import ParameterError
from syntony.model import network as net


def _valid(a: sp.csr_matrix, n: int) -> None:
    assert sp.isspmatrix_csr(a) or isinstance(a, sp.csr_matrix)
    assert a.shape == (n, n)
    assert np.all(a.diagonal() == 0)
    assert np.all(a.data > 0)


def test_complete_and_ring_degrees():
    a = net.complete_graph(6, weight=0.5)
    _valid(a, 6)
    assert a.nnz == 30 and np.allclose(a.data, 0.5)
    r = net.ring_lattice(10, 2)
    _valid(r, 10)
    assert np.all(np.diff(r.indptr) == 4)
    assert (r != r.T).nnz == 0
    assert r[0, 1] == 1 and r[0, 9] == 1 and r[0, 8] == 1 and r[0, 3] == 0


def test_watts_strogatz_symmetric_and_rewired():
    a = net.watts_strogatz(200, 3, 0.0, seed=1)
    assert (a != net.ring_lattice(200, 3)).nnz == 0
    b = net.watts_strogatz(200, 3, 0.3, seed=1)
    _valid(b, 200)
    assert (b != b.T).nnz == 0
    assert (b != a).nnz > 0
    assert abs(b.nnz / 200 - 6) < 0.5  # rewiring keeps the mean degree close to 2k
    c = net.watts_strogatz(200, 3, 0.3, seed=1)
    assert (b != c).nnz == 0


def test_random_out_degree_large_is_fast_and_exact():
    a = net.random_out_degree(100_000, 10, seed=0)
    _valid(a, 100_000)
    degree = np.diff(a.indptr)
    assert degree.max() <= 10 and degree.mean() > 9.99  # duplicates are rare


def test_spatial_crowd_matches_brute_force():
    a, pos = net.spatial_crowd(300, 0.1, seed=3)
    _valid(a, 300)
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    want = (dist <= 0.1) & ~np.eye(300, dtype=bool)
    assert np.array_equal(a.toarray() > 0, want)


def test_networkx_generators_and_edge_lists():
    ba = net.barabasi_albert(100, 2, seed=0)
    _valid(ba, 100)
    assert (ba != ba.T).nnz == 0 and ba.nnz == 2 * 2 * (100 - 2)
    sbm = net.stochastic_block([20, 30], 0.9, 0.0, seed=0)
    dense = sbm.toarray()
    assert dense[:20, 20:].sum() == 0 and dense[:20, :20].sum() > 0
    e = net.from_edge_list([(0, 1), (1, 2, 2.5), (1, 0)], 4)
    assert e.toarray().tolist() == [[0, 1, 0, 0], [1, 0, 2.5, 0], [0, 2.5, 0, 0], [0, 0, 0, 0]]
    d = net.from_edge_list([(0, 1)], 3, directed=True)
    assert d[0, 1] == 1 and d[1, 0] == 0
    g = nx.path_graph(4)
    g.add_edge(2, 2)
    p = net.as_adjacency(g)
    _valid(p, 4)
    assert p.nnz == 6


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ParameterError, match="edges"):
        net.from_edge_list([(0, -1)], 3)
    with pytest.raises(ParameterError, match="edges"):
        net.from_edge_list([(0, 5)], 3)
    with pytest.raises(ParameterError, match="m"):
        net.barabasi_albert(3, 3)
    with pytest.raises(ParameterError, match="adjacency"):
        net.as_adjacency(np.ones((3, 4)))


def test_laplacian_rows_sum_to_zero():
    a = net.watts_strogatz(50, 2, 0.2, seed=0)
    lap = net.laplacian(a)
    assert np.allclose(np.asarray(lap.sum(axis=1)).ravel(), 0)
