"""``syntony live`` and ``syntony stream replay|simulate``: parse, call :mod:`syntony.live`."""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._options import (
    positive_option,
    quiet_option,
    seed_option,
    stacked,
    sync_window_options,
)

_TYPE_SIGNAL = {"resp": "respiration", "ecg": "ecg", "eda": "eda", "gsr": "eda"}


def _claim_session(ctx: click.Context, param: click.Parameter, value: Path | None):
    """Check --out before anything runs and lock it for the session.

    A new session needs a free directory (or --force); --resume needs a session there.
    """
    if value is None or ctx.resilient_parsing:
        return value
    from syntony._io_utils import check_output_free, output_lock
    from syntony.errors import InputError

    if ctx.params.get("resume"):
        if not (value / "session.json").is_file():
            raise InputError("no live session to resume here (no session.json)", source=value)
    else:
        check_output_free(value, force=bool(ctx.params.get("force")))
        if ctx.params.get("force") and value.is_dir():
            import shutil

            shutil.rmtree(value)
    ctx.with_resource(output_lock(value))
    return value


_lsl_options = stacked(
    click.option(
        "--local-only",
        is_flag=True,
        help="Keep LSL on this machine (loopback only, IPv6 off): the configuration shipped "
        "with syntony.",
    ),
    click.option(
        "--lsl-config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="liblsl configuration file (sets LSLAPICFG).",
    ),
)


def _config(local_only: bool, lsl_config: Path | None):
    from syntony.errors import ParameterError
    from syntony.live.lsl import LOCAL_CONFIG

    if local_only and lsl_config is not None:
        raise ParameterError("--local-only", "not together with --lsl-config", True)
    return LOCAL_CONFIG if local_only else lsl_config


_LIVE_EPILOG = """\b
Examples:
  syntony live --type Resp --out session1 --window 30 --step 1 --max-lag 5
  syntony live --type Resp --out session1 --resume      (after a crash or Ctrl-C)
  syntony stream replay Case2_Sae1_AudResp.csv --speed 4 --local-only &
  syntony live --type Resp --local-only --out replayed --idle-stop 5

\b
Writes into --out, appending as data arrive: recording.tsv (readable by
syntony sync/fit), features.tsv, windows.tsv, nulls.tsv, coupling.tsv,
events.tsv, matrices.bin, session.json; at the end result.json and report.html.
The dashboard is at http://127.0.0.1:PORT/ while the session runs.
"""


@click.command("live", epilog=_LIVE_EPILOG)
@click.option("--type", "stream_type", default="Resp", show_default=True, help="LSL stream type.")
@click.option(
    "--resume",
    is_flag=True,
    is_eager=True,
    help="Continue the session in --out (its settings and stream type apply).",
)
@click.option(
    "--force", is_flag=True, is_eager=True, help="Replace whatever --out holds (a new session)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    callback=_claim_session,
    help="Session directory.",
)
@click.option(
    "--signal",
    type=click.Choice(["respiration", "ecg", "eda", "raw"]),
    default=None,
    help="Feature (default from --type: Resp -> respiration, ECG -> ecg, EDA -> eda, else raw).",
)
@positive_option("--fs", default=4.0, help="Feature rate (Hz).")
@sync_window_options(step=1.0, step_help="Step between windows = refresh interval (s).")
@positive_option("--buffer", default=60.0, help="Seconds of signal each feature update sees.")
@positive_option(
    "--margin",
    zero=True,
    help="Seconds behind the newest sample at which features are emitted "
    "(default: 20 for respiration and EDA, 10 for ECG, 2 for raw).",
)
@click.option(
    "--surrogates",
    type=click.IntRange(min=0),
    default=39,
    show_default=True,
    help="Circular-shift surrogates per band (0: no band).",
)
@positive_option("--band-every", default=10.0, help="Seconds between surrogate bands.")
@positive_option("--fit-every", default=30.0, help="Seconds between coupling fits.")
@positive_option("--fit-span", default=120.0, help="Seconds of features each fit uses.")
@positive_option("--duration", help="Stop after this many seconds of recording.")
@positive_option("--idle-stop", help="Stop when no stream has sent anything for this many seconds.")
@positive_option(
    "--wait", help="Give up when no stream delivers anything within this many seconds."
)
@positive_option("--raw-fs", help="Rate of the raw grid (default: the first stream's rate).")
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8765,
    show_default=True,
    help="Dashboard port on 127.0.0.1 (0: any free port).",
)
@click.option("--no-dashboard", is_flag=True, help="Do not serve the dashboard.")
@_lsl_options
@seed_option
@quiet_option
def live_command(
    stream_type,
    resume,
    force,
    out_dir,
    signal,
    fs,
    window,
    step,
    max_lag,
    buffer,
    margin,
    surrogates,
    band_every,
    fit_every,
    fit_span,
    duration,
    idle_stop,
    wait,
    raw_fs,
    port,
    no_dashboard,
    local_only,
    lsl_config,
    seed,
    quiet,
):
    """Measure group synchrony live from LSL streams, record everything, serve a dashboard.

    Streams of --type are discovered continuously: one stream per person, or one person per
    channel of a multichannel stream; people who join later are added, a stream that stops is
    marked as a dropout and taken back when it returns. Stop with Ctrl-C (the session is saved).
    """
    from syntony.live import LiveOptions, LiveSettings, run_live
    from syntony.physio.synchrony import SyncConfig

    settings = LiveSettings(
        signal=signal or _TYPE_SIGNAL.get(stream_type.lower(), "raw"),
        fs=fs,
        config=SyncConfig(window=window, step=step, max_lag=max_lag),
        buffer=buffer,
        margin=margin,
        n_surrogates=surrogates,
        surrogate_every=band_every,
        fit_every=fit_every,
        fit_span=fit_span,
        seed=seed,
    )
    options = LiveOptions(
        stream_type=stream_type,
        duration=duration,
        idle_stop=idle_stop,
        wait=wait,
        raw_fs=raw_fs,
        port=None if no_dashboard else port,
        lsl_config=_config(local_only, lsl_config),
        on_ready=None if quiet else (lambda url: click.echo(f"dashboard: {url}", err=True)),
    )
    result = run_live(out_dir, settings, options, resume=resume)
    if not quiet:
        click.echo(result.summary())
        click.echo(f"report: {out_dir / 'report.html'}")


@click.group("stream")
def stream_group() -> None:
    """Publish LSL streams for testing and demonstration (replay a recording, or simulate)."""


_REPLAY_EPILOG = """\b
Examples:
  syntony stream replay Case2_Sae1_AudResp.csv --speed 4 --local-only
  syntony stream replay group.csv --absent AU807:60-90 --absent AU805:0-30

\b
Writes nothing; publishes one LSL stream per person (or --hub persons per stream).
"""


_publish_options = stacked(
    _lsl_options,
    click.option(
        "--type",
        "stream_type",
        default="Resp",
        show_default=True,
        help="LSL stream type to publish.",
    ),
    positive_option("--speed", default=1.0, help="Playback speed (1: real time)."),
    click.option(
        "--hub",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Persons per stream (1: one stream per person).",
    ),
    click.option(
        "--absent",
        multiple=True,
        metavar="PERSON:START-STOP",
        help="Take a person off the network for a span (s); repeatable.",
    ),
)


@click.command("replay", epilog=_REPLAY_EPILOG)
@click.argument("input_path", metavar="FILE", type=click.Path(exists=True, path_type=Path))
@click.option("--channel", default=None, help="Channel to publish when the file has several.")
@_publish_options
@quiet_option
def replay_command(
    input_path, channel, stream_type, speed, hub, absent, local_only, lsl_config, quiet
):
    """Publish a recording (read as syntony sync reads it) as LSL streams."""
    from syntony.live.sources import parse_absent, publish
    from syntony.physio.io import read_recording

    recording = read_recording(input_path)
    stats = publish(
        recording,
        stream_type=stream_type,
        speed=speed,
        hub=hub,
        absent=parse_absent(list(absent)),
        channel=channel,
        lsl_config=_config(local_only, lsl_config),
        meta={"source": str(input_path)},
    )
    if not quiet:
        click.echo(f"published {stats.samples} samples of {recording.sizes['person']} persons")


_SIMULATE_EPILOG = """\b
Examples:
  syntony stream simulate concert_crowd --n 200 --duration 300 --local-only
  syntony stream simulate concert_crowd --n 1000 --hub 100 --coupling 0 --seed 1

\b
Writes nothing; publishes the simulated crowd as LSL streams.
"""


@click.command("simulate", epilog=_SIMULATE_EPILOG)
@click.argument("scenario")
@click.option("--n", "n", type=click.IntRange(min=2), required=True, help="Persons.")
@positive_option("--duration", default=300.0, help="Seconds simulated.")
@positive_option("--fs", default=25.0, help="Rate of the published signal (Hz).")
@click.option(
    "--as",
    "kind",
    type=click.Choice(["respiration", "state"]),
    default="respiration",
    show_default=True,
    help="A breathing wave following the state, or the state.",
)
@positive_option("--coupling", zero=True, help="Social coupling of the agents (agents.gamma_soc).")
@_publish_options
@seed_option
@quiet_option
def simulate_command(
    scenario,
    n,
    duration,
    fs,
    kind,
    coupling,
    stream_type,
    speed,
    hub,
    absent,
    local_only,
    lsl_config,
    seed,
    quiet,
):
    """Publish a crowd simulated by syntony.model (SCENARIO: a built-in name or a file)."""
    from syntony.live.sources import parse_absent, publish, simulated_crowd
    from syntony.model import Scenario

    sc = Scenario.load(scenario)
    crowd = simulated_crowd(
        sc, n=n, duration=duration, seed=seed, fs=fs, kind=kind, coupling=coupling
    )
    meta = {"scenario": crowd.attrs["scenario"], "gamma_soc": crowd.attrs["gamma_soc"]}
    if not quiet:
        click.echo(
            f"publishing {n} simulated persons ({sc.name}, gamma_soc = "
            f"{crowd.attrs['gamma_soc']:g})",
            err=True,
        )
    publish(
        crowd,
        stream_type=stream_type,
        speed=speed,
        hub=hub,
        absent=parse_absent(list(absent)),
        lsl_config=_config(local_only, lsl_config),
        meta=meta,
    )


stream_group.add_command(replay_command)
stream_group.add_command(simulate_command)


def register(app: click.Group) -> None:
    """Add the live commands to ``app``."""
    app.add_command(live_command)
    app.add_command(stream_group)
