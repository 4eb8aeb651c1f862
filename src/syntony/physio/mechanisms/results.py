"""The results of the mechanism models: one layout, four kinds.

Every mechanism result holds the fitted series (``fitted.nc``: observed and one-step-ahead
predicted, and for the switching model the decoded mode probabilities), the parameter table
(``params.tsv``), the compared models (``models.tsv``), the tests (``tests.tsv``) and named
extra tables (``<name>.tsv``: who leads and follows, the groups of a pooled fit, pseudo-group
and bootstrap values), listed with their text columns in ``tables.json`` so they load back
exactly. Their reports are drawn by :mod:`syntony.physio.mechanisms.report`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from syntony.physio._files import read_netcdf, read_table, with_provenance, write_table
from syntony.physio.mechanisms import text
from syntony.report import Report, Result

__all__ = [
    "TEST_COLUMNS",
    "DirectedFitResult",
    "GatedFitResult",
    "MechanismResult",
    "PooledFitResult",
    "SwitchingFitResult",
]

TEST_COLUMNS = [
    "test",
    "statistic",
    "df",
    "p_value",
    "null_mean",
    "null_q025",
    "null_q975",
    "n",
    "reference",
]
_PARAM_COLUMNS = ["parameter", "estimate", "se", "ci_low", "ci_high", "meaning"]
_MODEL_COLUMNS = ["model", "n_params", "n_obs", "loglik", "aic", "bic", "converged"]


_TEXT = ("test", "reference", "parameter", "meaning", "model")


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """A table with the given columns; text columns hold strings ("" where absent), the others
    floats (NaN where absent), so that it reads back from TSV with the same dtypes."""
    records = [
        {c: (str(r.get(c) or "") if c in _TEXT else r.get(c, np.nan)) for c in columns}
        for r in rows
    ]
    frame = pd.DataFrame(records, columns=columns)
    for c in columns:
        frame[c] = frame[c].astype(str) if c in _TEXT else frame[c].astype(float)
    return frame


def _fitted(model: Any, extra: dict[str, Any] | None = None) -> xr.Dataset:
    d = model.data_
    ds = xr.Dataset(
        {
            "observed": (("time", "person"), d.raw, {"units": d.units}),
            "predicted": (
                ("time", "person"),
                np.asarray(model.predicted_, float),
                {"units": d.units, "long_name": "one-step-ahead prediction"},
            ),
        },
        coords={"time": ("time", np.asarray(d.time, float), {"units": "s"}), "person": d.persons},
        attrs={"variable": d.variable, "units": d.units, "dt": float(d.dt)},
    )
    for name, value in (extra or {}).items():
        ds[name] = value
    return ds


@dataclass(eq=False, repr=False)
class MechanismResult(Result):
    """Common layout of the mechanism results (see the module docstring).

    Attributes
    ----------
    fitted : Dataset or None
    params, models, tests : DataFrame
    tables : dict of DataFrame
    notes : list of str
    parameters, provenance : dict
    """

    fitted: xr.Dataset | None
    params: pd.DataFrame
    models: pd.DataFrame
    tests: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    _main: ClassVar[str] = "c"

    # -- numbers --------------------------------------------------------------------------------
    @property
    def warnings(self) -> list[str]:
        notes = list(self.notes)
        if "converged" in self.models and not bool(self.models["converged"].all()):
            notes.append("the optimiser did not converge; the estimates may be unreliable")
        return notes

    def estimate(self, name: str | None = None) -> float:
        """The estimate of parameter ``name`` (default: the model's main parameter)."""
        return float(self.params.set_index("parameter").loc[name or self._main, "estimate"])

    def interval(self, name: str | None = None) -> tuple[float, float]:
        row = self.params.set_index("parameter").loc[name or self._main]
        return float(row["ci_low"]), float(row["ci_high"])

    def test(self, name: str) -> dict[str, Any] | None:
        """The row of test ``name`` (its label in ``tests``), or None."""
        rows = self.tests[self.tests["test"] == name]
        return None if rows.empty else rows.iloc[0].to_dict()

    @property
    def persons(self) -> list[str]:
        return [] if self.fitted is None else [str(p) for p in self.fitted["person"].to_numpy()]

    def with_test(self, row: dict[str, Any], table: str | None = None, values=None) -> None:
        """Add a test (and the values of its null distribution as table ``table``)."""
        self.tests = pd.concat(
            [self.tests, _frame([row], TEST_COLUMNS)], ignore_index=True
        ).reset_index(drop=True)
        if table is not None and values is not None:
            self.tables[table] = pd.DataFrame(values)

    # -- files ----------------------------------------------------------------------------------
    def _write(self, directory: Path) -> None:
        from syntony._io_utils import write_json, write_netcdf

        if self.fitted is not None:
            write_netcdf(directory / "fitted.nc", with_provenance(self.fitted, self.provenance))
        write_table(directory / "params.tsv", self.params)
        write_table(directory / "models.tsv", self.models)
        write_table(directory / "tests.tsv", self.tests)
        layout = {}
        for name, frame in self.tables.items():
            write_table(directory / f"{name}.tsv", frame)
            layout[name] = [
                str(c)
                for c in frame.columns
                if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
            ]
        write_json(directory / "tables.json", layout)

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> MechanismResult:
        layout = json.loads((directory / "tables.json").read_text(encoding="utf-8"))
        fitted = directory / "fitted.nc"
        converged = "the optimiser did not converge"
        return cls(
            fitted=read_netcdf(fitted) if fitted.exists() else None,
            params=_text(read_table(directory / "params.tsv", strings=("parameter", "meaning"))),
            models=_text(read_table(directory / "models.tsv", strings=("model",))),
            tests=_text(read_table(directory / "tests.tsv", strings=("test", "reference"))),
            tables={
                name: read_table(directory / f"{name}.tsv", strings=tuple(strings))
                for name, strings in layout.items()
            },
            notes=[
                str(w) for w in manifest.get("warnings", []) if not str(w).startswith(converged)
            ],
            parameters=dict(manifest["parameters"]),
            provenance=dict(manifest["provenance"]),
        )

    def _build_report(self, report: Report) -> None:
        from syntony.physio.mechanisms import report as sections

        sections.build(self, report)


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty text cells read back as "" (TSV readers make them NaN)."""
    for c in _TEXT:
        if c in frame:
            frame[c] = frame[c].fillna("").astype(str)
    return frame


def _models_frame(rows: list[tuple[str, int, int, float, float, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=_MODEL_COLUMNS)


@dataclass(eq=False, repr=False)
class GatedFitResult(MechanismResult):
    """Synchrony-gated coupling: c, the gate g, and the test of g = 0."""

    kind = "gated-fit"
    title = "Synchrony-gated contagion fit"
    _main: ClassVar[str] = "g"

    LRT: ClassVar[str] = "likelihood ratio (g = 0)"
    PSEUDO: ClassVar[str] = "pseudo-group (signed root of the g = 0 likelihood ratio)"

    @classmethod
    def from_gated(cls, model: Any, *, parameters: dict, provenance: dict) -> GatedFitResult:
        k = len(model.specs_)
        models = _models_frame(
            [
                (
                    "g free",
                    k,
                    model.n_obs_,
                    model.loglik_,
                    model.aic_,
                    model.bic_,
                    model.converged_,
                ),
                (
                    "g = 0 (linear)",
                    k - 1,
                    model.n_obs_,
                    model.loglik_null_,
                    model.aic_null_,
                    model.bic_null_,
                    model.converged_,
                ),
            ]
        )
        tests = _frame(
            [
                {
                    "test": cls.LRT,
                    "statistic": model.lrt_stat_,
                    "df": 1.0,
                    "p_value": model.lrt_pvalue_,
                    "reference": "chi-square(1)",
                }
            ],
            TEST_COLUMNS,
        )
        weights = np.asarray(model.weights_, float)
        n = weights.shape[1]
        off = ~np.eye(n, dtype=bool)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the diagonal has no weight
            spread = np.nanstd(np.where(off[None], weights, np.nan), axis=(1, 2))
            mean_w = np.nanmean(np.where(np.isnan(model.omega_), np.nan, weights), axis=0)
        d = model.data_
        extra = {
            "weight_spread": (("time",), spread, {"long_name": "SD of the gate weights w_ij(t)"}),
        }
        tables = {
            "weights": pd.DataFrame(
                [
                    {
                        "perceiver": d.persons[i],
                        "perceived": d.persons[j],
                        "mean_weight": float(mean_w[i, j]),
                    }
                    for i in range(n)
                    for j in range(n)
                    if i != j
                ]
            ),
        }
        return cls(
            fitted=_fitted(model, extra),
            params=_frame(model.table_, _PARAM_COLUMNS),
            models=models,
            tests=tests,
            tables=tables,
            notes=list(model.notes_),
            parameters=parameters,
            provenance=provenance,
        )

    def summary(self) -> str:
        return text.gated_summary(self)

    @property
    def methods(self) -> str:
        return text.gated_methods(self)


@dataclass(eq=False, repr=False)
class SwitchingFitResult(MechanismResult):
    """Two group modes: baselines, switching rates, decoded mode probabilities, mode test."""

    kind = "switching-fit"
    title = "Mode-switching contagion fit"
    _main: ClassVar[str] = "b_gap"

    BOOT: ClassVar[str] = "parametric bootstrap (1 mode against 2)"
    PSEUDO: ClassVar[str] = "pseudo-group (likelihood ratio of 2 modes against 1)"

    @classmethod
    def from_switching(
        cls, model: Any, *, parameters: dict, provenance: dict
    ) -> SwitchingFitResult:
        k, k1 = len(model.specs_), len(model.one_mode_.specs_)
        models = _models_frame(
            [
                (
                    "2 modes",
                    k,
                    model.n_obs_,
                    model.loglik_,
                    model.aic_,
                    model.bic_,
                    model.converged_,
                ),
                (
                    "1 mode (linear)",
                    k1,
                    model.n_obs_,
                    model.loglik_one_,
                    model.aic_one_,
                    model.bic_one_,
                    model.one_mode_.converged_,
                ),
            ]
        )
        tests = _frame([], TEST_COLUMNS)
        tests = _frame(
            [
                {
                    "test": "likelihood ratio (2 modes against 1)",
                    "statistic": model.lrt_stat_,
                    "df": np.nan,
                    "p_value": np.nan,
                    "reference": "no chi-square: see the bootstrap",
                }
            ],
            TEST_COLUMNS,
        )
        extra = {
            "p_high": (
                ("time",),
                model.mode_prob_[:, 1],
                {"long_name": "P(high mode | all data), Kim's smoother"},
            ),
            "p_high_filtered": (
                ("time",),
                model.filtered_prob_[:, 1],
                {"long_name": "P(high mode | data so far)"},
            ),
        }
        return cls(
            fitted=_fitted(model, extra),
            params=_frame(model.table_, _PARAM_COLUMNS),
            models=models,
            tests=tests,
            notes=list(model.notes_),
            parameters=parameters,
            provenance=provenance,
        )

    @property
    def mode_probability(self) -> np.ndarray:
        """Smoothed P(high mode) over time."""
        return self.fitted["p_high"].to_numpy()

    def summary(self) -> str:
        return text.switching_summary(self)

    @property
    def methods(self) -> str:
        return text.switching_methods(self)


@dataclass(eq=False, repr=False)
class DirectedFitResult(MechanismResult):
    """Sender and receiver effects (or pair effects): who leads, who follows."""

    kind = "directed-fit"
    title = "Directed contagion fit"
    _main: ClassVar[str] = "c"

    PSEUDO: ClassVar[str] = "pseudo-group (likelihood ratio of one pull for all pairs)"

    @classmethod
    def from_directed(cls, model: Any, *, parameters: dict, provenance: dict) -> DirectedFitResult:
        k = len(model._specs)
        k0 = len(model._base_specs)
        models = _models_frame(
            [
                (
                    f"directed ({model.structure})",
                    k,
                    model.n_obs_,
                    model.loglik_,
                    model.aic_,
                    model.bic_,
                    model.converged_,
                ),
                (
                    "one pull (linear)",
                    k0,
                    model.n_obs_,
                    model.loglik_linear_,
                    model.aic_linear_,
                    model.bic_linear_,
                    model.converged_,
                ),
            ]
        )
        tests = _frame(
            [{**t, "reference": f"chi-square({int(t['df'])})"} for t in model.tests_], TEST_COLUMNS
        )
        d = model.data_
        n = d.n_persons
        pull = model.pull_
        tables = {
            "pulls": pd.DataFrame(
                [
                    {
                        "perceiver": d.persons[i],
                        "perceived": d.persons[j],
                        "pull": float(pull[i, j]),
                    }
                    for i in range(n)
                    for j in range(n)
                    if i != j and pull[i, j] != 0
                ]
            ),
        }
        if model.influence_:
            tables["influence"] = pd.DataFrame(model.influence_)
        return cls(
            fitted=_fitted(model),
            params=_frame(model.table_, _PARAM_COLUMNS),
            models=models,
            tests=tests,
            tables=tables,
            notes=list(model.notes_),
            parameters=parameters,
            provenance=provenance,
        )

    @property
    def influence(self) -> pd.DataFrame | None:
        """Per person: sender and receiver effects with intervals (sender-receiver only)."""
        return self.tables.get("influence")

    def summary(self) -> str:
        return text.directed_summary(self)

    @property
    def methods(self) -> str:
        return text.directed_methods(self)


@dataclass(eq=False, repr=False)
class PooledFitResult(MechanismResult):
    """Random-effects pooling over groups: mu, tau, and each group's shrunken estimate."""

    kind = "pooled-fit"
    title = "Pooled contagion fit over groups"
    _main: ClassVar[str] = "mu_c"

    @classmethod
    def from_pooled(cls, model: Any, *, parameters: dict, provenance: dict) -> PooledFitResult:
        rows, tests = [], []
        for p, re in model.pooled_.items():
            rows += [
                {
                    "parameter": f"mu_{p}",
                    "estimate": re["mu"],
                    "se": re["mu_se"],
                    "ci_low": re["mu_ci"][0],
                    "ci_high": re["mu_ci"][1],
                    "meaning": f"pooled {p} (Hartung-Knapp interval, t with {re['k'] - 1} df)",
                },
                {
                    "parameter": f"tau_{p}",
                    "estimate": re["tau"],
                    "se": np.nan,
                    "ci_low": re["tau_ci"][0],
                    "ci_high": re["tau_ci"][1],
                    "meaning": f"SD of {p} between groups (REML, Q-profile interval)",
                },
                {
                    "parameter": f"i2_{p}",
                    "estimate": re["i2"],
                    "se": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "meaning": "share of the spread due to real differences",
                },
            ]
            tests += [
                {
                    "test": f"likelihood ratio (tau_{p} = 0)",
                    "statistic": re["lrt_stat"],
                    "df": 1.0,
                    "p_value": re["lrt_pvalue"],
                    "reference": "50:50 mixture of chi-square(0) and chi-square(1)",
                },
                {
                    "test": f"Cochran's Q ({p} equal in all groups)",
                    "statistic": re["q"],
                    "df": float(re["q_df"]),
                    "p_value": re["q_pvalue"],
                    "reference": f"chi-square({re['q_df']})",
                },
            ]
        models = _models_frame(
            [
                (
                    "per group",
                    len(model.groups_),
                    int(sum(g["n_time"] * g["n_persons"] for g in model.groups_)),
                    float(sum(g["loglik"] for g in model.groups_)),
                    np.nan,
                    np.nan,
                    bool(all(g["converged"] for g in model.groups_)),
                )
            ]
        )
        notes = [
            f"{g['group']}: the optimiser did not converge"
            for g in model.groups_
            if not g["converged"]
        ] + list(getattr(model, "notes_", []))
        return cls(
            fitted=None,
            params=_frame(rows, _PARAM_COLUMNS),
            models=models,
            tests=_frame(tests, TEST_COLUMNS),
            tables={"groups": pd.DataFrame(model.groups_)},
            notes=notes,
            parameters=parameters,
            provenance=provenance,
        )

    @property
    def groups(self) -> pd.DataFrame:
        """One row per group: estimates, standard errors, shrunken estimates with intervals."""
        return self.tables["groups"]

    @property
    def warnings(self) -> list[str]:
        return list(self.notes)

    def summary(self) -> str:
        return text.pooled_summary(self)

    @property
    def methods(self) -> str:
        return text.pooled_methods(self)
