"""The physio analyses as one call each: group synchrony with its nulls, and the contagion fit.

:func:`analyze_synchrony` runs what ``syntony sync`` runs: features, all-pairs windowed lagged
synchrony, circular-shift and segment-shuffle surrogates, phase-synchrony tests, pseudo-groups
from another session, the per-window null bands and the pair table; it returns a
:class:`~syntony.physio.sync_result.SynchronyResult`. :func:`fit_contagion` runs what
``syntony fit`` runs and returns a :class:`~syntony.physio.fit_result.ContagionFitResult`.

Every random step draws from its own named stream of one seed tree
(``circular-shift``, ``segment-shuffle``, ``phase/...``, ``pseudo-groups``,
``fit-pseudo-groups``), so the same seed gives the same numbers whichever tests are run.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from syntony._checkpoint import Checkpoint
from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_in_range, check_integer
from syntony.errors import InputError, ParameterError
from syntony.execution import execution_record
from syntony.physio._chunks import SLOTS
from syntony.physio._progress import Progress, progress_bars
from syntony.physio.alignment import MIN_OVERLAP, align_sessions, check_overlap
from syntony.physio.features import Feature
from syntony.physio.fit_result import ContagionFitResult
from syntony.physio.loading import Recording, describe_recording, feature_for, load_features
from syntony.physio.sync_result import TEST_COLUMNS, SynchronyResult
from syntony.physio.synchrony import (
    DEFAULT_SYNC,
    IdenticalSignalsWarning,
    SyncConfig,
    cluster_phase,
    fisher_z,
    identical_note,
    synchrony,
)

__all__ = ["analyze_synchrony", "fit_contagion", "null_bands_table", "pair_table"]


def _mean_cluster_phase(phase: np.ndarray) -> float:
    return float(np.nanmean(cluster_phase(phase)[0]))


def analyze_synchrony(
    recording: Recording,
    *,
    signal: str | Feature = "raw",
    fs: float = 4.0,
    config: SyncConfig = DEFAULT_SYNC,
    n_surrogates: int = 200,
    pseudo_from: Recording | None = None,
    n_pseudo_groups: int = 1000,
    channel: str | None = None,
    resample: float | None = None,
    seed: SeedLike | SeedTree = None,
    progress: bool | Progress | None = False,
    min_overlap: float = MIN_OVERLAP,
    checkpoint: Checkpoint | None = None,
    executor=None,
) -> SynchronyResult:
    """Windowed lagged synchrony of a group, against surrogate and pseudo-group nulls.

    Parameters
    ----------
    recording : path or Dataset
        The group recording (see :func:`syntony.physio.loading.load_features`).
    signal : str or Feature
        ``"respiration"``, ``"ecg"``, ``"eda"``, ``"raw"`` or a feature object.
    fs : float
        Rate of the features (Hz).
    config : SyncConfig
        Window, step, largest lag and peak rule.
    n_surrogates : int
        Circular-shift and segment-shuffle surrogates, and surrogates of each phase test
        (0: no surrogate test).
    pseudo_from : path or Dataset, optional
        Another session on the same time base (same stimulus, other room) for pseudo-groups.
    n_pseudo_groups : int
        Pseudo-groups drawn when ``pseudo_from`` is given.
    channel, resample
        Passed to :func:`~syntony.physio.loading.load_features`.
    seed : int, SeedTree or None
        Root of the seed tree; ``None`` draws fresh entropy (recorded in the provenance).
    progress : bool or callable
        Show progress bars on stderr (True), or ``progress(label, total) -> advance(n)``.
    min_overlap : float
        Smallest share of this recording the pseudo session must share with it (default
        one half; the span must also hold three windows). 0 accepts any overlap. The span used
        is always stated in the notes and the tests table.
    checkpoint : Checkpoint, optional
        Saves the finished chunks of the surrogate, phase and pseudo-group tests and reuses
        those of an interrupted run (:class:`syntony._checkpoint.Checkpoint`, keyed on
        everything that sets the numbers); the result equals an uninterrupted run's.
    executor : Executor, optional
        Runs the chunks of surrogates, phase surrogates and pseudo-groups as tasks on local
        workers or a Dask cluster (:mod:`syntony.execution`); the numbers equal a serial
        run's, and where they ran is recorded in the provenance.

    Returns
    -------
    SynchronyResult
    """
    n_surrogates = check_integer("n_surrogates", n_surrogates, minimum=0)
    n_pseudo_groups = check_integer("n_pseudo_groups", n_pseudo_groups, minimum=1)
    if not isinstance(config, SyncConfig):
        raise ParameterError("config", "a SyncConfig", config)
    min_overlap = check_in_range("min_overlap", min_overlap, 0.0, 1.0)
    tree = SeedTree(seed)
    feats, notes = load_features(recording, signal, fs=fs, channel=channel, resample=resample)
    fs = float(feats.attrs["sampling_rate"])
    variable = feats.attrs["feature"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdenticalSignalsWarning)  # a note instead, below
        sync = synchrony(feats, config)
    identical = json.loads(sync.attrs.get("identical_pairs", "[]"))
    if identical:
        notes.append(identical_note([tuple(p) for p in identical]))
    tests: list[dict] = []
    bands: dict[str, np.ndarray] = {}
    nulls: dict[str, np.ndarray] = {}
    with progress_bars(progress) as task:
        other = aligned = None
        if pseudo_from is not None:
            # The pseudo session is read and checked first: a bad one fails before the surrogates.
            other, other_notes = load_features(
                pseudo_from, signal, fs=fs, channel=channel, resample=resample
            )
            notes += [f"pseudo session: {n}" for n in other_notes]
            aligned = align_sessions(feats, other, variable)
            w, s, lag = config.samples(fs)
            check_overlap(
                aligned,
                min_overlap,
                window=w,
                step=s,
                max_lag=lag,
                source=describe_recording(pseudo_from),
            )
            notes.append(aligned.describe())
        if n_surrogates > 0:
            _surrogate_tests(
                feats, variable, fs, config, n_surrogates, tree, task, tests, bands,
                checkpoint, executor,
            )  # fmt: skip
        if aligned is not None:
            _pseudo_groups(
                aligned, sync, fs, config, n_pseudo_groups, tree, task, tests, bands, notes,
                checkpoint, executor,
            )  # fmt: skip
    for test in tests:
        nulls[test["method"]] = test.pop("_null")
    _, label = feature_for(signal)
    parameters = {
        "input": describe_recording(recording),
        "signal": label,
        "feature": variable,
        "fs": fs,
        "channel": channel,
        "resample": resample,
        "window": config.window,
        "step": config.step,
        "max_lag": config.max_lag,
        "peak": config.peak,
        "n_surrogates": n_surrogates,
        "pseudo_from": describe_recording(pseudo_from),
        "n_pseudo_groups": n_pseudo_groups if pseudo_from is not None else 0,
        "min_overlap": min_overlap if pseudo_from is not None else None,
    }
    from syntony._provenance import provenance

    return SynchronyResult(
        features=feats,
        synchrony=sync,
        windows=null_bands_table(sync, bands),
        pairs=pair_table(sync),
        tests=_tests_table(tests),
        bands=bands,
        nulls=nulls,
        notes=notes,
        parameters=parameters,
        provenance=provenance(
            parameters=parameters, seed=tree.record(), execution=execution_record(executor)
        ),
    )


def _surrogate_tests(
    feats, variable, fs, config, n, tree, task, tests, bands, checkpoint, executor
) -> None:
    from syntony.physio.surrogates import phase_surrogate_test, segment_shuffle, surrogate_test

    x = feats[variable].transpose("time", "person").to_numpy()
    window = config.samples(fs)[0]
    for method, surrogate in (
        ("circular-shift", None),
        ("segment-shuffle", segment_shuffle(window)),
    ):
        res = surrogate_test(
            x,
            fs,
            config,
            surrogate=surrogate,
            n_surrogates=n,
            seed=tree.child(method),
            method=method,
            progress=task(f"{method} surrogates", n),
            checkpoint=checkpoint,
            checkpoint_slot=SLOTS[method],
            executor=executor,
        )
        tests.append({**res.summary(), "_null": res.null})
        bands[method] = res.null_windows
    if "phase" in feats:
        # Phase synchrony (Kuramoto order, cluster phase) against circular shifts of the phases.
        phase = feats["phase"].transpose("time", "person").to_numpy()
        for name, statistic in (("kuramoto", None), ("cluster-phase", _mean_cluster_phase)):
            res = phase_surrogate_test(
                phase,
                statistic=statistic,
                n_surrogates=n,
                seed=tree.child("phase", name),
                method=f"{name} circular-shift",
                checkpoint=checkpoint,
                checkpoint_slot=SLOTS[name],
                executor=executor,
            )
            row = res.summary()
            row.pop("scale", None)  # the statistic's own scale: the table needs no column for it
            tests.append({**row, "_null": res.null})


def _pseudo_groups(
    aligned, sync, fs, config, n, tree, task, tests, bands, notes, checkpoint, executor
):
    from syntony.physio.surrogates import pseudo_group_test

    res = pseudo_group_test(
        aligned.x,
        aligned.other,
        fs,
        config,
        n_groups=n,
        seed=tree.child("pseudo-groups"),
        progress=task("pseudo-groups", n),
        checkpoint=checkpoint,
        checkpoint_slot=SLOTS["pseudo-groups"],
        executor=executor,
    )
    tests.append(
        {
            **res.summary(),
            "overlap_s": aligned.overlap,
            "overlap_fraction": aligned.fraction,
            "_null": res.null,
        }
    )
    # The pseudo-groups' windows lie on the sessions' common span; they coincide with the real
    # group's windows when that span starts a whole number of steps in (a run of them, then).
    step = config.samples(fs)[1]
    n_win = sync.sizes["window"]
    if aligned.offset % step == 0:
        first = aligned.offset // step
        band = np.full((res.null_windows.shape[0], n_win), np.nan)
        k = max(0, min(n_win - first, res.null_windows.shape[1]))
        band[:, first : first + k] = res.null_windows[:, :k]
        bands["pseudo-group"] = band
    else:
        notes.append(
            f"no pseudo-group band over time: the sessions' common span starts "
            f"{aligned.offset / fs:g} s into the recording, not a whole number of "
            f"{config.step:g} s steps (the pseudo-group test itself is unaffected)"
        )


def _tests_table(tests: Sequence[dict]) -> pd.DataFrame:
    extra = [k for t in tests for k in t if k not in TEST_COLUMNS]
    columns = [*TEST_COLUMNS, *dict.fromkeys(extra)]
    return pd.DataFrame(list(tests), columns=columns)


def null_bands_table(sync: xr.Dataset, bands: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per window: centre time, group synchrony, phase measures, and each null's 95% band."""
    windows = pd.DataFrame(
        {
            "window": sync["window"].to_numpy(),
            "time": sync["time"].to_numpy(),
            "group": sync["group"].to_numpy(),
        }
    )
    for key in ("kuramoto", "cluster_phase"):
        if key in sync:
            windows[key] = sync[key].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # windows without a pseudo band
        for label, band in bands.items():
            lo, hi = np.nanquantile(band, [0.025, 0.975], axis=0)
            windows[f"{label}_q025"], windows[f"{label}_q975"] = lo, hi
    return windows


def pair_table(sync: xr.Dataset) -> pd.DataFrame:
    """One row per pair (i < j): mean synchrony over windows (via Fisher z) and median lag (s)."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs without any valid window
        zbar = np.nanmean(fisher_z(sync["rho"].to_numpy()), axis=0)
        lag = np.nanmedian(sync["lag"].to_numpy(), axis=0)
        valid = np.isfinite(sync["r"].to_numpy()).sum(axis=0)
    persons = [str(p) for p in sync["person"].to_numpy()]
    iu = np.triu_indices(len(persons), 1)
    return pd.DataFrame(
        {
            "person": [persons[i] for i in iu[0]],
            "other": [persons[j] for j in iu[1]],
            "synchrony": np.tanh(zbar[iu]),
            "median_lag_s": lag[iu],
            "n_windows": valid[iu].astype(int),
        }
    )


def fit_contagion(
    recording: Recording,
    *,
    signal: str | Feature = "raw",
    fs: float = 1.0,
    network: str | np.ndarray = "complete",
    stimulus=None,
    pseudo_from: Recording | None = None,
    n_pseudo_groups: int = 100,
    tmin: float | None = None,
    tmax: float | None = None,
    channel: str | None = None,
    resample: float | None = None,
    seed: SeedLike | SeedTree = None,
    progress: bool | Progress | None = False,
    min_overlap: float = MIN_OVERLAP,
    checkpoint: Checkpoint | None = None,
    executor=None,
) -> ContagionFitResult:
    """Fit the contagion coupling ``c`` to a group recording and test ``c = 0``.

    Parameters
    ----------
    recording : path or Dataset
        The group recording (see :func:`syntony.physio.loading.load_features`).
    signal : str or Feature
        The feature modelled (``"raw"`` when the recording already holds it).
    fs : float
        Rate of the modelled series (Hz); the model's time step is ``1 / fs``.
    network : "complete", path or ndarray
        The perception network (see :func:`syntony.physio.io.read_network`).
    stimulus : path or DataArray, optional
        A shared input u(t) (see :func:`syntony.physio.io.read_stimulus`).
    pseudo_from : path or Dataset, optional
        Another session on the same time base for the pseudo-group test of ``c`` (complete
        network only).
    n_pseudo_groups : int
    tmin, tmax : float, optional
        Analyse only this time span (s).
    channel, resample
        Passed to :func:`~syntony.physio.loading.load_features`.
    seed : int, SeedTree or None
        Root of the seed tree (the pseudo-groups draw from its ``fit-pseudo-groups`` child).
    progress : bool or callable
        Progress of the pseudo-group fits (see :func:`analyze_synchrony`).
    min_overlap : float
        Smallest share of the analysed span the pseudo session must share with it (default
        one half; 0 accepts any overlap). The span used is stated in the notes and tests table.
    checkpoint : Checkpoint, optional
        Saves the finished chunks of pseudo-group fits and reuses those of an interrupted run
        (see :func:`analyze_synchrony`).
    executor : Executor, optional
        Runs the chunks of pseudo-group fits as tasks on local workers or Dask (see
        :func:`analyze_synchrony`).

    Returns
    -------
    ContagionFitResult
    """
    from syntony._provenance import provenance
    from syntony.physio.fit import ContagionModel, pseudo_group_fit_test
    from syntony.physio.io import read_network, read_stimulus

    n_pseudo_groups = check_integer("n_pseudo_groups", n_pseudo_groups, minimum=1)
    min_overlap = check_in_range("min_overlap", min_overlap, 0.0, 1.0)
    if pseudo_from is not None and not (isinstance(network, str) and network == "complete"):
        raise ParameterError(
            "network", "'complete' when pseudo-groups are drawn (drop --network)", network
        )
    tree = SeedTree(seed)
    feats, notes = load_features(recording, signal, fs=fs, channel=channel, resample=resample)
    feats = _time_span(feats, tmin, tmax)
    fs = float(feats.attrs["sampling_rate"])
    variable = feats.attrs["feature"]
    data = feats[variable].transpose("time", "person")
    time = feats["time"].to_numpy()
    persons = [str(p) for p in feats["person"].to_numpy()]
    u = None if stimulus is None else read_stimulus(stimulus, time)
    adjacency = read_network(network, persons)
    aligned = None
    if pseudo_from is not None:
        # The pseudo session is read and checked before any fit: a bad one fails at once.
        other, other_notes = load_features(
            pseudo_from, signal, fs=fs, channel=channel, resample=resample
        )
        notes += [f"pseudo session: {n}" for n in other_notes]
        aligned = align_sessions(feats, _time_span(other, tmin, tmax), variable)
        check_overlap(aligned, min_overlap, source=describe_recording(pseudo_from))
        notes.append(aligned.describe())
    model = ContagionModel(adjacency=adjacency, dt=1.0 / fs).fit(data, u)
    pseudo = None
    if aligned is not None:
        n_common = len(aligned.x)
        with progress_bars(progress) as task:
            pseudo = pseudo_group_fit_test(
                aligned.x,
                aligned.other,
                n_groups=n_pseudo_groups,
                dt=1.0 / fs,
                u=None if u is None else u[aligned.offset : aligned.offset + n_common],
                seed=tree.child("fit-pseudo-groups"),
                fitted=model if n_common == len(time) and aligned.offset == 0 else None,
                progress=task("pseudo-group fits", n_pseudo_groups),
                checkpoint=checkpoint,
                checkpoint_slot=SLOTS["fit-pseudo-groups"],
                executor=executor,
            )
        pseudo.update(overlap_s=aligned.overlap, overlap_fraction=aligned.fraction)
        if pseudo["c_real"] != model.params_["c"]:
            notes.append(
                f"the pseudo-group test refits c on the {n_common / fs:g} s both sessions share "
                f"(c = {pseudo['c_real']:.4g} there, {model.params_['c']:.4g} over the whole "
                "recording)"
            )
    parameters = {
        "input": describe_recording(recording),
        "signal": feature_for(signal)[1],
        "feature": variable,
        "fs": fs,
        "channel": channel,
        "resample": resample,
        "network": network if isinstance(network, str) else "matrix",
        "stimulus": None if stimulus is None else describe_stimulus(stimulus),
        "pseudo_from": describe_recording(pseudo_from),
        "n_pseudo_groups": n_pseudo_groups if pseudo_from is not None else 0,
        "min_overlap": min_overlap if pseudo_from is not None else None,
        "tmin": tmin,
        "tmax": tmax,
    }
    return ContagionFitResult.from_model(
        model,
        time=time,
        persons=persons,
        units=str(feats.attrs.get("units", "")),
        variable=variable,
        pseudo=pseudo,
        notes=notes,
        parameters=parameters,
        provenance=provenance(
            parameters=parameters, seed=tree.record(), execution=execution_record(executor)
        ),
    )


def describe_stimulus(stimulus) -> str:
    if isinstance(stimulus, xr.DataArray):
        return f"<DataArray {stimulus.name or 'stimulus'}>"
    return str(stimulus)


def _time_span(feats: xr.Dataset, tmin: float | None, tmax: float | None) -> xr.Dataset:
    if tmin is None and tmax is None:
        return feats
    cut = feats.sel(time=slice(tmin, tmax))
    if cut.sizes["time"] < 10:
        raise InputError(
            f"fewer than 10 samples between tmin {tmin} and tmax {tmax} (--tmin, --tmax)",
            source=feats.attrs.get("source") or None,
        )
    return cut
