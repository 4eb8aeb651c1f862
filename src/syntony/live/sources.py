"""LSL sources for testing and demonstration: a recording replayed, or a simulated crowd.

:func:`publish` pushes a group recording (``time``, ``person``, ``channel``) as LSL outlets —
one stream per person, or multichannel streams of up to ``hub`` persons each — in real time or
``speed`` times faster. Sample ``k`` is stamped ``T0 + t_k`` where ``T0`` is the LSL clock at the
start, so the receiver sees the recording's own timing whatever the speed. ``absent`` takes
persons off the network for stretches of the recording (their outlet is closed, and opened
again with the same source id): late joiners and dropouts on demand.

:func:`simulated_crowd` turns a scenario of :mod:`syntony.model` into such a recording: each
agent's bodily state sets their breathing rate, and a breathing wave follows that rate (or the
state itself is published with ``kind="state"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Event

import numpy as np
import xarray as xr

from syntony._rng import SeedTree
from syntony._validate import check_positive
from syntony.errors import ParameterError
from syntony.live.lsl import load_pylsl

__all__ = ["PublishStats", "feed", "parse_absent", "publish", "simulated_crowd"]


@dataclass
class PublishStats:
    """What :func:`publish` sent."""

    samples: int = 0
    chunks: int = 0
    started: float = 0.0
    finished: float = 0.0
    t0: float = 0.0  # LSL clock stamp of sample 0


def parse_absent(specs: list[str]) -> dict[str, list[tuple[float, float]]]:
    """``["AU807:60-90", "AU805:0-30"]`` -> ``{person: [(start, stop), ...]}`` (seconds)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for spec in specs:
        person, _, span = spec.rpartition(":")
        a, _, b = span.partition("-")
        try:
            start, stop = float(a), float(b)
        except ValueError:
            raise ParameterError("--absent", "PERSON:START-STOP in seconds", spec) from None
        if not person or stop <= start:
            raise ParameterError("--absent", "PERSON:START-STOP with START < STOP", spec)
        out.setdefault(person, []).append((start, stop))
    return out


class _Outlet:
    """One LSL outlet (a person or a hub of persons), closed while all its persons are absent."""

    def __init__(self, pylsl, name, labels, stream_type, fs, source_id, meta):
        self.pylsl, self.name, self.labels = pylsl, name, labels
        self.stream_type, self.fs, self.source_id, self.meta = stream_type, fs, source_id, meta
        self.outlet = None

    def open(self) -> None:
        if self.outlet is not None:
            return
        pylsl = self.pylsl
        info = pylsl.StreamInfo(
            self.name,
            self.stream_type,
            len(self.labels),
            self.fs,
            pylsl.cf_double64,
            self.source_id,
        )
        if len(self.labels) > 1:
            info.set_channel_labels(self.labels)
        desc = info.desc().append_child("syntony")
        for key, value in self.meta.items():
            desc.append_child_value(key, str(value))
        self.outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)

    def close(self) -> None:
        self.outlet = None  # liblsl closes the outlet when the object goes


def publish(
    recording: xr.Dataset,
    *,
    stream_type: str = "Resp",
    speed: float = 1.0,
    hub: int = 1,
    absent: dict[str, list[tuple[float, float]]] | None = None,
    channel: str | None = None,
    lsl_config=None,
    source_prefix: str = "syntony",
    meta: dict | None = None,
    stop: Event | None = None,
    tick: float = 0.04,
    lead: float = 1.0,
    on_push: Callable[[int, float], None] | None = None,
) -> PublishStats:
    """Publish ``recording`` as LSL streams, in real time or ``speed`` times faster.

    Sample ``k`` is stamped ``T0 + t_k`` (``T0`` the LSL clock when publishing starts), so a
    receiver sees the recording's own timing whatever the speed. Returns when the recording
    has been sent or ``stop`` is set.

    Parameters
    ----------
    recording : Dataset
        Variable ``signal`` (time, person, channel) with ``attrs["sampling_rate"]``.
    stream_type : str
        The LSL stream type receivers resolve (``syntony live --type``).
    speed : float
        Playback speed (1: real time).
    hub : int
        Persons per stream (1: one stream per person, named after the person; more:
        multichannel streams ``hub001``, ... with the persons as channel labels).
    absent : dict, optional
        ``{person: [(start, stop), ...]}`` in seconds of the recording: the person is off the
        network then (their outlet is closed and reopened with the same source id; in a hub,
        their channel is NaN while others of the hub are present). See
        :func:`syntony.live.sources.parse_absent`.
    channel : str, optional
        The recording's channel to publish (default the first).
    lsl_config : path, optional
        liblsl configuration, e.g. :data:`syntony.live.LOCAL_CONFIG` (loopback only).
    source_prefix : str
        Prefix of every stream's source id (``PREFIX-NAME``).
    meta : dict, optional
        Key-value pairs written into every stream's description (``<syntony>``).
    stop : threading.Event, optional
        Set it to stop publishing early.
    tick : float
        Wall seconds between pushes.
    lead : float
        Seconds to wait after opening the outlets before the first sample (so receivers can
        connect first).
    on_push : callable, optional
        Called after each tick with the number of grid samples pushed so far and the wall
        time of the push (for latency measurements).

    Returns
    -------
    PublishStats
        Samples and chunks sent, wall times of the start and the end, and ``T0``.
    """
    pylsl = load_pylsl(lsl_config)
    speed = check_positive("speed", speed)
    fs = float(recording.attrs["sampling_rate"])
    channels = [str(c) for c in recording.channel.values]
    if channel is None:
        channel = channels[0]
    data = recording["signal"].sel(channel=channel).transpose("time", "person").to_numpy()
    persons = [str(p) for p in recording.person.values]
    absent = absent or {}
    unknown = sorted(set(absent) - set(persons))
    if unknown:
        raise ParameterError(
            "--absent", f"persons of the recording ({', '.join(persons[:5])}...)", unknown
        )
    meta = dict(meta or {})
    groups = [list(range(k, min(k + hub, len(persons)))) for k in range(0, len(persons), hub)]
    outlets = []
    for g, members in enumerate(groups):
        labels = [persons[p] for p in members]
        name = labels[0] if hub == 1 else f"hub{g + 1:03d}"
        outlets.append(
            _Outlet(pylsl, name, labels, stream_type, fs, f"{source_prefix}-{name}", meta)
        )
    n = data.shape[0]
    rel = np.arange(n) / fs
    present = np.ones((n, len(persons)), dtype=bool)
    for person, spans in absent.items():
        p = persons.index(person)
        for a, b in spans:
            present[(rel >= a) & (rel < b), p] = False
    stats = PublishStats()
    stop = stop or Event()
    for o, members in zip(outlets, groups, strict=True):
        if present[0, members].any():
            o.open()
    time.sleep(lead)
    t0 = pylsl.local_clock()
    wall0 = time.monotonic()
    stats.started = time.time()
    stats.t0 = t0
    sent = 0
    while sent < n and not stop.is_set():
        upto = min(n, int(np.floor((time.monotonic() - wall0) * speed * fs)) + 1)
        if upto > sent:
            for o, members in zip(outlets, groups, strict=True):
                _push(o, members, data, present, sent, upto, t0, fs)
            stats.samples += (upto - sent) * len(persons)
            stats.chunks += 1
            sent = upto
            if on_push is not None:
                on_push(sent, time.time())
        time.sleep(tick)
    stats.finished = time.time()
    for o in outlets:
        o.close()
    return stats


def _push(outlet, members, data, present, a, b, t0, fs) -> None:
    """Push rows a..b of the outlet's persons; open/close the outlet as its persons come/go."""
    on = present[a:b][:, members].any(axis=1)
    k = a
    while k < b:
        state = on[k - a]
        end = k
        while end < b and on[end - a] == state:
            end += 1
        if state:
            outlet.open()
            block = data[k:end][:, members]
            block = np.where(present[k:end][:, members], block, np.nan)
            stamps = t0 + np.arange(k, end) / fs
            outlet.outlet.push_chunk(np.ascontiguousarray(block), stamps.tolist())
        else:
            outlet.close()
        k = end


def simulated_crowd(
    scenario,
    *,
    n: int,
    duration: float,
    seed=None,
    fs: float = 25.0,
    kind: str = "respiration",
    coupling: float | None = None,
) -> xr.Dataset:
    """A crowd simulated by :mod:`syntony.model`, as a recording at ``fs`` Hz.

    Parameters
    ----------
    scenario : Scenario or str
        A scenario (or the name of a built-in one).
    n : int
        Persons (``agents.n``).
    duration : float
        Seconds simulated.
    kind : {"respiration", "state"}
        ``"respiration"``: a breathing wave whose rate follows each agent's bodily state
        (15 breaths/min at the crowd's mean state, 3 breaths/min per standard deviation of the
        crowd's states, kept within 6-30), with each person's own amplitude, baseline, starting
        phase and a little sensor noise; ``"state"``: the observed state itself.
    coupling : float, optional
        Overrides the scenario's social coupling (``agents.gamma_soc``).
    """
    from syntony.model import Scenario, simulate

    if isinstance(scenario, str):
        scenario = Scenario.builtin(scenario)
    if kind not in ("respiration", "state"):
        raise ParameterError("kind", "'respiration' or 'state'", kind)
    dt = float(scenario.simulation.dt)
    overrides = {"agents.n": int(n), "simulation.steps": int(np.ceil(duration / dt)) + 1}
    if coupling is not None:
        overrides["agents.gamma_soc"] = float(coupling)
    scenario = scenario.with_overrides(overrides)
    tree = SeedTree(seed)
    ds = simulate(scenario, seed=tree.child("crowd")).dataset
    state = ds["s"].isel(channel=0).transpose("time", "agent").to_numpy()
    t_sim = ds["time"].to_numpy() - float(ds["time"].to_numpy()[0])
    t = np.arange(int(np.floor(duration * fs)) + 1) / fs
    s = np.column_stack([np.interp(t, t_sim, state[:, k]) for k in range(state.shape[1])])
    if kind == "respiration":
        rng = tree.child("respiration").generator()
        z = (s - s.mean()) / (s.std() or 1.0)
        rate = np.clip(15.0 + 3.0 * z, 6.0, 30.0) / 60.0  # breaths per second
        phase = rng.uniform(0, 2 * np.pi, s.shape[1]) + 2 * np.pi * np.cumsum(rate, axis=0) / fs
        amp = rng.uniform(0.8, 1.2, s.shape[1])
        base = rng.normal(0.0, 0.5, s.shape[1])
        values = base + amp * np.sin(phase) + rng.normal(0.0, 0.02, s.shape)
        units, name = "a.u.", "respiration"
    else:
        values, units, name = s, "a.u.", "state"
    gamma = float(scenario.agents.gamma_soc)
    return xr.Dataset(
        {"signal": (("time", "person", "channel"), values[:, :, None])},
        coords={
            "time": ("time", t, {"units": "s"}),
            "person": [f"S{k:04d}" for k in range(values.shape[1])],
            "channel": [name],
            "units": ("channel", [units]),
        },
        attrs={
            "sampling_rate": float(fs),
            "source": f"simulated {scenario.name} ({n} agents)",
            "units": units,
            "scenario": scenario.name,
            "gamma_soc": gamma,
        },
    )


def feed(
    engine,
    recording: xr.Dataset,
    *,
    speed: float | None = None,
    chunk: float = 0.2,
    stop: Event | None = None,
    channel: str | None = None,
) -> None:
    """Feed ``recording`` straight into a :class:`~syntony.live.engine.LiveEngine` (no
    transport), ``chunk`` seconds at a time, paced at ``speed`` times real time (None: as fast
    as the engine goes). Persons are added as the engine's columns when missing."""
    fs = float(recording.attrs["sampling_rate"])
    if channel is None:
        channel = str(recording.channel.values[0])
    data = recording["signal"].sel(channel=channel).transpose("time", "person").to_numpy()
    persons = [str(p) for p in recording.person.values]
    cols = [
        engine.persons.index(p) if p in engine.persons else engine.add_person(p) for p in persons
    ]
    step = max(1, round(chunk * fs))
    wall0 = time.monotonic()
    for a in range(0, data.shape[0], step):
        if stop is not None and stop.is_set():
            return
        b = min(a + step, data.shape[0])
        if speed is not None:
            delay = wall0 + b / fs / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        engine.grid.place_block(cols, np.arange(a, b), data[a:b])
        engine.commit(b)
