"""The live pipeline without the transport: grid -> recording -> features -> synchrony -> state.

:class:`LiveEngine` receives samples already placed on the grid (by the LSL session, a test or
a benchmark), commits grid rows in order, appends them to the recording, emits the features
that became ready, advances the incremental synchrony, and publishes each finished window (to
the files, to the dashboard's state, and to any listener). The surrogate band and the coupling
fit run on a worker thread at their own cadence.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from syntony._rng import SeedTree
from syntony._validate import check_integer, check_positive
from syntony.errors import ParameterError
from syntony.live._rows import Rows
from syntony.live.features import OnlineFeatures
from syntony.live.grid import RawStore, SampleGrid
from syntony.live.incremental import IncrementalSynchrony, WindowUpdate
from syntony.live.quality import quality_table
from syntony.live.recorder import SessionFiles
from syntony.live.slow import fit_coupling, surrogate_band
from syntony.live.state import DashboardState
from syntony.physio.loading import feature_for
from syntony.physio.synchrony import SyncConfig, kuramoto_order

__all__ = ["LiveEngine", "LiveSettings"]


@dataclass(frozen=True)
class LiveSettings:
    """Everything that sets a live session's numbers.

    Parameters
    ----------
    signal : str
        ``"respiration"``, ``"ecg"``, ``"eda"`` or ``"raw"`` (as ``syntony sync --signal``).
    fs : float
        Feature rate (Hz), as ``syntony sync --fs``.
    config : SyncConfig
        Window, step (the refresh interval), largest lag and peak rule.
    buffer, margin, update_every, max_gap : float
        Feature buffers (see :class:`syntony.live.features.OnlineFeatures`).
    n_surrogates, surrogate_every, null_span, null_persons
        The circular-shift band: surrogates per band, seconds between bands, seconds of
        recent features shifted, persons per surrogate at most.
    fit_every, fit_span, fit_fs, fit_persons
        The coupling fit: seconds between fits, seconds fitted, rate of the fitted series,
        persons at most.
    matrices_max : int
        Pair matrices are saved for every window while the group has at most this many persons.
    seed : int or None
    """

    signal: str = "respiration"
    fs: float = 4.0
    config: SyncConfig = field(default_factory=lambda: SyncConfig(window=30, step=1, max_lag=5))
    buffer: float = 60.0
    margin: float | None = None
    update_every: float | None = None
    max_gap: float = 1.0
    n_surrogates: int = 39
    surrogate_every: float = 10.0
    null_span: float = 120.0
    null_persons: int = 100
    fit_every: float = 30.0
    fit_span: float = 120.0
    fit_fs: float = 1.0
    fit_persons: int = 20
    matrices_max: int = 100
    seed: int | None = None

    def __post_init__(self) -> None:
        feature_for(self.signal)
        check_positive("fs", self.fs)
        if not isinstance(self.config, SyncConfig):
            raise ParameterError("config", "a SyncConfig", self.config)
        check_integer("n_surrogates", self.n_surrogates, minimum=0)
        for name in ("surrogate_every", "null_span", "fit_every", "fit_span", "fit_fs"):
            check_positive(name, getattr(self, name))
        check_integer("fit_persons", self.fit_persons, minimum=2)
        check_integer("null_persons", self.null_persons, minimum=2)

    def to_dict(self) -> dict:
        return {
            "signal": self.signal,
            "fs": self.fs,
            "window": self.config.window,
            "step": self.config.step,
            "max_lag": self.config.max_lag,
            "peak": self.config.peak,
            "buffer": self.buffer,
            "margin": self.margin,
            "update_every": self.update_every,
            "max_gap": self.max_gap,
            "n_surrogates": self.n_surrogates,
            "surrogate_every": self.surrogate_every,
            "null_span": self.null_span,
            "null_persons": self.null_persons,
            "fit_every": self.fit_every,
            "fit_span": self.fit_span,
            "fit_fs": self.fit_fs,
            "fit_persons": self.fit_persons,
            "matrices_max": self.matrices_max,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LiveSettings:
        data = dict(data)
        config = SyncConfig(
            window=data.pop("window"),
            step=data.pop("step"),
            max_lag=data.pop("max_lag"),
            peak=data.pop("peak"),
        )
        return cls(config=config, **data)


class LiveEngine:
    """The live pipeline without the network: grid rows in, finished synchrony windows out.

    Rows of the raw grid are committed in order and appended to the session's files; the
    per-person features that become ready are emitted, the all-pairs synchrony advances, and
    each finished window is published to the files, the dashboard's state and ``on_window``.
    The surrogate band and the coupling fit run at their slower cadence on a worker thread.
    A session, a test or a benchmark drives it the same way.

    Parameters
    ----------
    directory : path
        The session directory (files appended there).
    settings : LiveSettings
    raw_fs : float
        Rate of the raw grid (Hz).
    t0 : float
        Stream time (s) of grid index 0.
    on_window : callable, optional
        Called with each :class:`WindowUpdate` and the wall time it was published.
    flush_every : float
        Wall seconds between forced writes of the files.
    wait_slow : bool
        When a band or a fit is due while the worker is still busy with earlier ones, wait for
        it (every due band and fit is computed: for replays and tests) instead of skipping this
        one (counted in ``skipped``; the live default, so the synchrony never waits).
    """

    def __init__(
        self,
        directory: str | Path,
        settings: LiveSettings,
        *,
        raw_fs: float,
        t0: float,
        on_window: Callable[[WindowUpdate, float], None] | None = None,
        flush_every: float = 0.5,
        wait_slow: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.settings = settings
        self.raw_fs = check_positive("raw_fs", raw_fs)
        self.t0 = float(t0)
        feature, _ = feature_for(settings.signal)
        cfg = settings.config
        update = settings.update_every if settings.update_every is not None else cfg.step
        self.features = OnlineFeatures(
            feature,
            raw_fs,
            settings.fs,
            buffer=settings.buffer,
            margin=settings.margin,
            update_every=update,
            max_gap=settings.max_gap,
        )
        self.sync = IncrementalSynchrony(cfg, settings.fs)
        self.grid = SampleGrid(raw_fs, t0)
        keep = round(max(settings.buffer, 10.0) * raw_fs) + 1
        self.raw = RawStore(keep)
        self.files = SessionFiles(
            self.directory, raw_fs=raw_fs, fs=settings.fs, has_phase=self.features.has_phase
        )
        self.persons: list[str] = []
        self.info: dict[str, dict] = {}
        self.status: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        span = max(settings.null_span, settings.fit_span)
        self._hist = _History(round(span * settings.fs) + 1)
        self._kur = _History(round(cfg.window * settings.fs) + 4, columns=False)
        self.state = DashboardState(settings=settings.to_dict())
        self.on_window = on_window
        self.flush_every = flush_every
        self.wait_slow = wait_slow
        self._last_flush = time.monotonic()
        self._tree = SeedTree(settings.seed)
        self._jobs: queue.Queue = queue.Queue()
        self._done: queue.Queue = queue.Queue()
        self._busy = 0
        self.skipped = {"band": 0, "fit": 0}
        self._worker = threading.Thread(target=self._work, name="syntony-live-slow", daemon=True)
        self._worker.start()
        self.n_windows = 0
        self.samples = np.zeros(0, dtype=np.int64)  # raw samples received per person
        self.notes: list[str] = []
        self.closed = False

    # -- persons ---------------------------------------------------------------------------------
    def add_person(
        self, name: str, info: dict | None = None, *, wall: float | None = None, quiet=False
    ) -> int:
        """Add a person (a stream or a channel); returns their column.

        ``quiet``: no join event (a resumed session re-adding its persons).
        """
        name = str(name)
        p = self.grid.add_person()
        self.raw.add_person()
        self.sync.add_person(name)
        self._hist.add_column()
        self.samples = np.append(self.samples, 0)
        self.persons.append(name)
        self.info[name] = dict(info or {})
        self.status[name] = "live"
        if not quiet:
            self.event(name, "join", self.info[name].get("stream", ""), wall=wall)
            self.save_state()
        return p

    def event(
        self,
        person: str,
        what: str,
        detail: str = "",
        *,
        wall: float | None = None,
        at: float | None = None,
    ) -> None:
        """Log a join, dropout or rejoin at grid time ``at`` (default: the committed time).

        A dropout is logged at the time of the person's last sample, a return at the time of
        their first new one.
        """
        if what in ("dropout", "rejoin"):
            self.status[person] = "dropped" if what == "dropout" else "live"
        self.files.write_row(
            "events.tsv",
            {
                "time": round(self.grid.committed / self.raw_fs if at is None else at, 6),
                "wall_time": round(wall if wall is not None else time.time(), 3),
                "person": person,
                "event": what,
                "detail": detail,
            },
        )

    def save_state(self, **extra) -> None:
        """Write ``session.json``: what a resumed session needs (settings, grid, persons), plus
        ``extra`` (the stream type, which source carries which persons)."""
        path = self.directory / "session.json"
        previous = {}
        if path.exists():
            from syntony.live.recorder import read_state

            previous = read_state(self.directory)
        self.files.write_state(
            {
                **previous,
                **extra,
                "format": 1,
                "settings": self.settings.to_dict(),
                "raw_fs": self.raw_fs,
                "t0": self.grid.t0 if np.isfinite(self.grid.t0) else None,
                "persons": list(self.persons),
                "samples": {p: int(n) for p, n in zip(self.persons, self.samples, strict=True)},
                "grid_samples": int(self.grid.committed),
                "notes": list(self.notes),
            }
        )

    # -- the pipeline ----------------------------------------------------------------------------
    def commit(self, upto: int) -> list[WindowUpdate]:
        """Commit grid rows up to ``upto`` and run everything they make ready."""
        start = self.grid.committed
        rows = self.grid.commit(upto)
        if rows.shape[0] == 0 or not self.persons:
            self._drain()
            if time.monotonic() - self._last_flush >= self.flush_every:
                self.flush()  # events (dropouts) and late results reach the disk without data
            return []
        self.raw.append(rows)
        self.samples[: rows.shape[1]] += np.isfinite(rows).sum(axis=0)
        self.files.write_grid("recording.tsv", start, rows, self.persons, self.raw_fs)
        return self._features()

    def _features(self, *, final: bool = False) -> list[WindowUpdate]:
        batch = self.features.update(self.raw, self.persons, final=final, need=self.sync.needed)
        updates: list[WindowUpdate] = []
        if batch is not None:
            self.reasons = {p: batch.reasons.get(p, "") for p in self.persons}
            self.files.write_grid(
                "features.tsv",
                batch.start,
                batch.values,
                self.persons,
                self.settings.fs,
                extra=batch.phase if self.features.has_phase else None,
            )
            self._hist.append(batch.values)
            if batch.phase is not None:
                self._kur.append(kuramoto_order(batch.phase)[:, None])
            updates = self.sync.append(batch.values)
            for update in updates:
                self._publish(update)
            # Only now may old rows go: a long batch (after a gap) publishes many windows.
            self._kur.forget_before(self.sync.needed - self.sync.window - self.sync.max_lag)
            self._hist.forget_before(self._hist.n - self._hist.size)
        self._drain()
        if time.monotonic() - self._last_flush >= self.flush_every:
            self.flush()
        return updates

    def _publish(self, update: WindowUpdate) -> None:
        cfg = self.settings.config
        centre = self.sync.centre_time(update.start)
        kur = float("nan")
        if self.features.has_phase:
            kur = self._kur.window_mean(update.start, self.sync.window)
        self.files.write_row(
            "windows.tsv",
            {
                "window": update.index,
                "time": centre,
                "start": update.start,
                "group": update.group,
                "kuramoto": kur,
                "n_pairs": update.n_pairs,
                "n_persons": len(self.persons),
            },
        )
        if len(self.persons) <= self.settings.matrices_max:
            self.files.write_matrices(update.index, update.r, update.lag)
        self.n_windows += 1
        self.state.window(update, centre, kur, self.persons)
        self.state.quality(self._quality())
        # Slow tasks: on windows whose number is a multiple of the cadence (deterministic).
        end = update.start + self.sync.window + self.sync.max_lag
        every_band = max(1, round(self.settings.surrogate_every / cfg.step))
        every_fit = max(1, round(self.settings.fit_every / cfg.step))
        if self.settings.n_surrogates and update.index % every_band == 0:
            self._submit("band", update.index, centre, end, self.settings.null_span)
        if update.index % every_fit == 0 and update.index > 0:
            self._submit("fit", update.index, centre, end, self.settings.fit_span)
        if self.on_window is not None:
            self.on_window(update, time.time())

    def _submit(self, kind: str, index: int, centre: float, end: int, span: float) -> None:
        if self.wait_slow:
            while self._busy >= 1:
                time.sleep(0.005)
                self._drain()
        elif self._busy >= 2:
            self.skipped[kind] += 1
            return
        x = self._hist.tail(end, round(span * self.settings.fs))
        if x is None:
            return
        self._busy += 1
        self._jobs.put((kind, index, centre, x))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            kind, index, centre, x = job
            s = self.settings
            try:
                if kind == "band":
                    out = surrogate_band(
                        x,
                        s.fs,
                        s.config,
                        n_surrogates=s.n_surrogates,
                        tree=self._tree.child("surrogates", index),
                        max_persons=s.null_persons,
                    )
                else:
                    out = fit_coupling(
                        x,
                        s.fs,
                        fit_fs=s.fit_fs,
                        tree=self._tree.child("fit", index),
                        max_persons=s.fit_persons,
                    )
            except Exception as exc:  # a failed fit must not stop the session
                out = {"error": f"{type(exc).__name__}: {exc}"}
            self._done.put((kind, index, centre, out))

    def _drain(self) -> None:
        while True:
            try:
                kind, index, centre, out = self._done.get_nowait()
            except queue.Empty:
                return
            self._busy -= 1
            if out is None:
                continue
            if "error" in out:
                what = "surrogate band" if kind == "band" else "coupling fit"
                self.notes.append(f"{what} at window {index} failed ({out['error']})")
                continue
            for message in out.pop("warnings", []):
                note = f"coupling fit: {message}"
                if note not in self.notes:
                    self.notes.append(note)
            row = {"window": index, "time": centre, **out}
            self.files.write_row("nulls.tsv" if kind == "band" else "coupling.tsv", row)
            if kind == "band":
                self.state.band(row)
            else:
                self.state.coupling(row)

    def _quality(self):
        return quality_table(
            self.raw,
            self.persons,
            self.status,
            self.reasons,
            self.grid,
            raw_fs=self.raw_fs,
        )

    # -- housekeeping ----------------------------------------------------------------------------
    def flush(self, *, wait: bool = False) -> None:
        """Send what was written to disk (``wait``: and wait until it is there)."""
        self.files.flush(wait=wait)
        self._last_flush = time.monotonic()

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait for the worker to finish the slow tasks submitted so far."""
        deadline = time.monotonic() + timeout
        while self._busy > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
            self._drain()

    def close(self) -> None:
        """Emit what is ready, finish the slow tasks, write and close every file (once)."""
        if self.closed:
            return
        self._features(final=True)
        self.wait_idle()
        self._jobs.put(None)
        self._worker.join(timeout=10)
        self.save_state()
        self.files.close()
        self.closed = True


class _History:
    """The last ``size`` rows of a growing (time, person) series, indexed globally."""

    def __init__(self, size: int, *, columns: bool = True) -> None:
        self.size = int(size)
        self._rows = Rows(0 if columns else 1)

    @property
    def n(self) -> int:
        return self._rows.stop

    def add_column(self) -> None:
        self._rows.add_column()

    def append(self, rows: np.ndarray) -> None:
        self._rows.append(rows)

    def forget_before(self, index: int) -> None:
        """Drop rows before global ``index``, keeping at least the last ``size``."""
        self._rows.forget_before(min(index, self._rows.stop - self.size))

    def seed(self, start: int, rows: np.ndarray) -> None:
        """Hold ``rows`` as global rows ``start...``."""
        self._rows.reset(start, np.asarray(rows, float)[-2 * self.size :])
        self._rows.start = int(start) + max(0, rows.shape[0] - 2 * self.size)

    def tail(self, end: int, length: int) -> np.ndarray | None:
        """Rows ``end - length`` to ``end`` (global; fewer when not all are held), or None."""
        a = max(end - length, self._rows.start)
        if end > self.n or end - a < 2:
            return None
        return self._rows.window(a, end)

    def window_mean(self, start: int, width: int) -> float:
        x = self.tail(start + width, width)
        if x is None:
            return float("nan")
        finite = x[np.isfinite(x)]
        return float(finite.mean()) if finite.size else float("nan")
