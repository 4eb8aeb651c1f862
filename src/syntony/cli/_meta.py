"""``syntony ale``: activation likelihood estimation from a coordinate file."""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._app import (
    atlas_labeller,
    cluster_threshold_option,
    cluster_threshold_rule,
    force_option,
    null_option,
    quiet_option,
    seed_option,
)


@click.command("ale")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="Output directory."
)
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
@click.option(
    "--default-n",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Sample size for experiments that report none (databases).",
)
@click.option(
    "--select",
    multiple=True,
    help="Experiment ids to keep (repeat, or comma-separated); default all.",
)
@click.option(
    "--atlas",
    default="harvard_oxford",
    show_default=True,
    help="Atlas for cluster labels ('none' to skip).",
)
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
    "--jobs", type=click.IntRange(min=1), default=None, help="Worker threads (default all cores)."
)
@force_option
@quiet_option
def ale_command(
    inputs: tuple[Path, ...],
    out: Path,
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
    jobs: int | None,
    force: bool,
    quiet: bool,
) -> None:
    """ALE meta-analysis of INPUT (Sleuth text, NiMARE JSON or CSV/TSV of foci).

    Writes float32 NIfTI maps (ale, p, z, logp and, with --n-iters > 0, the FWE maps and the
    thresholded cluster map), clusters.tsv, null_distributions.npz, analysis.json and
    methods.md to --out.
    """
    from syntony._io_utils import prepare_output_dir
    from syntony.errors import ParameterError
    from syntony.meta.ale import ALE
    from syntony.meta.fwe import EarlyStop
    from syntony.meta.kernel import ALEKernel
    from syntony.meta.null import NULL_METHODS
    from syntony.meta.readers import read_studyset
    from syntony.meta.space import mni152_grid

    if n_iters == 1:
        raise ParameterError("--n-iters", "0 or at least 2", n_iters)
    if replay_nimare and seed is None:
        raise ParameterError("--seed", "an integer seed with --replay-nimare", None)
    studyset = read_studyset(list(inputs) if len(inputs) > 1 else inputs[0], default_n=default_n)
    if select:
        ids = [item.strip() for chunk in select for item in chunk.split(",") if item.strip()]
        studyset = studyset.select(ids)
    # Refuse early, before minutes of computation, if results would be overwritten.
    prepare_output_dir(
        out, force=force, outputs=["ale.nii.gz", "p.nii.gz", "z.nii.gz", "analysis.json"]
    )
    labeller = atlas_labeller(atlas)
    estimator = ALE(
        kernel=ALEKernel(subvoxel=subvoxel),
        grid=mni152_grid(gingerale=gingerale_mask),
        n_iters=n_iters,
        cluster_p=cluster_p,
        fwe_alpha=fwe_alpha,
        replay_nimare=replay_nimare,
        early_stop=EarlyStop() if early_stop else None,
        n_jobs=jobs,
        random_state=seed,
        progress=not quiet,
        labeller=labeller,
        null_method=NULL_METHODS[null],
        cluster_threshold=cluster_threshold_rule(cluster_threshold, n_iters),
    ).fit(studyset)
    result = estimator.result_
    result.save(out, force=force)
    if not quiet:
        n_sig = len(set(result.maps["clusters"].tolist()) - {0}) if "clusters" in result.maps else 0
        click.echo(
            f"{studyset.n_experiments} experiments, {studyset.n_foci} foci; cluster-forming ALE "
            f"{result.threshold:.5f}; {len(result.clusters)} clusters, {n_sig} significant "
            f"-> {out}"
        )


def register(app: click.Group) -> None:
    """Add this part's commands to ``app``."""
    app.add_command(ale_command)
