"""Finished chunks of a long run, kept so that a killed run resumes where it stopped.

Monte Carlo FWE, permutations, surrogates, pseudo-groups, MACM regions and sweeps are split into
chunks whose results depend only on the seed and the chunk's index. Each finished chunk is
written atomically into a hidden sibling of the output directory
(``.<out>.checkpoint/<task>/chunk-000012.npz``); a resumed run loads those and computes the
rest, so its numbers equal an uninterrupted run's. A checkpoint written with other parameters
or by another version is refused, never mixed in. The checkpoint is removed once the result is
saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from syntony._io_utils import _json_default, atomic_path, write_json
from syntony.errors import InputError, OutputExistsError

__all__ = ["Checkpoint", "checkpoint_root"]

_META = "checkpoint.json"


def checkpoint_root(out_dir: str | os.PathLike[str]) -> Path:
    """Where the checkpoints of a run into ``out_dir`` live (a hidden sibling)."""
    out = Path(out_dir).absolute()
    return out.with_name(f".{out.name}.checkpoint")


def _fingerprint(key: Mapping[str, Any]) -> str:
    from syntony import __version__

    text = json.dumps({"key": key, "version": __version__}, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Checkpoint:
    """The finished chunks of one task of a run.

    Parameters
    ----------
    out_dir : path
        The run's output directory (the checkpoint sits beside it).
    task : str
        Name of the chunked task (``"fwe"``, ``"permutations"``, ``"macm-region-3"``...).
    key : mapping
        Everything that determines the chunks' numbers (parameters, seed, input digests); a
        checkpoint written under another key, or by another syntony version, is refused.
    resume : bool
        Continue from an existing checkpoint. Without it an existing checkpoint is an error
        (``--resume`` to continue, ``--force`` to start over) unless ``restart`` is set.
    restart : bool
        Discard an existing checkpoint of this task and start from scratch (``--force``).
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        task: str,
        key: Mapping[str, Any],
        *,
        resume: bool = False,
        restart: bool = False,
    ) -> None:
        self.directory = checkpoint_root(out_dir) / task
        self.task = task
        self.fingerprint = _fingerprint(key)
        meta = self.directory / _META
        if self.directory.exists() and restart and not resume:
            shutil.rmtree(self.directory)
        if meta.exists():
            try:
                stored = json.loads(meta.read_text(encoding="utf-8"))["fingerprint"]
            except (OSError, ValueError, KeyError):
                stored = None
            if stored != self.fingerprint:
                raise InputError(
                    f"checkpoint of {task!r} was written with other parameters or another "
                    "syntony version; rerun with --force to discard it",
                    source=self.directory,
                )
            if not resume:
                raise OutputExistsError(
                    f"{self.directory}: an interrupted run left {len(self.done())} finished "
                    f"chunk(s) of {task!r}; use --resume to continue it or --force to start over"
                )
        else:
            if self.directory.exists():
                shutil.rmtree(self.directory)  # a run killed before it wrote its first chunk
            self.directory.mkdir(parents=True)
            write_json(meta, {"task": task, "fingerprint": self.fingerprint})

    def _path(self, index: int) -> Path:
        return self.directory / f"chunk-{int(index):06d}.npz"

    def done(self) -> set[int]:
        """Indices of the chunks already finished."""
        return {
            int(p.stem.split("-")[1])
            for p in self.directory.glob("chunk-*.npz")
            if p.stem.split("-")[1].isdigit()
        }

    def save(self, index: int, **arrays: np.ndarray) -> None:
        """Record chunk ``index`` (atomically: a kill leaves it whole or absent)."""
        with atomic_path(self._path(index)) as tmp, open(tmp, "wb") as stream:
            np.savez(stream, **arrays)

    def load(self, index: int) -> dict[str, np.ndarray]:
        """The arrays of finished chunk ``index``."""
        with np.load(self._path(index), allow_pickle=False) as data:
            return {name: data[name] for name in data.files}

    def clear(self) -> None:
        """Remove this task's checkpoint (and the checkpoint folder once it is empty)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        root = self.directory.parent
        if root.exists() and not any(root.iterdir()):
            root.rmdir()
