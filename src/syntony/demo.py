"""The demonstration: syntony's three parts on real data, offline, each part a saved result.

``syntony demo --out DIR`` (or :func:`run_demo`) writes one folder per part, each holding a
result (its files, ``result.json`` and ``report.html``), and ``DIR/index.html`` linking them:

1. **A live concert.** Respiration of two audiences hearing the same piece (shipped with the
   package, :func:`syntony.datasets.load_concert`): synchrony of breathing rate against shifted
   series and against pseudo-groups drawn from both performances, and the contagion coupling
   fitted to each audience with its likelihood-ratio and pseudo-group tests.
2. **A simulated audience with known coupling**, analysed the same way, with the social loop
   on and off: what the numbers look like when the answer is known.
3. **Meta-analysis.** ALE of the 21 pain experiments; for the question of Fu et al. (2025), the
   ALE of two NeuroQuery selections (mimicry, contagion), their conjunction and contrast, and a
   MACM when the NeuroQuery database is on this machine.
4. **The model.** One built-in scenario, and the predictions P1–P7 checked by small seeded
   simulations.

Every part draws from its own named child of one seed tree, so the same seed writes the same
numbers whichever parts run. The meta-analyses use the streams of ``syntony workflow fu2025``
under the child ``fu2025``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from syntony._rng import SeedTree
from syntony.errors import ParameterError
from syntony.report import Result

__all__ = ["DemoResult", "DemoSettings", "run_demo"]


@dataclass(frozen=True)
class DemoSettings:
    """How much work each part does (the defaults take about 3 minutes on 2 quiet cores).

    Parameters
    ----------
    n_iters : int
        Monte Carlo iterations of each ALE's family-wise error correction.
    n_permutations : int
        Label permutations of the mimicry vs contagion contrast (1,000 or more for p < 0.001).
    n_surrogates, n_pseudo_groups : int
        Surrogates (circular-shift and segment-shuffle) and pseudo-groups of each synchrony test.
    n_fit_pseudo_groups : int
        Pseudo-groups of each coupling test (each one is a model fit).
    n_replicates : int
        Seeds per prediction P1–P7.
    macm_iters : int
        Monte Carlo iterations of the MACM (hundreds of articles make each one costly).
    macm_radius_mm : float
        Radius of the MACM seed sphere (MNI mm).
    """

    n_iters: int = 500
    n_permutations: int = 1000
    n_surrogates: int = 200
    n_pseudo_groups: int = 200
    n_fit_pseudo_groups: int = 40
    n_replicates: int = 3
    macm_iters: int = 100
    macm_radius_mm: float = 4.0


@dataclass
class DemoResult:
    """What the demonstration wrote: one saved result per part, and the index page."""

    directory: Path
    results: dict[str, Result] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.directory / "index.html"

    def __repr__(self) -> str:
        return f"DemoResult({self.directory}, {len(self.results)} parts)"


@dataclass(frozen=True)
class _Part:
    name: str
    group: str
    title: str
    description: str
    run: Callable[[], Result | None]


_CONCERT = "Live concert: two audiences breathing"
_SIMULATED = "Simulated audience with known coupling"
_META = "Meta-analysis: pain, mimicry and contagion"
_MODEL = "The model: a scenario and the predictions P1–P7"

#: The simulated audience: ten listeners of the concert_crowd scenario in the linear regime
#: the fit assumes (no mode switches, fixed synchrony and trust), music for the whole 300 s.
_AUDIENCE = {
    "agents.n": 10,
    "network.kind": "complete",
    "simulation.steps": 3000,
    "simulation.dt": 0.1,
    "events.0.duration": 300.0,
    "modes.enabled": False,
    "perception.online_synchrony": False,
    "trust.learned": False,
}


def _audience(tree: SeedTree, coupled: bool, label: str) -> tuple[Any, Any]:
    """A simulated audience as a recording (time, person, channel) and the music it heard."""
    import numpy as np
    import xarray as xr

    from syntony.model import Scenario, simulate

    overrides = {**_AUDIENCE, **({} if coupled else {"agents.gamma_soc": 0.0})}
    ds = simulate(Scenario.builtin("concert_crowd").with_overrides(overrides), seed=tree).dataset
    signal = ds["s"].isel(channel=0).transpose("time", "agent").to_numpy()
    time_s = ds["time"].to_numpy()
    recording = xr.Dataset(
        {"signal": (("time", "person", "channel"), signal[:, :, None])},
        coords={
            "time": ("time", time_s, {"units": "s"}),
            "person": [f"{label}{k:02d}" for k in range(signal.shape[1])],
            "channel": ["arousal"],
            "units": ("channel", ["a.u."]),
        },
        attrs={
            "sampling_rate": 1.0 / float(np.median(np.diff(time_s))),
            "source": f"simulated audience ({'social loop on' if coupled else 'no social loop'})",
            "units": "a.u.",
        },
    )
    music = xr.DataArray(
        ds["mean_drive"].isel(channel=0).to_numpy(), dims=("time",), coords={"time": time_s}
    )
    return recording, music


class _Analyses:
    """Every part's analysis; results other parts reuse (the two main effects) are kept."""

    def __init__(self, settings: DemoSettings, tree: SeedTree, database: Path | None) -> None:
        from syntony.meta.analyses import peak_labeller

        self.settings, self.tree, self.database = settings, tree, database
        self.fu = tree.child("fu2025")
        self.labeller = peak_labeller("harvard_oxford")
        self._kept: dict[str, Any] = {}

    def _once(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._kept:
            self._kept[key] = compute()
        return self._kept[key]

    # -- physiology -----------------------------------------------------------------------------
    def physio(self, what: str, room: str, other: str) -> Result:
        """Synchrony (features at 4 Hz) or the coupling fit (1 Hz) of ``room``, with pseudo-groups
        from ``other``: a concert performance ("Sae1", "Sae2") or a simulated room."""
        from syntony.datasets import load_concert
        from syntony.physio import analyze_synchrony, fit_contagion

        s = self.settings
        music = None
        if room in ("Sae1", "Sae2"):
            tree, signal = self.tree.child("concert", room, what), "respiration"
            recording, pseudo = load_concert(room), load_concert(other)
        else:
            # The other room hears the same music with no social loop: it shares the stimulus,
            # not the contagion.
            tree, signal = self.tree.child("audience", room), "raw"
            recording, music = _audience(tree.child("room"), room == "coupled", "L")
            pseudo, _ = _audience(tree.child("other-room"), False, "M")
            tree = tree.child("analysis", what)
        if what == "synchrony":
            return analyze_synchrony(
                recording, signal=signal, fs=4.0, n_surrogates=s.n_surrogates,
                pseudo_from=pseudo, n_pseudo_groups=s.n_pseudo_groups, seed=tree,
            )  # fmt: skip
        return fit_contagion(
            recording, signal=signal, fs=1.0, stimulus=music, pseudo_from=pseudo,
            n_pseudo_groups=s.n_fit_pseudo_groups, seed=tree,
        )  # fmt: skip

    # -- meta-analysis ----------------------------------------------------------------------------
    def ale(self, name: str) -> Result:
        from syntony.datasets import load_studyset
        from syntony.meta.ale import ALE
        from syntony.meta.analyses import cluster_threshold_rule
        from syntony.meta.null import auto_null

        n = self.settings.n_iters
        if name == "pain":  # task experiments with sample sizes: the analytic threshold
            seed, rule = self.tree.child("ale", "pain"), "analytic"
        else:  # database articles with many overlapping foci: Monte Carlo, as the workflow
            seed, rule = (
                self.fu.child("main-effect", "a" if name == "mimicry" else "b"),
                "monte-carlo",
            )
        est = ALE(
            n_iters=n, random_state=seed, labeller=self.labeller, null_method=auto_null,
            cluster_threshold=cluster_threshold_rule(rule, n),
        )  # fmt: skip
        return self._once(name, lambda: est.fit(load_studyset(name)).result_)

    def conjunction(self) -> Result:
        from syntony.meta.conjunction import conjunction

        mains = [self.ale("mimicry"), self.ale("contagion")]
        return self._once(
            "conjunction",
            lambda: conjunction(
                mains, names=["mimicry", "contagion"], labeller=self.labeller,
                keep_main_effects=False,
            ),
        )  # fmt: skip

    def contrast(self) -> Result:
        from syntony.datasets import load_studyset
        from syntony.meta.contrast import ALEContrast

        est = ALEContrast(
            n_permutations=self.settings.n_permutations, random_state=self.fu,
            labeller=self.labeller,
        )  # fmt: skip
        return est.fit(
            load_studyset("mimicry"), load_studyset("contagion"),
            main_a=self.ale("mimicry"), main_b=self.ale("contagion"),
        ).result_  # fmt: skip

    def seed_region(self) -> Any:
        """A small sphere at the peak of the conjunction's largest cluster or, when the two sets
        share no significant voxel, of the contagion set's largest significant cluster (the
        MACM of a whole cluster takes thousands of articles)."""
        from syntony.meta.roi import sphere_roi

        table, source = self.conjunction().clusters, "conjunction"
        if table.empty:
            table, source = self.ale("contagion").clusters, "contagion"
            if "significant" in table.columns:
                table = table[table["significant"].fillna(False).astype(bool)]
        if table.empty:
            return None
        peak = [float(table.iloc[0][f"peak_{axis}"]) for axis in "xyz"]
        radius = self.settings.macm_radius_mm
        return sphere_roi(peak, radius, name=f"{source}-peak-r{radius:g}")

    def macm(self) -> Result | None:
        from syntony.meta.analyses import macm_estimator
        from syntony.meta.databases import load_neuroquery
        from syntony.meta.macm import macm

        roi = self.seed_region()
        if roi is None:
            return None
        est = macm_estimator(self.settings.macm_iters, labeller=self.labeller)
        return macm(
            roi, load_neuroquery(self.database), default_n=20, estimator=est,
            random_state=self.fu.child("macm", roi.name),
        )  # fmt: skip

    # -- model ------------------------------------------------------------------------------------
    def scenario(self) -> Result:
        from syntony.model import Scenario, simulate

        return simulate(Scenario.builtin("concert_crowd"), seed=self.tree.child("scenario"))

    def predictions(self) -> Result:
        from syntony.model.predictions import check_predictions

        n = self.settings.n_replicates
        return check_predictions(n_replicates=n, seed=self.tree.child("predictions"))


def _parts(settings: DemoSettings, tree: SeedTree, database: Path | None) -> list[_Part]:
    run = _Analyses(settings, tree, database)
    parts = []
    for room, other in (("Sae1", "Sae2"), ("Sae2", "Sae1")):
        parts += [
            _Part(
                f"concert-{room.lower()}-synchrony", _CONCERT,
                f"Synchrony of breathing, performance {room}",
                f"15 listeners of performance {room}; pseudo-groups are drawn from {room} and "
                f"{other}, whose audiences heard the same music in different rooms.",
                lambda r=room, o=other: run.physio("synchrony", r, o),
            ),
            _Part(
                f"concert-{room.lower()}-fit", _CONCERT,
                f"Fitted contagion coupling, performance {room}",
                f"The state-space model fitted to the breathing rate of the {room} audience; "
                f"its coupling tested by likelihood ratio and against pseudo-groups from {other}.",
                lambda r=room, o=other: run.physio("fit", r, o),
            ),
        ]  # fmt: skip
    for room, word in (("coupled", "on"), ("uncoupled", "off")):
        heard = "and each other" if room == "coupled" else "alone (true coupling 0)"
        parts += [
            _Part(
                f"audience-{room}-synchrony", _SIMULATED, f"Synchrony, social loop {word}",
                f"Ten simulated listeners hearing music {heard}; pseudo-groups from a room of "
                "listeners with no social loop.",
                lambda r=room: run.physio("synchrony", r, ""),
            ),
            _Part(
                f"audience-{room}-fit", _SIMULATED, f"Fitted coupling, social loop {word}",
                "The same audience and the concert's fit, with the music as the shared input.",
                lambda r=room: run.physio("fit", r, ""),
            ),
        ]  # fmt: skip
    for name, what in (
        ("pain", "21 pain experiments with their sample sizes (NiMARE's example data)."),
        ("mimicry", "30 NeuroQuery articles on imitation and mimicry (N = 20 each)."),
        ("contagion", "30 NeuroQuery articles on empathy (N = 20 each)."),
    ):
        parts.append(_Part(f"ale-{name}", _META, f"ALE: {name}", what, lambda n=name: run.ale(n)))
    parts += [
        _Part(
            "conjunction", _META, "Conjunction: mimicry and contagion",
            "Voxels significant in both ALEs (the smaller of the two thresholded maps).",
            run.conjunction,
        ),
        _Part(
            "contrast", _META, "Contrast: mimicry vs contagion",
            f"Where the two differ, by {settings.n_permutations} permutations of the articles "
            "between the sets, tested inside each set's significant clusters.",
            run.contrast,
        ),
    ]  # fmt: skip
    if database is not None:
        parts.append(
            _Part(
                "macm", _META, "MACM: what the seed region co-activates with",
                f"Every NeuroQuery article with a focus within {settings.macm_radius_mm:g} mm "
                "of the peak of the conjunction's largest cluster (or, when the two sets share "
                "no significant voxel, of the contagion set's), meta-analysed with "
                f"{settings.macm_iters} Monte Carlo iterations.",
                run.macm,
            )
        )  # fmt: skip
    parts += [
        _Part(
            "scenario-concert-crowd", _MODEL, "Simulation: a concert crowd",
            "The built-in concert_crowd scenario: 200 listeners, music, and feelings that spread "
            "through who sees whom.",
            run.scenario,
        ),
        _Part(
            "predictions", _MODEL, "Predictions P1–P7",
            "Each prediction of the theory, simulated in a manipulated and a control condition.",
            run.predictions,
        ),
    ]  # fmt: skip
    return parts


def run_demo(
    out: str | Path,
    *,
    seed: int = 0,
    settings: DemoSettings | None = None,
    neuroquery: str | Path | None = None,
    only: Sequence[str] | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = print,
) -> DemoResult:
    """Run the demonstration and write it to ``out``.

    Parameters
    ----------
    out : path
        Output directory: one folder per part and ``index.html``. It is built aside and
        swapped in whole when every part has finished.
    seed : int
        Root of the seed tree; each part draws from its own named child.
    settings : DemoSettings, optional
        Iterations, surrogates and pseudo-groups (defaults: :class:`DemoSettings`).
    neuroquery : path, optional
        A NeuroQuery folder for the MACM part; default: ``SYNTONY_NEUROQUERY_DIR`` or the
        download cache. Without either, MACM is skipped and the index names the command that
        fetches the database.
    only : sequence of str, optional
        Run only the parts whose folder name starts with one of these (e.g. ``"concert"``,
        ``"ale-pain"``, ``"predictions"``).
    force : bool
        Replace an earlier demonstration in ``out``.
    log : callable or None
        Receives one line per finished part (``None``: quiet).
    """
    from syntony._io_utils import staged_directory, write_json, write_text

    settings = settings or DemoSettings()
    say = log or (lambda _: None)
    database = _find_neuroquery(neuroquery)
    parts = [p for p in _parts(settings, SeedTree(seed), database) if _wanted(p.name, only)]
    missing_database = database is None and _wanted("macm", only)
    if not parts and not missing_database:
        raise ParameterError("only", "prefixes of the demo's part names", only)
    demo = DemoResult(Path(out))
    with staged_directory(out, force=force) as tmp:
        for part in parts:
            start = time.perf_counter()
            result = part.run()
            if result is None:
                demo.notes.append(
                    ("MACM was not run: no significant cluster to seed it was found.", None)
                )
                continue
            result.save(tmp / part.name)
            demo.results[part.name] = result
            demo.seconds[part.name] = round(time.perf_counter() - start, 1)
            say(f"{part.name}: {demo.seconds[part.name]:.1f} s")
        if missing_database:
            demo.notes.append(
                (
                    "MACM was skipped: the NeuroQuery database is not on this machine. This "
                    "command downloads it (5 MB, checked by SHA-256) into the cache; then run "
                    "the demo again:",
                    "syntony fetch neuroquery",
                )
            )
        write_text(tmp / "index.html", _render(demo, parts, seed))
        parts_json = {
            name: {"kind": r.kind, "summary": r.summary(), "seconds": demo.seconds[name]}
            for name, r in demo.results.items()
        }
        notes = [text + (f" {cmd}" if cmd else "") for text, cmd in demo.notes]
        write_json(
            tmp / "demo.json",
            {"seed": seed, "settings": asdict(settings), "parts": parts_json, "notes": notes},
        )
    n = len(demo.results)
    say(f"{n} part{'s' if n != 1 else ''} in {sum(demo.seconds.values()):.0f} s; open {demo.index}")
    return demo


def _wanted(name: str, only: Sequence[str] | None) -> bool:
    return only is None or any(name.startswith(str(prefix)) for prefix in only)


def _find_neuroquery(path: str | Path | None) -> Path | None:
    from syntony.datasets import NEUROQUERY, find_local, verify

    return verify(NEUROQUERY, path) if path is not None else find_local(NEUROQUERY)


# -- the index page -----------------------------------------------------------------------------
_INTROS = {
    _CONCERT: [
        "Two performances of Sæverud's Kjempeviseslåtten by the Norwegian Radio Orchestra "
        "(Oslo, 2024), each with its own audience; 15 listeners of each wore a respiration "
        "sensor (Bodies in Concert, RITMO; MIT licence). Breathing rate is computed for every "
        "listener and compared pair by pair in 30 s windows, allowing lags of up to 5 s.",
        "Shifting each listener's series in time keeps its rhythm but breaks its alignment with "
        "the others, so it tests whether the audience breathes together at all. The music "
        "aligns listeners too, so the sharper test is against pseudo-groups: groups of the same "
        "size drawn from both performances and scored on the pairs of listeners from different "
        "performances, who heard the same music but did not sit together. Synchrony or coupling "
        "beyond theirs is what the shared music alone does not explain.",
    ],
    _SIMULATED: [
        "The same analyses on ten simulated listeners whose answer is known: once with the "
        "social loop of the contagion model on, once with it off (true coupling 0). Their "
        "pseudo-groups come from a second simulated room with the same music and no social "
        "loop. The table puts the four rooms side by side: read the real audiences against the "
        "simulated ones.",
    ],
    _META: [
        "ALE meta-analyses with Monte Carlo family-wise error correction. The pain studyset is "
        "the classic example; the two NeuroQuery selections ask the question of Fu et al. "
        "(2025) of open data: which regions do studies of imitation and mimicry share with "
        "studies of empathy, and where do they differ (conjunction and contrast)? NeuroQuery "
        "has no sample sizes, so every article counts as 20 subjects.",
    ],
    _MODEL: [
        "The interoceptive-inference model of emotional contagion: one built-in scenario run "
        "in full, and each of the theory's predictions P1–P7 checked by simulating a "
        "manipulated and a control condition on the same seeds.",
    ],
}
_ROOMS = {
    "concert-sae1": "concert, performance Sae1",
    "concert-sae2": "concert, performance Sae2",
    "audience-coupled": "simulated, social loop on",
    "audience-uncoupled": "simulated, social loop off",
}


def _side_by_side(demo: DemoResult) -> dict[str, Any] | None:
    """Synchrony and coupling of the four rooms in one table (cells carry exact values)."""
    rows = []
    for prefix, label in _ROOMS.items():
        sync, fit = demo.results.get(f"{prefix}-synchrony"), demo.results.get(f"{prefix}-fit")
        if sync is None or fit is None:
            continue
        values = [
            sync.group_synchrony,
            sync.test("circular-shift")["p_value"],
            sync.test("pseudo-group")["p_value"],
            fit.estimate("c"),
            fit.lrt["p_value"],
            (fit.pseudo_group or {}).get("p_value", float("nan")),
        ]
        cells = [{"value": repr(float(v)), "text": f"{v:.3g}"} for v in values]
        rows.append([{"value": label, "text": label}, *cells])
    if not rows:
        return None
    return {
        "name": "side-by-side",
        "columns": [
            "room", "group synchrony", "p vs shifted series", "p vs pseudo-groups",
            "coupling c", "LRT p (c = 0)", "p of c vs pseudo-groups",
        ],
        "rows": rows,
        "caption": "Synchrony of the feature (breathing rate; the simulated body signal) and "
        "the fitted coupling, with the p-values of their tests. Pseudo-groups share the music "
        "but not the room.",
    }  # fmt: skip


def _render(demo: DemoResult, parts: list[_Part], seed: int) -> str:
    import jinja2

    from syntony import __version__

    groups: dict[str, dict[str, Any]] = {}
    for part in parts:
        if part.name not in demo.results:
            continue
        group = groups.setdefault(
            part.group,
            {
                "title": part.group,
                "anchor": f"g{len(groups) + 1}",
                "intro": _INTROS.get(part.group, []),
                "parts": [],
                "table": _side_by_side(demo) if part.group == _SIMULATED else None,
            },
        )
        group["parts"].append(
            {
                "name": part.name,
                "title": part.title,
                "href": f"{part.name}/report.html",
                "description": part.description,
                "summary": demo.results[part.name].summary().strip(),
                "seconds": demo.seconds[part.name],
            }
        )
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("syntony", "report/templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    ).get_template("demo.html.j2")
    return template.render(
        groups=list(groups.values()),
        notes=demo.notes,
        seed=seed,
        version=__version__,
        total_seconds=sum(demo.seconds.values()),
    )
