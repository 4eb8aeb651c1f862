"""The mechanism fits as one call: recording -> features -> model -> tests -> result.

:func:`fit_mechanism` is what ``syntony fit --model gated|switching|directed`` (and
``--groups``) runs: it reads the recording(s) as :func:`syntony.physio.fit_contagion` does,
fits the chosen model, runs its tests (the bootstrap of the number of modes for the switching
model; pseudo-groups from another session for any of them) and returns the model's result.
Every random step draws from a named stream of one seed tree (``pseudo-groups``,
``mode-bootstrap``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from syntony._checkpoint import Checkpoint
from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_choice, check_in_range, check_integer
from syntony.errors import InputError, ParameterError
from syntony.execution import execution_record
from syntony.physio.alignment import MIN_OVERLAP, align_sessions, check_overlap
from syntony.physio.features import Feature
from syntony.physio.loading import Recording, describe_recording, feature_for, load_features
from syntony.report import Result

__all__ = ["MODELS", "fit_mechanism"]

#: The models ``fit_mechanism`` fits (``linear`` is :func:`syntony.physio.fit_contagion`).
MODELS = ("linear", "gated", "switching", "directed")
#: Checkpoint slots of the mechanism tests (beyond those of the synchrony analyses).
SLOTS = {"pseudo-groups": 10, "mode-bootstrap": 11}


def _span(feats: xr.Dataset, tmin: float | None, tmax: float | None) -> xr.Dataset:
    if tmin is None and tmax is None:
        return feats
    cut = feats.sel(time=slice(tmin, tmax))
    if cut.sizes["time"] < 10:
        raise InputError(
            f"fewer than 10 samples between tmin {tmin} and tmax {tmax} (--tmin, --tmax)",
            source=feats.attrs.get("source") or None,
        )
    return cut


def _series(recording, signal, fs, channel, resample, tmin, tmax):
    feats, notes = load_features(recording, signal, fs=fs, channel=channel, resample=resample)
    feats = _span(feats, tmin, tmax)
    variable = feats.attrs["feature"]
    return feats, variable, feats[variable].transpose("time", "person"), notes


def _estimator(model: str, adjacency, dt: float, options: dict[str, Any]):
    from syntony.physio.mechanisms.directed import DirectedContagionModel
    from syntony.physio.mechanisms.gated import GatedContagionModel
    from syntony.physio.mechanisms.switching import SwitchingContagionModel

    if model == "gated":
        return GatedContagionModel(
            adjacency=adjacency, dt=dt, window=options["window"], weighting=options["weighting"]
        )
    if model == "switching":
        return SwitchingContagionModel(
            adjacency=adjacency,
            dt=dt,
            couplings=options["couplings"],
            hazard=options["hazard"],
            hazard_lag=options["hazard_lag"],
        )
    return DirectedContagionModel(
        adjacency=adjacency, dt=dt, structure=options["structure"], prior_sd=options["prior_sd"]
    )


def _statistic(model: str, dt: float, options: dict[str, Any]):
    """The pseudo-group statistic of ``model``: a function of (series, stimulus) that pickles
    (so that pseudo-groups can run on worker processes or Dask)."""
    return functools.partial(_pseudo_statistic, model, dt, options)


def _pseudo_statistic(model: str, dt: float, options: dict[str, Any], y, u) -> float:
    if model == "directed":
        from syntony.physio.mechanisms.directed import DirectedContagionModel

        est = DirectedContagionModel(
            dt=dt, structure=options["structure"], prior_sd=options["prior_sd"], tests=False
        )
        est._skip_result = est._skip_se = True
        est.fit(y, u)
        return float(est.tests_[-1]["statistic"])
    est = _estimator(model, None, dt, options)
    est._skip_result = est._skip_se = True
    est.fit(y, u)
    return est.signed_root_ if model == "gated" else est.lrt_stat_


def _check_options(model, groups, stimulus, hazard, hazard_lag, bias_correction):
    """The switching hazard and the pooled bias correction, checked against the model: an
    option that the chosen fit would ignore is refused rather than dropped in silence."""
    from syntony.physio.mechanisms.pooled import BIAS_CORRECTIONS
    from syntony.physio.mechanisms.switching import HAZARDS

    hazard = check_choice("hazard", hazard, HAZARDS)
    hazard_lag = check_integer("hazard_lag", hazard_lag, minimum=0)
    bias_correction = check_choice(
        "bias_correction", "none" if bias_correction is None else bias_correction, BIAS_CORRECTIONS
    )
    if hazard == "stimulus":
        if model != "switching":
            raise ParameterError("hazard", "'constant' unless the model is 'switching'", hazard)
        if stimulus is None:
            raise ParameterError("hazard", "'constant' when no stimulus is given", hazard)
    elif hazard_lag != 1:
        raise ParameterError("hazard_lag", "the default 1 unless hazard is 'stimulus'", hazard_lag)
    if bias_correction != "none" and not groups:
        raise ParameterError(
            "bias_correction", "'none' unless several groups are pooled (--groups)", bias_correction
        )
    return hazard, hazard_lag, bias_correction


def fit_mechanism(
    recording: Recording,
    *,
    model: str = "gated",
    groups: Sequence[Recording] = (),
    signal: str | Feature = "raw",
    fs: float = 1.0,
    network: str | np.ndarray = "complete",
    stimulus=None,
    pseudo_from: Recording | None = None,
    n_pseudo_groups: int = 100,
    n_boot: int = 99,
    window: float = 30.0,
    weighting: str = "boxcar",
    couplings: str = "shared",
    hazard: str = "constant",
    hazard_lag: int = 1,
    structure: str = "sender-receiver",
    prior_sd: float = 1.0,
    bias_correction: str | None = None,
    tmin: float | None = None,
    tmax: float | None = None,
    channel: str | None = None,
    resample: float | None = None,
    seed: SeedLike | SeedTree = None,
    progress: bool | Any = False,
    min_overlap: float = MIN_OVERLAP,
    checkpoint: Checkpoint | None = None,
    executor=None,
) -> Result:
    """Fit a mechanism model of contagion to a group recording (or pool several groups).

    Parameters
    ----------
    recording : path or Dataset
        The group recording (read as by :func:`syntony.physio.loading.load_features`).
    model : {"linear", "gated", "switching", "directed"}
        ``linear`` is :func:`syntony.physio.fit_contagion`; the others are
        :class:`GatedContagionModel`, :class:`SwitchingContagionModel` and
        :class:`DirectedContagionModel`.
    groups : sequence of path or Dataset
        More groups: with any, every group (``recording`` first) is fitted with ``model``
        (linear or gated) and pooled by :class:`PooledContagionModel`.
    signal, fs, network, stimulus, tmin, tmax, channel, resample, min_overlap
        As in :func:`syntony.physio.fit_contagion`.
    pseudo_from : path or Dataset, optional
        Another session on the same time base: pseudo-groups test the model's statistic.
    n_pseudo_groups : int
    n_boot : int
        Bootstrap series of the switching model's test of the number of modes (0: none).
    window, weighting
        The gate's window (gated model).
    couplings
        ``"shared"`` or ``"per-mode"`` (switching model).
    hazard, hazard_lag
        The switching model's switching probabilities: ``"constant"``, or ``"stimulus"``
        (their logits move with ``stimulus``, read ``hazard_lag`` steps before the switch;
        needs a stimulus). See :class:`SwitchingContagionModel`.
    structure, prior_sd
        ``"sender-receiver"`` or ``"pairs"``, and the prior of the effects (directed model).
    bias_correction : {None, "none", "jackknife"}
        Pooled fits (``groups``): correct every group's estimate for its small-sample bias by
        the split-sample jackknife before pooling (see :class:`PooledContagionModel`).
    seed : int, SeedTree or None
    progress : bool or callable
        Progress bars on stderr (True) or ``progress(label, total) -> advance(n)``.
    checkpoint : Checkpoint, optional
        Saves finished chunks of pseudo-groups and bootstrap series.
    executor : Executor, optional
        Runs the chunks of pseudo-groups and bootstrap series as tasks on local workers or
        Dask (:mod:`syntony.execution`); the numbers are those of a serial run.

    Returns
    -------
    Result
        A :class:`GatedFitResult`, :class:`SwitchingFitResult`, :class:`DirectedFitResult`,
        :class:`PooledFitResult` or (linear) :class:`~syntony.physio.ContagionFitResult`.
    """
    from syntony._provenance import provenance
    from syntony.physio._progress import progress_bars
    from syntony.physio.io import read_network, read_stimulus

    model = check_choice("model", model, MODELS)
    n_pseudo_groups = check_integer("n_pseudo_groups", n_pseudo_groups, minimum=1)
    n_boot = check_integer("n_boot", n_boot, minimum=0)
    min_overlap = check_in_range("min_overlap", min_overlap, 0.0, 1.0)
    groups = list(groups)
    hazard, hazard_lag, bias_correction = _check_options(
        model, groups, stimulus, hazard, hazard_lag, bias_correction
    )
    if model == "linear" and not groups:
        from syntony.physio.analysis import fit_contagion

        return fit_contagion(
            recording,
            signal=signal,
            fs=fs,
            network=network,
            stimulus=stimulus,
            pseudo_from=pseudo_from,
            n_pseudo_groups=n_pseudo_groups,
            tmin=tmin,
            tmax=tmax,
            channel=channel,
            resample=resample,
            seed=seed,
            progress=progress,
            min_overlap=min_overlap,
            checkpoint=checkpoint,
            executor=executor,
        )
    tree = SeedTree(seed)
    options = {
        "window": window,
        "weighting": weighting,
        "couplings": couplings,
        "structure": structure,
        "prior_sd": prior_sd,
        "hazard": hazard,
        "hazard_lag": hazard_lag,
        "bias_correction": bias_correction,
    }
    common = {
        "input": describe_recording(recording),
        "signal": feature_for(signal)[1],
        "fs": float(fs),
        "channel": channel,
        "resample": resample,
        "tmin": tmin,
        "tmax": tmax,
        "stimulus": None if stimulus is None else str(getattr(stimulus, "name", stimulus)),
    }
    if groups:
        return _pooled(
            recording,
            groups,
            model,
            signal,
            fs,
            stimulus,
            tmin,
            tmax,
            channel,
            resample,
            options,
            common,
            progress,
        )
    if pseudo_from is not None and not (isinstance(network, str) and network == "complete"):
        raise ParameterError(
            "network", "'complete' when pseudo-groups are drawn (drop --network)", network
        )
    feats, variable, data, notes = _series(recording, signal, fs, channel, resample, tmin, tmax)
    fs = float(feats.attrs["sampling_rate"])
    time = feats["time"].to_numpy()
    persons = [str(p) for p in feats["person"].to_numpy()]
    u = None if stimulus is None else read_stimulus(stimulus, time)
    adjacency = read_network(network, persons)
    adjacency = None if (isinstance(network, str) and network == "complete") else adjacency
    aligned = None
    if pseudo_from is not None:
        other, other_notes = load_features(
            pseudo_from, signal, fs=fs, channel=channel, resample=resample
        )
        notes += [f"pseudo session: {n}" for n in other_notes]
        aligned = align_sessions(feats, _span(other, tmin, tmax), variable)
        check_overlap(aligned, min_overlap, source=describe_recording(pseudo_from))
        notes.append(aligned.describe())
    est = _estimator(model, adjacency, 1.0 / fs, options)
    result = est.fit(data, u).result_
    with progress_bars(progress) as task:
        if model == "switching" and n_boot > 0:
            from syntony.physio.mechanisms.switching import mode_number_test

            boot = mode_number_test(
                est,
                n_boot=n_boot,
                seed=tree.child("mode-bootstrap"),
                progress=task("mode bootstrap", n_boot),
                checkpoint=checkpoint,
                checkpoint_slot=SLOTS["mode-bootstrap"],
                executor=executor,
            )
            result.with_test(
                {
                    "test": result.BOOT,
                    "statistic": boot["statistic"],
                    "p_value": boot["p_value"],
                    "null_mean": boot["null_mean"],
                    "null_q025": boot["null_q025"],
                    "null_q975": boot["null_q975"],
                    "n": boot["n"],
                    "reference": "parametric bootstrap from the one-mode fit",
                },
                table="bootstrap",
                values={"value": boot["null"]},
            )
        if aligned is not None:
            from syntony.physio.mechanisms.pseudo import pseudo_group_statistic

            real = {
                "gated": lambda: est.signed_root_,
                "switching": lambda: est.lrt_stat_,
                "directed": lambda: float(est.tests_[-1]["statistic"]),
            }[model]()
            n_common = len(aligned.x)
            if n_common != len(time) or aligned.offset != 0:
                real = _statistic(model, 1.0 / fs, options)(
                    aligned.x, None if u is None else u[aligned.offset : aligned.offset + n_common]
                )
                notes.append(
                    f"the pseudo-group test refits on the {n_common / fs:g} s both sessions share"
                )
            res = pseudo_group_statistic(
                aligned.x,
                aligned.other,
                _statistic(model, 1.0 / fs, options),
                real=real,
                n_groups=n_pseudo_groups,
                u=None if u is None else u[aligned.offset : aligned.offset + n_common],
                seed=tree.child("pseudo-groups"),
                progress=task("pseudo-group fits", n_pseudo_groups),
                checkpoint=checkpoint,
                checkpoint_slot=SLOTS["pseudo-groups"],
                executor=executor,
            )
            result.with_test(
                {
                    "test": result.PSEUDO,
                    "statistic": res["statistic"],
                    "p_value": res["p_value"],
                    "null_mean": res["null_mean"],
                    "null_q025": res["null_q025"],
                    "null_q975": res["null_q975"],
                    "n": res["n"],
                    "reference": "pseudo-groups from the other session",
                },
                table="pseudo",
                values={"value": res["values"]},
            )
    result.fitted.attrs.update(variable=variable, units=str(feats.attrs.get("units", "")))
    result.notes = [*notes, *result.notes]
    result.parameters.update(common)
    result.parameters.update(
        {
            "network": network if isinstance(network, str) else "matrix",
            "pseudo_from": describe_recording(pseudo_from),
            "n_pseudo_groups": n_pseudo_groups if pseudo_from is not None else 0,
            "n_boot": n_boot if model == "switching" else 0,
            "min_overlap": min_overlap if pseudo_from is not None else None,
        }
    )
    result.provenance = provenance(
        parameters=result.parameters, seed=tree.record(), execution=execution_record(executor)
    )
    return result


def _pooled(
    recording,
    groups,
    model,
    signal,
    fs,
    stimulus,
    tmin,
    tmax,
    channel,
    resample,
    options,
    common,
    progress,
):
    from syntony._provenance import provenance
    from syntony.physio._progress import progress_bars
    from syntony.physio.io import read_stimulus
    from syntony.physio.mechanisms.pooled import PooledContagionModel

    if model not in ("linear", "gated"):
        raise ParameterError("model", "'linear' or 'gated' when several groups are pooled", model)
    series, stimuli, names, notes = [], [], [], []
    rate = None
    for k, rec in enumerate([recording, *groups]):
        feats, _, data, group_notes = _series(rec, signal, fs, channel, resample, tmin, tmax)
        rate = float(feats.attrs["sampling_rate"])
        name = describe_recording(rec) or f"group {k + 1}"
        names.append(name)
        notes += [f"{name}: {n}" for n in group_notes]
        series.append(data)
        stimuli.append(
            None if stimulus is None else read_stimulus(stimulus, feats["time"].to_numpy())
        )
    pooled = PooledContagionModel(
        model=model,
        dt=1.0 / rate,
        window=options["window"],
        weighting=options["weighting"],
        bias_correction=options["bias_correction"],
    )
    with progress_bars(progress) as task:
        pooled.fit(series, stimuli, names=names, progress=task("group fits", len(series)))
    result = pooled.result_
    result.notes = [*notes, *result.notes]
    result.parameters.update(common)
    result.parameters["groups"] = [describe_recording(g) for g in groups]
    result.provenance = provenance(parameters=result.parameters)
    return result
