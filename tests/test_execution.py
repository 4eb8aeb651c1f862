"""The execution layer: serial, local threads/processes and a real Dask LocalCluster give the
same numbers, in input order, and a worker killed mid-run changes nothing."""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import pytest

from syntony._rng import SeedTree
from syntony.errors import ParameterError
from syntony.execution import (
    SCHEDULER_ENV,
    DaskExecutor,
    LocalExecutor,
    SerialExecutor,
    executor_from_options,
)

distributed = pytest.importorskip("distributed")
import cloudpickle  # noqa: E402

# Workers import syntony but not this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def draw(item: int, shared: dict) -> np.ndarray:
    """A chunk whose numbers depend only on its seed stream (as every syntony chunk)."""
    time.sleep(shared["sleep"])
    rng = SeedTree(shared["seed"]).child("chunk", item).generator()
    return rng.standard_normal(shared["size"]) * shared["scale"]


def square(item: int) -> int:
    return item * item


def fails(item: int) -> int:
    raise ValueError(f"task {item} failed")


SHARED = {"seed": 7, "size": 500, "scale": 2.5, "sleep": 0.0}


@pytest.fixture(scope="module")
def cluster():
    with DaskExecutor(n_local_workers=2) as executor:
        yield executor


def reference(n: int, shared=SHARED) -> list[np.ndarray]:
    return SerialExecutor().map(draw, range(n), shared=shared)


def test_serial_map_keeps_order_and_without_shared_calls_with_item_only():
    assert SerialExecutor().map(square, [3, 1, 2]) == [9, 1, 4]
    out = reference(5)
    assert len(out) == 5 and not np.array_equal(out[0], out[1])


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_local_executor_equals_serial(kind):
    with LocalExecutor(2, kind=kind) as executor:
        out = executor.map(draw, range(9), shared=SHARED)
        assert executor.map(square, [4, 5]) == [16, 25]
    for a, b in zip(out, reference(9), strict=True):
        assert np.array_equal(a, b)
    if kind == "processes":
        # The shared data went once to each worker, not with each task.
        assert executor.stats.shared_sends == 2 + 0
        assert executor.stats.shared_bytes > 0


def test_imap_unordered_gives_every_index_once():
    with LocalExecutor(2) as executor:
        pairs = list(executor.imap_unordered(square, range(20)))
    assert sorted(i for i, _ in pairs) == list(range(20))
    assert all(r == i * i for i, r in pairs)


def test_local_cluster_equals_serial_bit_for_bit(cluster):
    assert cluster.address.startswith("tcp://127.0.0.1:")
    workers = cluster.client.scheduler_info(n_workers=-1)["workers"]
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    pids = set(cluster.client.run(os.getpid).values())
    assert os.getpid() not in pids and len(pids) == 2  # real worker processes
    out = cluster.map(draw, range(12), shared=SHARED)
    for a, b in zip(out, reference(12), strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # Shared data scattered once per worker; each task carries only its function and index.
    assert cluster.stats.shared_sends == 2
    assert cluster.stats.task_bytes / 12 < cluster.stats.shared_bytes + 2000


def test_task_error_reaches_the_caller(cluster):
    with pytest.raises(ValueError, match="failed"):
        cluster.map(fails, [1, 2])


def test_killed_worker_changes_nothing(cluster):
    shared = {**SHARED, "sleep": 0.15}
    pids = list(cluster.client.run(os.getpid).values())
    results = {}
    killed = False
    for index, result in cluster.imap_unordered(draw, range(24), shared=shared):
        results[index] = result
        if not killed:
            os.kill(pids[0], signal.SIGKILL)  # mid-run: the other tasks are still queued
            killed = True
    assert sorted(results) == list(range(24))
    for k, b in enumerate(reference(24)):
        assert results[k].tobytes() == b.tobytes()
    # The nanny restarted the worker: a new process took the killed one's place.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = set(cluster.client.run(os.getpid).values())
        if len(now) == 2 and pids[0] not in now:
            break
        time.sleep(0.2)
    assert pids[0] not in now


def test_executor_from_options(monkeypatch):
    assert isinstance(executor_from_options(None, None, n_jobs=1, environ={}), SerialExecutor)
    local = executor_from_options(None, None, n_jobs=3, kind="processes", environ={})
    assert isinstance(local, LocalExecutor) and local.n_workers == 3 and local.kind == "processes"
    with pytest.raises(ParameterError, match="not both"):
        executor_from_options("tcp://127.0.0.1:1", 2, environ={})
    with pytest.raises(ParameterError, match="not both"):
        executor_from_options(None, 2, environ={SCHEDULER_ENV: "tcp://127.0.0.1:1"})


def test_scheduler_address_from_environment(cluster):
    executor = executor_from_options(None, None, environ={SCHEDULER_ENV: cluster.address})
    with executor:
        assert isinstance(executor, DaskExecutor) and executor.n_workers == 2
        assert executor.map(square, [2, 3]) == [4, 9]
    assert cluster.map(square, [5]) == [25]  # closing a client leaves the cluster running


def test_bad_arguments():
    with pytest.raises(ParameterError):
        LocalExecutor(0)
    with pytest.raises(ParameterError):
        LocalExecutor(2, kind="gpus")
    with pytest.raises(ParameterError):
        DaskExecutor()
    with pytest.raises(ParameterError):
        DaskExecutor(n_local_workers=0)
