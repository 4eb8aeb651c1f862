"""Checkpoints of chunked runs: resume after SIGKILL with the same numbers, refuse mismatches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from syntony._checkpoint import Checkpoint, checkpoint_root
from syntony.errors import InputError, OutputExistsError

_RUN = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from syntony._checkpoint import Checkpoint
    from syntony._rng import SeedTree

    out, resume = sys.argv[1], sys.argv[2] == "resume"
    tree = SeedTree(7)
    ckpt = Checkpoint(out, "draws", {"seed": 7, "n": 12}, resume=resume)
    done = ckpt.done()
    parts = []
    for k in range(12):
        if k in done:
            parts.append(ckpt.load(k)["x"])
            continue
        x = tree.child("draws", k).generator().normal(size=1000)
        ckpt.save(k, x=x)
        parts.append(x)
        time.sleep(0.15)
    np.save(out + ".npy", np.concatenate(parts))
    ckpt.clear()
    """
)


def _run(tmp_path, out, mode):
    return subprocess.Popen(
        [sys.executable, "-c", _RUN, str(out), mode], cwd=tmp_path, stderr=subprocess.PIPE
    )


def test_killed_run_resumes_to_the_same_numbers(tmp_path):
    whole = tmp_path / "whole"
    assert _run(tmp_path, whole, "fresh").wait(60) == 0
    killed = tmp_path / "killed"
    proc = _run(tmp_path, killed, "fresh")
    chunks = checkpoint_root(killed) / "draws"
    deadline = time.monotonic() + 60
    while len(list(chunks.glob("chunk-*.npz"))) < 4:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    n_done = len(list(chunks.glob("chunk-*.npz")))
    assert 4 <= n_done < 12
    # without --resume the leftover checkpoint is refused, not silently reused or discarded
    refused = _run(tmp_path, killed, "fresh")
    assert refused.wait(60) != 0 and b"--resume" in refused.stderr.read()
    assert _run(tmp_path, killed, "resume").wait(60) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "killed.npy"), np.load(tmp_path / "whole.npy"))
    assert not checkpoint_root(killed).exists()


def test_checkpoint_with_other_parameters_is_refused(tmp_path):
    out = tmp_path / "out"
    ckpt = Checkpoint(out, "fwe", {"n_iters": 100, "seed": 1})
    ckpt.save(0, x=np.arange(3))
    with pytest.raises(InputError, match="other parameters"):
        Checkpoint(out, "fwe", {"n_iters": 200, "seed": 1}, resume=True)
    with pytest.raises(OutputExistsError, match="--resume"):
        Checkpoint(out, "fwe", {"n_iters": 100, "seed": 1})
    again = Checkpoint(out, "fwe", {"n_iters": 100, "seed": 1}, resume=True)
    assert again.done() == {0}
    np.testing.assert_array_equal(again.load(0)["x"], np.arange(3))
    fresh = Checkpoint(out, "fwe", {"n_iters": 200, "seed": 1}, restart=True)
    assert fresh.done() == set()
    fresh.clear()
    assert not checkpoint_root(out).exists()
