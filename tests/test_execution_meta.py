"""The meta-analysis users of the execution layer give the same numbers serially, on local
threads and processes, and on a real Dask LocalCluster: contrast permutations (and their
checkpoint), the main effects they compute, the SCALE null, MACM regions (as tasks or with
their Monte Carlo blocks as tasks), and ``syntony contrast --dask-local``."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from syntony._checkpoint import Checkpoint
from syntony._rng import SeedTree
from syntony.execution import LocalExecutor, SerialExecutor
from syntony.meta.studyset import Studyset

sys.path.insert(0, str(Path(__file__).parent / "meta"))
from _ale_helpers import ball_grid
from _outputs import assert_same_outputs

pytest.importorskip("distributed")

GRID = ball_grid()


def _executors(dask_cluster):
    return {
        "serial": SerialExecutor(),
        "threads": LocalExecutor(2, kind="threads"),
        "processes": LocalExecutor(2, kind="processes"),
        "dask": dask_cluster,
    }


def _studyset(seed: int, n: int, prefix: str, max_foci: int = 6) -> Studyset:
    """``n`` experiments with foci uniform in the ball's mask, ids ``prefix0``, ``prefix1``..."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_foci + 1, size=n)
    which = np.repeat(np.arange(n), counts)
    xyz = GRID.ijk_to_mm(GRID.mask_ijk[rng.integers(0, GRID.n_voxels, size=which.size)])
    sizes = rng.integers(8, 40, size=n).astype(float)
    return Studyset.from_arrays(xyz, which, sizes, ids=[f"{prefix}{k}" for k in range(n)],
                                name=prefix)  # fmt: skip


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), what


# -- contrast permutations ---------------------------------------------------------------------
def _contrast(**options):
    from syntony.meta.contrast import ALEContrast, AllVoxels
    from syntony.meta.permutation import BATCH

    settings = {"test": AllVoxels(p_threshold=0.3), "n_permutations": 2 * BATCH + 9,
                "grid": GRID, "random_state": 5, "n_jobs": 1}  # fmt: skip
    return ALEContrast(**{**settings, **options})


@pytest.mark.parametrize("replay", [False, True])
def test_contrast_permutations_identical_on_every_executor(dask_cluster, replay):
    a, b = _studyset(1, 9, "a"), _studyset(2, 8, "b")
    reference = _contrast(replay_nimare=replay).fit(a, b)
    assert reference.null_max_.size == 265 and np.ptp(reference.null_max_) > 0
    for name, executor in _executors(dask_cluster).items():
        run = _contrast(replay_nimare=replay).fit(a, b, executor=executor)
        for attr in ("upper_counts_", "lower_counts_", "null_max_", "p_", "z_", "diff_"):
            _same(getattr(reference, attr), getattr(run, attr), f"{name}: {attr}")
        pd.testing.assert_frame_equal(reference.result_.tables["clusters_a_gt_b"],
                                      run.result_.tables["clusters_a_gt_b"])  # fmt: skip
        assert run.result_.provenance["execution"] == executor.describe()
    assert reference.result_.provenance["execution"] == {"executor": "threads", "workers": 1}


def test_contrast_main_effects_and_checkpoint_on_dask(dask_cluster, tmp_path):
    from syntony.meta.contrast import InMainEffects
    from syntony.meta.fwe import BLOCK

    a, b = _studyset(3, 10, "a"), _studyset(4, 9, "b")
    options = {"test": InMainEffects(p_threshold=0.3), "main_effect_iters": 2 * BLOCK + 3,
               "main_effect_level": "voxel"}  # fmt: skip
    reference = _quiet(lambda: _contrast(**options).fit(a, b))
    store = Checkpoint(tmp_path / "out", "contrast", {"k": 1})
    run = _quiet(lambda: _contrast(**options).fit(a, b, executor=dask_cluster, checkpoint=store))
    for attr in ("max_ale", "max_size", "max_mass"):
        _same(getattr(reference.main_a_.fwe, attr), getattr(run.main_a_.fwe, attr), attr)
        _same(getattr(reference.main_b_.fwe, attr), getattr(run.main_b_.fwe, attr), attr)
    for attr in ("tested_", "upper_counts_", "null_max_", "p_"):
        _same(getattr(reference, attr), getattr(run, attr), attr)
    # Every permutation batch (slot 0) and main-effect block (slots 1, 2) was saved.
    from syntony.meta.chunks import STRIDE

    assert store.done() == {0, 1, 2} | {STRIDE + k for k in range(3)} | {
        2 * STRIDE + k for k in range(3)
    }
    # A resumed run takes the saved batches as they are (batch 0 doctored here) and computes
    # the missing one (batch 2, removed) on the cluster, saving it as it arrives.
    doctored = store.load(0)
    doctored["null_max"] = np.zeros_like(doctored["null_max"])
    store.save(0, **doctored)
    (store.directory / "chunk-000002.npz").unlink()
    resumed = _quiet(lambda: _contrast(**options).fit(a, b, executor=dask_cluster,
                                                      checkpoint=store))  # fmt: skip
    assert not resumed.null_max_[:128].any()
    _same(reference.null_max_[128:], resumed.null_max_[128:], "recomputed batches")
    assert 2 in store.done()


# -- SCALE --------------------------------------------------------------------------------------
def test_scale_null_identical_on_every_executor(dask_cluster, tmp_path):
    from syntony.meta.scale import SCALE

    studyset = _studyset(5, 12, "s")
    rng = np.random.default_rng(7)
    hot = GRID.mask_ijk[rng.integers(0, GRID.n_voxels, 60)]
    reference_xyz = GRID.ijk_to_mm(np.repeat(hot, 3, axis=0))  # a pool with repeats

    def fit(**kwargs):
        est = SCALE(reference=reference_xyz, grid=GRID, n_iters=150, random_state=3, n_jobs=1)
        return _quiet(lambda: est.fit(studyset, **kwargs))

    reference = fit()
    assert reference.fwe_.n_iters == 150 and np.ptp(reference.fwe_.max_ale) > 0
    for name, executor in _executors(dask_cluster).items():
        run = fit(executor=executor)
        for attr in ("max_ale", "max_size", "max_mass"):
            _same(getattr(reference.fwe_, attr), getattr(run.fwe_, attr), f"{name}: {attr}")
        pd.testing.assert_frame_equal(reference.result_.clusters, run.result_.clusters)
    # Its blocks are checkpointed as they arrive, and a resumed run reuses them.
    store = Checkpoint(tmp_path / "out", "scale", {"k": 2})
    fit(executor=dask_cluster, checkpoint=store)
    assert store.done() == {0, 1, 2}
    doctored = store.load(1)
    doctored["max_size"] = np.full_like(doctored["max_size"], 10**6)
    store.save(1, **doctored)
    resumed = fit(checkpoint=store)
    assert (resumed.fwe_.max_size[64:128] == 10**6).all()
    _same(reference.fwe_.max_ale, resumed.fwe_.max_ale, "resumed max_ale")


# -- MACM ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def database():
    from syntony.meta.reference import ReferenceDatabase

    articles = _studyset(8, 40, "pmid", max_foci=8)
    return ReferenceDatabase(
        name="tiny",
        metadata=pd.DataFrame({"title": articles.ids, "space": "MNI"},
                              index=pd.Index(articles.ids, name="id")),
        coordinates=articles.coordinates,
        peak_article=articles.focus_experiment,
    )  # fmt: skip


def _regions():
    from syntony.meta.roi import sphere_roi

    return [
        sphere_roi((-6, 0, 0), 8, grid=GRID, name="left"),
        sphere_roi((6, 0, 4), 8, grid=GRID, name="right"),
        sphere_roi((-28, -28, -28), 2, grid=GRID, name="corner"),  # outside the mask: no article
    ]


def _macm_all(database, **kwargs):
    from syntony.meta.ale import ALE
    from syntony.meta.fwe import BLOCK
    from syntony.meta.macm import macm_regions

    regions = _regions()
    tree = SeedTree(4)
    return _quiet(lambda: macm_regions(
        regions, database, default_n=20, estimator=ALE(n_iters=2 * BLOCK, grid=GRID, n_jobs=1),
        min_experiments=3, random_states=[tree.child("macm", r.name) for r in regions],
        skip_errors=True, **kwargs,
    ))  # fmt: skip


def test_macm_regions_identical_as_tasks_or_with_blocks_as_tasks(dask_cluster, database, tmp_path):
    reference, skipped = _macm_all(database)
    assert [r.roi.name for r in reference] == ["left", "right"]
    assert list(skipped) == ["corner"] and "at least 3" in skipped["corner"]
    assert all(len(r.experiment_ids) >= 3 for r in reference)
    executors = {
        "processes (regions as tasks)": LocalExecutor(2, kind="processes"),
        "dask (regions as tasks)": dask_cluster,
        "threads (blocks as tasks)": LocalExecutor(4, kind="threads"),  # more workers than regions
    }
    for name, executor in executors.items():
        store = Checkpoint(tmp_path / name, "macm", {"k": 3})
        lines: list[str] = []
        runs, skipped_here = _macm_all(database, executor=executor, checkpoint=store,
                                       log=lines.append)  # fmt: skip
        assert skipped_here == skipped, name
        assert ("one task each" in lines[0]) == ("regions as tasks" in name)
        for ref, run in zip(reference, runs, strict=True):
            assert run.experiment_ids == ref.experiment_ids
            for attr in ("max_ale", "max_size", "max_mass"):
                _same(getattr(ref.ale.fwe, attr), getattr(run.ale.fwe, attr), f"{name}: {attr}")
            _same(ref.ale.maps["ale"], run.ale.maps["ale"], f"{name}: ale")
            pd.testing.assert_frame_equal(ref.clusters, run.clusters)
            assert run.ale.provenance["execution"] == executor.describe()
        # Each region's blocks reached its slot of the checkpoint (from the tasks' results).
        from syntony.meta.chunks import STRIDE

        assert store.done() == {0, 1, STRIDE, STRIDE + 1}, name


def test_macm_region_task_resumes_from_its_saved_blocks(dask_cluster, database, tmp_path):
    from syntony.meta.chunks import STRIDE

    reference, _ = _macm_all(database)
    store = Checkpoint(tmp_path / "out", "macm", {"k": 4})
    _macm_all(database, checkpoint=store)
    doctored = store.load(STRIDE + 1)  # region "right", block 1
    doctored["max_ale"] = np.ones_like(doctored["max_ale"])
    store.save(STRIDE + 1, **doctored)
    (store.directory / "chunk-000000.npz").unlink()  # region "left", block 0
    runs, _ = _macm_all(database, executor=dask_cluster, checkpoint=store)
    assert (runs[1].ale.fwe.max_ale[64:] == 1).all()  # shipped with its task and used
    _same(reference[0].ale.fwe.max_ale, runs[0].ale.fwe.max_ale, "recomputed block")
    assert 0 in store.done()


# -- the command line ---------------------------------------------------------------------------
def test_cli_contrast_on_dask_local_writes_the_files_of_a_local_run(shared_data, tmp_path):
    from click.testing import CliRunner

    from syntony.cli import app

    folder = shared_data / "nimare"
    args = ["contrast", str(folder / "semantic_knowledge_children.txt"),
            str(folder / "semantic_relatedness_children.txt"), "--test", "nimare",
            "--n-permutations", "140", "--p", "0.3", "--seed", "5", "--atlas", "none", "-q"]  # fmt: skip
    local = CliRunner().invoke(app, [*args, "--jobs", "1", "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    dask = CliRunner().invoke(app, [*args, "--dask-local", "2", "--out", str(tmp_path / "dask")])
    assert dask.exit_code == 0, dask.output
    names = assert_same_outputs(tmp_path / "local", tmp_path / "dask")
    assert {"p.nii.gz", "z.nii.gz", "null_distributions.npz", "clusters_a_gt_b.tsv"} <= set(names)
    records = [
        json.loads((tmp_path / d / "result.json").read_text())["provenance"]["execution"]
        for d in ("local", "dask")
    ]
    assert records[0] == {"executor": "threads", "workers": 1}
    assert records[1]["executor"] == "dask" and records[1]["local_cluster"] is True
