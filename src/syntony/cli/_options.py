"""The click options that several commands share, and the one way a command ends.

A command parses its options, makes one library call that returns a
:class:`syntony.report.Result`, and hands it to :func:`finish`, which saves it (report included)
and prints its summary.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click


def _claim_output(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Check --out before any work and lock it for the whole run.

    A directory that already holds results is refused at once (not after an hour of Monte
    Carlo) unless --force, and a second run into the same directory is refused while the first
    is writing. ``--force`` is eager, so its value is known here.
    """
    if value is None or ctx.resilient_parsing:
        return value
    from syntony._io_utils import check_output_free, output_lock

    # SyntonyError raised here reaches the group's handler: one line, exit code 2.
    check_output_free(value, force=bool(ctx.params.get("force")))
    ctx.with_resource(output_lock(value))
    return value


out_option = click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    callback=_claim_output,
    help="Output directory; it will hold this result only (with report.html).",
)
force_option = click.option(
    "--force",
    is_flag=True,
    is_eager=True,
    help="Replace the result already in --out (all of its files).",
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars or summaries.")
resume_option = click.option(
    "--resume",
    is_flag=True,
    help="Continue a run that was interrupted (killed, out of time): reuse the chunks it "
    "finished, kept beside --out, and give the numbers an uninterrupted run gives. The "
    "command and options must be the same.",
)
seed_option = click.option(
    "--seed", type=click.IntRange(min=0), default=None, help="Seed for reproducible results."
)


def stacked(*options):
    """One decorator made of several: ``@stacked(a, b)`` is ``@a`` above ``@b`` (the options
    are listed in ``--help`` in the order given)."""

    def apply(func):
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def positive_option(*param_decls: str, help: str, default: float | None = None, zero: bool = False):
    """A float option above 0 (or at least 0 with ``zero``): a rate, a span of seconds, a size;
    the default is shown in ``--help`` when there is one."""
    shown = {} if default is None else {"show_default": True}
    return click.option(
        *param_decls,
        type=click.FloatRange(min=0, min_open=not zero),
        default=default,
        help=help,
        **shown,
    )


def sync_window_options(*, step: float, step_help: str = "Step (s)."):
    """``--window``, ``--step`` and ``--max-lag`` (seconds): the windows and lags of the
    synchrony (:class:`syntony.physio.synchrony.SyncConfig`); the commands differ in the step."""
    return stacked(
        positive_option("--window", default=30.0, help="Window (s)."),
        positive_option("--step", default=step, help=step_help),
        positive_option("--max-lag", default=5.0, zero=True, help="Largest lag (s)."),
    )


jobs_option = click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="Worker threads (default all cores)."
)


def scheduler_options(func):
    """``--scheduler ADDRESS`` and ``--dask-local N``: where the parallel tasks run."""
    func = click.option(
        "--dask-local",
        "dask_local",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="Run the tasks on a Dask cluster of N local worker processes (127.0.0.1).",
    )(func)
    return click.option(
        "--scheduler",
        "scheduler",
        default=None,
        metavar="ADDRESS",
        help="Run the tasks on the Dask scheduler at ADDRESS (default: $SYNTONY_SCHEDULER); "
        "the numbers equal a local run's.",
    )(func)


def null_option(default: str):
    """``--null``: how the analytic ALE null is computed (see syntony.meta.null)."""
    return click.option(
        "--null",
        "null",
        type=click.Choice(["exact", "fft", "auto"]),
        default=default,
        show_default=True,
        help="Analytic null: exact (NiMARE's histogram binning), fft (log-space convolution, "
        "seconds for thousands of experiments) or auto (exact up to 500 experiments).",
    )


def cluster_threshold_option(default: str):
    """``--cluster-threshold``: how the cluster-forming ALE is found (syntony.meta.threshold)."""
    return click.option(
        "--cluster-threshold",
        "cluster_threshold",
        type=click.Choice(["analytic", "monte-carlo"]),
        default=default,
        show_default=True,
        help="Cluster-forming ALE from the analytic null (NiMARE, GingerALE) or from "
        "min(100, Monte Carlo iterations) null maps (calibrated when experiments report many "
        "overlapping foci, as database articles do).",
    )


def finish(result: Any, out_dir: Path, *, force: bool, quiet: bool) -> list[Path]:
    """Save ``result`` into ``out_dir`` (built aside, swapped in) and print its summary."""
    written = result.save(out_dir, force=force)
    if not quiet:
        click.echo(result.summary())
        click.echo(f"report: {Path(out_dir) / 'report.html'}")
    return written


def digest(path: str | os.PathLike[str] | None) -> str | None:
    """SHA-256 of an input file, or of every file under a folder (names included); None for
    None or a non-path value such as ``complete``."""
    if path is None:
        return None
    root = Path(path)
    if not root.exists():
        return str(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    sha = hashlib.sha256()
    for file in files:
        sha.update(str(file.relative_to(root) if root.is_dir() else file.name).encode())
        with open(file, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()


@contextlib.contextmanager
def checkpointed(
    out_dir: Path,
    command: str,
    key: Mapping[str, Any],
    *,
    seed: int | None,
    resume: bool,
    force: bool,
) -> Iterator[tuple[Any, int]]:
    """The checkpoint of a long command, and the seed to run it with.

    The checkpoint (beside ``out_dir``) is keyed on ``key`` (the options that set the numbers,
    input digests included), the seed and the syntony version: a checkpoint left by other
    options is refused, one left by the same command needs ``--resume`` (or ``--force`` to
    start over). Without ``--seed`` a fresh seed is drawn and kept with the checkpoint, so that
    ``--resume`` continues with the same one. The checkpoint is removed once the block ends
    well, or fails on the user's input; a kill or an interrupt keeps it for ``--resume``.
    """
    import numpy as np

    from syntony._checkpoint import Checkpoint
    from syntony.errors import SyntonyError

    stores = []
    if seed is None:
        seeds = Checkpoint(out_dir, f"{command}-seed", key, resume=resume, restart=force)
        stores.append(seeds)
        if 0 in seeds.done():
            words = seeds.load(0)["entropy"]
            seed = sum(int(w) << (32 * k) for k, w in enumerate(words))
        else:
            seed = int(np.random.SeedSequence().entropy)
            words = [(seed >> (32 * k)) & 0xFFFFFFFF for k in range(4)]
            seeds.save(0, entropy=np.array(words, dtype=np.uint32))
    stores.append(Checkpoint(out_dir, command, {**key, "seed": seed}, resume=resume, restart=force))
    try:
        yield stores[-1], seed
    except SyntonyError:
        for store in stores:
            store.clear()
        raise
    for store in stores:
        store.clear()
