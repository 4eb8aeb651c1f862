"""``syntony contrast | conjunction | macm | workflow fu2025``: the Fu et al. 2025 analyses.

Groups are given as SPECs (see :mod:`syntony.meta.specs`): a Sleuth/JSON/CSV file, or a
database query such as ``neuroquery:terms=empathy`` (which needs ``--default-n``).
"""

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

out_option = click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="Output directory."
)
default_n_option = click.option(
    "--default-n",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Sample size of database articles (required for database specs and MACM).",
)
jobs_option = click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="Worker threads (default all)."
)
database_dir_option = click.option(
    "--database-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of the database named in specs/--database (default: syntony.datasets, "
    "i.e. $SYNTONY_NEUROQUERY_DIR / $SYNTONY_NEUROSYNTH_DIR or the download cache).",
)


def _databases(database_dir: Path | None):
    from syntony.meta.specs import Databases

    return Databases({_kind(database_dir): database_dir} if database_dir is not None else None)


def _kind(folder: Path) -> str:
    if any(folder.glob("data-neuroquery_version-*")):
        return "neuroquery"
    if any(folder.glob("data-neurosynth_version-*")):
        return "neurosynth"
    from syntony.errors import InputError

    raise InputError("no NeuroQuery or Neurosynth files", source=str(folder))


def _test(test: str, p: float, min_mm3: float | None):
    from syntony.meta.contrast import AllVoxels, InMainEffects

    if test == "gingerale":
        return InMainEffects(p_threshold=p, min_cluster_mm3=200.0 if min_mm3 is None else min_mm3)
    return AllVoxels(p_threshold=p, min_cluster_mm3=0.0 if min_mm3 is None else min_mm3)


def _say(quiet: bool):
    return (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))


def _ale(n_iters: int, seed, jobs, quiet: bool, labeller, null: str, threshold: str = "analytic"):
    from syntony.meta.ale import ALE
    from syntony.meta.null import NULL_METHODS

    return ALE(n_iters=n_iters, n_jobs=jobs, random_state=seed, progress=not quiet,
               labeller=labeller, null_method=NULL_METHODS[null],
               cluster_threshold=cluster_threshold_rule(threshold, n_iters))  # fmt: skip


def _children(seed: int | None, n: int):
    import numpy as np

    from syntony._rng import seed_sequence

    seq = seed_sequence(seed)
    return [np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, k)) for k in range(n)]


test_options = [
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
]


def _with(options):
    def wrap(f):
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


@click.command("contrast")
@click.argument("group_a", metavar="A")
@click.argument("group_b", metavar="B")
@out_option
@_with(test_options)
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
@default_n_option
@database_dir_option
@click.option("--atlas", default="harvard_oxford", show_default=True, help="Labels ('none').")
@seed_option
@jobs_option
@force_option
@quiet_option
def contrast_command(group_a, group_b, out, test, p_threshold, min_cluster_mm3, n_permutations,
                     n_iters, main_effect, replay_nimare, default_n, database_dir, atlas, seed, jobs, force,
                     quiet):  # fmt: skip
    """Contrast (subtraction) of A and B by label permutation: A > B and B > A.

    A and B are SPECs: a Sleuth/JSON/CSV file, or a database query such as
    'neuroquery:terms=empathy' or 'neuroquery:title=imitat;not_terms=empathy'
    (keys: terms, title, not_terms, not_title, min_count, sources, match, topics,
    min_weight, ids; database queries need --default-n).
    """
    from syntony.meta.contrast import ALEContrast
    from syntony.meta.specs import resolve_spec

    dbs = _databases(database_dir)
    a = resolve_spec(group_a, default_n=default_n, databases=dbs)
    b = resolve_spec(group_b, default_n=default_n, databases=dbs)
    labeller = atlas_labeller(atlas)
    est = ALEContrast(
        test=_test(test, p_threshold, min_cluster_mm3), n_permutations=n_permutations,
        main_effect_iters=n_iters, main_effect_level=main_effect, replay_nimare=replay_nimare, n_jobs=jobs, random_state=seed,
        progress=not quiet, labeller=labeller,
    )  # fmt: skip
    result = est.fit(a, b).result_
    result.save(out, force=force)
    if not quiet:
        t = result.tables
        click.echo(
            f"{len(t['clusters_a_gt_b'])} cluster(s) A > B, {len(t['clusters_b_gt_a'])} B > A; "
            f"written to {out}"
        )


@click.command("conjunction")
@click.argument("group_a", metavar="A")
@click.argument("group_b", metavar="B")
@out_option
@click.option("--n-iters", type=click.IntRange(min=2), default=5000, show_default=True,
              help="Monte Carlo iterations of each main effect.")  # fmt: skip
@click.option("--min-cluster-mm3", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Smallest conjunction cluster kept.")  # fmt: skip
@null_option("auto")
@default_n_option
@database_dir_option
@click.option("--atlas", default="harvard_oxford", show_default=True, help="Labels ('none').")
@seed_option
@jobs_option
@force_option
@quiet_option
def conjunction_command(group_a, group_b, out, n_iters, min_cluster_mm3, null, default_n, database_dir,
                        atlas, seed, jobs, force, quiet):  # fmt: skip
    """Conjunction of the ALEs of A and B: minimum of the FWE-thresholded maps.

    Writes the conjunction maps and table to --out, and each main effect to --out/ale_a and
    --out/ale_b. A and B are SPECs, as for 'syntony contrast'.
    """
    from syntony.meta.conjunction import conjunction
    from syntony.meta.specs import resolve_spec

    dbs = _databases(database_dir)
    a = resolve_spec(group_a, default_n=default_n, databases=dbs)
    b = resolve_spec(group_b, default_n=default_n, databases=dbs)
    labeller = atlas_labeller(atlas)
    seeds = _children(seed, 2)
    ra = _ale(n_iters, seeds[0], jobs, quiet, labeller, null).fit(a).result_
    rb = _ale(n_iters, seeds[1], jobs, quiet, labeller, null).fit(b).result_
    result = conjunction([ra, rb], min_cluster_mm3=min_cluster_mm3, names=[a.name, b.name],
                         labeller=labeller)  # fmt: skip
    result.save(out, force=force)
    ra.save(Path(out) / "ale_a", force=force)
    rb.save(Path(out) / "ale_b", force=force)
    if not quiet:
        click.echo(f"{len(result.tables['clusters'])} conjunction cluster(s); written to {out}")


def _parse_roi(text: str, atlas: str):
    """ROI grammar: sphere:X,Y,Z,R | atlas:LABEL | a NIfTI mask path."""
    from syntony.errors import InputError
    from syntony.meta.roi import atlas_roi, image_roi, sphere_roi

    kind, sep, rest = text.partition(":")
    if sep and kind == "sphere":
        try:
            x, y, z, r = (float(v) for v in rest.split(","))
        except ValueError:
            raise InputError("expected sphere:X,Y,Z,RADIUS (mm)", source=text) from None
        return sphere_roi((x, y, z), r)
    if sep and kind == "atlas":
        return atlas_roi(rest, atlas="harvard_oxford" if atlas == "none" else atlas)
    return image_roi(text)


@click.command("macm")
@click.option(
    "--roi",
    "rois",
    multiple=True,
    required=True,
    help="Seed region (repeatable): sphere:X,Y,Z,R (MNI mm), atlas:LABEL, or a NIfTI mask.",
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
@click.option("--atlas", default="harvard_oxford", show_default=True, help="Labels ('none').")
@seed_option
@jobs_option
@force_option
@quiet_option
def macm_command(rois, database, out, default_n, database_dir, n_iters, min_experiments, scale,
                 null, cluster_threshold, atlas, seed, jobs, force, quiet):  # fmt: skip
    """Meta-analytic connectivity modelling from each --roi over a reference database.

    Writes one folder per region under --out and, for several regions, the merged network
    in --out/network."""
    from syntony.errors import InputError
    from syntony.meta.macm import macm, macm_network
    from syntony.meta.null import NULL_METHODS
    from syntony.meta.scale import SCALE

    if default_n is None:
        raise InputError("the reference databases have no sample sizes: give --default-n")
    # Check the cheap inputs before loading (or downloading) the database.
    labeller = atlas_labeller(atlas)
    regions = [_parse_roi(r, atlas) for r in rois]
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise InputError(f"two regions have the same name: {names}")
    db = _databases(database_dir).get(database)
    say = _say(quiet)
    results = []
    for k, roi in enumerate(regions):
        seed_k = _children(seed, len(regions))[k]
        if scale:
            est = SCALE(reference=db, n_iters=n_iters, n_jobs=jobs, random_state=seed_k,
                        progress=not quiet, labeller=labeller,
                        null_method=NULL_METHODS[null],
                        cluster_threshold=cluster_threshold_rule(cluster_threshold, n_iters))  # fmt: skip
        else:
            est = _ale(n_iters, seed_k, jobs, quiet, labeller, null, cluster_threshold)
        say(f"MACM from {roi.name} ({roi.n_voxels} voxels)")
        result = macm(roi, db, default_n=default_n, estimator=est,
                      min_experiments=min_experiments)  # fmt: skip
        result.save(Path(out) / roi.name, force=force)
        results.append(result)
        say(f"  {len(result.experiment_ids)} articles, {len(result.clusters)} cluster(s)")
    if len(results) > 1:
        macm_network(results, labeller=labeller).save(Path(out) / "network", force=force)
    if not quiet:
        click.echo(f"written to {out}")


@click.group("workflow")
def workflow_group() -> None:
    """Published analyses run end to end."""


@workflow_group.command("fu2025")
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
@_with(test_options)
@seed_option
@jobs_option
@force_option
@quiet_option
def fu2025_command(group_a, group_b, database, out, default_n, database_dir, n_iters, macm_iters,
                   max_rois, null, cluster_threshold, test, p_threshold, min_cluster_mm3, n_permutations, seed, jobs,
                   force, quiet):  # fmt: skip
    """ALE(A), ALE(B), conjunction, both contrasts and MACM from the conjunction clusters.

    Writes every map, table, a comparison with the paper's findings (comparison.md) and a
    methods text under --out."""
    from syntony.errors import InputError
    from syntony.meta.null import NULL_METHODS
    from syntony.meta.specs import resolve_spec
    from syntony.meta.workflow import Fu2025Config, comparison_markdown, run_fu2025

    if default_n is None:
        raise InputError("MACM on a reference database needs --default-n (it has no sample sizes)")
    dbs = _databases(database_dir)
    a = resolve_spec(group_a, default_n=default_n, databases=dbs)
    b = resolve_spec(group_b, default_n=default_n, databases=dbs)
    db = dbs.get(database)
    config = Fu2025Config(
        n_iters=n_iters, n_permutations=n_permutations, macm_iters=macm_iters,
        contrast=_test(test, p_threshold, min_cluster_mm3), max_rois=max_rois,
        default_n=default_n, null_method=NULL_METHODS[null],
        cluster_threshold=cluster_threshold_rule(cluster_threshold, min(n_iters, macm_iters)),
    )  # fmt: skip
    result = run_fu2025(a, b, db, config=config, random_state=seed, n_jobs=jobs,
                        progress=not quiet, log=_say(quiet))  # fmt: skip
    result.save(out, force=force)
    if not quiet:
        click.echo(comparison_markdown(result.comparison))
        click.echo(f"written to {out}")


def register(app: click.Group) -> None:
    """Add this part's commands to ``app``."""
    app.add_command(contrast_command)
    app.add_command(conjunction_command)
    app.add_command(macm_command)
    app.add_command(workflow_group)
