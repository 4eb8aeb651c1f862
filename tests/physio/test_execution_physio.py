"""The chunked physio tests give the same numbers in this process, on local worker processes
and on a real Dask cluster: surrogates (circular shift, segment shuffle, phase), pseudo-groups,
pseudo-group fits of c and of a mechanism's statistic; a run resumed from a checkpoint on an
executor equals an uninterrupted one; ``syntony sync``/``fit --scheduler`` write the files of a
local run."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from syntony._checkpoint import Checkpoint
from syntony.errors import ParameterError
from syntony.execution import LocalExecutor, SerialExecutor
from syntony.physio._chunks import STRIDE, run_chunks
from syntony.physio.fit import pseudo_group_fit_test
from syntony.physio.statespace import complete_adjacency, laplacian, simulate_statespace
from syntony.physio.surrogates import (
    SURROGATE_CHUNK,
    circular_shift,
    phase_surrogate_test,
    pseudo_group_test,
    segment_shuffle,
    surrogate_test,
)
from syntony.physio.synchrony import SyncConfig

pytest.importorskip("distributed")

FS = 4.0
CONFIG = SyncConfig(window=10.0, step=5.0, max_lag=2.0)


def _sessions(n_t: int = 240, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    lap = laplacian(complete_adjacency(n))
    _, x = simulate_statespace(n_t, lap, c=0.5, lam=0.1, q=0.2, r=0.1, seed=1)
    _, other = simulate_statespace(n_t, lap, c=0.0, lam=0.1, q=0.2, r=0.1, seed=2)
    return x, other


def _same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), what


@pytest.fixture(scope="module")
def processes():
    return LocalExecutor(2, kind="processes")


def test_surrogate_and_phase_tests_identical_on_every_executor(dask_cluster, processes):
    x, _ = _sessions()
    phase = np.angle(np.exp(1j * np.cumsum(0.3 + 0.05 * x, axis=0)))
    n = SURROGATE_CHUNK + 5  # a whole chunk and a short one
    runs = {}
    for name, executor in (("here", None), ("processes", processes), ("dask", dask_cluster)):
        shift = surrogate_test(x, FS, CONFIG, n_surrogates=n, seed=5, executor=executor)
        shuffle = surrogate_test(
            x, FS, CONFIG, surrogate=segment_shuffle(40), n_surrogates=n, seed=6,
            executor=executor,
        )  # fmt: skip
        kuramoto = phase_surrogate_test(phase, n_surrogates=n, seed=7, executor=executor)
        runs[name] = (shift, shuffle, kuramoto)
    for name in ("processes", "dask"):
        for ref, res in zip(runs["here"], runs[name], strict=True):
            _same(ref.null, res.null, f"{res.method} on {name}")
            if ref.null_windows is not None:
                _same(ref.null_windows, res.null_windows, f"{res.method} windows on {name}")
            assert (ref.p_value, ref.observed) == (res.p_value, res.observed)
    # A fixed chunk size: the null does not depend on where the chunks ran, only on the seed.
    assert runs["here"][0].null.shape == (n,) and np.isfinite(runs["here"][0].null).all()
    assert not np.array_equal(runs["here"][0].null[:5], runs["here"][0].null[-5:])


def test_pseudo_group_test_identical_on_every_executor(dask_cluster, processes):
    x, other = _sessions()
    reference = pseudo_group_test(x, other, FS, CONFIG, n_groups=230, seed=3)
    sent = (dask_cluster.stats.tasks, dask_cluster.stats.task_bytes)
    for executor in (SerialExecutor(), processes, dask_cluster):
        res = pseudo_group_test(x, other, FS, CONFIG, n_groups=230, seed=3, executor=executor)
        _same(reference.null, res.null, executor.describe()["executor"])
        _same(reference.null_windows, res.null_windows, executor.describe()["executor"])
        assert res.summary() == reference.summary()
    # The recordings went once per worker; each task carried only its chunk's bounds.
    tasks, task_bytes = (
        dask_cluster.stats.tasks - sent[0],
        dask_cluster.stats.task_bytes - sent[1],
    )
    assert tasks == 3 and task_bytes / tasks < 2000


def test_fit_pseudo_groups_identical_on_every_executor(dask_cluster, processes):
    x, other = _sessions(n_t=120, n=3)
    reference = pseudo_group_fit_test(x, other, n_groups=7, seed=4)
    for executor in (processes, dask_cluster):
        res = pseudo_group_fit_test(x, other, n_groups=7, seed=4, executor=executor)
        _same(reference["c_pseudo"], res["c_pseudo"], executor.describe()["executor"])
        assert res["p_value"] == reference["p_value"]


def test_mechanism_pseudo_groups_identical_on_dask(dask_cluster, tmp_path):
    from syntony.physio.mechanisms import fit_mechanism

    x, other = _sessions(n_t=120, n=3)
    args = dict(
        model="directed", pseudo_from=_csv(tmp_path / "b.csv", other), n_pseudo_groups=6,
        seed=2,
    )  # fmt: skip
    here = fit_mechanism(_csv(tmp_path / "a.csv", x), **args)
    dask = fit_mechanism(_csv(tmp_path / "a.csv", x), executor=dask_cluster, **args)
    pd.testing.assert_frame_equal(here.tables["pseudo"], dask.tables["pseudo"])
    pd.testing.assert_frame_equal(here.tests, dask.tests)
    assert dask.provenance["execution"]["executor"] == "dask"
    assert here.provenance["execution"] == {"executor": "serial", "workers": 1}


def test_switching_bootstrap_through_fit_mechanism_identical_on_dask(dask_cluster, tmp_path):
    from syntony.physio.mechanisms import fit_mechanism

    x, _ = _sessions(n_t=120, n=3)
    path = _csv(tmp_path / "a.csv", x)
    here = fit_mechanism(path, model="switching", n_boot=3, seed=5)
    dask = fit_mechanism(path, model="switching", n_boot=3, seed=5, executor=dask_cluster)
    assert len(here.tables["bootstrap"]) == 3
    pd.testing.assert_frame_equal(here.tables["bootstrap"], dask.tables["bootstrap"])
    pd.testing.assert_frame_equal(here.tests, dask.tests)


class _StopAfter:
    """A circular shift that stops the run (as a kill would) after ``calls`` surrogates."""

    def __init__(self, min_shift: int, calls: int) -> None:
        self.shift, self.left = circular_shift(min_shift), calls

    def __call__(self, x, rng):
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.shift(x, rng)


@pytest.mark.parametrize("where", ["processes", "dask"])
def test_resumed_on_an_executor_equals_an_uninterrupted_run(where, dask_cluster, tmp_path):
    x, _ = _sessions()
    n = 3 * SURROGATE_CHUNK + 4
    whole = surrogate_test(x, FS, CONFIG, surrogate=circular_shift(60), n_surrogates=n, seed=9)
    key = {"test": where}
    with pytest.raises(KeyboardInterrupt):
        surrogate_test(
            x, FS, CONFIG, surrogate=_StopAfter(60, 2 * SURROGATE_CHUNK + 3), n_surrogates=n,
            seed=9, checkpoint=Checkpoint(tmp_path / "out", "sync", key),
        )  # fmt: skip
    store = Checkpoint(tmp_path / "out", "sync", key, resume=True)
    assert store.done() == {0, 1}
    executor = LocalExecutor(2, kind="processes") if where == "processes" else dask_cluster
    tasks_before = executor.stats.tasks
    resumed = surrogate_test(
        x, FS, CONFIG, surrogate=circular_shift(60), n_surrogates=n, seed=9, checkpoint=store,
        executor=executor,
    )  # fmt: skip
    assert executor.stats.tasks - tasks_before == 2  # only the chunks the checkpoint lacked
    assert store.done() == {0, 1, 2, 3}
    _same(whole.null_windows, resumed.null_windows, where)
    assert resumed.p_value == whole.p_value


def _draws(fail: int | None, k: int, start: int, stop: int, scale: float) -> dict:
    if k == fail:
        raise ValueError("chunk failed")
    rng = np.random.default_rng([k, 11])
    return {"v": scale * rng.standard_normal((stop - start, 2))}


def test_a_chunk_failing_on_workers_keeps_the_finished_ones(tmp_path, processes):
    reference = run_chunks(23, 4, functools.partial(_draws, None), shared=2.0)["v"]
    store = Checkpoint(tmp_path / "out", "run", {"k": 1})
    with pytest.raises(ValueError, match="chunk failed"):
        run_chunks(
            23, 4, functools.partial(_draws, 3), shared=2.0, checkpoint=store, slot=2,
            executor=processes,
        )  # fmt: skip
    saved = store.done()
    assert 2 * STRIDE + 3 not in saved and saved <= {2 * STRIDE + k for k in range(6)}
    store = Checkpoint(tmp_path / "out", "run", {"k": 1}, resume=True)
    resumed = run_chunks(
        23, 4, functools.partial(_draws, None), shared=2.0, checkpoint=store, slot=2,
        executor=processes,
    )["v"]  # fmt: skip
    _same(reference, resumed, "resumed")


class _Backwards(SerialExecutor):
    """Hands the finished chunks back last first (as a busy cluster may)."""

    def imap_unordered(self, fn, items, *, shared):
        yield from reversed(list(super().imap_unordered(fn, items, shared=shared)))


def test_chunks_join_in_their_own_order_whatever_order_they_finish(tmp_path):
    reference = run_chunks(23, 4, functools.partial(_draws, None), shared=1.5)["v"]
    store = Checkpoint(tmp_path / "out", "run", {"k": 2})
    sizes: list[int] = []
    out = run_chunks(
        23, 4, functools.partial(_draws, None), shared=1.5, checkpoint=store,
        advance=sizes.append, executor=_Backwards(),
    )["v"]  # fmt: skip
    _same(reference, out, "backwards")
    assert sizes == [3, 4, 4, 4, 4, 4] and store.done() == set(range(6))
    np.testing.assert_array_equal(store.load(5)["v"], reference[20:])


def test_chunks_that_cannot_reach_worker_processes_are_refused(processes):
    x, _ = _sessions()
    with pytest.raises(ParameterError, match="executor: expected functions worker processes"):
        surrogate_test(
            x, FS, CONFIG, surrogate=lambda a, rng: a, n_surrogates=3, seed=1, executor=processes
        )
    # In-process executors and the serial loop take any callable.
    res = surrogate_test(
        x, FS, CONFIG, surrogate=lambda a, rng: a[::-1], n_surrogates=3, seed=1,
        executor=LocalExecutor(2, kind="threads"),
    )  # fmt: skip
    assert res.null.shape == (3,)


def _csv(path: Path, y: np.ndarray, fs: float = 1.0) -> Path:
    frame = pd.DataFrame(y, columns=[f"{path.stem}{k}" for k in range(y.shape[1])])
    frame.insert(0, "time", np.arange(len(y)) / fs)
    frame.to_csv(path, index=False)
    return path


def test_cli_sync_and_fit_on_a_scheduler_write_the_files_of_a_local_run(dask_cluster, tmp_path):
    """The commands on a scheduler write the tables the library writes in this process (the
    library's payload is written without its report, which costs most of a small run)."""
    from syntony.cli import app
    from syntony.physio import analyze_synchrony, fit_contagion

    x, other = _sessions(n_t=240)
    a, b = _csv(tmp_path / "a.csv", x, FS), _csv(tmp_path / "b.csv", other, FS)
    fa, fb = _csv(tmp_path / "fa.csv", x[:120]), _csv(tmp_path / "fb.csv", other[:120])
    runs = {
        "sync": (
            ["sync", str(a), "--signal", "raw", "--fs", "4", "--window", "10", "--step", "5",
             "--max-lag", "2", "--surrogates", "30", "--pseudo-from", str(b),
             "--pseudo-groups", "120"],
            lambda: analyze_synchrony(
                a, signal="raw", fs=4.0, config=CONFIG, n_surrogates=30, pseudo_from=b,
                n_pseudo_groups=120, seed=3,
            ),
        ),
        "fit": (
            ["fit", str(fa), "--pseudo-from", str(fb), "--pseudo-groups", "6"],
            lambda: fit_contagion(fa, pseudo_from=fb, n_pseudo_groups=6, seed=3),
        ),
    }  # fmt: skip
    for command, (args, library) in runs.items():
        here, dask = tmp_path / f"{command}-here", tmp_path / f"{command}-dask"
        reference = library()
        here.mkdir()
        reference._write(here)
        done = CliRunner().invoke(
            app,
            [*args, "--seed", "3", "-q", "--scheduler", dask_cluster.address, "--out", str(dask)],
        )
        assert done.exit_code == 0, done.output
        tables = sorted(p.name for p in here.glob("*.tsv"))
        assert len(tables) >= 3, tables
        for name in tables:
            assert (here / name).read_bytes() == (dask / name).read_bytes(), (command, name)
        record = json.loads((dask / "result.json").read_text())["provenance"]
        assert record["execution"]["executor"] == "dask" and record["execution"]["workers"] == 2
        assert reference.provenance["execution"] == {"executor": "serial", "workers": 1}
