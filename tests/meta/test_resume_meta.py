"""Long meta-analysis runs survive an interruption: the Monte Carlo FWE null, the contrast's
permutations and MACM regions save finished chunks, and a resumed run ends with the numbers of
an uninterrupted one. Library calls interrupted by an exception inside a chunk, then the real
command line (``syntony ale | contrast | macm``) killed with SIGKILL part-way and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _ale_helpers import ball_grid, random_studyset
from _outputs import assert_same_outputs
from click.testing import CliRunner

from syntony._checkpoint import Checkpoint, checkpoint_root
from syntony.errors import InputError, ParameterError
from syntony.meta import fwe, permutation
from syntony.meta.ale import ALE
from syntony.meta.chunks import STRIDE, CheckpointSlot, slot
from syntony.meta.contrast import ALEContrast, AllVoxels, InMainEffects
from syntony.meta.fwe import BLOCK, EarlyStop, monte_carlo_null
from syntony.meta.kernel import ALEKernel
from syntony.meta.layout import Layout

GRID = ball_grid()


@pytest.fixture(scope="module")
def studyset():
    return random_studyset(np.random.default_rng(11), GRID, 14)


@pytest.fixture(scope="module")
def layout(studyset):
    return Layout.build(GRID, ALEKernel(), studyset)


def _interrupt_after(monkeypatch, module, name, calls):
    """Make ``module.name`` raise KeyboardInterrupt on its call number ``calls + 1``."""
    real = getattr(module, name)
    seen = {"n": 0}

    def wrapper(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] > calls:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return seen


def _same_null(a, b):
    for name in ("max_ale", "max_size", "max_mass"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype


@pytest.mark.parametrize("replay", [False, True])
def test_monte_carlo_null_resumes_to_the_uninterrupted_null(layout, tmp_path, monkeypatch,
                                                            replay):  # fmt: skip
    n_iters = 5 * BLOCK + 7  # a short last block
    kwargs = {"n_iters": n_iters, "threshold": 0.01, "seed": 3, "n_jobs": 1,
              "replay_nimare": replay}  # fmt: skip
    whole = monte_carlo_null(layout, **kwargs)
    key = {"test": "fwe", "replay": replay}
    cp = Checkpoint(tmp_path / "out", "ale", key)
    # The batch is one block with one worker: interrupt inside the fourth.
    target = "nimare_draws" if replay else "_default_block"
    if replay:
        real = fwe.nimare_draws
        monkeypatch.setattr(fwe, "nimare_draws", lambda *a, **k: _Interrupting(real(*a, **k), 3))
    else:
        _interrupt_after(monkeypatch, fwe, target, 3)
    with pytest.raises(KeyboardInterrupt):
        monte_carlo_null(layout, **kwargs, checkpoint=cp)
    assert cp.done() == {0, 1, 2}
    monkeypatch.undo()
    # The blocks it saved are used, not recomputed: no draws for them.
    drawn = []
    real_block = fwe._default_block
    monkeypatch.setattr(
        fwe, "_default_block", lambda tree, b, *a: drawn.append(b) or real_block(tree, b, *a)
    )
    resumed = monte_carlo_null(
        layout, **kwargs, checkpoint=Checkpoint(tmp_path / "out", "ale", key, resume=True)
    )
    if not replay:
        assert drawn == [3, 4, 5]
    _same_null(whole, resumed)
    assert resumed.n_iters == n_iters


class _Interrupting(np.ndarray):
    """NiMARE's draw matrix, whose column blocks past ``blocks`` raise when sliced."""

    def __new__(cls, array, blocks):
        out = np.asarray(array).view(cls)
        out.blocks = blocks
        return out

    def __array_finalize__(self, obj):
        self.blocks = getattr(obj, "blocks", None)

    def __getitem__(self, index):
        if isinstance(index, tuple) and isinstance(index[1], slice) and self.blocks is not None:
            if (index[1].start or 0) >= self.blocks * BLOCK:
                raise KeyboardInterrupt
        return np.asarray(self)[index]


def test_early_stop_stops_at_the_same_iteration_after_a_resume(layout, tmp_path, monkeypatch):
    rule = EarlyStop(tol=0.05, min_iters=4 * BLOCK, patience=2)
    kwargs = {"n_iters": 40 * BLOCK, "threshold": 0.01, "seed": 5, "n_jobs": 1,
              "early_stop": rule}  # fmt: skip
    whole = monte_carlo_null(layout, **kwargs)
    assert whole.stopped_early and whole.n_iters > 3 * BLOCK
    cp = Checkpoint(tmp_path / "out", "ale", {"early": 1})
    _interrupt_after(monkeypatch, fwe, "_default_block", 2)
    with pytest.raises(KeyboardInterrupt):
        monte_carlo_null(layout, **kwargs, checkpoint=cp)
    monkeypatch.undo()
    resumed = monte_carlo_null(layout, **kwargs, checkpoint=cp)
    _same_null(whole, resumed)


def test_permutations_resume_to_the_same_counts(studyset, tmp_path, monkeypatch):
    a, b = studyset.select(studyset.ids[:6], name="a"), studyset.select(studyset.ids[6:], name="b")
    kwargs = {"test": AllVoxels(p_threshold=0.3), "n_permutations": 3 * permutation.BATCH + 5,
              "grid": GRID, "random_state": 9, "n_jobs": 1}  # fmt: skip
    whole = ALEContrast(**kwargs).fit(a, b)
    cp = Checkpoint(tmp_path / "out", "contrast", {"k": 1})
    _interrupt_after(monkeypatch, permutation, "shuffles", 2)
    with pytest.raises(KeyboardInterrupt):
        ALEContrast(**kwargs).fit(a, b, checkpoint=cp)
    monkeypatch.undo()
    assert cp.done() == {0, 1}  # slot 0: the permutations
    shuffled = _interrupt_after(monkeypatch, permutation, "shuffles", 10)
    resumed = ALEContrast(**kwargs).fit(a, b, checkpoint=cp)
    assert shuffled["n"] == 2  # only the two batches that were not saved
    for name in ("p_", "z_", "diff_", "null_max_", "upper_counts_", "lower_counts_"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(resumed, name), err_msg=name)
    _same_tables(whole.result_, resumed.result_)


def test_contrast_main_effects_resume_from_their_own_slots(studyset, tmp_path, monkeypatch):
    a, b = studyset.select(studyset.ids[:7], name="a"), studyset.select(studyset.ids[7:], name="b")
    kwargs = {"test": InMainEffects(p_threshold=0.3), "n_permutations": 40,
              "main_effect_iters": 3 * BLOCK, "main_effect_level": "voxel", "grid": GRID,
              "random_state": 4, "n_jobs": 1}  # fmt: skip
    whole = _quiet(lambda: ALEContrast(**kwargs).fit(a, b))
    cp = Checkpoint(tmp_path / "out", "contrast", {"k": 2})
    # Interrupted in the second main effect's second block (five blocks done before).
    _interrupt_after(monkeypatch, fwe, "_default_block", 4)
    with pytest.raises(KeyboardInterrupt):
        _quiet(lambda: ALEContrast(**kwargs).fit(a, b, checkpoint=cp))
    monkeypatch.undo()
    assert cp.done() == {STRIDE, STRIDE + 1, STRIDE + 2, 2 * STRIDE}
    resumed = _quiet(lambda: ALEContrast(**kwargs).fit(a, b, checkpoint=cp))
    for name in ("p_", "z_", "tested_", "null_max_"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(resumed, name), err_msg=name)
    _same_tables(whole.result_, resumed.result_)
    np.testing.assert_array_equal(whole.main_b_.fwe.max_size, resumed.main_b_.fwe.max_size)


def test_ale_fit_and_macm_take_a_checkpoint(studyset, tmp_path, monkeypatch):
    est = ALE(n_iters=4 * BLOCK, grid=GRID, random_state=2, n_jobs=1)
    whole = est.fit(studyset).result_
    cp = Checkpoint(tmp_path / "out", "ale", {"k": 3})
    _interrupt_after(monkeypatch, fwe, "_default_block", 1)
    with pytest.raises(KeyboardInterrupt):
        ALE(n_iters=4 * BLOCK, grid=GRID, random_state=2, n_jobs=1).fit(studyset, checkpoint=cp)
    monkeypatch.undo()
    again = ALE(n_iters=4 * BLOCK, grid=GRID, random_state=2, n_jobs=1)
    resumed = again.fit(studyset, checkpoint=cp).result_
    _same_null(whole.fwe, resumed.fwe)
    pd.testing.assert_frame_equal(whole.clusters, resumed.clusters)

    from syntony.meta.macm import macm
    from syntony.meta.reference import ReferenceDatabase
    from syntony.meta.roi import sphere_roi

    xyz = studyset.coordinates
    db = ReferenceDatabase(
        name="tiny",
        metadata=pd.DataFrame({"title": studyset.ids, "space": "MNI"},
                              index=pd.Index(studyset.ids, name="id")),
        coordinates=xyz,
        peak_article=studyset.focus_experiment,
    )  # fmt: skip
    roi = sphere_roi((0, 0, 0), 30, name="ball", grid=GRID)
    region = ALE(n_iters=2 * BLOCK, grid=GRID, n_jobs=1)
    plain = _quiet(lambda: macm(roi, db, default_n=20, estimator=region, min_experiments=2,
                                random_state=6))  # fmt: skip
    region_cp = CheckpointSlot(Checkpoint(tmp_path / "macm", "macm", {"k": 4}), 3)
    saved = _quiet(lambda: macm(roi, db, default_n=20, estimator=region, min_experiments=2,
                                random_state=6, checkpoint=region_cp))  # fmt: skip
    assert region_cp.done() == {0, 1}
    assert region_cp.checkpoint.done() == {3 * STRIDE, 3 * STRIDE + 1}
    _same_null(plain.ale.fwe, saved.ale.fwe)


def test_chunks_that_do_not_fit_are_refused(layout, tmp_path):
    cp = Checkpoint(tmp_path / "out", "ale", {"k": 5})
    monte_carlo_null(layout, n_iters=2 * BLOCK, threshold=0.01, seed=1, n_jobs=1, checkpoint=cp)
    # The same checkpoint read by a run whose last block is shorter does not fit.
    with pytest.raises(InputError, match="chunk 1 is damaged or does not fit"):
        monte_carlo_null(layout, n_iters=2 * BLOCK - 3, threshold=0.01, seed=1, n_jobs=1,
                         checkpoint=cp)  # fmt: skip
    (checkpoint_root(tmp_path / "out") / "ale" / "chunk-000000.npz").write_bytes(b"PK\x03 cut")
    with pytest.raises(InputError, match="chunk 0 is damaged"):
        monte_carlo_null(layout, n_iters=2 * BLOCK, threshold=0.01, seed=1, n_jobs=1,
                         checkpoint=cp)  # fmt: skip
    # Another key (other parameters, another version) is refused, not mixed in.
    with pytest.raises(InputError, match="other parameters"):
        Checkpoint(tmp_path / "out", "ale", {"k": 6}, resume=True)
    assert slot(None, 2) is None
    with pytest.raises(ParameterError):
        CheckpointSlot(cp, -1)
    with pytest.raises(ParameterError):
        CheckpointSlot(CheckpointSlot(cp, 1), 1)


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def _same_tables(a, b):
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    for name in a.maps:
        np.testing.assert_array_equal(a.maps[name], b.maps[name], err_msg=name)


# -- the command line, killed with SIGKILL -------------------------------------------------------
CLI = [sys.executable, "-c", "from syntony.cli import main; main()"]


def _start(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.Popen(
        [*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def _chunks(out: Path, task: str) -> list[Path]:
    return sorted((checkpoint_root(out) / task).glob("chunk-*.npz"))


def _kill_part_way(proc: subprocess.Popen, out: Path, task: str, at_least: int) -> int:
    """SIGKILL ``proc`` once ``at_least`` chunks are saved; the number of chunks left."""
    deadline = time.monotonic() + 600
    while len(_chunks(out, task)) < at_least:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the kill: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, "no checkpoint chunk appeared"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert not out.exists(), "the killed run saved a result"
    return len(_chunks(out, task))


def _invoke(args: list[str], env: dict | None = None):
    from syntony.cli import app

    return CliRunner().invoke(app, args, env=env)


def _same_result(a: Path, b: Path) -> list[str]:
    """Every map, table and null array equal (bit for bit), the same parameters and summary."""
    names = assert_same_outputs(a, b)
    ma, mb = (json.loads((d / "result.json").read_text()) for d in (a, b))
    assert ma["parameters"] == mb["parameters"] and ma["summary"] == mb["summary"]
    assert ma["provenance"].get("seed") == mb["provenance"].get("seed")
    return names


@pytest.fixture(scope="module")
def semantic(shared_data):
    folder = shared_data / "nimare"
    return (
        str(folder / "semantic_knowledge_children.txt"),
        str(folder / "semantic_relatedness_children.txt"),
    )


def test_ale_killed_and_resumed_equals_an_uninterrupted_run(semantic, tmp_path, monkeypatch):
    n_iters = 40 * BLOCK
    common = ["ale", semantic[0], "--n-iters", str(n_iters), "--atlas", "none", "--jobs", "2",
              "-q"]  # fmt: skip
    whole = tmp_path / "whole"
    res = _invoke([*common, "--out", str(whole), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert not checkpoint_root(whole).exists()  # removed once the result is saved

    killed = tmp_path / "killed"
    args = [*common, "--out", str(killed), "--seed", "3"]
    first = _start(args, tmp_path)
    deadline = time.monotonic() + 600
    while not _chunks(killed, "ale"):
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
        time.sleep(0.01)
    # A second run into the same --out while the first writes is refused, not interleaved.
    second = _start(args, tmp_path)
    assert second.wait(120) == 2
    assert b"another syntony run is writing here" in second.stderr.read()
    left = _kill_part_way(first, killed, "ale", at_least=3)
    assert 3 <= left < 40

    # Without --resume the leftover is refused (neither reused nor discarded) ...
    res = _invoke(args)
    assert res.exit_code == 2 and "--resume" in res.output
    # ... and other parameters or another version do not mix with it.
    res = _invoke([*common, "--out", str(killed), "--seed", "4", "--resume"])
    assert res.exit_code == 2 and "other parameters" in res.output
    import syntony

    monkeypatch.setattr(syntony, "__version__", "0.0.0+other")
    res = _invoke([*args, "--resume"])
    assert res.exit_code == 2 and "another syntony version" in res.output
    monkeypatch.undo()
    assert len(_chunks(killed, "ale")) == left and not killed.exists()

    resumed = _start([*args, "--resume"], tmp_path)
    assert resumed.wait(600) == 0, resumed.stderr.read().decode()
    names = _same_result(whole, killed)
    assert {"null_distributions.npz", "clusters.tsv", "logp_cluster_size_fwe.nii.gz"} <= set(names)
    assert not checkpoint_root(killed).exists()


def test_contrast_killed_in_its_main_effects_or_permutations_resumes(semantic, tmp_path):
    common = ["contrast", *semantic, "--n-iters", str(10 * BLOCK), "--n-permutations",
              str(10 * permutation.BATCH), "--atlas", "none", "--jobs", "2", "--seed", "7",
              "-q"]  # fmt: skip
    whole = tmp_path / "whole"
    res = _invoke([*common, "--out", str(whole)])
    assert res.exit_code == 0, res.output
    killed = tmp_path / "killed"
    args = [*common, "--out", str(killed)]
    left = _kill_part_way(_start(args, tmp_path), killed, "contrast", at_least=3)
    assert 3 <= left < 30  # 10 blocks of each main effect, 10 batches of permutations
    resumed = _start([*args, "--resume"], tmp_path)
    assert resumed.wait(600) == 0, resumed.stderr.read().decode()
    names = _same_result(whole, killed)
    assert {"p.nii.gz", "tested.nii.gz", "clusters_a_gt_b.tsv"} <= set(names)
    assert not checkpoint_root(killed).exists()


def test_macm_killed_between_or_inside_regions_resumes(shared_data, tmp_path):
    env = {"SYNTONY_NEUROQUERY_DIR": str(shared_data / "neuroquery")}
    common = ["macm", "--roi", "sphere:-20,-60,-40,4", "--roi", "sphere:20,-60,-40,4",
              "--database", "neuroquery", "--default-n", "20", "--n-iters", str(3 * BLOCK),
              "--cluster-threshold", "analytic", "--atlas", "none", "--jobs", "2", "--seed",
              "2", "-q"]  # fmt: skip
    whole = tmp_path / "whole"
    res = _invoke([*common, "--out", str(whole)], env=env)
    assert res.exit_code == 0, res.output
    killed = tmp_path / "killed"
    args = [*common, "--out", str(killed)]
    left = _kill_part_way(_start(args, tmp_path, env), killed, "macm", at_least=2)
    assert 2 <= left < 6  # three blocks per region
    resumed = _start([*args, "--resume"], tmp_path, env)
    assert resumed.wait(600) == 0, resumed.stderr.read().decode()
    names = _same_result(whole, killed)
    assert "sphere_20_-60_-40_r4/null_distributions.npz" in names and "network.tsv" in names
