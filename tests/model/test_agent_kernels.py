"""The fast engine's specialised paths against the numpy reference.

The numba engine picks, once per run, how it reads ``A_ij * trust_ij`` (one number for a
uniform network, a precomputed product, or per edge while trust is learned), whether the agent
constants are one shared row or one row per agent, and a single-channel or multi-channel copy
of its kernels; recorded and unrecorded steps run different copies too. Each path must give the
reference's numbers.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from syntony._numba import aligned_empty, prefetch
from syntony.model import _kernels
from syntony.model import network as net
from syntony.model.agents import LoopParams, initial_state
from syntony.model.loop import NumbaEngine, NumpyEngine, RecordSpec, run_loop


def _params(adjacency, *, heterogeneous=False, channels=1, seed=0, **overrides):
    n = adjacency.shape[0]
    rng = np.random.default_rng(seed)

    def per_agent(value, spread):
        return value * (1.0 + spread * rng.random(n)) if heterogeneous else np.full(n, value)

    base = dict(
        adjacency=adjacency, kappa=per_agent(1.0, 0.5), homeostasis=per_agent(0.3, 0.5),
        q_x=per_agent(0.2, 0.5), sigma=per_agent(0.3, 1.0), gamma_int=per_agent(1.0, 0.5),
        gamma_soc=per_agent(1.0, 0.5), q=per_agent(0.01, 1.0), hazard_def=per_agent(0.02, 1.0),
        hazard_aff=per_agent(0.02, 1.0), obs=np.array([0.9, 0.3][:channels]),
        cue_noise=np.array([0.5, 0.4][:channels]), dt=0.1, tau_rho=1.0, beta_threat=0.5,
        b_def=1.5,
    )  # fmt: skip
    base.update(overrides)
    return LoopParams(**base)


def _drive(n, channels, steps):
    def drive(t):
        u = np.zeros((n, channels))
        if t < steps // 3:
            u[: max(1, n // 10)] = 4.0
        return u

    return drive


def _run_both(params, steps, *, trust0=1.0, every=3, edges=True, key=3):
    n, e = params.n_agents, params.n_channels
    x0 = np.random.default_rng(1).normal(size=(n, e))
    spec = RecordSpec(
        agents=np.arange(0, n, max(1, n // 200)),
        every=every,
        edges=np.arange(0, params.adjacency.nnz, 7) if edges else None,
    )
    out = []
    engines = (NumpyEngine(), NumbaEngine())
    for engine in engines:
        state = initial_state(params, x0=x0, mu0=0.0, v0=1.0, p0=0.2, trust0=trust0)
        rec = run_loop(
            params, state, steps, key=key, drive=_drive(n, e, steps), record=spec, engine=engine
        )
        out.append((rec, state))
    return out, engines[1]


def _assert_same(out):
    (a, sa), (b, sb) = out
    for name in a.agent:
        np.testing.assert_allclose(a.agent[name], b.agent[name], atol=1e-9, err_msg=name)
    for name in a.edge:
        np.testing.assert_allclose(a.edge[name], b.edge[name], rtol=1e-6, atol=1e-7, err_msg=name)
    for name in ("x", "mu", "v", "p", "mean_s", "var_s"):
        np.testing.assert_allclose(getattr(sa, name), getattr(sb, name), atol=1e-9, err_msg=name)
    np.testing.assert_allclose(sa.cov, sb.cov, rtol=1e-6, atol=1e-7)
    for name in a.summary:
        np.testing.assert_allclose(a.summary[name], b.summary[name], atol=1e-9, err_msg=name)


def _weighted(adjacency, seed=0):
    a = adjacency.copy()
    a.data = np.random.default_rng(seed).uniform(0.2, 2.0, a.nnz)
    return a


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("heterogeneous", [False, True], ids=["same-agents", "mixed-agents"])
@pytest.mark.parametrize(
    ("case", "mode"),
    [
        ("uniform", _kernels.EDGE_UNIFORM),
        ("weighted", _kernels.EDGE_PRODUCT),
        ("trust0", _kernels.EDGE_PRODUCT),
        ("learned", _kernels.EDGE_LIVE),
    ],
)
def test_every_edge_mode_and_agent_table_matches_the_reference(case, mode, heterogeneous, channels):
    adjacency = net.watts_strogatz(80, 3, 0.2, seed=2)
    trust0: float | np.ndarray = 1.0
    overrides = {}
    if case == "weighted":
        adjacency = _weighted(adjacency)
    elif case == "trust0":
        trust0 = np.random.default_rng(5).uniform(0.1, 1.0, adjacency.nnz)
    elif case == "learned":
        overrides["learn_trust"] = True
    params = _params(adjacency, heterogeneous=heterogeneous, channels=channels, **overrides)
    out, engine = _run_both(params, 60, trust0=trust0)
    _assert_same(out)
    prepared = engine._prepared
    assert prepared.edge_mode == mode
    assert prepared.table_stride == int(heterogeneous)
    rec = out[0][0]
    assert np.ptp(rec.summary["fraction_defensive"]) > 0  # modes switched: the branch ran
    if case == "learned":
        assert np.ptp(rec.edge["trust"]) > 0.01


def test_crowds_larger_than_a_block_match_the_reference_with_an_odd_number_of_entries():
    """Several blocks, the last one partial, and an odd n * E: every draw is counted by its
    entry, whichever block draws it."""
    n = 2 * _kernels.BLOCK + 7
    params = _params(_weighted(net.ring_lattice(n, 2)), heterogeneous=True)
    out, _ = _run_both(params, 25, every=5)
    _assert_same(out)


def test_parallel_kernels_and_thread_counts_give_identical_numbers(monkeypatch):
    n = 3 * _kernels.BLOCK + 11
    params = _params(net.watts_strogatz(n, 3, 0.1, seed=4), heterogeneous=True)
    assert (n + params.adjacency.nnz) >= _kernels.PARALLEL_THRESHOLD
    x0 = np.random.default_rng(2).normal(size=(n, 1))
    spec = RecordSpec(agents=np.arange(0, n, 50), every=4, edges=np.arange(0, 5000, 3))
    results = []
    before = numba.get_num_threads()
    try:
        for threshold, threads in ((10**18, 1), (0, 1), (0, before)):
            monkeypatch.setattr(_kernels, "PARALLEL_THRESHOLD", threshold)
            numba.set_num_threads(threads)
            state = initial_state(params, x0=x0, mu0=0.0, v0=1.0, p0=0.2)
            rec = run_loop(params, state, 20, key=8, drive=_drive(n, 1, 20), record=spec,
                           engine=NumbaEngine())  # fmt: skip
            results.append((rec, state))
    finally:
        numba.set_num_threads(before)
    (a, sa), *others = results
    for b, sb in others:
        for name in a.agent:
            assert np.array_equal(a.agent[name], b.agent[name], equal_nan=True), name
        for name in a.edge:
            assert np.array_equal(a.edge[name], b.edge[name], equal_nan=True), name
        for name in a.summary:
            assert np.array_equal(a.summary[name], b.summary[name], equal_nan=True), name
        assert np.array_equal(sa.cov, sb.cov) and np.array_equal(sa.x, sb.x)


def test_recorded_and_unrecorded_steps_advance_the_state_identically():
    params = _params(net.watts_strogatz(300, 3, 0.2, seed=6))
    x0 = np.random.default_rng(3).normal(size=(300, 1))
    states = []
    for spec in (
        RecordSpec(agents=np.arange(300), every=1, edges=np.arange(0, params.adjacency.nnz, 5)),
        RecordSpec(agents=np.arange(3), every=7),
    ):
        state = initial_state(params, x0=x0, mu0=0.0, v0=1.0, p0=0.2)
        run_loop(params, state, 40, key=4, record=spec, engine=NumbaEngine())
        states.append(state)
    a, b = states
    for name in ("x", "s", "mu", "v", "p", "mean_s", "var_s", "cov", "trust"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_a_trust_change_between_steps_is_seen_after_prepare():
    params = _params(net.watts_strogatz(60, 2, 0.2, seed=1))
    fast, ref = NumbaEngine(), NumpyEngine()
    states = []
    for engine in (ref, fast):
        state = initial_state(params, x0=0.5, mu0=0.0, v0=1.0, p0=0.2)
        for t in range(30):
            if t == 10:
                state.trust[::2] = 0.25  # in place: the engine must be told
                if engine is fast:
                    engine.prepare(params, state)
            engine.step(params, state, 9, None, False)
        states.append(state)
    assert fast._prepared.edge_mode == _kernels.EDGE_PRODUCT
    np.testing.assert_allclose(states[0].mu, states[1].mu, atol=1e-9)
    np.testing.assert_allclose(states[0].x, states[1].x, atol=1e-9)


def test_a_fresh_trust_array_is_picked_up_without_prepare():
    params = _params(net.watts_strogatz(60, 2, 0.2, seed=1))
    engine = NumbaEngine()
    state = initial_state(params, x0=0.5, mu0=0.0, v0=1.0, p0=0.2)
    engine.step(params, state, 9, None, False)
    assert engine._prepared.edge_mode == _kernels.EDGE_UNIFORM
    state.trust = np.full_like(state.trust, 0.5)
    state.trust[0] = 0.1
    engine.step(params, state, 9, None, False)
    assert engine._prepared.edge_mode == _kernels.EDGE_PRODUCT
    assert engine._prepared.trust is state.trust


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
def test_aligned_empty_is_aligned_contiguous_and_writable(dtype):
    for n in (1, 7, 1000):
        a = aligned_empty((n, 4), dtype)
        assert a.ctypes.data % 64 == 0
        assert a.shape == (n, 4) and a.dtype == dtype and a.flags.c_contiguous
        a[...] = 3
        assert np.all(a == 3)


def test_prefetch_is_only_a_hint():
    @numba.njit
    def gather(values, index):
        total = 0.0
        for q in range(index.size):
            prefetch(values, index[min(q + 4, index.size - 1)])
            total += values[index[q]]
        return total

    values = np.random.default_rng(0).random(1000)
    index = np.random.default_rng(1).integers(0, 1000, 5000).astype(np.int32)
    assert gather(values, index) == pytest.approx(values[index].sum(), rel=1e-12)
    assert gather(values, index.astype(np.uint64)) == pytest.approx(values[index].sum(), rel=1e-12)


def _records_equal(a, b):
    for group in ("agent", "edge", "summary"):
        for name, value in getattr(a, group).items():
            assert np.array_equal(value, getattr(b, group)[name], equal_nan=True), (group, name)


@pytest.mark.parametrize(
    ("case", "channels"), [("uniform", 1), ("weighted", 2), ("learned", 2), ("learned", 1)]
)
def test_sharing_pairs_gives_the_same_bits_as_computing_both_directions(case, channels):
    """Blocks with edges inside and across them (rewired Watts-Strogatz, 3 blocks)."""
    n = 2 * _kernels.BLOCK + 300
    adjacency = net.watts_strogatz(n, 3, 0.2, seed=8)
    overrides = {"learn_trust": True} if case == "learned" else {}
    if case == "weighted":
        adjacency = _weighted(adjacency)
    params = _params(adjacency, heterogeneous=True, channels=channels, **overrides)
    spec = RecordSpec(agents=np.arange(0, n, 37), every=4, edges=np.arange(0, adjacency.nnz, 13))
    runs = []
    for share in (True, False):
        engine = NumbaEngine(share_pairs=share)
        state = initial_state(params, x0=0.3, mu0=0.0, v0=1.0, p0=0.2)
        rec = run_loop(params, state, 40, key=9, drive=_drive(n, channels, 40), record=spec,
                       engine=engine)  # fmt: skip
        runs.append((rec, state, engine._prepared))
    (a, sa, pa), (b, sb, pb) = runs
    assert pa.cuts.shape == (n, 3) and pb.cuts.size == 0  # the shared path really ran
    _records_equal(a, b)
    for name in ("x", "mu", "v", "p", "cov", "trust"):
        assert np.array_equal(getattr(sa, name), getattr(sb, name)), name
    # the covariance stays symmetric, so the next run can share pairs again
    assert _kernels.partners_agree(adjacency.indptr, pa.cuts, pa.partner, sa.cov)


def test_pair_partners_on_a_ring():
    adjacency = net.ring_lattice(6, 1)  # 0-1-2-3-4-5-0, one block
    cuts, partner = _kernels.pair_partners(adjacency.indptr, adjacency.indices)
    rows = np.repeat(np.arange(6), np.diff(adjacency.indptr))
    for i in range(6):
        lo, hi = adjacency.indptr[i], adjacency.indptr[i + 1]
        cols = adjacency.indices[lo:hi]
        c0, c1, c2 = cuts[i]
        assert c0 == lo and c2 == hi  # one block: nothing before or after it
        assert np.all(cols[: c1 - lo] < i) and np.all(cols[c1 - lo :] > i)
        for q in range(c1, c2):  # the edge back from each later neighbour
            back = partner[q]
            assert rows[back] == adjacency.indices[q] and adjacency.indices[back] == i


@pytest.mark.parametrize("flaw", ["directed", "self-loop"])
def test_flawed_networks_fall_back_to_both_directions(flaw):
    if flaw == "directed":
        adjacency = net.random_out_degree(200, 4, seed=1)
    else:
        adjacency = (net.ring_lattice(200, 2) + sp.eye(200, format="csr")).tocsr()
        adjacency.sort_indices()
    assert _kernels.pair_partners(adjacency.indptr, adjacency.indices) is None
    out, engine = _run_both(_params(adjacency), 20)
    _assert_same(out)
    assert engine._prepared.cuts.size == 0


def test_an_asymmetric_covariance_falls_back_to_both_directions():
    params = _params(net.watts_strogatz(300, 3, 0.2, seed=2))
    state = initial_state(params, x0=0.0, mu0=0.0, v0=1.0, p0=0.2)
    state.cov[::5] = 0.01  # no longer the same in both directions of some edges
    reference = initial_state(params, x0=0.0, mu0=0.0, v0=1.0, p0=0.2)
    reference.cov[:] = state.cov
    spec = RecordSpec(agents=np.arange(300))
    engine = NumbaEngine()
    a = run_loop(params, state, 15, key=2, record=spec, engine=engine)
    assert engine._prepared.cuts.size == 0
    b = run_loop(params, reference, 15, key=2, record=spec, engine=NumpyEngine())
    for name in ("x", "mu", "p_defensive"):
        np.testing.assert_allclose(a.agent[name], b.agent[name], atol=1e-9, err_msg=name)
