"""``syntony contrast | conjunction | macm | workflow fu2025``: the Fu et al. 2025 analyses.

Groups are given as SPECs (see :mod:`syntony.meta.specs`): a Sleuth/JSON/CSV file, or a
database query such as ``neuroquery:terms=empathy`` (which needs ``--default-n``). Each command
parses its options, calls one function of :mod:`syntony.meta.analyses` and saves the result.
"""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._meta import atlas_option, diagnostics_option, meta_executor
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
    stacked,
)

default_n_option = positive_option(
    "--default-n",
    help="Sample size of database articles (required for database specs and MACM).",
)
database_dir_option = click.option(
    "--database-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of the database named in specs/--database (default: syntony.datasets, "
    "i.e. $SYNTONY_NEUROQUERY_DIR / $SYNTONY_NEUROSYNTH_DIR or the download cache).",
)


def _spec_key(spec: str) -> str | None:
    """A SPEC as a checkpoint key: the digest of a file, else the query text itself."""
    return digest(spec) if Path(spec).exists() else spec


def _say(quiet: bool):
    return (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))


test_options = stacked(
    click.option(
        "--test",
        type=click.Choice(["gingerale", "nimare"]),
        default="gingerale",
        show_default=True,
        help="gingerale: one-sided inside each main effect's significant clusters "
        "(Eickhoff 2011); nimare: two-sided on all voxels (ALESubtraction).",
    ),
    click.option(
        "--p",
        "p_threshold",
        type=click.FloatRange(min=0, max=1, min_open=True),
        default=0.001,
        show_default=True,
        help="Permutation p threshold of the difference map.",
    ),
    click.option(
        "--min-cluster-mm3",
        type=click.FloatRange(min=0),
        default=None,
        help="Smallest cluster kept (default 200 for gingerale, 0 for nimare).",
    ),
    click.option(
        "--n-permutations",
        type=click.IntRange(min=2),
        default=10_000,
        show_default=True,
        help="Label permutations.",
    ),
)


CONTRAST_EXAMPLES = """\b
Examples:
  syntony contrast mimicry.txt contagion.txt --out contrast --seed 1
  syntony contrast a.txt b.txt --out c --test nimare --n-permutations 2000
  syntony contrast a.txt b.txt --out c --balanced --balanced-iters 200 --subsamples 500
  syntony contrast a.txt b.txt --out c --seed 1 --dask-local 4   # permutations on Dask
"""

balanced_options = stacked(
    click.option(
        "--balanced",
        is_flag=True,
        help="Balanced contrast (JALE / NiMARE BalancedALESubtraction): equally many "
        "experiments from each group, probabilistic maps, its own extreme-value null instead "
        "of --test and --n-permutations.",
    ),
    click.option(
        "--balanced-iters",
        type=click.IntRange(min=1),
        default=1000,
        show_default=True,
        help="--balanced: null replicates.",
    ),
    click.option(
        "--subsamples",
        type=click.IntRange(min=1),
        default=2500,
        show_default=True,
        help="--balanced: subsamples of each probabilistic map.",
    ),
    click.option(
        "--difference-iterations",
        type=click.IntRange(min=1),
        default=1000,
        show_default=True,
        help="--balanced: paired draws averaged into one difference.",
    ),
)


@click.command("contrast", epilog=CONTRAST_EXAMPLES)
@click.argument("group_a", metavar="A")
@click.argument("group_b", metavar="B")
@out_option
@test_options
@click.option(
    "--n-iters",
    type=click.IntRange(min=2),
    default=5000,
    show_default=True,
    help="Monte Carlo iterations of the main effects (gingerale test).",
)
@click.option(
    "--main-effect",
    type=click.Choice(["cluster", "voxel", "uncorrected"]),
    default="cluster",
    show_default=True,
    help="gingerale test: which main-effect voxels are tested (cluster- or voxel-level FWE, "
    "or above the cluster-forming threshold).",
)
@click.option("--replay-nimare", is_flag=True, help="Permute exactly as NiMARE 0.22.1 does.")
@balanced_options
@diagnostics_option
@default_n_option
@database_dir_option
@atlas_option
@seed_option
@jobs_option
@scheduler_options
@force_option
@resume_option
@quiet_option
def contrast_command(group_a, group_b, out_dir, test, p_threshold, min_cluster_mm3,
                     n_permutations, n_iters, main_effect, replay_nimare, balanced,
                     balanced_iters, subsamples, difference_iterations, diagnostics, default_n,
                     database_dir, atlas, seed, jobs, scheduler, dask_local, force, resume,
                     quiet):  # fmt: skip
    """Contrast (subtraction) of A and B by label permutation: A > B and B > A.

    A and B are SPECs: a Sleuth/JSON/CSV file, or a database query such as
    'neuroquery:terms=empathy' or 'neuroquery:title=imitat;not_terms=empathy'
    (keys: terms, title, not_terms, not_title, min_count, sources, match, topics,
    min_weight, ids; database queries need --default-n).

    Writes to --out: diff, p, z, logp, z_thresholded, a_gt_b, b_gt_a, ale_a, ale_b and
    tested (NIfTI), clusters_a_gt_b.tsv and clusters_b_gt_a.tsv (header only when empty),
    null_distributions.npz, mask.nii.gz, analysis.json, methods.md, result.json, report.html;
    with --balanced also prob_a, prob_b and conjunction (NIfTI); with --diagnostics also
    diagnostics_<name>.tsv (and stability maps).

    The permutation batches and the main effects' Monte Carlo blocks run on --jobs threads, or
    as tasks of a Dask cluster (--scheduler ADDRESS, $SYNTONY_SCHEDULER, or --dask-local N),
    with the same numbers.
    """
    from syntony.meta.analyses import run_contrast

    chosen = None
    if balanced:
        from syntony.meta.balanced import Balanced

        chosen = Balanced(n_iters=balanced_iters, n_subsamples=subsamples,
                          difference_iterations=difference_iterations,
                          min_cluster_mm3=min_cluster_mm3 or 0.0)  # fmt: skip
    key = {
        "a": _spec_key(group_a), "b": _spec_key(group_b), "test": test,
        "p_threshold": p_threshold, "min_cluster_mm3": min_cluster_mm3,
        "n_permutations": n_permutations, "n_iters": n_iters, "main_effect": main_effect,
        "replay_nimare": replay_nimare, "default_n": default_n,
        "database_dir": digest(database_dir),
        "balanced": [balanced_iters, subsamples, difference_iterations] if balanced else None,
    }  # fmt: skip
    with (
        checkpointed(out_dir, "contrast", key, seed=seed, resume=resume, force=force) as (
            checkpoint,
            run_seed,
        ),
        meta_executor(scheduler, dask_local, jobs) as executor,
    ):
        result = run_contrast(
            group_a, group_b, test=test, p_threshold=p_threshold,
            min_cluster_mm3=min_cluster_mm3, n_permutations=n_permutations, n_iters=n_iters,
            main_effect=main_effect, replay_nimare=replay_nimare, balanced=chosen,
            diagnostics=diagnostics, default_n=default_n, database_dir=database_dir,
            atlas=atlas, seed=run_seed, n_jobs=jobs, progress=not quiet, checkpoint=checkpoint,
            executor=executor,
        )  # fmt: skip
        finish(result, out_dir, force=force, quiet=quiet)


CONJUNCTION_EXAMPLES = """\b
Examples:
  syntony conjunction mimicry.txt contagion.txt --out conj --seed 1
  syntony conjunction 'neuroquery:terms=imitation' 'neuroquery:terms=empathy' \\
      --default-n 20 --out conj-nq
"""


@click.command("conjunction", epilog=CONJUNCTION_EXAMPLES)
@click.argument("group_a", metavar="A")
@click.argument("group_b", metavar="B")
@out_option
@click.option("--n-iters", type=click.IntRange(min=2), default=5000, show_default=True,
              help="Monte Carlo iterations of each main effect.")  # fmt: skip
@click.option("--min-cluster-mm3", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Smallest conjunction cluster kept.")  # fmt: skip
@null_option("auto")
@cluster_threshold_option("analytic")
@diagnostics_option
@default_n_option
@database_dir_option
@atlas_option
@seed_option
@jobs_option
@scheduler_options
@force_option
@resume_option
@quiet_option
def conjunction_command(group_a, group_b, out_dir, n_iters, min_cluster_mm3, null,
                        cluster_threshold, diagnostics, default_n, database_dir, atlas, seed,
                        jobs, scheduler, dask_local, force, resume, quiet):  # fmt: skip
    """Conjunction of the ALEs of A and B: minimum of the FWE-thresholded maps.

    A and B are SPECs, as for 'syntony contrast'.

    Writes to --out: ale_min, z_min and clusters (NIfTI), clusters.tsv (with the columns
    'significant' and 'significance_test'), mask.nii.gz, analysis.json, methods.md,
    result.json and report.html; each main effect in --out/ale_a and --out/ale_b (the files
    of 'syntony ale'); with --diagnostics also diagnostics_<name>.tsv (and stability maps).

    The main effects' Monte Carlo blocks run on --jobs threads, or as tasks of a Dask cluster
    (--scheduler ADDRESS, $SYNTONY_SCHEDULER, or --dask-local N), with the same numbers.
    """
    from syntony.meta.analyses import run_conjunction

    key = {
        "a": _spec_key(group_a), "b": _spec_key(group_b), "n_iters": n_iters, "null": null,
        "cluster_threshold": cluster_threshold, "default_n": default_n,
        "database_dir": digest(database_dir),
    }  # fmt: skip
    with (
        checkpointed(out_dir, "conjunction", key, seed=seed, resume=resume, force=force) as (
            checkpoint,
            run_seed,
        ),
        meta_executor(scheduler, dask_local, jobs) as executor,
    ):
        result = run_conjunction(
            group_a, group_b, n_iters=n_iters, min_cluster_mm3=min_cluster_mm3, null=null,
            cluster_threshold=cluster_threshold, default_n=default_n, database_dir=database_dir,
            atlas=atlas, seed=run_seed, diagnostics=diagnostics, n_jobs=jobs,
            progress=not quiet, checkpoint=checkpoint, executor=executor,
        )  # fmt: skip
        finish(result, out_dir, force=force, quiet=quiet)


MACM_EXAMPLES = """\b
Examples:
  syntony macm --roi sphere:-38,16,2,10 --database neuroquery --default-n 20 --out macm
  syntony macm --roi atlas:Insular --roi mask.nii.gz --database neuroquery \\
      --default-n 20 --n-iters 1000 --seed 3 --out macm2
  syntony macm --roi sphere:-38,16,2,10 --roi sphere:40,18,0,10 --database neuroquery \\
      --default-n 20 --scheduler tcp://127.0.0.1:8786 --out macm3   # regions on Dask
"""


@click.command("macm", epilog=MACM_EXAMPLES)
@click.option(
    "--roi",
    "rois",
    multiple=True,
    required=True,
    help="Seed region (repeatable): sphere:X,Y,Z,R (MNI mm), atlas:LABEL, or a NIfTI mask "
    "(named after its file).",
)
@click.option("--database", required=True,
              help="neuroquery, neurosynth, or a folder holding one.")  # fmt: skip
@out_option
@default_n_option
@database_dir_option
@click.option("--n-iters", type=click.IntRange(min=2), default=5000, show_default=True,
              help="Monte Carlo iterations of each MACM ALE.")  # fmt: skip
@click.option("--min-experiments", type=click.IntRange(min=1), default=10, show_default=True,
              help="Fewest articles a region needs.")  # fmt: skip
@click.option("--scale", is_flag=True,
              help="SCALE null: draw null foci from the database's coordinates.")  # fmt: skip
@null_option("auto")
@cluster_threshold_option("monte-carlo")
@atlas_option
@seed_option
@jobs_option
@scheduler_options
@force_option
@resume_option
@quiet_option
def macm_command(rois, database, out_dir, default_n, database_dir, n_iters, min_experiments,
                 scale, null, cluster_threshold, atlas, seed, jobs, scheduler, dask_local, force,
                 resume, quiet):  # fmt: skip
    """Meta-analytic connectivity modelling from each --roi over a reference database.

    Region NAME draws its Monte Carlo null from the seed's stream ("macm", NAME), the stream
    'syntony workflow fu2025' gives the same region.

    Writes to --out: one folder per region (named after it) with the files of 'syntony ale'
    plus roi.nii.gz and experiments.tsv (the articles with a focus in the region); beside
    them the network of all regions: n_regions, ale_max, ale_min and clusters (NIfTI),
    network.tsv, mask.nii.gz, analysis.json, methods.md, result.json and report.html.

    On a Dask cluster (--scheduler ADDRESS, $SYNTONY_SCHEDULER, or --dask-local N) each region
    is one task when there are at least as many regions as workers, else each region's Monte
    Carlo blocks are the tasks; the numbers are those of a local run.
    """
    from syntony.meta.analyses import run_macm

    key = {
        "rois": [_spec_key(r) for r in rois], "database": _spec_key(database),
        "database_dir": digest(database_dir), "default_n": default_n, "n_iters": n_iters,
        "min_experiments": min_experiments, "scale": scale, "null": null,
        "cluster_threshold": cluster_threshold,
    }  # fmt: skip
    with (
        checkpointed(out_dir, "macm", key, seed=seed, resume=resume, force=force) as (
            checkpoint,
            run_seed,
        ),
        meta_executor(scheduler, dask_local, jobs) as executor,
    ):
        result = run_macm(
            list(rois), database, default_n=default_n, database_dir=database_dir,
            n_iters=n_iters, min_experiments=min_experiments, scale=scale, null=null,
            cluster_threshold=cluster_threshold, atlas=atlas, seed=run_seed, n_jobs=jobs,
            progress=not quiet, log=_say(quiet), checkpoint=checkpoint, executor=executor,
        )  # fmt: skip
        finish(result, out_dir, force=force, quiet=quiet)


@click.group("workflow")
def workflow_group() -> None:
    """Published analyses run end to end."""


FU2025_EXAMPLES = """\b
Examples:
  syntony workflow fu2025 --group-a mimicry.txt --group-b contagion.txt \\
      --database neuroquery --default-n 20 --seed 1 --out fu2025
  syntony workflow fu2025 --group-a 'neuroquery:terms=imitation' \\
      --group-b 'neuroquery:terms=empathy' --database neuroquery --default-n 20 \\
      --n-iters 1000 --macm-iters 1000 --max-rois 2 --out fu-quick
"""


@workflow_group.command("fu2025", epilog=FU2025_EXAMPLES)
@click.option("--group-a", required=True, help="First group (e.g. emotional mimicry): SPEC.")
@click.option("--group-b", required=True, help="Second group (e.g. emotional contagion): SPEC.")
@click.option("--database", required=True,
              help="Reference database for MACM: neuroquery, neurosynth or a folder.")  # fmt: skip
@out_option
@default_n_option
@database_dir_option
@click.option("--n-iters", type=click.IntRange(min=2), default=5000, show_default=True,
              help="Monte Carlo iterations of the main effects.")  # fmt: skip
@click.option("--macm-iters", type=click.IntRange(min=2), default=5000, show_default=True,
              help="Monte Carlo iterations of each MACM.")  # fmt: skip
@click.option("--max-rois", type=click.IntRange(min=1), default=None,
              help="Use at most this many conjunction clusters as MACM seeds.")  # fmt: skip
@null_option("auto")
@cluster_threshold_option("monte-carlo")
@test_options
@seed_option
@jobs_option
@scheduler_options
@force_option
@quiet_option
def fu2025_command(group_a, group_b, database, out_dir, default_n, database_dir, n_iters,
                   macm_iters, max_rois, null, cluster_threshold, test, p_threshold,
                   min_cluster_mm3, n_permutations, seed, jobs, scheduler, dask_local, force,
                   quiet):  # fmt: skip
    """ALE(A), ALE(B), conjunction, both contrasts and MACM from the conjunction clusters.

    Writes to --out: ale_a/, ale_b/, conjunction/, contrast/ and macm/ (each a result of its
    own with its report.html; macm/ holds one folder per seed region), comparison.tsv and
    comparison.md (the paper's findings beside this run's), methods.md, result.json and
    report.html (which links every part).

    On a Dask cluster (--scheduler ADDRESS, $SYNTONY_SCHEDULER, or --dask-local N) the Monte
    Carlo blocks, permutation batches and MACM regions are its tasks, with the same numbers.
    """
    from syntony.meta.analyses import run_fu2025_workflow

    with meta_executor(scheduler, dask_local, jobs) as executor:
        result = run_fu2025_workflow(
            group_a, group_b, database, default_n=default_n, database_dir=database_dir,
            n_iters=n_iters, macm_iters=macm_iters, max_rois=max_rois, null=null,
            cluster_threshold=cluster_threshold, test=test, p_threshold=p_threshold,
            min_cluster_mm3=min_cluster_mm3, n_permutations=n_permutations, seed=seed,
            n_jobs=jobs, progress=not quiet, log=_say(quiet), executor=executor,
        )  # fmt: skip
        finish(result, out_dir, force=force, quiet=quiet)


def register(app: click.Group) -> None:
    """Add this part's commands to ``app``."""
    app.add_command(contrast_command)
    app.add_command(conjunction_command)
    app.add_command(macm_command)
    app.add_command(workflow_group)
