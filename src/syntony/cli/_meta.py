"""``syntony ale``: activation likelihood estimation from a coordinate file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from syntony.cli._options import (
    checkpointed,
    cluster_threshold_option,
    digest,
    finish,
    force_option,
    jobs_option,
    null_option,
    out_option,
    positive_option,
    quiet_option,
    resume_option,
    scheduler_options,
    seed_option,
)


@contextlib.contextmanager
def meta_executor(scheduler: str | None, dask_local: int | None, jobs: int | None) -> Iterator[Any]:
    """The executor of a meta command's parallel parts, closed when the command ends.

    With ``--scheduler`` (or ``$SYNTONY_SCHEDULER``) or ``--dask-local N`` the Monte Carlo
    blocks, permutation batches and MACM regions are the tasks of a Dask cluster. Otherwise
    None: they run on this process' ``--jobs`` threads, as the compiled loops always have
    (block by block, with their progress bars), to the same numbers.
    """
    from syntony.execution import SCHEDULER_ENV, executor_from_options

    if not (scheduler or dask_local or os.environ.get(SCHEDULER_ENV)):
        yield None
        return
    with executor_from_options(scheduler, dask_local, n_jobs=jobs, kind="threads") as executor:
        yield executor


#: Shared by the meta commands: the --atlas option.
atlas_option = click.option(
    "--atlas",
    default="harvard_oxford",
    show_default=True,
    help="Atlas of the cluster peaks' labels ('none' to skip); where it has no label "
    "(e.g. the cerebellum for harvard_oxford) the AAL label is given.",
)


#: Shared by ale, contrast and conjunction: the --diagnostics option.
diagnostics_option = click.option(
    "--diagnostics",
    default=None,
    metavar="NAMES",
    help="Diagnostics to add, comma-separated: jackknife, focus-counter, stability, fsn (or "
    "all). Each is written as diagnostics_<name>.tsv (stability also as a map) and shown in "
    "the report.",
)


ALE_EXAMPLES = """\b
Examples:
  syntony ale pain.json --out ale-pain --n-iters 5000 --seed 1
  syntony ale pain.json --out ale-pain --seed 1 --dask-local 4   # FWE blocks on Dask
  syntony ale studies.txt --out quick --n-iters 0      # uncorrected maps only
  syntony ale pain.json --out ale-pain --seed 1 --diagnostics jackknife,fsn
  syntony ale pain.json --out ale-pain --seed 1 --resume   # after an interruption
"""


@click.command("ale", epilog=ALE_EXAMPLES)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@out_option
@click.option(
    "--n-iters",
    type=click.IntRange(min=0),
    default=10_000,
    show_default=True,
    help="Monte Carlo iterations for FWE; 0 writes only the uncorrected maps.",
)
@seed_option
@click.option(
    "--cluster-p",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=0.001,
    show_default=True,
    help="Cluster-forming uncorrected p.",
)
@click.option(
    "--fwe-alpha",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=0.05,
    show_default=True,
    help="Cluster-level family-wise error rate.",
)
@positive_option("--default-n", help="Sample size for experiments that report none (databases).")
@click.option(
    "--select",
    multiple=True,
    help="Experiment ids to keep (repeat, or comma-separated); default all.",
)
@atlas_option
@click.option("--replay-nimare", is_flag=True, help="Draw the null exactly as NiMARE 0.22.1 does.")
@click.option(
    "--gingerale-mask",
    is_flag=True,
    help="GingerALE's 'more conservative' 2 mm mask (same voxels, x reversed on disk).",
)
@click.option(
    "--subvoxel",
    is_flag=True,
    help="Centre each kernel at the focus's exact mm position, as GingerALE does.",
)
@null_option("exact")
@cluster_threshold_option("analytic")
@click.option(
    "--early-stop", is_flag=True, help="Stop the Monte Carlo loop once thresholds converge."
)
@click.option(
    "--focus-filter",
    is_flag=True,
    help="Remove the foci outside the brain mask first (NiMARE's FocusFilter); the removed "
    "foci are listed in diagnostics_focus-filter.tsv and counted in the warnings.",
)
@diagnostics_option
@jobs_option
@scheduler_options
@force_option
@resume_option
@quiet_option
def ale_command(
    inputs: tuple[Path, ...],
    out_dir: Path,
    n_iters: int,
    seed: int | None,
    cluster_p: float,
    fwe_alpha: float,
    default_n: float | None,
    select: tuple[str, ...],
    atlas: str,
    replay_nimare: bool,
    gingerale_mask: bool,
    subvoxel: bool,
    null: str,
    cluster_threshold: str,
    early_stop: bool,
    focus_filter: bool,
    diagnostics: str | None,
    jobs: int | None,
    scheduler: str | None,
    dask_local: int | None,
    force: bool,
    resume: bool,
    quiet: bool,
) -> None:
    """ALE meta-analysis of INPUT (Sleuth text, NiMARE JSON or CSV/TSV of foci).

    Writes to --out: float32 NIfTI maps (ale, p, z, logp; with --n-iters > 0 also the
    voxel/cluster-size/cluster-mass FWE maps, clusters.nii.gz and ale_thresholded.nii.gz),
    mask.nii.gz, clusters.tsv (every cluster above the cluster-forming threshold; the
    columns 'significant' and 'significance_test' say which survived FWE), contributions.tsv,
    null_distributions.npz, analysis.json, methods.md, result.json and report.html; with
    --diagnostics also diagnostics_<name>.tsv (and diagnostics_stability.nii.gz,
    diagnostics_fsn_analyses.tsv, diagnostics_fsn_null_experiments.tsv).

    The Monte Carlo blocks run on --jobs threads, or as tasks of a Dask cluster (--scheduler
    ADDRESS, $SYNTONY_SCHEDULER, or --dask-local N), with the same numbers.
    """
    from syntony.errors import ParameterError
    from syntony.meta.analyses import run_ale

    if replay_nimare and seed is None:
        raise ParameterError("--seed", "an integer seed with --replay-nimare", None)
    # Everything that sets the numbers of the Monte Carlo blocks a checkpoint keeps.
    key = {
        "inputs": [digest(p) for p in inputs], "default_n": default_n, "select": list(select),
        "n_iters": n_iters, "cluster_p": cluster_p, "fwe_alpha": fwe_alpha,
        "replay_nimare": replay_nimare, "gingerale_mask": gingerale_mask, "subvoxel": subvoxel,
        "null": null, "cluster_threshold": cluster_threshold, "early_stop": early_stop,
        "focus_filter": focus_filter,
    }  # fmt: skip
    with (
        checkpointed(out_dir, "ale", key, seed=seed, resume=resume, force=force) as (
            checkpoint,
            run_seed,
        ),
        meta_executor(scheduler, dask_local, jobs) as executor,
    ):
        result = run_ale(
            list(inputs), default_n=default_n, select=select, n_iters=n_iters, seed=run_seed,
            cluster_p=cluster_p, fwe_alpha=fwe_alpha, atlas=atlas, replay_nimare=replay_nimare,
            gingerale_mask=gingerale_mask, subvoxel=subvoxel, null=null,
            cluster_threshold=cluster_threshold, early_stop=early_stop,
            focus_filter=focus_filter, diagnostics=diagnostics, n_jobs=jobs,
            progress=not quiet, checkpoint=checkpoint, executor=executor,
        )  # fmt: skip
        finish(result, out_dir, force=force, quiet=quiet)


def register(app: click.Group) -> None:
    """Add this part's commands to ``app``."""
    app.add_command(ale_command)
