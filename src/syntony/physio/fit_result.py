"""The result of fitting the contagion coupling: estimates, tests, fitted series, report.

A :class:`ContagionFitResult` is what :meth:`syntony.physio.fit.ContagionModel.fit` leaves in
``result_`` and what :func:`syntony.physio.analysis.fit_contagion` returns (then with the
pseudo-group test). It saves as ``fitted.nc`` (observed and one-step-ahead predicted series),
``fit_params.tsv`` (estimates with standard errors and 95% intervals), ``fit_models.tsv``
(log-likelihood, AIC and BIC with and without coupling), ``fit_tests.tsv`` (likelihood-ratio and
pseudo-group tests) and, with pseudo-groups, ``fit_pseudo.tsv`` (their fitted couplings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from syntony.physio._files import read_netcdf, read_table, with_provenance, write_table
from syntony.physio.sync_result import few_draws, n_exceeded
from syntony.report import Report, Result, methods_text

__all__ = ["FILES", "ContagionFitResult", "lrt_sentence", "pseudo_sentence"]

FILES = {
    "fitted": "fitted.nc",
    "params": "fit_params.tsv",
    "models": "fit_models.tsv",
    "tests": "fit_tests.tsv",
    "pseudo": "fit_pseudo.tsv",
}
LRT = "likelihood ratio (c = 0)"
PSEUDO = "pseudo-group"
_TEST_COLUMNS = [
    "test",
    "statistic",
    "df",
    "p_value",
    "null_mean",
    "null_q025",
    "null_q975",
    "effect_size",
    "n",
    "overlap_s",
    "overlap_fraction",
]
_ALPHA = 0.05

_REFERENCES = [
    "Akaike H (1974). A new look at the statistical model identification. IEEE Transactions on "
    "Automatic Control 19(6):716-723. doi:10.1109/TAC.1974.1100705",
    "Bernieri FJ, Reznick JS, Rosenthal R (1988). Synchrony, pseudosynchrony, and dissynchrony: "
    "measuring the entrainment process in mother-infant interactions. Journal of Personality "
    "and Social Psychology 54(2):243-253. doi:10.1037/0022-3514.54.2.243",
    "Durbin J, Koopman SJ (2012). Time Series Analysis by State Space Methods, 2nd ed. Oxford "
    "University Press, Oxford. doi:10.1093/acprof:oso/9780199641178.001.0001",
    "Phipson B, Smyth GK (2010). Permutation p-values should never be zero: calculating exact "
    "p-values when permutations are randomly drawn. Statistical Applications in Genetics and "
    "Molecular Biology 9(1):39. doi:10.2202/1544-6115.1585",
    "Ramseyer F, Tschacher W (2010). Nonverbal synchrony or random coincidence? How to tell the "
    "difference. In: Esposito A et al. (eds) Development of Multimodal Interfaces: Active "
    "Listening and Synchrony. Lecture Notes in Computer Science 5967. Springer, Berlin, "
    "pp 182-196. doi:10.1007/978-3-642-12397-9_15",
    "Schwarz G (1978). Estimating the dimension of a model. The Annals of Statistics "
    "6(2):461-464. doi:10.1214/aos/1176344136",
    "Wilks SS (1938). The large-sample distribution of the likelihood ratio for testing "
    "composite hypotheses. The Annals of Mathematical Statistics 9(1):60-62. "
    "doi:10.1214/aoms/1177732360",
]

_MEANING = {
    "c": "coupling, the pull toward the perceived others (1/s)",
    "lambda": "return rate to the baseline (1/s)",
    "b": "shared baseline (data units, after centring)",
    "beta": "effect of the stimulus (data units per stimulus SD per s)",
    "q": "process noise variance",
    "r": "measurement noise variance",
}


def lrt_sentence(tests: pd.DataFrame, c: float) -> str:
    """One plain sentence on the likelihood-ratio test of ``c = 0``."""
    row = tests[tests["test"] == LRT].iloc[0]
    stat, p = float(row["statistic"]), float(row["p_value"])
    numbers = f"(chi-square = {stat:.3g}, p = {p:.2g})"
    if p > _ALPHA:
        return (
            f"The likelihood-ratio test does not reject c = 0 {numbers}: the data show no "
            f"coupling beyond what independent members produce (c = {c:.3g})."
        )
    if c > 0:
        return (
            f"The likelihood-ratio test prefers the coupled model {numbers}: each member is "
            f"pulled toward the others they perceive (c = {c:.3g})."
        )
    return (
        f"The likelihood-ratio test rejects c = 0 {numbers}, but c = {c:.3g} is negative: "
        "members drift away from the others, which contagion does not predict."
    )


def pseudo_sentence(tests: pd.DataFrame) -> str:
    """One plain sentence on the pseudo-group test (or that it was not run)."""
    rows = tests[tests["test"] == PSEUDO]
    if rows.empty:
        return (
            "No pseudo-group test was run; give another session on the same time base "
            "(pseudo_from=, --pseudo-from) to ask whether the shared stimulus explains the "
            "coupling."
        )
    row = rows.iloc[0]
    p, n = float(row["p_value"]), int(row["n"])
    k = n_exceeded(p, n)
    if p <= _ALPHA:
        return (
            f"The coupling is larger than in {k} of {n} pseudo-groups (p = {p:.2g}): the "
            "synchrony is not explained by the shared stimulus alone."
        )
    if k == n:
        head = f"The coupling is larger than in all {n} pseudo-groups (p = {p:.2g})"
        return f"{head}, but {few_draws(n)}"
    return (
        f"The coupling is larger than in {k} of {n} pseudo-groups (p = {p:.2g}): groups "
        "who share only the stimulus are coupled as strongly, so the stimulus may explain it."
    )


@dataclass(eq=False, repr=False)
class ContagionFitResult(Result):
    """The fitted contagion model of a group and its tests.

    Attributes
    ----------
    fitted : Dataset
        ``observed`` and ``predicted`` (one step ahead), dims (time, person).
    params : DataFrame
        parameter, estimate, se, ci_low, ci_high (95%).
    models : DataFrame
        The model with ``c`` free and with ``c = 0``: parameters, log-likelihood, AIC, BIC.
    tests : DataFrame
        The likelihood-ratio test of ``c = 0`` and, when run, the pseudo-group test
        (``statistic`` is chi-square for the first, the fitted ``c`` for the second).
    pseudo_values : ndarray or None
        The pseudo-groups' fitted couplings.
    notes : list of str
    parameters, provenance : dict
    """

    kind = "contagion-fit"
    title = "Contagion fit"

    fitted: xr.Dataset
    params: pd.DataFrame
    models: pd.DataFrame
    tests: pd.DataFrame
    pseudo_values: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_model(
        cls,
        model: Any,
        *,
        time: np.ndarray | None = None,
        persons: Sequence[str] | None = None,
        units: str = "",
        variable: str = "y",
        pseudo: dict[str, Any] | None = None,
        notes: Sequence[str] = (),
        parameters: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> ContagionFitResult:
        """Collect a fitted :class:`~syntony.physio.fit.ContagionModel` (and a pseudo-group
        test from :func:`~syntony.physio.fit.pseudo_group_fit_test`) into a result."""
        observed = np.asarray(model.observed_, float)
        n_t, n_p = observed.shape
        time = np.arange(n_t) * float(model.dt) if time is None else np.asarray(time, float)
        persons = [str(k) for k in range(n_p)] if persons is None else [str(p) for p in persons]
        fitted = xr.Dataset(
            {
                "observed": (("time", "person"), observed, {"units": units}),
                "predicted": (
                    ("time", "person"),
                    np.asarray(model.predicted_, float),
                    {"units": units, "long_name": "one-step-ahead prediction"},
                ),
            },
            coords={"time": ("time", time, {"units": "s"}), "person": persons},
            attrs={"variable": variable, "units": units, "dt": float(model.dt)},
        )
        params = pd.DataFrame(
            {
                "parameter": list(model.names_),
                "estimate": [float(model.params_[n]) for n in model.names_],
                "se": [float(model.se_[n]) for n in model.names_],
                "ci_low": [float(model.ci_[n][0]) for n in model.names_],
                "ci_high": [float(model.ci_[n][1]) for n in model.names_],
            }
        )
        k = len(model.names_)
        models = pd.DataFrame(
            {
                "model": ["c free", "c = 0"],
                "n_params": [k, k - 1],
                "n_obs": [int(model.n_obs_)] * 2,
                "loglik": [float(model.loglik_), float(model.loglik_null_)],
                "aic": [float(model.aic_), float(model.aic_null_)],
                "bic": [float(model.bic_), float(model.bic_null_)],
                "converged": [bool(model.converged_)] * 2,
            }
        )
        rows = [
            {
                "test": LRT,
                "statistic": float(model.lrt_stat_),
                "df": 1.0,
                "p_value": float(model.lrt_pvalue_),
            }
        ]
        values = None
        if pseudo is not None:
            values = np.asarray(pseudo["c_pseudo"], float)
            rows.append(
                {
                    "test": PSEUDO,
                    "statistic": float(pseudo["c_real"]),
                    "p_value": float(pseudo["p_value"]),
                    "null_mean": float(pseudo["c_pseudo_mean"]),
                    "null_q025": float(pseudo["c_pseudo_q025"]),
                    "null_q975": float(pseudo["c_pseudo_q975"]),
                    "effect_size": float(pseudo["effect_size"]),
                    "n": float(pseudo["n_groups"]),
                    "overlap_s": float(pseudo.get("overlap_s", np.nan)),
                    "overlap_fraction": float(pseudo.get("overlap_fraction", np.nan)),
                }
            )
        tests = pd.DataFrame(rows, columns=_TEST_COLUMNS)
        return cls(
            fitted=fitted,
            params=params,
            models=models,
            tests=tests,
            pseudo_values=values,
            notes=[*notes, *(n for n in getattr(model, "notes_", []) if n not in notes)],
            parameters=dict(parameters or {}),
            provenance=dict(provenance or {}),
        )

    # -- numbers --------------------------------------------------------------------------------
    @property
    def warnings(self) -> list[str]:
        notes = list(self.notes)
        if not bool(self.models["converged"].all()):
            notes.append("the optimiser did not converge; the estimates may be unreliable")
        return notes

    def estimate(self, name: str = "c") -> float:
        return float(self.params.set_index("parameter").loc[name, "estimate"])

    def interval(self, name: str = "c") -> tuple[float, float]:
        row = self.params.set_index("parameter").loc[name]
        return float(row["ci_low"]), float(row["ci_high"])

    def _test(self, name: str) -> dict[str, Any] | None:
        rows = self.tests[self.tests["test"] == name]
        return None if rows.empty else rows.iloc[0].to_dict()

    @property
    def lrt(self) -> dict[str, Any]:
        """The likelihood-ratio test of ``c = 0`` (statistic, df, p_value)."""
        return self._test(LRT)  # type: ignore[return-value]

    @property
    def pseudo_group(self) -> dict[str, Any] | None:
        """The pseudo-group test (``statistic`` is the real group's c), or None."""
        return self._test(PSEUDO)

    @property
    def persons(self) -> list[str]:
        return [str(p) for p in self.fitted["person"].to_numpy()]

    @property
    def converged(self) -> bool:
        return bool(self.models["converged"].all())

    # -- text -----------------------------------------------------------------------------------
    def summary(self) -> str:
        c, (lo, hi) = self.estimate("c"), self.interval("c")
        lrt = self.lrt
        free, null = self.models.iloc[0], self.models.iloc[1]
        lines = [
            f"c = {c:.4g} (95% CI {lo:.4g} to {hi:.4g}); LRT of c = 0: "
            f"chi2 = {lrt['statistic']:.3g}, p = {lrt['p_value']:.3g}",
            f"AIC {free['aic']:.1f} vs {null['aic']:.1f} (c = 0); "
            f"BIC {free['bic']:.1f} vs {null['bic']:.1f}",
        ]
        pseudo = self.pseudo_group
        if pseudo is not None:
            lines.append(
                f"pseudo-groups: c mean {pseudo['null_mean']:.4g}, p = {pseudo['p_value']:.3g}"
            )
        lines.append(lrt_sentence(self.tests, c))
        if pseudo is not None:
            lines.append(pseudo_sentence(self.tests))
        lines += [f"note: {n}" for n in self.warnings]
        return "\n".join(lines)

    @property
    def methods(self) -> str:
        p = self.parameters
        dt = float(self.fitted.attrs.get("dt", float("nan")))
        network = p.get("network", "complete")
        first = (
            f"Each person's series ({self.fitted.attrs.get('variable', 'y')}, "
            f"{len(self.persons)} people, one sample every {dt:g} s) was centred on its own mean "
            "and modelled as a linear-Gaussian state-space process: every member relaxes toward "
            "a shared baseline at rate lambda, is pulled toward the others they perceive at rate "
            f"c (the {'complete' if network == 'complete' else 'given'} perception network, "
            "through its random-walk normalised Laplacian)"
            + (
                ", and is driven by the shared stimulus with weight beta"
                if "beta" in set(self.params["parameter"])
                else ""
            )
            + "; process noise q and measurement noise r. The likelihood came from the Kalman "
            "filter (Durbin and Koopman, 2012) and was maximised by L-BFGS-B from moment-based "
            "starting values; standard errors come from the inverse of the numerical Hessian "
            "(log scale for lambda, q and r), with 95% Wald intervals."
        )
        second = (
            "Coupling was tested by refitting with c = 0 and comparing the two maximised "
            "log-likelihoods with the likelihood-ratio test (chi-square with 1 degree of freedom; "
            "Wilks, 1938), and by AIC (Akaike, 1974) and BIC (Schwarz, 1978)."
        )
        paragraphs = [first, second]
        if self.pseudo_group is not None:
            paragraphs.append(
                f"{int(self.pseudo_group['n'])} pseudo-groups (Bernieri et al., 1988; Ramseyer "
                "and Tschacher, 2010) of the group's size were drawn from the members of this "
                "session and of another session on the same time base (at least one from each), "
                "and c was fitted to each; the p-value is the share of pseudo-groups with c at "
                "least as large as the real group's, counted as (1 + k) / (1 + n) (Phipson and "
                "Smyth, 2010)."
            )
        return methods_text(*paragraphs, references=_REFERENCES)

    # -- files ----------------------------------------------------------------------------------
    def _write(self, directory: Path) -> None:
        from syntony._io_utils import write_netcdf

        write_netcdf(directory / FILES["fitted"], with_provenance(self.fitted, self.provenance))
        write_table(directory / FILES["params"], self.params)
        write_table(directory / FILES["models"], self.models)
        write_table(directory / FILES["tests"], self.tests)
        if self.pseudo_values is not None:
            write_table(directory / FILES["pseudo"], pd.DataFrame({"c_pseudo": self.pseudo_values}))

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> ContagionFitResult:
        pseudo = directory / FILES["pseudo"]
        return cls(
            fitted=read_netcdf(directory / FILES["fitted"]),
            params=read_table(directory / FILES["params"], strings=("parameter",)),
            models=read_table(directory / FILES["models"], strings=("model",)),
            tests=read_table(directory / FILES["tests"], strings=("test",)),
            pseudo_values=read_table(pseudo)["c_pseudo"].to_numpy() if pseudo.exists() else None,
            notes=[
                str(w)
                for w in manifest.get("warnings", [])
                if not str(w).startswith("the optimiser did not converge")
            ],
            parameters=dict(manifest["parameters"]),
            provenance=dict(manifest["provenance"]),
        )

    # -- report ---------------------------------------------------------------------------------
    def _build_report(self, report: Report) -> None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from syntony.physio import plots

        observed = self.fitted["observed"].transpose("time", "person").to_numpy()
        predicted = self.fitted["predicted"].transpose("time", "person").to_numpy()
        time = self.fitted["time"].to_numpy()
        units = str(self.fitted.attrs.get("units", ""))
        label = f"{self.fitted.attrs.get('variable', '')} ({units})" if units else ""

        section = report.section("What the tests say")
        section.text(lrt_sentence(self.tests, self.estimate("c")))
        section.text(pseudo_sentence(self.tests))

        section = report.section("Fitted against observed")
        fig, axes = plt.subplots(
            1, 2, figsize=(10.5, 4), layout="constrained", gridspec_kw={"width_ratios": [2, 1]}
        )
        plots.plot_fit(time, observed, predicted, ax=axes[0], ylabel=label)
        axes[0].set_title("Observed (solid) and one-step-ahead fitted (dashed)", fontsize=9)
        plots.plot_fit_scatter(observed, predicted, ax=axes[1], label=units)
        section.figure(
            fig,
            caption="Left: group mean and the first three people, observed and predicted one "
            "step ahead. Right: every prediction against its observation.",
        )

        section = report.section("Parameters")
        section.text(
            "; ".join(
                f"{n} is the {_MEANING[n]}" for n in self.params["parameter"] if n in _MEANING
            )
            + "."
        )
        section.table(self.params, caption="Estimates with 95% intervals", name="params")

        section = report.section("Tests")
        section.table(self.tests, caption="Tests of the coupling", name="tests")
        section.table(
            self.models,
            caption="Model comparison",
            name="models",
            float_format={"loglik": "{:.2f}", "aic": "{:.2f}", "bic": "{:.2f}"},
        )
        pseudo = self.pseudo_group
        if pseudo is not None and self.pseudo_values is not None:
            fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
            plots.plot_pseudo_fit(float(pseudo["statistic"]), self.pseudo_values, ax=ax)
            section.figure(
                fig, caption="Coupling fitted to each pseudo-group (grey) and to the real group."
            )
