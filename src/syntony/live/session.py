"""A live session over Lab Streaming Layer: discover, receive, commit, compute, serve, save.

:func:`run_live` keeps resolving streams of one type; each stream (one person) or each channel
of a multichannel stream (one person per channel) is added when it appears. Samples are pulled
with LSL's clock synchronisation (time stamps corrected to this machine's clock) and placed on
the session's grid. Grid rows are committed once every live stream has delivered them; a stream
silent for ``dropout_after`` seconds is marked as a dropout (the others go on without it) and
rejoins when it delivers again — also when its source restarts as a new stream with the same
source id, or the same name on the same host.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from syntony._validate import check_positive
from syntony.errors import InputError
from syntony.live.engine import LiveEngine, LiveSettings
from syntony.live.grid import StreamResampler
from syntony.live.incremental import WindowUpdate
from syntony.live.lsl import channel_labels, load_pylsl, stream_key

__all__ = ["LiveOptions", "run_live"]


@dataclass
class LiveOptions:
    """How a session runs (not what it computes: that is :class:`LiveSettings`).

    Parameters
    ----------
    stream_type : str
        LSL stream type to follow (``Resp``, ``ECG``, ``EDA``...).
    duration : float, optional
        Stop after this many seconds of recording (grid time).
    idle_stop : float, optional
        Stop when no stream has delivered anything for this many seconds (after the first).
    wait : float, optional
        Give up when no stream has delivered a sample within this many seconds (a new or a
        resumed session; a resumed one keeps its files).
    raw_fs : float, optional
        Rate of the raw grid (default: the first stream's nominal rate).
    dropout_after : float
        Seconds of silence after which a stream counts as dropped out.
    port : int, optional
        Serve the dashboard on http://127.0.0.1:port (0: any free port).
    lsl_config : path, optional
        liblsl configuration file (LSLAPICFG).
    """

    stream_type: str = "Resp"
    duration: float | None = None
    idle_stop: float | None = None
    wait: float | None = None
    raw_fs: float | None = None
    dropout_after: float = 2.0
    port: int | None = None
    lsl_config: str | Path | None = None
    poll: float = 0.02
    on_window: Callable[[WindowUpdate, float], None] | None = None
    on_ready: Callable[[str], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)


class _Stream:
    """One connected LSL stream and the persons its channels carry."""

    def __init__(self, inlet, info, key: str, columns: list[int], grid, max_gap: float):
        self.inlet = inlet
        self.key = key
        self.uid = info.uid()
        self.name = info.name()
        self.columns = columns
        self.resampler = StreamResampler(grid, info.nominal_srate(), max_gap=max_gap)
        self.last = time.monotonic()  # attached, then: last delivery
        self.delivered = False  # has sent samples since it was attached
        self.dropped = False  # silent for dropout_after seconds (after delivering, or ever)
        self.rejoining = False  # a known source: its first samples are a return
        self.lost = False

    def pull(self, pylsl):
        try:
            return self.inlet.pull_chunk(timeout=0.0, max_samples=4096, as_numpy=True)
        except pylsl.util.LostError:
            self.lost = True
            return None, None
        except Exception:  # a connection torn down mid-pull counts as lost too
            self.lost = True
            return None, None

    def close(self) -> None:
        try:
            self.inlet.close_stream()
        except Exception:  # closing a lost stream may fail; nothing to keep
            pass


class _Discovery(threading.Thread):
    """Resolves streams of one type continuously and opens inlets for new ones.

    Opening an inlet (connecting, reading the full description, opening the data stream and
    the first clock-offset estimate) can take a moment; doing it here keeps the receiving loop
    from stalling while a new person arrives. Inlets of sources with a source id recover by
    themselves when the source restarts (liblsl's ``recover``); others are replaced by a new
    inlet when they come back.
    """

    def __init__(self, pylsl, stream_type: str, interval: float = 0.5) -> None:
        super().__init__(name="syntony-lsl-discovery", daemon=True)
        self.pylsl, self.stream_type, self.interval = pylsl, stream_type, interval
        self.found: queue.Queue = queue.Queue()
        self.busy: frozenset[str] = frozenset()
        self.stop = threading.Event()
        self._seen: set[str] = set()

    def run(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        resolver = self.pylsl.ContinuousResolver(prop="type", value=self.stream_type)
        # Several streams connect at once: the first clock-offset estimate alone takes about
        # 0.6 s per stream.
        with ThreadPoolExecutor(max_workers=32, thread_name_prefix="syntony-lsl-open") as pool:
            while not self.stop.is_set():
                for info in resolver.results():
                    uid = info.uid()
                    key = stream_key(info)
                    if uid in self._seen or key in self.busy:
                        continue
                    self._seen.add(uid)
                    pool.submit(self._open, info, key)
                self.stop.wait(self.interval)

    def _open(self, info, key: str) -> None:
        pylsl = self.pylsl
        try:
            inlet = pylsl.StreamInlet(
                info,
                max_buflen=60,
                recover=key.startswith("id:"),
                processing_flags=pylsl.proc_clocksync,
            )
            full = inlet.info(timeout=5.0)
            inlet.open_stream(timeout=5.0)
            inlet.time_correction(timeout=5.0)
        except Exception:  # gone between resolving and connecting: forget it
            return
        if not self.stop.is_set():
            self.found.put((inlet, full, key))


class _Session:
    def __init__(self, directory: Path, settings: LiveSettings, options: LiveOptions, resume):
        self.directory = directory
        self.settings = settings
        self.options = options
        self.resume = resume
        self.pylsl = load_pylsl(options.lsl_config)
        self.engine: LiveEngine | None = None
        self.streams: dict[str, _Stream] = {}  # by key
        self.person_of: dict[str, list[str]] = {}  # key -> person names
        self.server = None
        self.first_data: float | None = None
        self.last_data: float | None = None
        self._anchored = resume is None
        self._start = 0
        if resume is not None:
            from syntony.live.resume import reopen

            self.engine, state = reopen(directory, on_window=options.on_window)
            self._start = self.engine.grid.committed
            self.person_of = {k: list(v) for k, v in state.get("keys", {}).items()}
            self.settings = self.engine.settings
            # The session follows the streams it followed before.
            options.stream_type = state.get("stream_type") or options.stream_type
            self.engine.state.session(status="resumed", stream_type=options.stream_type)

    # -- discovery -----------------------------------------------------------------------------
    def register(self, inlet, inlet_info, key: str) -> None:
        """Add a stream found by the discovery thread (its inlet already open)."""
        labels = channel_labels(inlet_info)
        if self.engine is None:
            # A rate computed from time stamps (25.0000000000006) is meant as 25.
            rate = self.options.raw_fs or round(inlet_info.nominal_srate(), 9)
            if not rate > 0:
                raise InputError(
                    f"stream {inlet_info.name()!r} has no nominal rate; give --raw-fs",
                    field="--raw-fs",
                )
            self._start_engine(rate)
        engine = self.engine
        assert engine is not None
        names = self.person_of.get(key)
        known = names is not None
        if names is None:
            names = [self._unique(label) for label in labels]
            self.person_of[key] = names
            for name in names:
                engine.add_person(name, {"stream": f"{inlet_info.name()} ({key})"})
        elif len(names) != len(labels):
            engine.notes.append(
                f"stream {key} came back with {len(labels)} channels instead of {len(names)}; "
                "ignored"
            )
            return
        columns = [engine.persons.index(n) for n in names]
        old = self.streams.get(key)
        if old is not None:
            old.close()
        stream = _Stream(inlet, inlet_info, key, columns, engine.grid, self.settings.max_gap)
        stream.rejoining = known
        self.streams[key] = stream
        self._save_state()

    def busy_keys(self) -> frozenset[str]:
        """Sources that need no new inlet: one is delivering, or (with a source id) its inlet
        recovers by itself when the source comes back."""
        return frozenset(
            key
            for key, s in self.streams.items()
            if not s.lost and (key.startswith("id:") or not s.dropped)
        )

    def _unique(self, label: str) -> str:
        assert self.engine is not None
        name, k = label, 2
        while name in self.engine.persons:
            name, k = f"{label}-{k}", k + 1
        return name

    def _start_engine(self, rate: float) -> None:
        check_positive("raw_fs", rate)
        self.engine = LiveEngine(
            self.directory,
            self.settings,
            raw_fs=rate,
            t0=np.nan,
            on_window=self.options.on_window,
        )
        self.engine.state.session(status="receiving", stream_type=self.options.stream_type)
        self._start = 0  # --duration counts from the first grid sample

    # -- data ------------------------------------------------------------------------------------
    def ingest(self) -> bool:
        engine = self.engine
        if engine is None:
            return False
        got = False
        now = time.monotonic()
        for stream in list(self.streams.values()):
            values, stamps = stream.pull(self.pylsl)
            if stamps is None or len(stamps) == 0:
                if not stream.dropped and now - stream.last > self.options.dropout_after:
                    # Silent too long: stop waiting for it. Only a stream that had been
                    # delivering drops out; one that never sent anything is still waited for.
                    stream.dropped = True
                    if stream.delivered:
                        for p in stream.columns:
                            last = engine.grid.head[p] / engine.raw_fs
                            engine.event(engine.persons[p], "dropout", "no samples", at=last)
                    else:
                        for p in stream.columns:
                            engine.status[engine.persons[p]] = "waiting"
                continue
            got = True
            stream.last = now
            if (stream.dropped and stream.delivered) or (stream.rejoining and not stream.delivered):
                at = None
                if np.isfinite(engine.grid.t0):
                    at = float(engine.grid.index(np.asarray(stamps[:1]))[0]) / engine.raw_fs
                for p in stream.columns:
                    engine.event(engine.persons[p], "rejoin", stream.uid, at=at)
            for p in stream.columns:
                engine.status[engine.persons[p]] = "live"
            stream.dropped = False
            stream.delivered = True
            if not np.isfinite(engine.grid.t0):
                engine.grid.t0 = float(stamps[0])
                engine.t0 = engine.grid.t0
                self._save_state()
            if not self._anchored:
                self._anchor(float(stamps[0]))
            idx, vals = stream.resampler.convert(np.asarray(stamps), np.asarray(values, float))
            engine.grid.place_block(stream.columns, idx, vals)
        if got:
            self.last_data = now
            self.first_data = self.first_data or now
        return got

    def _anchor(self, stamp: float) -> None:
        """A resumed session whose clock went back (a reboot) continues where it stopped."""
        engine = self.engine
        assert engine is not None
        self._anchored = True
        if engine.grid.index(np.array([stamp]))[0] < engine.grid.committed:
            engine.grid.t0 = engine.t0 = stamp - engine.grid.committed / engine.raw_fs
            engine.notes.append(
                "the stream clock restarted while the session was stopped; the recording "
                f"continues at {engine.grid.committed / engine.raw_fs:g} s without a gap"
            )
            self._save_state()

    def frontier(self) -> int:
        """Commit up to where every live stream has delivered (all of it when none is live)."""
        engine = self.engine
        assert engine is not None
        heads = engine.grid.head
        live = [p for s in self.streams.values() if not s.dropped for p in s.columns]
        if live:
            return int(min(heads[p] for p in live))
        return int(heads.max()) if heads.size else engine.grid.committed

    def _save_state(self) -> None:
        if self.engine is not None:
            self.engine.save_state(stream_type=self.options.stream_type, keys=self.person_of)

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> LiveEngine | None:
        opts = self.options
        discovery = _Discovery(self.pylsl, opts.stream_type)
        discovery.start()
        started = time.monotonic()
        try:
            while not opts.stop.is_set():
                now = time.monotonic()
                while not discovery.found.empty():
                    self.register(*discovery.found.get())
                discovery.busy = self.busy_keys()
                if opts.wait is not None and self.first_data is None and now - started > opts.wait:
                    raise InputError(
                        f"no LSL stream of type {opts.stream_type!r} delivered anything within "
                        f"{opts.wait:g} s",
                        field="--type",
                    )
                if self.engine is None:
                    time.sleep(0.05)
                    continue
                self._serve_once()
                self.ingest()
                self.engine.commit(self.frontier())
                if self._finished(now):
                    break
                time.sleep(opts.poll)
        finally:
            discovery.stop.set()
            discovery.join(timeout=10)
            for stream in self.streams.values():
                stream.close()
        return self.engine

    def _finished(self, now: float) -> bool:
        opts, engine = self.options, self.engine
        assert engine is not None
        recorded = (engine.grid.committed - self._start) / engine.raw_fs
        if opts.duration is not None and recorded >= opts.duration:
            return True
        return (
            opts.idle_stop is not None
            and self.last_data is not None
            and now - self.last_data > opts.idle_stop
        )

    def _serve_once(self) -> None:
        if self.server is not None or self.options.port is None or self.engine is None:
            return
        from syntony.live.dashboard import serve

        self.server, url = serve(self.engine.state, port=self.options.port)
        self.engine.state.session(url=url)
        if self.options.on_ready is not None:
            self.options.on_ready(url)


def run_live(
    out_dir: str | Path,
    settings: LiveSettings | None = None,
    options: LiveOptions | None = None,
    *,
    resume: bool = False,
):
    """Run a live session into ``out_dir`` and save its result there; returns the result.

    Stops at ``options.duration``, ``options.idle_stop``, when ``options.stop`` is set, or on
    Ctrl-C / SIGTERM; what arrived is saved in every case. With ``resume`` the session in
    ``out_dir`` continues (its own settings apply; ``settings`` is ignored).
    """
    from syntony.live.result import LiveResult

    settings = settings or LiveSettings()
    options = options or LiveOptions()
    directory = Path(out_dir)
    session = _Session(directory, settings, options, resume=True if resume else None)
    handlers = _stop_on_signals(options.stop)
    try:
        engine = session.run()
    finally:
        _restore(handlers)
        if session.engine is not None:
            session.engine.close()
        if session.server is not None:
            session.server.should_exit = True
    if engine is None:
        raise InputError(f"no LSL stream of type {options.stream_type!r} was found")
    session._save_state()
    result = LiveResult.from_session(directory, notes=engine.notes)
    result.link_files = True
    result.save(directory, force=True)
    result.link_files = False
    return result


def _stop_on_signals(stop: threading.Event):
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    return previous


def _restore(previous) -> None:
    if previous:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
