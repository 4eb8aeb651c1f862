"""The results of the model part: a simulation, a sweep and a run of the crowd filter.

Each is a :class:`syntony.report.Result`: it saves into a directory (the Dataset as NetCDF,
the scenario as TOML, summary tables as TSV with a header), loads back, prints a summary and
draws its report (figures in :mod:`syntony.model.plots`, sections in
:mod:`syntony.model.report`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony.errors import InputError
from syntony.report import Report, Result

if TYPE_CHECKING:
    import xarray as xr

    from syntony.model.scenario import Scenario

__all__ = [
    "CrowdFilterResult",
    "SimulationResult",
    "SweepResult",
    "crowd_filter_table",
    "read_dataset",
    "run_summaries",
    "write_dataset",
]

#: Dataset attribute listing the attributes stored as JSON strings (NetCDF holds flat values).
JSON_ATTRS = "json_attrs"


# ------------------------------------------------------------------------------ NetCDF
def _netcdf_ready(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iuf"


def _flat_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    encoded = []
    for key, value in attrs.items():
        if _netcdf_ready(value):
            out[key] = value
        else:
            out[key] = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value)
            encoded.append(key)
    if encoded:
        out[JSON_ATTRS] = json.dumps(encoded)
    return out


def _restore_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    out = dict(attrs)
    for key in json.loads(out.pop(JSON_ATTRS, "[]")):
        out[key] = json.loads(out[key])
    return out


def write_dataset(path: str | Path, dataset: xr.Dataset) -> Path:
    """Write ``dataset`` as NetCDF; attributes NetCDF cannot hold are stored as JSON strings."""
    from syntony._io_utils import write_netcdf

    flat = dataset.copy(deep=False)
    flat.attrs = _flat_attrs(dataset.attrs)
    for name, variable in dataset.variables.items():
        flat.variables[name].attrs = _flat_attrs(variable.attrs)
    return write_netcdf(path, flat)


def read_dataset(path: str | Path) -> xr.Dataset:
    """Read a Dataset written by :func:`write_dataset` into memory (the file is closed)."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise InputError("missing NetCDF file of the result", source=path)
    try:
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            dataset = opened.load()
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable NetCDF file ({exc})", source=path) from None
    dataset.attrs = _restore_attrs(dataset.attrs)
    for variable in dataset.variables.values():
        variable.attrs = _restore_attrs(variable.attrs)
    return dataset


def _write_table(path: Path, table: pd.DataFrame) -> None:
    # pandas writes floats with repr, so the numbers read back exactly.
    table.to_csv(path, sep="\t", index=False, na_rep="NaN")


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError("missing table of the result", source=path)
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["NaN"])


# ---------------------------------------------------------------------------- summaries
def _summary_time(ds: xr.Dataset) -> np.ndarray:
    return ds["summary_time"].values if "summary_time" in ds.coords else ds["time"].values


def _final(values: np.ndarray) -> float:
    return float(values[-1])


def _nanmean(values: np.ndarray) -> float:
    """Mean over the finite values (NaN when there are none: R(t) of a network without edges)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def run_summaries(ds: xr.Dataset) -> pd.DataFrame:
    """The numbers that sum up one run, one row per affect channel (one row for dyad/filter).

    Agent loop: final and time-averaged group synchrony R, final dispersion D, peak reach f
    and its time, time-averaged reach, convergence time, and the mean and peak fraction of the
    crowd in the defensive mode. Dyad: final and mean rho and omega, the final and mean gap
    between the two predictions. Crowd filter: first and final mean gain, final mean prior
    variance and covariance, final mean prediction.
    """
    model = ds.attrs.get("model", "agents")
    if model == "dyad":
        gap = np.abs(ds["mu"].values[:, 0] - ds["mu"].values[:, 1])
        row = {
            "final_rho": _final(ds["rho"].values),
            "mean_rho": float(np.mean(ds["rho"].values)),
            "final_omega": _final(ds["omega"].values),
            "mean_omega": float(np.mean(ds["omega"].values)),
            "final_prediction_gap": _final(gap),
            "mean_prediction_gap": float(np.mean(gap)),
        }
        return pd.DataFrame([row])
    if model == "crowd_filter":
        return pd.DataFrame([_crowd_row(ds)])
    time = _summary_time(ds)
    fraction = ds["fraction_defensive"].values
    rows = []
    for k, channel in enumerate(ds["channel"].values):
        reach = ds["reach"].values[:, k]
        synchrony = ds["synchrony"].values[:, k]
        peak = int(np.argmax(reach))
        rows.append(
            {
                "channel": str(channel),
                "final_synchrony": _final(synchrony),
                "mean_synchrony": _nanmean(synchrony),
                "final_dispersion": _final(ds["dispersion"].values[:, k]),
                "peak_reach": float(reach[peak]),
                "time_of_peak_reach": float(time[peak]),
                "mean_reach": float(np.mean(reach)),
                "convergence_time": float(ds["convergence_time"].values[k]),
                "mean_fraction_defensive": float(np.mean(fraction)),
                "peak_fraction_defensive": float(np.max(fraction)),
            }
        )
    return pd.DataFrame(rows)


def _crowd_row(ds: xr.Dataset) -> dict[str, float]:
    return {
        "first_mean_gain": float(ds["mean_gain"].values[0]),
        "final_mean_gain": _final(ds["mean_gain"].values),
        "final_prior_var": float(ds["prior_var"].values[-1].mean()),
        "final_prior_cov": _final(ds["mean_prior_cov"].values),
        "final_mean_mu": float(ds["mu"].values[-1].mean()),
    }


def crowd_filter_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per step of the crowd filter: gain, prior variance and covariance, mean mu.

    ``prior_correlation`` is the mean covariance over the mean variance: how alike two
    people's priors still are.
    """
    var = ds["prior_var"].values.mean(axis=1)
    cov = ds["mean_prior_cov"].values
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = cov / var
    return pd.DataFrame(
        {
            "time": ds["time"].values.astype(float),
            "mean_gain": ds["mean_gain"].values.astype(float),
            "mean_prior_var": var,
            "mean_prior_cov": cov,
            "prior_correlation": correlation,
            "mean_mu": ds["mu"].values.mean(axis=1),
        }
    )


def _seed_text(seed: dict[str, Any]) -> str:
    path = "/".join(map(str, seed.get("path", ())))
    return f"seed {seed.get('entropy')}" + (f" (stream {path})" if path else "")


# --------------------------------------------------------------------------- simulation
@dataclass(eq=False, repr=False)
class SimulationResult(Result):
    """One run of a scenario, as :func:`syntony.model.simulate` returns it.

    Attributes
    ----------
    dataset : xarray.Dataset
        The run (see :func:`~syntony.model.simulate` for its variables).
    scenario : Scenario
        The resolved scenario that was run.
    seed : dict
        The seed record (:meth:`syntony._rng.SeedTree.record`): entropy, spawn key, path.
    provenance : dict
        Software, versions, time and command that produced the run.
    """

    kind = "simulation"
    title = "Simulation of the contagion model"

    dataset: xr.Dataset
    scenario: Scenario
    seed: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        """``agents``, ``dyad`` or ``crowd_filter``."""
        return self.scenario.model

    @property
    def parameters(self) -> dict[str, Any]:
        return {"scenario": self.scenario.to_dict(), "seed": self.seed}

    @property
    def methods(self) -> str:
        from syntony.model.report import simulation_methods

        return simulation_methods(self.scenario, self.dataset)

    def summaries(self) -> pd.DataFrame:
        """The numbers that sum up the run (:func:`run_summaries`)."""
        return run_summaries(self.dataset)

    def summary(self) -> str:
        s, ds = self.scenario, self.dataset
        steps, dt = s.simulation.steps, s.simulation.dt
        span = f"{steps} steps of {dt:g} s ({steps * dt:g} s), {_seed_text(self.seed)}"
        table = self.summaries()
        if self.model == "dyad":
            row = table.iloc[0]
            return (
                f"{s.name}: the published dyad, {span}\n"
                f"final rho {row.final_rho:.3f}, omega {row.final_omega:.3f}; "
                f"gap between the two predictions {row.final_prediction_gap:.3f}"
            )
        if self.model == "crowd_filter":
            row = table.iloc[0]
            return (
                f"{s.name}: crowd filter of {ds.sizes['agent']} people, {span}\n"
                f"mean gain {row.first_mean_gain:.3g} -> {row.final_mean_gain:.3g}; prior "
                f"variance {row.final_prior_var:.3g} and covariance {row.final_prior_cov:.3g} "
                "at the end"
            )
        per = "; ".join(
            f"{r.channel} {r.final_synchrony:.3f}" for r in table.itertuples(index=False)
        )
        reach = "; ".join(
            f"{r.channel} {r.peak_reach:.2f} at {r.time_of_peak_reach:g} s"
            for r in table.itertuples(index=False)
        )
        conv = "; ".join(
            f"{r.channel} {r.convergence_time:.1f} s"
            if np.isfinite(r.convergence_time)
            else f"{r.channel} not reached"
            for r in table.itertuples(index=False)
        )
        first = table.iloc[0]
        return (
            f"{s.name}: {s.agents.n} agents, {span}\n"
            f"final group synchrony R: {per}\n"
            f"peak reach f: {reach}; convergence time: {conv}\n"
            f"defensive mode: mean fraction {first.mean_fraction_defensive:.3f}, "
            f"peak {first.peak_fraction_defensive:.3f}"
        )

    def _write(self, directory: Path) -> None:
        write_dataset(directory / "simulation.nc", self.dataset)
        (directory / "scenario.toml").write_text(self.scenario.to_toml(), encoding="utf-8")
        _write_table(directory / "summary.tsv", self.summaries())

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> SimulationResult:
        from syntony.model.scenario import Scenario

        return cls(
            dataset=read_dataset(directory / "simulation.nc"),
            scenario=Scenario.from_file(directory / "scenario.toml"),
            seed=dict(manifest["parameters"].get("seed", {})),
            provenance=dict(manifest["provenance"]),
            warnings=list(manifest.get("warnings", [])),
        )

    def _build_report(self, report: Report) -> None:
        from syntony.model.report import build_simulation_report

        build_simulation_report(self, report)


# -------------------------------------------------------------------------------- sweep
@dataclass(eq=False, repr=False)
class SweepResult(Result):
    """A scenario run over a grid of parameter values, with replicates.

    Attributes
    ----------
    dataset : xarray.Dataset
        The summary time series (variables without an agent, edge or snapshot dimension,
        unless chosen otherwise), with one dimension per swept key (named by the dotted key)
        and ``replicate``.
    runs : pandas.DataFrame
        One row per run (and channel): the swept values, ``replicate``, and the numbers of
        :func:`run_summaries`.
    scenario : Scenario
        The base scenario the grid overrides.
    grid : dict
        Dotted keys -> lists of values.
    replicates : int
        Runs per grid point; run (k, r) has seed stream ``point/k/replicate/r``.
    seed, provenance : dict
    """

    kind = "sweep"
    title = "Parameter sweep of the contagion model"

    dataset: xr.Dataset
    runs: pd.DataFrame
    scenario: Scenario
    grid: dict[str, list[Any]]
    replicates: int
    seed: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    store: Path | None = None

    @property
    def keys(self) -> list[str]:
        """The swept dotted keys, in grid order."""
        return list(self.grid)

    @property
    def summary_names(self) -> list[str]:
        """The per-run numbers (columns of :attr:`runs` that are neither keys nor labels)."""
        skip = {*self.keys, "replicate", "channel"}
        return [c for c in self.runs.columns if c not in skip]

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.to_dict(),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "replicates": self.replicates,
            "seed": self.seed,
        }

    @property
    def methods(self) -> str:
        from syntony.model.report import sweep_methods

        return sweep_methods(self)

    def point_table(self) -> pd.DataFrame:
        """Each summary per grid point (and channel): mean, smallest and largest over replicates.

        One row per (grid point, channel, summary), with columns ``mean``, ``min``, ``max`` and
        ``n`` (the replicates with a finite value; a convergence time that was never reached
        is NaN).
        """
        by = [*self.keys, *(["channel"] if "channel" in self.runs else [])]
        long = self.runs.melt(id_vars=[*by, "replicate"], value_vars=self.summary_names,
                              var_name="summary")  # fmt: skip
        long["summary"] = pd.Categorical(long["summary"], self.summary_names, ordered=True)
        grouped = long.groupby([*by, "summary"], sort=False, observed=True, dropna=False)
        table = grouped["value"].agg(["mean", "min", "max", "count"]).reset_index()
        table["summary"] = table["summary"].astype(str)
        return table.rename(columns={"count": "n"})

    def summary(self) -> str:
        n_points = int(np.prod([len(v) for v in self.grid.values()]))
        grid = ", ".join(f"{k} in {list(v)}" for k, v in self.grid.items())
        lines = [
            f"{self.scenario.name}: {n_points} grid points x {self.replicates} replicate(s) = "
            f"{n_points * self.replicates} runs, {_seed_text(self.seed)}",
            f"grid: {grid}",
        ]
        points = self.point_table()
        name = self.summary_names[0]
        rows = points[points["summary"] == name]
        lines.append(
            f"{name}: {rows['mean'].iloc[0]:.3g} at the first grid point, "
            f"{rows['mean'].iloc[-1]:.3g} at the last (means over replicates)"
        )
        return "\n".join(lines)

    def _write(self, directory: Path) -> None:
        # One Zarr store: copied as written run by run when the sweep had one (never loaded
        # whole into memory), else written from the Dataset.
        if self.store is not None and Path(self.store).exists():
            import shutil

            shutil.copytree(self.store, directory / "sweep.zarr")
        else:
            dataset = self.dataset.copy()
            for name in dataset.variables:
                dataset[name].encoding = {}
            dataset.to_zarr(directory / "sweep.zarr", mode="w-", consolidated=False, zarr_format=2)
        (directory / "scenario.toml").write_text(self.scenario.to_toml(), encoding="utf-8")
        _write_table(directory / "runs.tsv", self.runs)
        _write_table(directory / "points.tsv", self.point_table())

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> SweepResult:
        from syntony.model.scenario import Scenario

        parameters = manifest["parameters"]
        runs = _read_table(directory / "runs.tsv")
        if "channel" in runs:
            runs["channel"] = runs["channel"].astype(str)
        import xarray as xr

        zarr_path = directory / "sweep.zarr"
        if zarr_path.exists():
            dataset = xr.open_zarr(zarr_path, consolidated=False)
            dataset = dataset.drop_vars(
                [n for n in dataset.data_vars if n == "done" or str(n).startswith("summary_")]
            )
            for name in ("sweep_fingerprint", "summary_columns"):
                dataset.attrs.pop(name, None)
        else:  # saved before sweeps were Zarr stores
            dataset = read_dataset(directory / "sweep.nc")
        return cls(
            dataset=dataset,
            runs=runs,
            scenario=Scenario.from_file(directory / "scenario.toml"),
            grid={k: list(v) for k, v in parameters["grid"].items()},
            replicates=int(parameters["replicates"]),
            seed=dict(parameters.get("seed", {})),
            provenance=dict(manifest["provenance"]),
            warnings=list(manifest.get("warnings", [])),
        )

    def _build_report(self, report: Report) -> None:
        from syntony.model.report import build_sweep_report

        build_sweep_report(self, report)


# ------------------------------------------------------------------------- crowd filter
@dataclass(eq=False, repr=False)
class CrowdFilterResult(Result):
    """A run of the crowd filter, eqs (3)-(5), as :meth:`CrowdFilter.run` returns it.

    Attributes
    ----------
    dataset : xarray.Dataset
        ``mu``, ``prior_var`` (time, agent), ``mean_gain`` and ``mean_prior_cov`` (time),
        the observations ``s`` and, when asked for, the final covariance ``cov``.
    parameters, provenance : dict
    """

    kind = "crowd-filter"
    title = "Crowd filter: shared priors over time"

    dataset: xr.Dataset
    parameters: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def methods(self) -> str:
        from syntony.model.report import crowd_filter_methods

        return crowd_filter_methods(self.dataset)

    def table(self) -> pd.DataFrame:
        """Gain, prior variance and covariance, mean prediction at every step."""
        return crowd_filter_table(self.dataset)

    def summary(self) -> str:
        ds = self.dataset
        row = _crowd_row(ds)
        return (
            f"Crowd filter ({ds.attrs.get('algorithm', '?')}): {ds.sizes['agent']} people, "
            f"{ds.sizes['time']} steps\n"
            f"mean gain {row['first_mean_gain']:.3g} -> {row['final_mean_gain']:.3g}; "
            f"prior variance {row['final_prior_var']:.3g} and covariance "
            f"{row['final_prior_cov']:.3g} at the end"
        )

    def _write(self, directory: Path) -> None:
        write_dataset(directory / "crowd_filter.nc", self.dataset)
        _write_table(directory / "gains.tsv", self.table())

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> CrowdFilterResult:
        return cls(
            dataset=read_dataset(directory / "crowd_filter.nc"),
            parameters=dict(manifest["parameters"]),
            provenance=dict(manifest["provenance"]),
            warnings=list(manifest.get("warnings", [])),
        )

    def _build_report(self, report: Report) -> None:
        from syntony.model.report import build_crowd_filter_report

        build_crowd_filter_report(self, report)
