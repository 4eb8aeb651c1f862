"""``syntony sync`` and ``syntony fit``: parse, call :mod:`syntony.physio`, save the result."""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._options import (
    checkpointed,
    digest,
    finish,
    force_option,
    out_option,
    positive_option,
    quiet_option,
    resume_option,
    scheduler_options,
    seed_option,
    stacked,
    sync_window_options,
)

SIGNALS = ("ecg", "respiration", "eda", "raw")

_channel_option = click.option(
    "--channel", default=None, help="Channel to use when the recording has several."
)
_resample_option = positive_option(
    "--resample", help="Common raw rate (Hz) for BIDS files recorded at different rates."
)
_input_argument = click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path)
)


_min_overlap_option = click.option(
    "--min-overlap",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Smallest share of INPUT's recording that --pseudo-from must share in time (sync also "
    "needs three windows in it); 0 accepts any overlap. The span used is always reported.",
)

_hazard_options = stacked(
    click.option(
        "--hazard",
        type=click.Choice(("constant", "stimulus")),
        default="constant",
        show_default=True,
        help="Switching probabilities fixed, or with logits moved by --stimulus (--model "
        "switching).",
    ),
    click.option(
        "--hazard-lag",
        type=click.IntRange(min=0),
        default=1,
        show_default=True,
        metavar="N",
        help="Steps from a stimulus to the switch it can trigger (--hazard stimulus).",
    ),
)
_bias_correction_option = click.option(
    "--bias-correction",
    type=click.Choice(("none", "jackknife")),
    default="none",
    show_default=True,
    help="Correct every group's estimate for its small-sample bias before pooling: jackknife "
    "refits each half of the recording (--groups).",
)

_SYNC_EPILOG = """\b
Examples:
  syntony sync Case2_Sae1_AudResp.csv --signal respiration --out sync \\
      --pseudo-from Case2_Sae2_AudResp.csv --seed 1
  syntony sync sub-01_task-x_physio.tsv.gz --signal ecg --channel cardiac --out hr
  syntony sync Case2_Sae1_AudResp.csv --signal respiration --surrogates 1000 \\
      --dask-local 2 --out sync
  (after an interruption, the same command with --resume continues it)

\b
Writes into --out: features.nc, synchrony.nc, synchrony_nulls.nc,
synchrony_windows.tsv, synchrony_pairs.tsv, synchrony_tests.tsv, result.json
and report.html.
"""

_FIT_EPILOG = """\b
Examples:
  syntony fit Case2_Sae1_AudResp.csv --signal respiration --out fit \\
      --pseudo-from Case2_Sae2_AudResp.csv --pseudo-groups 100 --seed 1
  syntony fit group.csv --network edges.tsv --stimulus music.csv --out fit
  syntony fit Case2_Sae1_AudResp.csv --signal respiration --model gated \\
      --pseudo-from Case2_Sae2_AudResp.csv --out gated --seed 1
  syntony fit group.csv --model switching --stimulus music.csv \\
      --hazard stimulus --hazard-lag 2 --out modes --seed 1
  syntony fit session1.csv --groups session2.csv --groups session3.csv --out pooled
  syntony fit session1.csv --groups session2.csv --groups session3.csv \\
      --bias-correction jackknife --out pooled
  syntony fit Case2_Sae1_AudResp.csv --signal respiration --out fit \\
      --pseudo-from Case2_Sae2_AudResp.csv --scheduler tcp://127.0.0.1:8786
  (after an interruption, the same command with --resume continues it)

\b
Writes into --out: fitted.nc, fit_params.tsv, fit_models.tsv, fit_tests.tsv,
fit_pseudo.tsv (with --pseudo-from), result.json and report.html; with
--model gated|switching|directed or --groups: fitted.nc (not pooled),
params.tsv, models.tsv, tests.tsv, tables.json and the model's tables
(weights.tsv, influence.tsv and pulls.tsv, groups.tsv, bootstrap.tsv,
pseudo.tsv), result.json and report.html.
"""


@click.command("sync", epilog=_SYNC_EPILOG)
@_input_argument
@click.option(
    "--signal", type=click.Choice(SIGNALS), required=True, help="Which feature to compute."
)
@out_option
@positive_option("--fs", default=4.0, help="Common feature rate (Hz).")
@_channel_option
@_resample_option
@sync_window_options(step=15.0)
@click.option(
    "--peak",
    type=click.Choice(["max", "absmax"]),
    default="max",
    show_default=True,
    help="Peak over lags: the largest correlation, or the largest in absolute value.",
)
@click.option(
    "--surrogates",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Circular-shift and segment-shuffle surrogates (0: none).",
)
@click.option(
    "--pseudo-from",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Another session (same stimulus, same time base) for pseudo-groups.",
)
@click.option(
    "--pseudo-groups",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Pseudo-groups drawn with --pseudo-from.",
)
@_min_overlap_option
@seed_option
@force_option
@resume_option
@scheduler_options
@quiet_option
def sync_command(
    input_path,
    signal,
    out_dir,
    fs,
    channel,
    resample,
    window,
    step,
    max_lag,
    peak,
    surrogates,
    pseudo_from,
    pseudo_groups,
    min_overlap,
    seed,
    force,
    resume,
    scheduler,
    dask_local,
    quiet,
):
    """Windowed lagged synchrony of a group recording, against surrogate and pseudo-group nulls.

    INPUT is a wide table (time column, one column per person), a long table (time, person,
    value) or a BIDS physio file or folder. The surrogates and pseudo-groups run in chunks,
    here or on a Dask cluster (--scheduler ADDRESS, $SYNTONY_SCHEDULER, or --dask-local N),
    with the same numbers.
    """
    from syntony.physio import SyncConfig, analyze_synchrony

    config = SyncConfig(window=window, step=step, max_lag=max_lag, peak=peak)
    key = {
        "input": digest(input_path),
        "pseudo_from": digest(pseudo_from),
        "signal": signal,
        "fs": fs,
        "channel": channel,
        "resample": resample,
        "config": [window, step, max_lag, peak],
        "surrogates": surrogates,
        "pseudo_groups": pseudo_groups if pseudo_from is not None else 0,
    }
    with (
        checkpointed(out_dir, "sync", key, seed=seed, resume=resume, force=force) as (
            checkpoint,
            run_seed,
        ),
        _executor(scheduler, dask_local) as executor,
    ):
        result = analyze_synchrony(
            input_path,
            signal=signal,
            fs=fs,
            config=config,
            n_surrogates=surrogates,
            pseudo_from=pseudo_from,
            n_pseudo_groups=pseudo_groups,
            channel=channel,
            resample=resample,
            seed=run_seed,
            progress=not quiet,
            min_overlap=min_overlap,
            checkpoint=checkpoint,
            executor=executor,
        )
        finish(result, out_dir, force=force, quiet=quiet)


def _executor(scheduler, dask_local):
    """Where the chunks run: a Dask cluster when asked for, else this process."""
    from syntony.execution import executor_from_options

    return executor_from_options(scheduler, dask_local, n_jobs=1)


@click.command("fit", epilog=_FIT_EPILOG)
@_input_argument
@out_option
@click.option(
    "--network",
    default="complete",
    show_default=True,
    help="'complete' or an edge list (source, target[, weight]; source perceives target).",
)
@click.option(
    "--signal",
    type=click.Choice(SIGNALS),
    default="raw",
    show_default=True,
    help="Feature to model.",
)
@positive_option("--fs", default=1.0, help="Rate of the modelled series (Hz); dt = 1/fs.")
@_channel_option
@_resample_option
@click.option(
    "--stimulus",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Shared input u(t): a table with a time column and one value column.",
)
@click.option(
    "--pseudo-from",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Another session for the pseudo-group test of c.",
)
@click.option(
    "--pseudo-groups",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Pseudo-groups fitted with --pseudo-from.",
)
@click.option(
    "--model",
    type=click.Choice(("linear", "gated", "switching", "directed")),
    default="linear",
    show_default=True,
    help="linear: one coupling c; gated: c follows eq (2) synchrony (gate g); switching: two "
    "group modes with their own baselines; directed: sender and receiver effects.",
)
@click.option(
    "--groups",
    type=click.Path(exists=True, path_type=Path),
    multiple=True,
    help="Another group recording (repeatable): every group is fitted with --model (linear or "
    "gated) and the groups are pooled (mu, tau, shrunken estimates).",
)
@positive_option(
    "--window",
    default=30.0,
    help="Window over which the gate's synchrony is taken (s; --model gated).",
)
@click.option(
    "--boot",
    type=click.IntRange(min=0),
    default=99,
    show_default=True,
    help="Bootstrap series of the test of one mode against two (--model switching).",
)
@_hazard_options
@_bias_correction_option
@click.option("--tmin", type=float, default=None, help="Analyse from this time (s) on.")
@click.option("--tmax", type=float, default=None, help="Analyse up to this time (s).")
@_min_overlap_option
@seed_option
@force_option
@resume_option
@scheduler_options
@quiet_option
def fit_command(
    input_path,
    out_dir,
    network,
    signal,
    fs,
    channel,
    resample,
    stimulus,
    pseudo_from,
    pseudo_groups,
    model,
    groups,
    window,
    boot,
    hazard,
    hazard_lag,
    bias_correction,
    tmin,
    tmax,
    min_overlap,
    seed,
    force,
    resume,
    scheduler,
    dask_local,
    quiet,
):
    """Fit the contagion coupling c by maximum likelihood and test c = 0, or a mechanism model
    (--model, --groups).

    INPUT is read as for ``syntony sync``. The pseudo-group fits and bootstrap series run in
    chunks, here or on a Dask cluster (--scheduler, --dask-local), with the same numbers.
    """
    from syntony.physio.mechanisms import fit_mechanism

    key = {
        "input": digest(input_path),
        "pseudo_from": digest(pseudo_from),
        "network": network if network == "complete" else digest(network),
        "stimulus": digest(stimulus),
        "signal": signal,
        "fs": fs,
        "channel": channel,
        "resample": resample,
        "tmin": tmin,
        "tmax": tmax,
        "pseudo_groups": pseudo_groups if pseudo_from is not None else 0,
    }
    if model != "linear" or groups:
        key.update(
            model=model,
            groups=[digest(g) for g in groups],
            window=window,
            boot=boot,
            hazard=[hazard, hazard_lag],
            bias_correction=bias_correction,
        )
    with (
        checkpointed(out_dir, "fit", key, seed=seed, resume=resume, force=force) as (
            checkpoint,
            run_seed,
        ),
        _executor(scheduler, dask_local) as executor,
    ):
        result = fit_mechanism(
            input_path,
            model=model,
            groups=groups,
            signal=signal,
            fs=fs,
            network=network,
            stimulus=stimulus,
            pseudo_from=pseudo_from,
            n_pseudo_groups=pseudo_groups,
            n_boot=boot,
            window=window,
            hazard=hazard,
            hazard_lag=hazard_lag,
            bias_correction=bias_correction,
            tmin=tmin,
            tmax=tmax,
            channel=channel,
            resample=resample,
            seed=run_seed,
            progress=not quiet,
            min_overlap=min_overlap,
            checkpoint=checkpoint,
            executor=executor,
        )
        finish(result, out_dir, force=force, quiet=quiet)


def register(app: click.Group) -> None:
    """Add this part's commands to ``app``."""
    app.add_command(sync_command)
    app.add_command(fit_command)
