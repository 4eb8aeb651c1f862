"""The result of a group-synchrony analysis: data, tables, nulls, report.

A :class:`SynchronyResult` (made by :func:`syntony.physio.analysis.analyze_synchrony`) holds the
features and the all-pairs synchrony as Datasets, the per-window, per-pair and per-test tables,
the surrogate and pseudo-group null distributions, and who was left out and why. It saves as
``features.nc``, ``synchrony.nc``, ``synchrony_nulls.nc`` and three TSV tables beside
``result.json`` and ``report.html``, and loads back equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from syntony.physio._files import read_netcdf, read_table, with_provenance, write_table
from syntony.report import Report, Result, methods_text

__all__ = ["FILES", "TEST_COLUMNS", "SynchronyResult", "n_exceeded", "verdict"]

#: The columns every row of the tests table has (tests may add their own after these).
TEST_COLUMNS = [
    "method",
    "observed",
    "null_mean",
    "null_q025",
    "null_q975",
    "p_value",
    "effect_size",
    "n",
]
#: The payload files of a saved synchrony result.
FILES = {
    "features": "features.nc",
    "synchrony": "synchrony.nc",
    "nulls": "synchrony_nulls.nc",
    "windows": "synchrony_windows.tsv",
    "pairs": "synchrony_pairs.tsv",
    "tests": "synchrony_tests.tsv",
}
_ALPHA = 0.05

_REFERENCES = [
    "Bernieri FJ, Reznick JS, Rosenthal R (1988). Synchrony, pseudosynchrony, and dissynchrony: "
    "measuring the entrainment process in mother-infant interactions. Journal of Personality "
    "and Social Psychology 54(2):243-253. doi:10.1037/0022-3514.54.2.243",
    "Boker SM, Rotondo JL, Xu M, King K (2002). Windowed cross-correlation and peak picking for "
    "the analysis of variability in the association between behavioral time series. "
    "Psychological Methods 7(3):338-355. doi:10.1037/1082-989X.7.3.338",
    "Fisher RA (1921). On the 'probable error' of a coefficient of correlation deduced from a "
    "small sample. Metron 1:3-32.",
    "Kuramoto Y (1984). Chemical Oscillations, Waves, and Turbulence. Springer, Berlin. "
    "doi:10.1007/978-3-642-69689-3",
    "Makowski D, Pham T, Lau ZJ, Brammer JC, Lespinasse F, Pham H, Schölzel C, Chen SHA (2021). "
    "NeuroKit2: a Python toolbox for neurophysiological signal processing. Behavior Research "
    "Methods 53(4):1689-1696. doi:10.3758/s13428-020-01516-y",
    "Moulder RG, Boker SM, Ramseyer F, Tschacher W (2018). Determining synchrony between "
    "behavioral time series: an application of surrogate data generation for establishing "
    "falsifiable null-hypotheses. Psychological Methods 23(4):757-773. doi:10.1037/met0000172",
    "Phipson B, Smyth GK (2010). Permutation p-values should never be zero: calculating exact "
    "p-values when permutations are randomly drawn. Statistical Applications in Genetics and "
    "Molecular Biology 9(1):39. doi:10.2202/1544-6115.1585",
    "Ramseyer F, Tschacher W (2010). Nonverbal synchrony or random coincidence? How to tell the "
    "difference. In: Esposito A et al. (eds) Development of Multimodal Interfaces: Active "
    "Listening and Synchrony. Lecture Notes in Computer Science 5967. Springer, Berlin, "
    "pp 182-196. doi:10.1007/978-3-642-12397-9_15",
    "Richardson MJ, Garcia RL, Frank TD, Gergor M, Marsh KL (2012). Measuring group synchrony: "
    "a cluster-phase method for analyzing multivariate movement time-series. Frontiers in "
    "Physiology 3:405. doi:10.3389/fphys.2012.00405",
    "Theiler J, Eubank S, Longtin A, Galdrikian B, Farmer JD (1992). Testing for nonlinearity "
    "in time series: the method of surrogate data. Physica D 58(1-4):77-94. "
    "doi:10.1016/0167-2789(92)90102-S",
]

# What each test compares with, and what beating it (or not) means.
_TESTS = {
    "circular-shift": (
        "Group synchrony",
        "copies of the same signals shifted in time",
        "the members' series line up in time more than their own rhythms would by chance",
        "time-shifted copies of the same signals are as synchronous, so the alignment may be "
        "chance",
    ),
    "segment-shuffle": (
        "Group synchrony",
        "copies of the same signals with their windows shuffled",
        "the members' series line up in time more than their own rhythms would by chance",
        "shuffled copies of the same signals are as synchronous, so the alignment may be chance",
    ),
    "pseudo-group": (
        "Group synchrony",
        "pseudo-groups (members of both sessions, who share the stimulus but not the room)",
        "the synchrony is not explained by the shared stimulus alone",
        "people who share only the stimulus are as synchronous, so the stimulus may explain it",
    ),
    "kuramoto circular-shift": (
        "Phase alignment (Kuramoto order)",
        "circular shifts of the phases",
        "the members' cycles keep in step more than chance allows",
        "shifted phases are as aligned, so the phase locking may be chance",
    ),
    "cluster-phase circular-shift": (
        "Phase alignment (cluster phase)",
        "circular shifts of the phases",
        "the members' cycles keep in step with the group more than chance allows",
        "shifted phases are as aligned, so the phase locking may be chance",
    ),
}


def n_exceeded(p_value: float, n: int) -> int:
    """How many of ``n`` null draws the observed value beat, from ``p = (1 + #(>=)) / (1 + n)``."""
    return int(n - round(p_value * (n + 1) - 1))


def verdict(row: Any) -> str:
    """One plain sentence on what a row of the tests table says."""
    method, p, n = str(row["method"]), float(row["p_value"]), int(row["n"])
    subject, null, yes, no = _TESTS.get(
        method,
        (
            "The statistic",
            f"{method} surrogates",
            "it exceeds its null",
            "it does not exceed its null",
        ),
    )
    k = n_exceeded(p, n)
    head = f"{subject} is higher than in {k} of {n} {null} (p = {p:.2g})"
    if p <= _ALPHA:
        return f"{head}: {yes}."
    if k == n:
        return f"{head}: {few_draws(n)}"
    return f"{head}: {no}."


def few_draws(n: int) -> str:
    """What to say when every null draw was beaten but there were too few for p <= 0.05."""
    return (
        f"with {n} draws the smallest possible p is {1 / (n + 1):.2g}, so the test cannot reach "
        f"the 5% level; run at least {int(np.ceil(1 / _ALPHA)) - 1} (better 100 or more)."
    )


@dataclass(eq=False, repr=False)
class SynchronyResult(Result):
    """Group synchrony of a recording with its null tests.

    Attributes
    ----------
    features : Dataset
        Each person's feature series (time, person); ``attrs["excluded_reasons"]`` says who was
        left out and why.
    synchrony : Dataset
        All-pairs windowed lagged synchrony (see :func:`syntony.physio.synchrony.synchrony`).
    windows : DataFrame
        Per window: centre time, group synchrony, phase measures, each null's 2.5% and 97.5%.
    pairs : DataFrame
        Per pair: mean synchrony over windows, median lag (s), windows with a value.
    tests : DataFrame
        One row per null test (:data:`TEST_COLUMNS` and test-specific columns).
    bands : dict of str -> ndarray (n_draws, n_windows)
        Per-window group synchrony of every surrogate and pseudo-group.
    nulls : dict of str -> ndarray (n_draws,)
        Each test's null distribution.
    notes : list of str
        Exclusions and other caveats (shown as warnings in the report).
    parameters, provenance : dict
    """

    kind = "synchrony"
    title = "Group synchrony"

    features: xr.Dataset
    synchrony: xr.Dataset
    windows: pd.DataFrame
    pairs: pd.DataFrame
    tests: pd.DataFrame
    bands: dict[str, np.ndarray] = field(default_factory=dict)
    nulls: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    # -- numbers --------------------------------------------------------------------------------
    @property
    def warnings(self) -> list[str]:
        return list(self.notes)

    @property
    def group_synchrony(self) -> float:
        """Mean pairwise synchrony over pairs and windows (tanh of the mean Fisher z)."""
        return float(self.synchrony.attrs["group_mean"])

    @property
    def persons(self) -> list[str]:
        return [str(p) for p in self.features["person"].to_numpy()]

    @property
    def n_windows(self) -> int:
        return int(self.synchrony.sizes["window"])

    @property
    def variable(self) -> str:
        return str(self.features.attrs["feature"])

    @property
    def units(self) -> str:
        return str(self.features.attrs.get("units", ""))

    @property
    def exclusions(self) -> dict[str, str]:
        """``{person: reason}`` for everyone left out of the analysis."""
        from syntony.physio.loading import exclusions

        return exclusions(self.features)

    def test(self, method: str) -> dict[str, Any]:
        """The row of the tests table for ``method`` (e.g. ``"pseudo-group"``)."""
        rows = self.tests[self.tests["method"] == method]
        if rows.empty:
            raise KeyError(f"no {method!r} test (have {list(self.tests['method'])})")
        return rows.iloc[0].to_dict()

    # -- text -----------------------------------------------------------------------------------
    def summary(self) -> str:
        excluded = len(self.exclusions)
        lines = [
            f"group synchrony {self.group_synchrony:.3f} ({self.variable}) over "
            f"{len(self.persons)} persons, {self.n_windows} windows"
            + (f"; {excluded} excluded" if excluded else "")
        ]
        for _, t in self.tests.iterrows():
            lines.append(
                f"  {t['method']}: null mean {t['null_mean']:.3f}, p = {t['p_value']:.4g}, "
                f"effect size {t['effect_size']:.2f}"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    @property
    def methods(self) -> str:
        p = self.parameters
        feature = {
            "respiration": "breathing rate (and breathing phase) from the respiration wave",
            "ecg": "heart rate from the ECG",
            "eda": "the tonic skin-conductance level",
            "raw": "the recorded series as they are (and their Hilbert phase)",
        }.get(str(p.get("signal")), f"the feature {self.variable}")
        first = (
            f"For each person we computed {feature} with NeuroKit2 (Makowski et al., 2021) on a "
            f"common {p.get('fs', float('nan')):g} Hz grid; short gaps were interpolated, long "
            "ones left missing, and people without a usable signal were left out "
            f"({len(self.exclusions)} here). Synchrony of every pair was the windowed lagged "
            f"cross-correlation (Boker et al., 2002): in {p.get('window'):g} s windows moved by "
            f"{p.get('step'):g} s, the correlation at lags up to ±{p.get('max_lag'):g} s, its "
            f"{'largest value' if p.get('peak') == 'max' else 'largest absolute value'} taken as "
            "the pair's synchrony in that window. Pairs and windows were averaged through "
            "Fisher's z (Fisher, 1921)."
        )
        tests = []
        if p.get("n_surrogates"):
            tests.append(
                f"The group's mean synchrony was compared with {p['n_surrogates']} surrogates of "
                "its own signals (Theiler et al., 1992; Moulder et al., 2018): each person's "
                "series shifted circularly by its own random offset of at least a window plus "
                "the largest lag, and, separately, cut into window-long segments shuffled per "
                "person. Both keep each signal's own rhythm and break the alignment between "
                "people. Where a phase was available, the Kuramoto order parameter (Kuramoto, "
                "1984) and cluster-phase synchrony (Richardson et al., 2012) were tested against "
                "circular shifts of the phases."
            )
        if p.get("pseudo_from"):
            tests.append(
                f"{p['n_pseudo_groups']} pseudo-groups (Bernieri et al., 1988; Ramseyer and "
                "Tschacher, 2010) of the group's size mixed its members with those of another "
                "session on the same time base (the same stimulus, another room); a "
                "pseudo-group's statistic is the mean synchrony of its cross-session pairs, the "
                "synchrony the shared stimulus produces without the social loop."
            )
        if tests:
            tests.append(
                "p-values are one-sided, (1 + number of null values at least as large as the "
                "observed one) / (1 + number of null values) (Phipson and Smyth, 2010); effect "
                "sizes are in standard deviations of the null (in Fisher z for correlations)."
            )
        return methods_text(first, *tests, references=_REFERENCES)

    # -- files ----------------------------------------------------------------------------------
    def _write(self, directory: Path) -> None:
        from syntony._io_utils import write_netcdf

        write_netcdf(directory / FILES["features"], with_provenance(self.features, self.provenance))
        write_netcdf(
            directory / FILES["synchrony"], with_provenance(self.synchrony, self.provenance)
        )
        write_netcdf(directory / FILES["nulls"], self._nulls_dataset())
        write_table(directory / FILES["windows"], self.windows)
        write_table(directory / FILES["pairs"], self.pairs)
        write_table(directory / FILES["tests"], self.tests)

    def _nulls_dataset(self) -> xr.Dataset:
        data: dict[str, Any] = {}
        for k, (label, band) in enumerate(self.bands.items()):
            data[f"band_{k}"] = (
                (f"band_{k}_draw", "window"),
                np.asarray(band, float),
                {"method": label},
            )
        for k, (label, null) in enumerate(self.nulls.items()):
            data[f"null_{k}"] = ((f"null_{k}_draw",), np.asarray(null, float), {"method": label})
        return xr.Dataset(data, attrs={"description": "null distributions of the tests"})

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> SynchronyResult:
        nulls_ds = read_netcdf(directory / FILES["nulls"])

        def collect(prefix: str) -> dict[str, np.ndarray]:
            names = sorted(
                (v for v in nulls_ds.data_vars if str(v).startswith(prefix)),
                key=lambda v: int(str(v)[len(prefix) :]),
            )
            return {str(nulls_ds[v].attrs["method"]): nulls_ds[v].to_numpy() for v in names}

        return cls(
            features=read_netcdf(directory / FILES["features"]),
            synchrony=read_netcdf(directory / FILES["synchrony"]),
            windows=read_table(directory / FILES["windows"]),
            pairs=read_table(directory / FILES["pairs"], strings=("person", "other")),
            tests=read_table(directory / FILES["tests"], strings=("method",)),
            bands=collect("band_"),
            nulls=collect("null_"),
            notes=[str(w) for w in manifest.get("warnings", [])],
            parameters=dict(manifest["parameters"]),
            provenance=dict(manifest["provenance"]),
        )

    # -- report ---------------------------------------------------------------------------------
    def _build_report(self, report: Report) -> None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from syntony.physio import plots

        excluded = self.exclusions
        section = report.section("Signals")
        section.text(
            f"{self.variable} ({self.units}) of the {len(self.persons)} people analysed"
            + (
                f"; {len(excluded)} left out (grey panels say why)."
                if excluded
                else "; nobody was left out."
            )
        )
        section.figure(
            plots.plot_signals(self.features, excluded),
            caption=f"Each person's {self.variable} over time.",
        )
        if excluded:
            section.table(
                pd.DataFrame({"person": list(excluded), "reason": list(excluded.values())}),
                caption="People left out",
                name="exclusions",
            )

        section = report.section("Synchrony matrix")
        fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
        plots.plot_sync_matrix(self.synchrony, ax=ax)
        section.figure(
            fig, caption="Each pair's synchrony: tanh of the mean Fisher z over windows."
        )

        section = report.section("Group synchrony over time")
        fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
        plots.plot_group_synchrony(self.synchrony, null_windows=self.bands, ax=ax)
        section.figure(
            fig,
            caption="Mean pairwise synchrony per window (black) against the 2.5-97.5% range of "
            "each null, window by window.",
        )
        section.table(self.windows, caption="Windows", name="windows")

        section = report.section("Lags")
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
        plots.plot_lags(self.synchrony, axes=axes)
        section.figure(
            fig,
            caption="Lag at which each pair's correlation peaked. Piles at the largest lags "
            "searched mean the correlation was still rising there: no peak inside the range.",
        )

        section = report.section("Pairs")
        section.table(self.pairs, caption="Pairs (synchrony over all windows)", name="pairs")

        section = report.section("Tests")
        if self.tests.empty:
            section.text("No null test was run (n_surrogates = 0 and no pseudo-group session).")
        else:
            section.text("\n\n".join(verdict(row) for _, row in self.tests.iterrows()))
            section.table(self.tests, caption="Null tests", name="tests")
            if self.nulls:
                section.figure(
                    plots.plot_null_distributions(self.tests, self.nulls),
                    caption="Null distributions (grey), their 95% range (orange) and the "
                    "observed value (black).",
                )
