"""Perception networks: who perceives whom, as a weighted sparse matrix.

Every generator returns a :class:`scipy.sparse.csr_matrix` ``A`` of shape (N, N) with
``A[i, j] > 0`` when agent i perceives agent j, no self-loops and sorted column indices. Row i
lists the agents whose cues i receives, which is the layout the contagion loop walks through.

The generators used for very large crowds (ring lattice, Watts–Strogatz, random out-degree,
2-D spatial crowd) are written directly in numpy/scipy so that 10^6 agents take seconds;
Barabási–Albert and stochastic-block graphs go through networkx, which is fine up to ~10^5
agents. Any networkx graph or edge list can also be turned into an adjacency matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from syntony._rng import SeedLike, check_random_state
from syntony._validate import check_integer, check_positive, check_probability
from syntony.errors import ParameterError

__all__ = [
    "as_adjacency",
    "barabasi_albert",
    "complete_graph",
    "from_edge_list",
    "from_networkx",
    "laplacian",
    "random_out_degree",
    "ring_lattice",
    "spatial_crowd",
    "stochastic_block",
    "watts_strogatz",
]


def _finish(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray | float, n: int
) -> sp.csr_matrix:
    """Assemble a CSR matrix, dropping self-loops and summing duplicate edges."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), rows.shape)
    keep = rows != cols
    matrix = sp.csr_matrix((w[keep], (rows[keep], cols[keep])), shape=(n, n))
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def complete_graph(n: int, *, weight: float = 1.0) -> sp.csr_matrix:
    """Everybody perceives everybody else (a small room, a dyad when ``n = 2``)."""
    n = check_integer("n", n, minimum=1)
    weight = check_positive("weight", weight)
    rows, cols = np.divmod(np.arange(n * n, dtype=np.int64), n)
    return _finish(rows, cols, weight, n)


def ring_lattice(n: int, k: int = 1, *, weight: float = 1.0) -> sp.csr_matrix:
    """Each agent perceives its ``k`` nearest neighbours on each side of a ring (degree 2k)."""
    n = check_integer("n", n, minimum=2)
    k = check_integer("k", k, minimum=1)
    weight = check_positive("weight", weight)
    if 2 * k >= n:
        return complete_graph(n, weight=weight)
    offsets = np.concatenate([np.arange(1, k + 1), -np.arange(1, k + 1)])
    rows = np.repeat(np.arange(n, dtype=np.int64), offsets.size)
    cols = (rows + np.tile(offsets, n)) % n
    return _finish(rows, cols, weight, n)


def watts_strogatz(
    n: int, k: int = 2, p: float = 0.1, *, weight: float = 1.0, seed: SeedLike = None
) -> sp.csr_matrix:
    """Small-world network: a ring lattice (k per side) with each edge rewired with probability p.

    Edges are undirected: a rewired edge (i, j) becomes (i, r) with r uniform, and both
    directions are kept, so perception is mutual. Written in numpy so it scales to 10^6 agents.
    """
    n = check_integer("n", n, minimum=2)
    k = check_integer("k", k, minimum=1)
    p = check_probability("p", p)
    weight = check_positive("weight", weight)
    rng = check_random_state(seed)
    if 2 * k >= n:
        return complete_graph(n, weight=weight)
    src = np.repeat(np.arange(n, dtype=np.int64), k)
    dst = (src + np.tile(np.arange(1, k + 1), n)) % n
    rewire = rng.random(src.size) < p
    dst = dst.copy()
    dst[rewire] = rng.integers(0, n, int(rewire.sum()))
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    matrix = _finish(rows, cols, 1.0, n)
    matrix.data[:] = weight  # duplicates created by rewiring count once
    return matrix


def random_out_degree(
    n: int, degree: int = 10, *, weight: float = 1.0, seed: SeedLike = None
) -> sp.csr_matrix:
    """Each agent perceives ``degree`` others drawn uniformly at random (directed, sparse).

    The cheapest large random graph: O(n * degree) memory and time, for crowds of 10^6 agents.
    """
    n = check_integer("n", n, minimum=2)
    degree = check_integer("degree", degree, minimum=1)
    weight = check_positive("weight", weight)
    if degree >= n - 1:
        return complete_graph(n, weight=weight)
    rng = check_random_state(seed)
    rows = np.repeat(np.arange(n, dtype=np.int64), degree)
    # Draw from the n-1 others, then skip over i itself: no self-loops by construction.
    cols = rng.integers(0, n - 1, rows.size)
    cols = cols + (cols >= rows)
    matrix = _finish(rows, cols, 1.0, n)
    matrix.data[:] = weight
    return matrix


def spatial_crowd(
    n: int,
    radius: float,
    *,
    size: float = 1.0,
    positions: np.ndarray | None = None,
    weight: float = 1.0,
    seed: SeedLike = None,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """A 2-D crowd: agents uniformly placed in a ``size`` x ``size`` square perceive all others
    within ``radius`` (found with a KD-tree, O(n log n)).

    Returns
    -------
    adjacency : scipy.sparse.csr_matrix
    positions : numpy.ndarray of shape (n, 2)
    """
    from scipy.spatial import cKDTree

    n = check_integer("n", n, minimum=1)
    radius = check_positive("radius", radius)
    size = check_positive("size", size)
    weight = check_positive("weight", weight)
    if positions is None:
        positions = check_random_state(seed).random((n, 2)) * size
    else:
        positions = np.asarray(positions, dtype=float)
        if positions.shape != (n, 2):
            raise ParameterError("positions", f"an array of shape ({n}, 2)", positions.shape)
    pairs = cKDTree(positions).query_pairs(radius, output_type="ndarray")
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return _finish(rows, cols, weight, n), positions


def barabasi_albert(
    n: int, m: int = 2, *, weight: float = 1.0, seed: SeedLike = None
) -> sp.csr_matrix:
    """Scale-free network by preferential attachment (hubs: influencers, broadcasters)."""
    import networkx as nx

    n = check_integer("n", n, minimum=2)
    m = check_integer("m", m, minimum=1)
    if m >= n:
        raise ParameterError("m", f"an integer < n = {n}", m)
    rng = check_random_state(seed)
    graph = nx.barabasi_albert_graph(n, m, seed=int(rng.integers(2**31 - 1)))
    return from_networkx(graph, weight_default=weight)


def stochastic_block(
    sizes: Sequence[int],
    p_in: float,
    p_out: float,
    *,
    weight: float = 1.0,
    seed: SeedLike = None,
) -> sp.csr_matrix:
    """Groups (families, teams, fan sections): dense ties within a group, sparse between."""
    import networkx as nx

    sizes = [check_integer(f"sizes[{i}]", s, minimum=1) for i, s in enumerate(sizes)]
    if not sizes:
        raise ParameterError("sizes", "a non-empty list of group sizes", sizes)
    p_in = check_probability("p_in", p_in)
    p_out = check_probability("p_out", p_out)
    probs = [[p_in if a == b else p_out for b in range(len(sizes))] for a in range(len(sizes))]
    rng = check_random_state(seed)
    graph = nx.stochastic_block_model(sizes, probs, seed=int(rng.integers(2**31 - 1)))
    return from_networkx(graph, weight_default=weight)


def from_edge_list(
    edges: Iterable[Sequence[Any]] | np.ndarray,
    n: int | None = None,
    *,
    directed: bool = False,
    weight: float = 1.0,
) -> sp.csr_matrix:
    """Adjacency from ``(i, j)`` or ``(i, j, weight)`` rows (0-based agent indices).

    Undirected edges (the default) are mirrored; with ``directed=True`` row ``(i, j)`` means
    i perceives j.
    """
    if not isinstance(edges, np.ndarray):
        rows = [list(r) for r in edges]
        if any(len(r) not in (2, 3) for r in rows):
            bad = next(k for k, r in enumerate(rows) if len(r) not in (2, 3))
            raise ParameterError(f"edges[{bad}]", "(i, j) or (i, j, weight)", rows[bad])
        # Rows without a weight get the default, so weighted and unweighted rows can mix.
        edges = [r if len(r) == 3 else [*r, weight] for r in rows]
    array = np.asarray(edges, dtype=float)
    if array.size == 0:
        array = array.reshape(0, 2)
    if array.ndim != 2 or array.shape[1] not in (2, 3):
        raise ParameterError("edges", "rows of (i, j) or (i, j, weight)", f"shape {array.shape}")
    ij = array[:, :2]
    if np.any(ij < 0) or np.any(ij != np.round(ij)):
        raise ParameterError(
            "edges", "non-negative integer agent indices", "a negative or fractional index"
        )
    ij = ij.astype(np.int64)
    w = array[:, 2] if array.shape[1] == 3 else np.full(len(array), weight)
    if np.any(~np.isfinite(w)) or np.any(w <= 0):
        raise ParameterError("edges", "weights > 0", "a weight <= 0 or non-finite")
    size = int(ij.max()) + 1 if ij.size else 0
    if n is None:
        n = max(size, 1)
    elif size > n:
        raise ParameterError("edges", f"agent indices < n = {n}", int(ij.max()))
    matrix = _finish(ij[:, 0], ij[:, 1], w, n)
    if not directed:
        # An undirected tie is perceived both ways; listing it twice does not double it.
        matrix = matrix.maximum(matrix.T).tocsr()
        matrix.sort_indices()
    return matrix


def from_networkx(
    graph: Any, *, weight: str = "weight", weight_default: float = 1.0
) -> sp.csr_matrix:
    """Adjacency of a networkx (Di)Graph; nodes are taken in ``graph.nodes`` order."""
    import networkx as nx

    matrix = nx.to_scipy_sparse_array(graph, weight=weight, format="csr", dtype=float)
    matrix = sp.csr_matrix(matrix)
    matrix.setdiag(0)
    matrix.eliminate_zeros()
    if weight_default != 1.0 and not any(weight in d for _, _, d in graph.edges(data=True)):
        matrix.data *= weight_default
    if np.any(matrix.data < 0):
        raise ParameterError(f"edge attribute {weight!r}", "weights > 0", "a negative weight")
    matrix.sort_indices()
    return matrix


def as_adjacency(obj: Any, n: int | None = None) -> sp.csr_matrix:
    """Accept a scipy sparse matrix, a dense array, a networkx graph or an edge list."""
    if sp.issparse(obj):
        matrix = sp.csr_matrix(obj, dtype=float)
    elif hasattr(obj, "nodes") and hasattr(obj, "edges"):
        matrix = from_networkx(obj)
    else:
        array = np.asarray(obj, dtype=float)
        if (
            array.ndim == 2
            and array.shape[0] == array.shape[1]
            and (n is None or n == array.shape[0])
        ):
            matrix = sp.csr_matrix(array)
        elif array.ndim == 2 and array.shape[1] in (2, 3):
            return from_edge_list(array, n)
        else:
            raise ParameterError(
                "adjacency", "a square matrix or rows of (i, j[, weight])", f"shape {array.shape}"
            )
    if matrix.shape[0] != matrix.shape[1]:
        raise ParameterError("adjacency", "a square matrix", f"shape {matrix.shape}")
    if n is not None and matrix.shape[0] != n:
        raise ParameterError("adjacency", f"a {n} x {n} matrix", f"shape {matrix.shape}")
    if matrix.nnz and (np.any(matrix.data < 0) or not np.all(np.isfinite(matrix.data))):
        raise ParameterError("adjacency", "finite weights >= 0", "a negative or non-finite weight")
    matrix = matrix.copy()
    matrix.setdiag(0)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def laplacian(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """Weighted (out-degree) graph Laplacian L = D - A, D = diag(row sums of A)."""
    a = sp.csr_matrix(adjacency, dtype=float)
    degree = np.asarray(a.sum(axis=1)).ravel()
    return (sp.diags(degree) - a).tocsr()
