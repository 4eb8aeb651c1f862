"""``syntony sync`` and ``syntony fit`` killed with SIGKILL part-way, resumed with --resume, equal
an uninterrupted run bit for bit; mismatched checkpoints and concurrent runs are refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from click.testing import CliRunner

from syntony._checkpoint import checkpoint_root
from syntony.cli import app
from syntony.physio.statespace import complete_adjacency, laplacian, simulate_statespace

CLI = [sys.executable, "-c", "from syntony.cli import main; main()"]


def _group(path: Path, seed: int, *, n: int, n_t: int, fs: float) -> Path:
    _, y = simulate_statespace(
        n_t, laplacian(complete_adjacency(n)), c=0.5, lam=0.1, q=0.2, r=0.1, seed=seed
    )
    frame = pd.DataFrame(y, columns=[f"S{seed}P{k}" for k in range(n)])
    frame.insert(0, "time", np.arange(n_t) / fs)
    frame.to_csv(path, index=False)
    return path


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def _chunks(out: Path, task: str) -> list[Path]:
    return sorted((checkpoint_root(out) / task).glob("chunk-*.npz"))


def kill_part_way(args: list[str], out: Path, task: str, cwd: Path, *, at_least: int = 2) -> int:
    """Start the command, SIGKILL it once ``at_least`` chunks are saved; the chunks left."""
    proc = _start(args, cwd)
    deadline = time.monotonic() + 300
    while len(_chunks(out, task)) < at_least:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the kill: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, "no checkpoint chunk appeared"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert not out.exists(), "the killed run saved a result"
    return len(_chunks(out, task))


def assert_same_result(a: Path, b: Path) -> None:
    """Every table byte for byte, every NetCDF's data identical, the same parameters."""
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name.endswith(".tsv"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
        elif name.endswith(".nc"):
            with xr.open_dataset(a / name) as x, xr.open_dataset(b / name) as y:
                x.attrs.pop("provenance", None)
                y.attrs.pop("provenance", None)
                xr.testing.assert_identical(x.load(), y.load())
    manifests = [json.loads((d / "result.json").read_text()) for d in (a, b)]
    assert manifests[0]["parameters"] == manifests[1]["parameters"]
    assert manifests[0]["summary"] == manifests[1]["summary"]


def test_sync_killed_and_resumed_equals_an_uninterrupted_run(tmp_path):
    group = _group(tmp_path / "g.csv", 1, n=5, n_t=1200, fs=4.0)
    other = _group(tmp_path / "o.csv", 2, n=5, n_t=1200, fs=4.0)
    common = ["sync", str(group), "--signal", "raw", "--fs", "4", "--surrogates", "100",
              "--pseudo-from", str(other), "--pseudo-groups", "200", "-q"]  # fmt: skip
    whole = tmp_path / "whole"
    res = CliRunner().invoke(app, [*common, "--out", str(whole), "--seed", "5"])
    assert res.exit_code == 0, res.output
    assert not checkpoint_root(whole).exists()  # removed once the result is saved

    killed = tmp_path / "killed"
    args = [*common, "--out", str(killed), "--seed", "5"]
    left = kill_part_way(args, killed, "sync", tmp_path)
    assert 2 <= left < 18  # 4 chunks for each of the four surrogate tests, 2 of pseudo-groups

    # Without --resume the leftover is refused (not reused, not discarded) ...
    again = _start(args, tmp_path)
    assert again.wait(120) == 2 and b"--resume" in again.stderr.read()
    # ... and other parameters do not mix with it.
    other_args = [*common, "--out", str(killed), "--seed", "6", "--resume"]
    mixed = _start(other_args, tmp_path)
    assert mixed.wait(120) == 2 and b"other parameters" in mixed.stderr.read()
    assert len(_chunks(killed, "sync")) == left

    resumed = _start([*args, "--resume"], tmp_path)
    assert resumed.wait(300) == 0, resumed.stderr.read().decode()
    assert_same_result(whole, killed)
    assert not checkpoint_root(killed).exists()


def test_sync_without_seed_resumes_with_the_seed_it_drew(tmp_path):
    group = _group(tmp_path / "g.csv", 3, n=4, n_t=800, fs=4.0)
    args = ["sync", str(group), "--signal", "raw", "--fs", "4", "--surrogates", "150", "-q",
            "--out", str(tmp_path / "out")]  # fmt: skip
    kill_part_way(args, tmp_path / "out", "sync", tmp_path)
    seed_chunk = checkpoint_root(tmp_path / "out") / "sync-seed" / "chunk-000000.npz"
    assert seed_chunk.exists()
    resumed = _start([*args, "--resume"], tmp_path)
    assert resumed.wait(300) == 0, resumed.stderr.read().decode()
    drawn = json.loads((tmp_path / "out" / "result.json").read_text())["provenance"]["seed"]
    # The same seed, given explicitly, reproduces the resumed run.
    res = CliRunner().invoke(
        app, [*args[:-1], str(tmp_path / "again"), "--seed", str(drawn["entropy"])]
    )
    assert res.exit_code == 0, res.output
    assert_same_result(tmp_path / "out", tmp_path / "again")


def test_fit_killed_and_resumed_equals_an_uninterrupted_run(tmp_path):
    group = _group(tmp_path / "g.csv", 1, n=4, n_t=240, fs=1.0)
    other = _group(tmp_path / "o.csv", 2, n=4, n_t=240, fs=1.0)
    common = ["fit", str(group), "--pseudo-from", str(other), "--pseudo-groups", "20", "-q",
              "--seed", "2"]  # fmt: skip
    whole = tmp_path / "whole"
    res = CliRunner().invoke(app, [*common, "--out", str(whole)])
    assert res.exit_code == 0, res.output
    killed = tmp_path / "killed"
    args = [*common, "--out", str(killed)]
    left = kill_part_way(args, killed, "fit", tmp_path, at_least=1)
    assert 1 <= left < 4  # 20 pseudo-groups in chunks of 5
    resumed = _start([*args, "--resume"], tmp_path)
    assert resumed.wait(300) == 0, resumed.stderr.read().decode()
    assert_same_result(whole, killed)


def test_a_second_run_into_the_same_out_is_refused_while_the_first_writes(tmp_path):
    group = _group(tmp_path / "g.csv", 4, n=4, n_t=800, fs=4.0)
    out = tmp_path / "out"
    args = ["sync", str(group), "--signal", "raw", "--fs", "4", "--surrogates", "150", "-q",
            "--seed", "1", "--out", str(out)]  # fmt: skip
    first = _start(args, tmp_path)
    deadline = time.monotonic() + 300
    while not _chunks(out, "sync"):  # the first run is under way
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    second = _start(args, tmp_path)
    assert second.wait(120) == 2
    assert b"another syntony run is writing here" in second.stderr.read()
    assert first.wait(300) == 0, first.stderr.read().decode()
    tests = pd.read_csv(out / "synchrony_tests.tsv", sep="\t")
    assert list(tests["n"].iloc[:2]) == [150, 150]  # the first run's result, whole


def test_failed_runs_leave_nothing_behind(tmp_path):
    """The real command line: a run that fails part-way leaves no output, lock or checkpoint."""
    group = _group(tmp_path / "g.csv", 5, n=4, n_t=300, fs=1.0)
    stimulus = tmp_path / "stimulus.csv"
    pd.DataFrame({"time": np.arange(300.0), "u": 1.0}).to_csv(stimulus, index=False)
    short = _group(tmp_path / "short.csv", 6, n=4, n_t=60, fs=1.0)
    runs = [
        (["fit", str(group), "--stimulus", str(stimulus), "--seed", "1"], "stimulus: constant"),
        (["sync", str(group), "--signal", "raw", "--fs", "1", "--pseudo-from", str(short),
          "--surrogates", "30"], "--min-overlap"),
    ]  # fmt: skip
    for args, reason in runs:
        out = tmp_path / "out"
        proc = _start([*args, "--out", str(out), "-q"], tmp_path)
        assert proc.wait(120) == 2
        message = proc.stderr.read().decode()
        assert message.startswith("syntony: error:") and reason in message, message
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")]
        assert not out.exists() and leftovers == []


def test_library_calls_resume_from_a_checkpoint_to_the_same_numbers(tmp_path, monkeypatch):
    """analyze_synchrony(checkpoint=...) interrupted in its third chunk, then resumed."""
    from syntony._checkpoint import Checkpoint
    from syntony.physio import analyze_synchrony, surrogates

    group = _group(tmp_path / "g.csv", 7, n=4, n_t=600, fs=4.0)
    kwargs = {"signal": "raw", "fs": 4.0, "n_surrogates": 60, "seed": 3}
    whole = analyze_synchrony(group, **kwargs)

    calls = {"n": 0}
    real = surrogates.wlcc_peaks

    def interrupted(*args, **kw):
        calls["n"] += 1
        if calls["n"] > 1 + 2 * surrogates.SURROGATE_CHUNK:  # observed + two whole chunks
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(surrogates, "wlcc_peaks", interrupted)
    key = {"test": "library"}
    try:
        analyze_synchrony(group, **kwargs, checkpoint=Checkpoint(tmp_path / "out", "sync", key))
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(surrogates, "wlcc_peaks", real)
    ckpt = Checkpoint(tmp_path / "out", "sync", key, resume=True)
    assert ckpt.done() == {0, 1}  # two chunks of circular shifts were saved
    resumed = analyze_synchrony(group, **kwargs, checkpoint=ckpt)
    pd.testing.assert_frame_equal(resumed.tests, whole.tests)
    for method, null in whole.nulls.items():
        np.testing.assert_array_equal(resumed.nulls[method], null)
