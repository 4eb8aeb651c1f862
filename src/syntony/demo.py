"""The demonstration: the three parts of syntony on one page.

1. **Model** — a concert crowd simulated with the interoceptive-inference contagion loop
   (built-in scenario ``concert_crowd``): bodies, predictions, group synchrony, reach.
2. **Physio** — the same pipeline a physiologist runs on a real recording, applied to a small
   simulated audience whose social coupling is known: all-pairs windowed lagged synchrony
   against circular-shift surrogates, then the state-space contagion coupling fitted by
   maximum likelihood with its likelihood-ratio test. Once with the social loop on, once off.
3. **Meta** — an ALE meta-analysis with Monte Carlo FWE of the 21 pain experiments shipped
   with the package (from NiMARE's resources), with its cluster table and methods text.

Everything is written under one output directory with an ``index.html`` that links it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from syntony._io_utils import atomic_path, prepare_output_dir, write_json, write_text

__all__ = ["DemoResult", "run_demo"]

#: Settings of the simulated audience used for the synchrony and fitting demonstration.
_AUDIENCE = {
    "agents.n": 10,
    "network.kind": "complete",
    "simulation.steps": 3000,
    "simulation.dt": 0.1,
    "events.0.duration": 300.0,  # the music plays for the whole recording
    # The linear regime of MODEL.md ("Fitting recorded groups"): no mode switches, fixed
    # synchrony and trust, so the reduced state-space model is the right description.
    "modes.enabled": False,
    "perception.online_synchrony": False,
    "trust.learned": False,
}


@dataclass
class DemoResult:
    """Where the demonstration wrote its outputs and the numbers it measured."""

    directory: Path
    numbers: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"DemoResult({self.directory}, {len(self.numbers)} numbers)"


def _save_figure(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path.name


def _model_part(out: Path, seed: int) -> dict[str, Any]:
    from syntony.model import Scenario, simulate
    from syntony.model.plots import plot_figures

    scenario = Scenario.builtin("concert_crowd")
    ds = simulate(scenario, seed=seed)
    with atomic_path(out / "simulation.nc") as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    figures = [_save_figure(fig, out / f"{name}.png") for name, fig in plot_figures(ds).items()]
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "agents": int(ds.sizes["agent"]),
        "steps": int(ds.sizes["time"]) - 1,
        "final_group_synchrony": float(ds["synchrony"].isel(time=-1).mean()),
        "peak_reach": float(ds["reach"].max()),
        "convergence_time_s": float(ds["convergence_time"].mean()),
        "figures": figures,
    }


def _audience(seed: int, coupled: bool) -> tuple[np.ndarray, np.ndarray, float]:
    from syntony.model import Scenario, simulate

    overrides = dict(_AUDIENCE)
    if not coupled:
        overrides["agents.gamma_soc"] = 0.0
    scenario = Scenario.builtin("concert_crowd").with_overrides(overrides)
    ds = simulate(scenario, seed=seed)
    signals = ds["s"].isel(channel=0).transpose("time", "agent").to_numpy()
    music = ds["mean_drive"].isel(channel=0).to_numpy()
    return signals, music, float(scenario.simulation.dt)


def _physio_part(out: Path, seed: int, n_surrogates: int, n_pseudo: int) -> dict[str, Any]:
    import pandas as pd

    from syntony.physio import ContagionModel, SyncConfig, pseudo_group_fit_test, surrogate_test

    config = SyncConfig(window=20.0, step=10.0, max_lag=2.0)
    rows = []
    for coupled in (True, False):
        # Pseudo-groups mix this audience with listeners who hear the same music alone
        # (another seed, no social loop): they share the stimulus but not the social loop.
        signals, music, dt = _audience(seed, coupled)
        other_room, _, _ = _audience(seed + 1, coupled=False)
        test = surrogate_test(signals, 1.0 / dt, config, n_surrogates=n_surrogates, seed=seed)
        # The state-space fit works on a coarser grid: 1 sample per second, with the music
        # (the drive every listener shares) averaged over each second as the stimulus input.
        every = round(1.0 / dt)
        n = (signals.shape[0] - 1) // every
        stimulus = music[1 : n * every + 1].reshape(n, every).mean(axis=1)
        y, y_other = signals[: n * every : every], other_room[: n * every : every]
        model = ContagionModel(dt=every * dt).fit(y, stimulus)
        pseudo = pseudo_group_fit_test(
            y, y_other, n_groups=n_pseudo, dt=every * dt, u=stimulus, seed=seed, fitted=model
        )
        summary = test.summary()
        rows.append(
            {
                "social loop": "on" if coupled else "off (gamma_soc = 0)",
                "group synchrony": summary["observed"],
                "surrogate mean": summary["null_mean"],
                "surrogate p": summary["p_value"],
                "coupling c": model.params_["c"],
                "c 95% CI low": model.ci_["c"][0],
                "c 95% CI high": model.ci_["c"][1],
                "LRT p (c = 0)": model.lrt_pvalue_,
                "pseudo-group c mean": pseudo["c_pseudo_mean"],
                "pseudo-group p": pseudo["p_value"],
            }
        )
    table = pd.DataFrame(rows)
    write_text(out / "synchrony_and_fit.tsv", table.to_csv(sep="\t", index=False))
    return {
        "table": rows,
        "config": {"window_s": 20.0, "step_s": 10.0, "max_lag_s": 2.0},
        "n_surrogates": n_surrogates,
        "n_pseudo_groups": n_pseudo,
    }


def _meta_part(out: Path, seed: int, n_iters: int) -> dict[str, Any]:
    from functools import partial

    from syntony.meta.ale import ALE
    from syntony.meta.atlas import label_coordinates
    from syntony.meta.readers import read_studyset

    source = resources.files("syntony") / "examples" / "nidm_pain_dset.json"
    with resources.as_file(source) as path:
        studyset = read_studyset(path)
    labeller = partial(label_coordinates, atlas="harvard_oxford")
    estimator = ALE(n_iters=n_iters, random_state=seed, labeller=labeller).fit(studyset)
    result = estimator.result_
    result.save(out, force=True)
    clusters = result.clusters
    return {
        "studyset": repr(studyset),
        "n_iters": n_iters,
        "cluster_forming_threshold": float(result.threshold),
        "n_clusters": len(clusters),
        "clusters": clusters.head(10).to_dict(orient="records"),
        "methods": result.methods,
    }


def run_demo(
    out: str | Path,
    *,
    seed: int = 0,
    n_iters: int = 1000,
    n_surrogates: int = 100,
    n_pseudo_groups: int = 40,
    force: bool = False,
    log: Any = print,
) -> DemoResult:
    """Run the demonstration and write it to ``out``.

    Parameters
    ----------
    out : path
        Output directory (``model/``, ``physio/``, ``meta/`` and ``index.html``).
    seed : int
        Seed of every random step; the same seed gives the same numbers.
    n_iters : int
        Monte Carlo iterations of the ALE family-wise error correction.
    n_surrogates : int
        Circular-shift surrogates for the synchrony test.
    n_pseudo_groups : int
        Pseudo-groups (listeners mixed across two rooms hearing the same music) for the test of
        the fitted coupling.
    force : bool
        Replace the outputs of an earlier run.
    log : callable
        Receives one line per finished part (``print`` by default; a no-op to stay quiet).
    """
    root = prepare_output_dir(out, force=force, outputs=["index.html", "demo.json"])
    result = DemoResult(root)
    parts = (
        ("model", lambda d: _model_part(d, seed)),
        ("physio", lambda d: _physio_part(d, seed, n_surrogates, n_pseudo_groups)),
        ("meta", lambda d: _meta_part(d, seed, n_iters)),
    )
    for name, run in parts:
        start = time.perf_counter()
        directory = prepare_output_dir(root / name, force=True)
        result.numbers[name] = run(directory)
        result.seconds[name] = round(time.perf_counter() - start, 1)
        log(f"{name}: done in {result.seconds[name]:.1f} s -> {directory}")
    write_json(
        root / "demo.json", {"numbers": result.numbers, "seconds": result.seconds, "seed": seed}
    )
    write_text(root / "index.html", _render(result, seed))
    log(f"open {root / 'index.html'}")
    return result


def _render(result: DemoResult, seed: int) -> str:
    import jinja2

    from syntony import __version__

    template = jinja2.Environment(
        loader=jinja2.PackageLoader("syntony", "report/templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    ).get_template("demo.html.j2")
    return template.render(
        numbers=result.numbers, seconds=result.seconds, seed=seed, version=__version__
    )
