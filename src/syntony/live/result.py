"""LiveResult: what a live session leaves behind, as a result that saves, loads and reports.

The session's files (see :mod:`syntony.live.recorder`) are the result's payload; saving into
another directory links (or copies) them. The report shows group synchrony over the session
against the surrogate bands, the synchrony matrix averaged over the windows, the coupling
estimates, and each person's signal quality, dropouts and returns.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from syntony.errors import InputError
from syntony.live.recorder import read_matrices
from syntony.physio.synchrony import fisher_z
from syntony.report import Report, Result, methods_text

__all__ = ["FILES", "LiveResult", "read_features"]

#: The payload files of a live session.
FILES = (
    "session.json",
    "recording.tsv",
    "features.tsv",
    "windows.tsv",
    "nulls.tsv",
    "coupling.tsv",
    "events.tsv",
    "matrices.bin",
)

_REFERENCES = [
    "Boker SM, Rotondo JL, Xu M, King K (2002). Windowed cross-correlation and peak picking for "
    "the analysis of variability in the association between behavioral time series. "
    "Psychological Methods 7(3):338-355. doi:10.1037/1082-989X.7.3.338",
    "Kothe C, Shirazi SY, Stenner T, Medine D, Boulay C, Grivich MI, Artoni F, Mullen T, "
    "Delorme A, Makeig S (2025). The Lab Streaming Layer for synchronized multimodal "
    "recording. Imaging Neuroscience 3:IMAG.a.136. doi:10.1162/IMAG.a.136",
    "Kuramoto Y (1984). Chemical Oscillations, Waves, and Turbulence. Springer, Berlin. "
    "doi:10.1007/978-3-642-69689-3",
    "Makowski D, Pham T, Lau ZJ, Brammer JC, Lespinasse F, Pham H, Schölzel C, Chen SHA (2021). "
    "NeuroKit2: a Python toolbox for neurophysiological signal processing. Behavior Research "
    "Methods 53(4):1689-1696. doi:10.3758/s13428-020-01516-y",
]


def _read_tsv(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)


def read_features(directory: str | os.PathLike[str]) -> xr.Dataset:
    """The features a live session computed its synchrony from, as the offline features.

    Returns a Dataset like :func:`syntony.physio.features.extract_features` returns (variables
    ``<feature>`` and, when there is one, ``phase``, dims (time, person), persons in the
    session's order), ready for :func:`syntony.physio.synchrony.synchrony`.
    """
    directory = Path(directory)
    state = json.loads((directory / "session.json").read_text(encoding="utf-8"))
    settings = state["settings"]
    from syntony.physio.loading import feature_for

    feature, _ = feature_for(settings["signal"])
    fs = float(settings["fs"])
    frame = _read_tsv(directory / "features.tsv")
    if frame.empty:
        raise InputError("the session computed no features yet", source=directory)
    persons = [str(p) for p in state["persons"]]
    frame["person"] = frame["person"].astype(str)
    index = np.rint(frame["time"].to_numpy() * fs).astype(np.int64)
    n = int(index.max()) + 1
    col = {p: k for k, p in enumerate(persons)}
    where = frame["person"].map(col).to_numpy()
    data_vars = {}
    for key, name, units in (("value", feature.name, feature.units), ("phase", "phase", "rad")):
        if key not in frame:
            continue
        grid = np.full((n, len(persons)), np.nan)
        grid[index, where] = frame[key].to_numpy(float)
        data_vars[name] = (("time", "person"), grid, {"units": units})
    return xr.Dataset(
        data_vars,
        coords={"time": ("time", np.arange(n) / fs, {"units": "s"}), "person": persons},
        attrs={
            "sampling_rate": fs,
            "units": feature.units,
            "feature": feature.name,
            "source": str(directory / "features.tsv"),
        },
    )


class LiveResult(Result):
    """A finished (or interrupted) live session.

    Attributes
    ----------
    directory : Path
        Where the session's files are.
    windows, nulls, coupling, events : DataFrame
        Group synchrony per window, surrogate bands, coupling estimates, join/dropout/rejoin
        events.
    state : dict
        The session's ``session.json`` (settings, persons, grid origin).
    """

    kind = "live-synchrony"
    title = "Live group synchrony"

    def __init__(self, directory: Path, *, notes: list[str] | None = None) -> None:
        self.directory = Path(directory)
        self.state = json.loads((self.directory / "session.json").read_text(encoding="utf-8"))
        self.windows = _read_tsv(self.directory / "windows.tsv")
        self.nulls = _read_tsv(self.directory / "nulls.tsv")
        self.coupling = _read_tsv(self.directory / "coupling.tsv")
        self.events = _read_tsv(self.directory / "events.tsv")
        self.notes = list(notes or self.state.get("notes", []))
        self.warnings = list(self.notes)
        # Saving over the session directory itself links its files (no copy of a long
        # recording); saving anywhere else copies them, so a resumed session cannot change
        # a saved copy.
        self.link_files = False

    @classmethod
    def from_session(cls, directory: str | Path, *, notes: list[str] | None = None) -> LiveResult:
        """The result of the session files in ``directory``."""
        directory = Path(directory)
        if not (directory / "session.json").is_file():
            raise InputError("no live session here (no session.json)", source=directory)
        return cls(directory, notes=notes)

    # -- the protocol ----------------------------------------------------------------------------
    @property
    def settings(self) -> dict:
        return dict(self.state.get("settings", {}))

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            **self.settings,
            "stream_type": self.state.get("stream_type"),
            "raw_fs": self.state.get("raw_fs"),
        }

    @property
    def provenance(self) -> dict[str, Any]:
        from syntony._provenance import provenance

        return provenance(parameters=self.parameters)

    @property
    def persons(self) -> list[str]:
        return [str(p) for p in self.state.get("persons", [])]

    def features(self) -> xr.Dataset:
        """The recorded feature series (see :func:`read_features`)."""
        return read_features(self.directory)

    def recording(self) -> xr.Dataset:
        """The raw recording, read as ``syntony sync`` reads it."""
        from syntony.physio.io import read_recording

        return read_recording(self.directory / "recording.tsv")

    def matrices(self) -> xr.Dataset:
        """Peak correlation ``r`` and lag (s) of every pair in the windows that kept them."""
        stored = read_matrices(self.directory / "matrices.bin")
        persons = self.persons
        fs = float(self.settings.get("fs", 1.0))
        wins = sorted(stored)
        n = len(persons)
        r = np.full((len(wins), n, n), np.nan)
        lag = np.full((len(wins), n, n), np.nan)
        for k, w in enumerate(wins):
            m = stored[w][0].shape[0]
            r[k, :m, :m] = stored[w][0]
            lag[k, :m, :m] = stored[w][1] / fs
        return xr.Dataset(
            {"r": (("window", "person", "other"), r), "lag": (("window", "person", "other"), lag)},
            coords={"window": wins, "person": persons, "other": persons},
        )

    def summary(self) -> str:
        w = self.windows
        n_p = len(self.persons)
        if w.empty:
            return f"live session: {n_p} persons, no window finished yet"
        group = w["group"].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = float(np.tanh(np.nanmean(fisher_z(group))))
        span = float(w["time"].iloc[-1] - w["time"].iloc[0])
        lines = [
            f"live session: {n_p} persons, {len(w)} windows over {span:.0f} s, "
            f"mean group synchrony {mean:.3f} (last {group[-1]:.3f})"
        ]
        above = _above_band(w, self.nulls)
        if above is not None:
            lines.append(
                f"above the surrogate band in {above[0]} of {above[1]} windows that had one"
            )
        if not self.coupling.empty:
            c = self.coupling.iloc[-1]
            lines.append(
                f"coupling c = {c['c']:.3g} [{c['c_ci_low']:.3g}, {c['c_ci_high']:.3g}] "
                f"(last fit, {int(c['n_persons'])} persons, LRT p = {c['lrt_pvalue']:.3g})"
            )
        drops = int((self.events.get("event", pd.Series(dtype=str)) == "dropout").sum())
        if drops:
            lines.append(f"{drops} dropout(s) recorded (events.tsv)")
        return "\n".join(lines)

    @property
    def methods(self) -> str:
        s = self.settings
        kind = self.state.get("stream_type")
        source = (
            f"Signals of type {kind} were received over the Lab Streaming Layer (Kothe et al., "
            "2025), their time stamps corrected to the receiver's clock, and placed"
            if kind
            else "Signals were handed to the live engine directly (no transport) and placed"
        )
        first = (
            f"{source} on a common {self.state.get('raw_fs', 0):g} Hz grid. "
            f"Every {s.get('update_every') or s.get('step')} s, each person's last "
            f"{s.get('buffer')} s of signal gave the {s.get('signal')} feature with the "
            "functions of the offline analysis (NeuroKit2; Makowski et al., 2021), resampled "
            f"to {s.get('fs')} Hz; each feature sample was emitted once, a fixed margin behind "
            "the newest signal, and the synchrony was computed from exactly these samples."
        )
        second = (
            "Group synchrony is the windowed lagged cross-correlation (Boker et al., 2002) of "
            f"all pairs in {s.get('window')} s windows moved by {s.get('step')} s, with lags up "
            f"to ±{s.get('max_lag')} s and the peak over lags taken per pair; pairs were "
            "averaged in Fisher z. The correlations were kept up to date from running sums of "
            "products per pair and lag, which equal the offline computation to rounding error. "
            "Phase alignment is the Kuramoto order parameter (Kuramoto, 1984) averaged over "
            f"each window. Every {s.get('surrogate_every')} s the newest window was compared "
            f"with {s.get('n_surrogates')} circular-shift surrogates of the last "
            f"{s.get('null_span')} s; every {s.get('fit_every')} s the contagion coupling c "
            f"was fitted by maximum likelihood to the last {s.get('fit_span')} s (at most "
            f"{s.get('fit_persons')} persons with complete data, averaged to {s.get('fit_fs')} "
            "Hz), with a Wald 95% interval and a likelihood-ratio test of c = 0."
        )
        return methods_text(first, second, references=_REFERENCES)

    def _write(self, directory: Path) -> None:
        for name in FILES:
            source = self.directory / name
            if source.exists():
                _link_or_copy(source, directory / name, link=self.link_files)

    @classmethod
    def _read(cls, directory: Path, manifest: dict) -> LiveResult:
        return cls(directory, notes=manifest.get("warnings") or [])

    def _build_report(self, report: Report) -> None:
        from syntony.live.plots import coupling_figure, matrix_figure, timeline_figure

        sec = report.section("Session")
        sec.key_values(self._overview())
        if not self.windows.empty:
            sec = report.section("Group synchrony over time")
            sec.figure(
                timeline_figure(self.windows, self.nulls),
                caption="Group synchrony per window (line) and, where computed, the 95% band "
                "of circular-shift surrogates (grey); Kuramoto order dashed.",
                alt="group synchrony over time",
            )
            mats = self.matrices()
            if mats.sizes["window"]:
                sec = report.section("Synchrony matrix")
                sec.figure(
                    matrix_figure(mats, self.persons),
                    caption="Pairwise synchrony averaged over the windows (Fisher z mean of "
                    "both directions, back-transformed).",
                    alt="synchrony matrix",
                )
        if not self.coupling.empty:
            sec = report.section("Coupling estimate")
            sec.figure(
                coupling_figure(self.coupling),
                caption="Fitted coupling c with its 95% interval, one fit per cadence.",
                alt="coupling over time",
            )
            sec.table(self.coupling, caption="Coupling fits", max_rows=20)
        sec = report.section("Signal quality and dropouts")
        sec.table(self.quality(), caption="Per person over the whole session", max_rows=30)
        if not self.events.empty:
            sec.table(self.events, caption="Joins, dropouts and returns", max_rows=20)
        if not self.windows.empty:
            report.section("Windows").table(self.windows, caption="Every window", max_rows=20)

    # -- helpers -----------------------------------------------------------------------------------
    def _overview(self) -> dict[str, Any]:
        w = self.windows
        return {
            "persons": len(self.persons),
            "windows": len(w),
            "stream type": self.state.get("stream_type"),
            "raw rate (Hz)": self.state.get("raw_fs"),
            "feature": self.settings.get("signal"),
            "window / step / max lag (s)": f"{self.settings.get('window')} / "
            f"{self.settings.get('step')} / {self.settings.get('max_lag')}",
            "resumed": len(self.state.get("resumed", [])),
        }

    def quality(self) -> pd.DataFrame:
        """Per person: samples received, dropouts and returns over the whole session.

        The counts kept by the session are used (no pass over a long recording); a session
        that was killed before it could write them is counted from its recording.
        """
        counts = self.state.get("samples")
        n_grid = int(self.state.get("grid_samples") or 0)
        if counts is None:
            rec = _read_tsv(self.directory / "recording.tsv")
            fs = float(self.state.get("raw_fs") or 1.0)
            n_grid = int(np.rint(rec["time"].max() * fs)) + 1 if not rec.empty else 0
            finite = rec[np.isfinite(rec["value"].to_numpy(float))] if not rec.empty else rec
            counts = finite["person"].astype(str).value_counts().to_dict() if len(finite) else {}
        ev = self.events
        rows = []
        for p in self.persons:
            mine = ev[ev["person"].astype(str) == p] if not ev.empty else ev
            joined = mine[mine["event"] == "join"]["time"] if len(mine) else []
            got = int(counts.get(p, 0))
            rows.append(
                {
                    "person": p,
                    "joined_s": float(joined.iloc[0]) if len(joined) else float("nan"),
                    "samples": got,
                    "share_of_session": got / n_grid if n_grid else float("nan"),
                    "dropouts": int((mine["event"] == "dropout").sum()) if len(mine) else 0,
                    "returns": int((mine["event"] == "rejoin").sum()) if len(mine) else 0,
                }
            )
        return pd.DataFrame(rows)


def _above_band(windows: pd.DataFrame, nulls: pd.DataFrame) -> tuple[int, int] | None:
    if nulls.empty or windows.empty:
        return None
    merged = nulls.merge(windows[["window", "group"]], on="window")
    if merged.empty:
        return None
    return int((merged["group"] > merged["q975"]).sum()), len(merged)


def _link_or_copy(source: Path, target: Path, *, link: bool) -> None:
    if link:
        with contextlib.suppress(OSError):
            os.link(source, target)
            return
    with contextlib.suppress(shutil.SameFileError):
        shutil.copy2(source, target)
