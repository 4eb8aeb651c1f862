"""The ALE diagnostics on the execution layer: jackknife, resampled stability and fail-safe N
give the same tables and maps, to the bit, without an executor, on local worker processes and
on a real Dask LocalCluster (the session's ``dask_cluster``)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from _ale_helpers import ball_grid
from _diagnostics_helpers import planted_studyset

from syntony.execution import LocalExecutor
from syntony.meta.ale import ALE
from syntony.meta.diagnostics import Observed, fail_safe_n, jackknife, resampled_stability
from syntony.meta.diagnostics.apply import DiagnosticSettings, diagnose_ale
from syntony.meta.diagnostics.shares import leave_one_out
from syntony.meta.diagnostics.tasks import task_blocks

pytest.importorskip("distributed")


@pytest.fixture(params=["processes", "dask"])
def executor(request):
    if request.param == "dask":
        return request.getfixturevalue("dask_cluster")
    return LocalExecutor(2, kind="processes")


@pytest.fixture(scope="module")
def analysis():
    """Eighteen experiments, five converging on one spot: one significant cluster, whose
    fail-safe N search both passes and fails analyses, some decided before their last chunk."""
    grid = ball_grid(radius=12, size=30)
    ss = planted_studyset(np.random.default_rng(8), grid, 18, n_carrying=5,
                          centre_mm=(2.0, 0.0, 0.0), spread_mm=2.0)  # fmt: skip
    est = ALE(grid=grid, n_iters=300, random_state=0, n_jobs=1)
    result = est.fit(ss).result_
    assert result.clusters["significant"].astype(bool).any()
    return grid, ss, est, result, Observed.build(ss, grid=grid)


def _tasks(executor, run):
    before = executor.stats.tasks
    out = run()
    return out, executor.stats.tasks - before


def _same_array(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_task_blocks_cover_the_range_in_order():
    class Four:
        n_workers = 4

    for n in (1, 5, 16, 17, 100):
        blocks = task_blocks(n, Four())
        assert blocks[0][0] == 0 and blocks[-1][1] == n
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in pairwise(blocks))
        assert len(blocks) == min(n, 16)
    assert task_blocks(0, Four()) == [] and len(task_blocks(9, None)) == 4


def test_jackknife_identical(analysis, executor):
    grid, _, _, result, observed = analysis
    labels = result.maps["clusters"]
    reference = jackknife(observed, labels)
    table, tasks = _tasks(executor, lambda: jackknife(observed, labels, executor=executor))
    assert tasks > 1  # the experiments went out in several blocks
    pd.testing.assert_frame_equal(reference, table, check_exact=True)
    assert (reference.drop(columns="id").to_numpy() > 0).any()
    # The pass with weights and offsets everywhere (what the contrast and conjunction use).
    rng = np.random.default_rng(1)
    blocks = np.where(rng.random(grid.n_voxels) < 0.3, rng.integers(1, 5, grid.n_voxels), 0)
    weight, gap = rng.normal(size=grid.n_voxels), rng.random(grid.n_voxels) * 1e-3
    a, numbers_a = leave_one_out(observed, blocks, weight, gap=gap)
    b, numbers_b = leave_one_out(observed, blocks, weight, gap=gap, executor=executor)
    _same_array(a, b)
    _same_array(numbers_a, numbers_b)


@pytest.mark.parametrize("replay", [False, True])
def test_resampled_stability_identical(analysis, executor, replay):
    _, _, _, result, observed = analysis
    args = dict(labels=result.maps["clusters"], target_n=16, n_resamples=10, n_iters=40,
                coverage="brain", random_state=5, replay_nimare=replay, n_jobs=1)  # fmt: skip
    reference = resampled_stability(observed, result.null, **args)
    other, tasks = _tasks(
        executor, lambda: resampled_stability(observed, result.null, executor=executor, **args)
    )
    assert tasks > 2  # null replicates and resamples, each in several blocks
    _same_array(reference.map, other.map)
    _same_array(reference.null_sizes, other.null_sizes)
    pd.testing.assert_frame_equal(reference.clusters, other.clusters, check_exact=True)
    assert [s.tolist() for s in reference.subsets] == [s.tolist() for s in other.subsets]
    assert reference.parameters == other.parameters
    assert 0 < reference.map.max() <= 1


FSN_ARGS = dict(max_null=40, reference=(0.5, 2.0), random_state=3, n_jobs=1)


@pytest.fixture(scope="module")
def fsn_reference(analysis):
    _, ss, est, result, _ = analysis
    return fail_safe_n(ss, result.maps["clusters"], estimator=est, **FSN_ARGS)


def test_fail_safe_n_identical(analysis, fsn_reference, executor):
    _, ss, est, result, _ = analysis
    labels, reference = result.maps["clusters"], fsn_reference
    other, tasks = _tasks(
        executor, lambda: fail_safe_n(ss, labels, estimator=est, executor=executor, **FSN_ARGS)
    )
    assert tasks > 0
    pd.testing.assert_frame_equal(reference.table, other.table, check_exact=True)
    # The record of analyses too: each decision read at the chunk that settled it, although
    # the executor computed chunks ahead of need.
    pd.testing.assert_frame_equal(reference.analyses, other.analyses, check_exact=True)
    assert len(reference.analyses) > 2 and (reference.analyses["n_iters_run"] < 300).any()
    assert (reference.table["fsn"] > 0).any() and "-" in reference.table["steps"].iloc[0]
    _same_array(reference.null.coordinates, other.null.coordinates)


def test_result_diagnose_on_dask_equals_serial(analysis, dask_cluster):
    _, ss, est, _, _ = analysis
    settings = DiagnosticSettings(stability_resamples=6, stability_iters=30, coverage="brain",
                                  fsn_max=40, fsn_iters=200, fsn_reference=(0.5, 2.0))  # fmt: skip
    serial = est.fit(ss).result_
    reference = diagnose_ale(serial, ss, "all", estimator=est, settings=settings, random_state=2)
    result = est.fit(ss).result_
    assert result.diagnose("all", ss, executor=dask_cluster, estimator=est, settings=settings,
                           random_state=2) is result  # fmt: skip
    _same_diagnostics(reference, result.diagnostics)


def _same_diagnostics(reference, other):
    assert [d.name for d in reference] == [d.name for d in other]
    for a, b in zip(reference, other, strict=True):
        assert a.text == b.text and a.warnings == b.warnings and a.parameters == b.parameters
        pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
        assert set(a.parts) == set(b.parts) and set(a.maps) == set(b.maps)
        for k in a.parts:
            pd.testing.assert_frame_equal(a.parts[k], b.parts[k], check_exact=True)
        for k in a.maps:
            _same_array(a.maps[k], b.maps[k])


def test_contrast_and_conjunction_diagnostics_on_dask_equal_serial(analysis, dask_cluster):
    from syntony.meta.conjunction import conjunction
    from syntony.meta.contrast import ALEContrast, AllVoxels
    from syntony.meta.diagnostics.apply import diagnose_conjunction, diagnose_contrast

    grid, ss, _, result, _ = analysis
    settings = DiagnosticSettings(stability_resamples=5, stability_iters=30, coverage="brain",
                                  fsn_max=10, fsn_iters=100, fsn_reference=(0.2, 1.0))  # fmt: skip
    other = planted_studyset(np.random.default_rng(3), grid, 15, n_carrying=8,
                             centre_mm=(2.0, 0.0, 0.0), spread_mm=2.0, prefix="c")  # fmt: skip
    b = planted_studyset(np.random.default_rng(2), grid, 12, n_carrying=0, prefix="b")
    con = ALEContrast(test=AllVoxels(p_threshold=0.05), grid=grid, n_permutations=60,
                      random_state=1).fit(other, b).result_  # fmt: skip
    assert con.maps["a_gt_b"].max() >= 1
    args = dict(settings=settings, n_iters=60, random_state=1)
    names = "jackknife,stability"  # the stability fits both main effects (ALE.fit(executor=))
    _same_diagnostics(diagnose_contrast(con, other, b, names, **args),
                      diagnose_contrast(con, other, b, names, executor=dask_cluster, **args))  # fmt: skip

    second = ALE(grid=grid, n_iters=100, random_state=1, n_jobs=1).fit(other).result_
    conj = conjunction([result, second], names=["A", "C"])
    assert conj.maps["clusters"].max() >= 1
    pair, args = [ss, other], dict(settings=settings, random_state=1)
    names = "jackknife,fsn"
    _same_diagnostics(diagnose_conjunction(conj, pair, names, **args),
                      diagnose_conjunction(conj, pair, names, executor=dask_cluster, **args))  # fmt: skip
