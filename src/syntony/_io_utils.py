"""Writing outputs without ever leaving half-written or silently overwritten files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from syntony.errors import OutputExistsError

__all__ = [
    "atomic_path",
    "atomic_write",
    "check_output_free",
    "output_lock",
    "prepare_output_dir",
    "staged_directory",
    "write_json",
    "write_netcdf",
    "write_text",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    Use this for writers that want a file name (``Dataset.to_netcdf``, ``nibabel.save``,
    ``Figure.savefig``). On any exception the temporary file is removed and ``path`` is left
    untouched.
    """
    target = Path(path)
    if target.exists() and not force:
        raise OutputExistsError(
            f"{target}: already exists; pass force=True (--force) to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix last so that writers which infer the format from it still work.
    handle, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp" + "".join(target.suffixes), dir=target.parent
    )
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes 0600 files; results are meant to be read by colleagues and web servers.
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "w", *, force: bool = True, **open_kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing and move it onto ``path`` when the block succeeds."""
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path, force=force) as tmp, open(tmp, mode, **open_kwargs) as stream:
        yield stream


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _visible_entries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if not p.name.startswith(".")]


@contextlib.contextmanager
def staged_directory(directory: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Build a result directory aside and swap it in whole, or leave nothing.

    Yields an empty temporary sibling of ``directory``. When the block succeeds the sibling
    replaces ``directory`` (an earlier result is removed entirely, so no stale file survives);
    when it fails the sibling is removed and ``directory`` is untouched.

    Raises
    ------
    OutputExistsError
        ``directory`` is a file, or a non-empty directory and ``force`` is false.
    """
    target = check_output_free(directory, force=force)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())
        if target.exists():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def output_lock(directory: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an exclusive lock on an output directory for the duration of a run.

    A second run into the same directory (from this or another process) is refused at once
    rather than interleaving its files with the first. The lock is a hidden sibling file
    locked with ``flock``; it disappears when the run ends.
    """
    import fcntl

    target = Path(directory).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.with_name(f".{target.name}.lock")
    stream = open(lock, "a+b")
    try:
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputExistsError(
                f"{target}: another syntony run is writing here now; wait for it or choose "
                "another --out"
            ) from None
        try:
            yield lock
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
    finally:
        stream.close()


def check_output_free(directory: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Refuse, before any work is done, an output directory that holds results (unless force)."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"{target}: exists and is not a directory")
    if target.is_dir() and _visible_entries(target) and not force:
        listed = ", ".join(p.name for p in sorted(_visible_entries(target))[:5])
        raise OutputExistsError(
            f"{target}: already holds results ({listed}); use --force to replace them"
        )
    return target


def write_text(path: str | os.PathLike[str], text: str, *, force: bool = True) -> Path:
    """Atomically write ``text`` to ``path``."""
    with atomic_write(path, force=force) as stream:
        stream.write(text)
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any, *, force: bool = True) -> Path:
    """Atomically write ``data`` as indented JSON (numpy scalars and paths are converted)."""
    with atomic_write(path, force=force) as stream:
        json.dump(data, stream, indent=2, default=_json_default)
        stream.write("\n")
    return Path(path)


def write_netcdf(path: str | os.PathLike[str], dataset: Any, *, force: bool = True) -> Path:
    """Atomically write an :class:`xarray.Dataset` as NetCDF-4 (h5netcdf), the one writer of all parts.

    Attributes that NetCDF cannot hold (dicts, lists of strings, booleans) must be flattened by the
    caller, usually to a JSON string; xarray's own error names the offending attribute.
    """
    with atomic_path(path, force=force) as tmp:
        dataset.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def prepare_output_dir(
    directory: str | os.PathLike[str],
    *,
    force: bool = False,
    outputs: Callable[[Path], list[Path]] | list[str] | None = None,
) -> Path:
    """Create ``directory`` and refuse to reuse it if that would overwrite results.

    Parameters
    ----------
    directory : path
        The output directory; created (with parents) if missing.
    force : bool
        Allow existing files to be replaced.
    outputs : list of str, optional
        Names of the files the caller is about to write. When given, only these are checked;
        otherwise any existing non-hidden file in the directory counts as a clash.
    """
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    if force:
        return out
    if outputs is None:
        clashes = [p for p in out.iterdir() if not p.name.startswith(".")]
    elif callable(outputs):
        clashes = [p for p in outputs(out) if p.exists()]
    else:
        clashes = [out / name for name in outputs if (out / name).exists()]
    if clashes:
        listed = ", ".join(p.name for p in sorted(clashes)[:5])
        raise OutputExistsError(
            f"{out}: would overwrite existing output ({listed}); use --force to replace it"
        )
    return out
