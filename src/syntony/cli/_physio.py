"""``syntony sync`` and ``syntony fit``: group recordings -> synchrony, null tests, fitted coupling."""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._app import force_option, quiet_option, seed_option

SIGNALS = ("ecg", "respiration", "eda", "raw")

SYNC_OUTPUTS = [
    "features.nc",
    "synchrony.nc",
    "synchrony_windows.tsv",
    "synchrony_pairs.tsv",
    "synchrony_tests.tsv",
    "synchrony.json",
    "sync_matrix.png",
    "group_synchrony.png",
]
FIT_OUTPUTS = ["fit.json", "fit_params.tsv", "fit_pseudo.tsv", "fitted.nc", "fit.png"]


def _feature(signal: str):
    # Map the CLI string to a feature strategy object, once, at the boundary.
    from syntony.physio import features

    return {
        "ecg": features.ECG,
        "respiration": features.Respiration,
        "eda": features.EDA,
        "raw": features.Raw,
    }[signal]()


def _load(path: Path, signal: str, fs: float, channel: str | None, resample: float | None = None):
    import warnings

    from syntony.physio.features import SignalExclusionWarning, extract_features
    from syntony.physio.io import read_recording

    bids = path.is_dir() or path.name.endswith(("_physio.tsv.gz", "_physio.tsv"))
    # BIDS files name their own channels; a wide/long table gets the signal's name.
    kwargs = {"resample_to": resample} if bids else {"channel": signal}
    ds = read_recording(path, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SignalExclusionWarning)
        feats = extract_features(ds, _feature(signal), channel=channel, fs=fs)
    notes = [str(w.message) for w in caught if issubclass(w.category, SignalExclusionWarning)]
    return feats, notes


def _aligned(a, b, variable: str):
    """The two sessions' feature arrays on their common time span (same grid step)."""
    import numpy as np

    from syntony.errors import InputError

    fs_a, fs_b = a.attrs["sampling_rate"], b.attrs["sampling_rate"]
    if abs(fs_a - fs_b) > 1e-9:
        raise InputError(f"sessions at {fs_a:g} Hz and {fs_b:g} Hz; use the same --fs")
    start = max(float(a.time[0]), float(b.time[0]))
    stop = min(float(a.time[-1]), float(b.time[-1]))
    if stop <= start:
        raise InputError("the two sessions do not overlap in time", source=b.attrs.get("source"))
    xa = a[variable].sel(time=slice(start - 0.5 / fs_a, stop + 0.5 / fs_a)).to_numpy()
    xb = b[variable].sel(time=slice(start - 0.5 / fs_a, stop + 0.5 / fs_a)).to_numpy()
    n = min(len(xa), len(xb))
    offset = round((start - float(a.time[0])) * fs_a)  # samples of ``a`` before the common span
    return np.asarray(xa[:n]), np.asarray(xb[:n]), offset


def _progress(quiet: bool):
    """A rich progress display on stderr (a no-op when quiet)."""
    import contextlib

    if quiet:
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _advance(bar, label: str, total: int):
    if bar is None:
        return None
    task = bar.add_task(label, total=total)
    return lambda n: bar.advance(task, n)


def _write_fig(path: Path, draw, force: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from syntony._io_utils import atomic_path

    fig, ax = plt.subplots(figsize=(8, 5))
    draw(ax)
    fig.tight_layout()
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _write_table(path: Path, frame, force: bool) -> None:
    from syntony._io_utils import atomic_write

    with atomic_write(path, force=force) as stream:
        frame.to_csv(stream, sep="\t", index=False, float_format="%.6g")


def _write_nc(path: Path, ds, force: bool) -> None:
    from syntony._io_utils import atomic_path

    try:
        import h5py  # noqa: F401  (h5netcdf cannot write without it)

        engine = "h5netcdf"
    except ImportError:
        engine = "scipy"  # NetCDF3, readable by every NetCDF tool
    with atomic_path(path, force=force) as tmp:
        ds.to_netcdf(tmp, engine=engine)


# Options shared by `sync` and `fit`.
_out_option = click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output directory."
)
_channel_option = click.option(
    "--channel", default=None, help="Channel to use when the recording has several."
)
_resample_option = click.option(
    "--resample",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Common raw rate (Hz) for BIDS files recorded at different rates.",
)


@click.command("sync")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--signal", type=click.Choice(SIGNALS), required=True, help="Which feature to compute."
)
@_out_option
@click.option(
    "--fs",
    type=click.FloatRange(min=0, min_open=True),
    default=4.0,
    show_default=True,
    help="Common feature rate (Hz).",
)
@_channel_option
@_resample_option
@click.option(
    "--window",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Window (s).",
)
@click.option(
    "--step",
    type=click.FloatRange(min=0, min_open=True),
    default=15.0,
    show_default=True,
    help="Step (s).",
)
@click.option(
    "--max-lag",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Largest lag (s).",
)
@click.option("--peak", type=click.Choice(["max", "absmax"]), default="max", show_default=True)
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
@click.option("--pseudo-groups", type=click.IntRange(min=1), default=1000, show_default=True)
@seed_option
@force_option
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
    seed,
    force,
    quiet,
):
    """Windowed lagged synchrony of a group recording, against surrogate and pseudo-group nulls."""
    import json
    import warnings

    import numpy as np
    import pandas as pd

    from syntony._io_utils import prepare_output_dir, write_json
    from syntony._provenance import provenance, provenance_json
    from syntony._rng import seed_sequence, spawn_generators
    from syntony.physio import plots
    from syntony.physio.surrogates import (
        phase_surrogate_test,
        pseudo_group_test,
        segment_shuffle,
        surrogate_test,
    )
    from syntony.physio.synchrony import SyncConfig, cluster_phase, fisher_z, synchrony

    config = SyncConfig(window=window, step=step, max_lag=max_lag, peak=peak)
    out = prepare_output_dir(out_dir, force=force, outputs=SYNC_OUTPUTS)
    ss = seed_sequence(seed)
    rng_shift, rng_shuffle, rng_pseudo, rng_phase = spawn_generators(ss, 4)
    feats, notes = _load(input_path, signal, fs, channel, resample)
    variable = feats.attrs["feature"]
    result = synchrony(feats, config)
    x = feats[variable].transpose("time", "person").to_numpy()
    tests, bands = [], {}
    w_s = config.samples(fs)
    if surrogates > 0:
        with _progress(quiet) as bar:
            shift = surrogate_test(
                x,
                fs,
                config,
                n_surrogates=surrogates,
                seed=rng_shift,
                method="circular-shift",
                progress=_advance(bar, "circular-shift surrogates", surrogates),
            )
            shuffle = surrogate_test(
                x, fs, config, surrogate=segment_shuffle(w_s[0]), n_surrogates=surrogates,
                seed=rng_shuffle, method="segment-shuffle",
                progress=_advance(bar, "segment-shuffle surrogates", surrogates),
            )  # fmt: skip
        tests += [shift.summary(), shuffle.summary()]
        if "phase" in feats:
            # Phase synchrony (Kuramoto, cluster phase) against circular shifts of the phases.
            phase = feats["phase"].transpose("time", "person").to_numpy()
            for label, stat in (
                ("kuramoto circular-shift", None),
                (
                    "cluster-phase circular-shift",
                    lambda ph: float(np.nanmean(cluster_phase(ph)[0])),
                ),
            ):
                res = phase_surrogate_test(
                    phase, statistic=stat, n_surrogates=surrogates, seed=rng_phase, method=label
                )
                tests.append(res.summary())
        bands["circular-shift"] = shift.null_windows
        bands["segment-shuffle"] = shuffle.null_windows
    if pseudo_from is not None:
        other, other_notes = _load(pseudo_from, signal, fs, channel, resample)
        notes += [f"pseudo session: {n}" for n in other_notes]
        xa, xb, offset = _aligned(feats, other, variable)
        pseudo = pseudo_group_test(xa, xb, fs, config, n_groups=pseudo_groups, seed=rng_pseudo)
        tests.append(pseudo.summary())
        # Pseudo-groups use the sessions' common span; its windows coincide with the real
        # group's when the span starts a whole number of steps in (then they are a run of them).
        n_win = result.sizes["window"]
        if offset % w_s[1] == 0:
            first = offset // w_s[1]
            band = np.full((pseudo.null_windows.shape[0], n_win), np.nan)
            k = max(0, min(n_win - first, pseudo.null_windows.shape[1]))
            band[:, first : first + k] = pseudo.null_windows[:, :k]
            bands["pseudo-group"] = band
    windows = pd.DataFrame(
        {"window": result.window.values, "time": result.time.values, "group": result.group.values}
    )
    for key in ("kuramoto", "cluster_phase"):
        if key in result:
            windows[key] = result[key].values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # windows without a pseudo band
        for label, band in bands.items():
            lo, hi = np.nanquantile(band, [0.025, 0.975], axis=0)
            windows[f"{label}_q025"], windows[f"{label}_q975"] = lo, hi
    with np.errstate(invalid="ignore"):
        zbar = np.nanmean(fisher_z(result["rho"].to_numpy()), axis=0)
        lag = np.nanmedian(result["lag"].to_numpy(), axis=0)
    persons = [str(p) for p in result.person.values]
    iu = np.triu_indices(len(persons), 1)
    pairs = pd.DataFrame(
        {
            "person": [persons[i] for i in iu[0]],
            "other": [persons[j] for j in iu[1]],
            "synchrony": np.tanh(zbar[iu]),
            "median_lag_s": lag[iu],
        }
    )
    params = {
        "input": str(input_path),
        "signal": signal,
        "fs": fs,
        "channel": channel,
        "window": window,
        "step": step,
        "max_lag": max_lag,
        "peak": peak,
        "surrogates": surrogates,
        "pseudo_from": str(pseudo_from) if pseudo_from else None,
        "pseudo_groups": pseudo_groups,
    }
    prov = provenance_json(parameters=params, seed=ss)
    feats.attrs["provenance"] = prov
    result.attrs["provenance"] = prov
    _write_nc(out / "features.nc", feats, force)
    _write_nc(out / "synchrony.nc", result, force)
    _write_table(out / "synchrony_windows.tsv", windows, force)
    _write_table(out / "synchrony_pairs.tsv", pairs, force)
    _write_table(out / "synchrony_tests.tsv", pd.DataFrame(tests), force)
    rates = feats[variable].to_numpy()
    summary = {
        "group_synchrony": result.attrs["group_mean"],
        "n_persons": len(persons),
        "n_windows": int(result.sizes["window"]),
        "feature_median": float(np.nanmedian(rates)),
        "feature_units": feats.attrs["units"],
        "excluded": json.loads(feats.attrs["excluded"]),
        "notes": notes,
        "tests": tests,
        "provenance": provenance(parameters=params, seed=ss),
    }
    if "kuramoto" in result:
        summary["kuramoto_mean"] = float(np.nanmean(result["kuramoto"]))
        summary["cluster_phase_mean"] = float(np.nanmean(result["cluster_phase"]))
    write_json(out / "synchrony.json", summary, force=force)
    _write_fig(out / "sync_matrix.png", lambda ax: plots.plot_sync_matrix(result, ax=ax), force)
    _write_fig(
        out / "group_synchrony.png",
        lambda ax: plots.plot_group_synchrony(result, null_windows=bands, ax=ax),
        force,
    )
    if not quiet:
        click.echo(
            f"group synchrony {summary['group_synchrony']:.3f} over {len(persons)} persons, {summary['n_windows']} windows"
        )
        for t in tests:
            click.echo(
                f"  {t['method']}: null mean {t['null_mean']:.3f}, p = {t['p_value']:.4g}, effect size {t['effect_size']:.2f}"
            )
        for n in notes:
            click.echo(f"  note: {n}")
        click.echo(f"outputs in {out}")


def _read_network(spec: str, persons: list[str]):
    import numpy as np
    import pandas as pd

    from syntony.errors import InputError
    from syntony.physio.statespace import complete_adjacency

    if spec == "complete":
        return complete_adjacency(len(persons))
    path = Path(spec)
    if not path.exists():
        raise InputError("network: expected 'complete' or an edge-list file", source=spec)
    sep = "\t" if ".tsv" in path.suffixes else ","
    table = pd.read_csv(path, sep=sep, dtype={"source": str, "target": str})
    for col in ("source", "target"):
        if col not in table.columns:
            raise InputError(
                "edge list needs columns source, target[, weight]", source=path, field=col
            )
    index = {p: k for k, p in enumerate(persons)}
    adj = np.zeros((len(persons), len(persons)))
    for row, (s, t) in enumerate(zip(table["source"], table["target"], strict=True)):
        for col, who in (("source", s), ("target", t)):
            if who not in index:
                raise InputError(
                    f"unknown person {who!r} (have {', '.join(persons)})",
                    source=path,
                    line=row + 2,
                    field=col,
                )
        w = float(table["weight"].iloc[row]) if "weight" in table.columns else 1.0
        if not np.isfinite(w) or w < 0:
            raise InputError(
                f"expected a non-negative weight, got {w!r}",
                source=path,
                line=row + 2,
                field="weight",
            )
        adj[index[s], index[t]] = w
    return adj


@click.command("fit")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@_out_option
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
@click.option(
    "--fs",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Rate of the modelled series (Hz); dt = 1/fs.",
)
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
@click.option("--pseudo-groups", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--tmin", type=float, default=None, help="Analyse from this time (s) on.")
@click.option("--tmax", type=float, default=None, help="Analyse up to this time (s).")
@seed_option
@force_option
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
    tmin,
    tmax,
    seed,
    force,
    quiet,
):
    """Fit the contagion coupling c by maximum likelihood and test c = 0."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    from syntony._io_utils import prepare_output_dir, write_json
    from syntony._provenance import provenance, provenance_json
    from syntony._rng import seed_sequence
    from syntony.errors import InputError
    from syntony.physio import plots
    from syntony.physio.fit import ContagionModel, pseudo_group_fit_test
    from syntony.physio.io import read_wide

    out = prepare_output_dir(out_dir, force=force, outputs=FIT_OUTPUTS)
    ss = seed_sequence(seed)
    feats, notes = _load(input_path, signal, fs, channel, resample)
    if tmin is not None or tmax is not None:
        feats = feats.sel(time=slice(tmin, tmax))
        if feats.sizes["time"] < 10:
            raise InputError(f"fewer than 10 samples between --tmin {tmin} and --tmax {tmax}")
    variable = feats.attrs["feature"]
    persons = [str(p) for p in feats.person.values]
    y = feats[variable].transpose("time", "person").to_numpy()
    t = feats["time"].to_numpy()
    u = None
    if stimulus is not None:
        stim = read_wide(stimulus)
        if stim.sizes["person"] != 1:
            raise InputError("stimulus: expected one value column", source=stimulus)
        u = np.interp(
            t,
            stim["time"].to_numpy(),
            stim["signal"].to_numpy()[:, 0, 0],
            left=np.nan,
            right=np.nan,
        )
        if not np.isfinite(u).all():
            raise InputError("stimulus does not cover the recording's time span", source=stimulus)
    adj = _read_network(network, persons)
    model = ContagionModel(adjacency=adj, dt=1.0 / fs).fit(y, u)
    summary = model.summary()
    pseudo = None
    if pseudo_from is not None:
        if network != "complete":
            raise InputError(
                "the pseudo-group test uses the complete network; drop --network", field="network"
            )
        other, _ = _load(pseudo_from, signal, fs, channel, resample)
        other = other.sel(time=slice(tmin, tmax))
        ya, yb, _ = _aligned(feats, other, variable)
        with _progress(quiet) as bar:
            pseudo = pseudo_group_fit_test(
                ya,
                yb,
                n_groups=pseudo_groups,
                dt=1.0 / fs,
                u=u[: len(ya)] if u is not None else None,
                seed=ss.spawn(1)[0],
                fitted=model if len(ya) == len(y) else None,
                progress=_advance(bar, "pseudo-group fits", pseudo_groups),
            )
        summary["pseudo_group"] = {k: v for k, v in pseudo.items() if k != "c_pseudo"}
        _write_table(out / "fit_pseudo.tsv", pd.DataFrame({"c_pseudo": pseudo["c_pseudo"]}), force)
    params = {
        "input": str(input_path),
        "signal": signal,
        "fs": fs,
        "network": network,
        "stimulus": str(stimulus) if stimulus else None,
        "pseudo_from": str(pseudo_from) if pseudo_from else None,
        "pseudo_groups": pseudo_groups,
        "tmin": tmin,
        "tmax": tmax,
    }
    summary["persons"] = persons
    summary["notes"] = notes
    summary["provenance"] = provenance(parameters=params, seed=ss)
    rows = [
        {
            "parameter": n,
            "estimate": model.params_[n],
            "se": model.se_[n],
            "ci_low": model.ci_[n][0],
            "ci_high": model.ci_[n][1],
        }
        for n in model.names_
    ]
    fitted = xr.Dataset(
        {"observed": (("time", "person"), y), "predicted": (("time", "person"), model.predicted_)},
        coords={"time": t, "person": persons},
        attrs={
            "provenance": provenance_json(parameters=params, seed=ss),
            "units": feats.attrs["units"],
        },
    )
    write_json(out / "fit.json", summary, force=force)
    _write_table(out / "fit_params.tsv", pd.DataFrame(rows), force)
    _write_nc(out / "fitted.nc", fitted, force)
    _write_fig(
        out / "fit.png",
        lambda ax: plots.plot_fit(
            t, y, model.predicted_, ax=ax, ylabel=f"{variable} ({feats.attrs['units']})"
        ),
        force,
    )
    if not quiet:
        lo, hi = model.ci_["c"]
        click.echo(
            f"c = {model.params_['c']:.4g} (95% CI {lo:.4g} to {hi:.4g}); LRT of c = 0: "
            f"chi2 = {model.lrt_stat_:.3g}, p = {model.lrt_pvalue_:.3g}"
        )
        click.echo(
            f"AIC {model.aic_:.1f} vs {model.aic_null_:.1f} (c = 0); BIC {model.bic_:.1f} vs {model.bic_null_:.1f}"
        )
        if pseudo is not None:
            click.echo(
                f"pseudo-groups: c mean {pseudo['c_pseudo_mean']:.4g}, p = {pseudo['p_value']:.3g}"
            )
        click.echo(f"outputs in {out}")


def register(app: click.Group) -> None:
    """Add this part's commands to ``app``."""
    app.add_command(sync_command)
    app.add_command(fit_command)
