"""Scenario: a validated, serialisable description of one simulation.

A scenario is a tree of small frozen dataclasses (network, agents, channels, perception, modes,
trust, trauma, groups, technology, events, output; plus ``dyad`` and ``crowd_filter`` for the
published models). It round-trips through dicts, TOML and YAML. Unknown keys, wrong types and
out-of-range values raise :class:`~syntony.errors.ParameterError` naming the dotted key
(``agents.kappa``, ``events[1].onset``). Switches given as strings (``update``, ``gain``,
``on_unstable``) are mapped once to policy objects by :meth:`PerceptionConfig.gain_policy`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syntony.errors import InputError, ParameterError
from syntony.model._config import (
    _choice,
    _corr,
    _int_min,
    _nonneg,
    _open_corr,
    _open_unit,
    _pos,
    _prob,
    apply_overrides,
    build,
    located,
    parse_override,
    plain,
)
from syntony.model._config import field_with_check as _f
from syntony.model._locate import toml_line, yaml_line
from syntony.model.precision import ClipGain, GainPolicy, PrecisionGain, SeedGain

__all__ = [
    "AgentsConfig",
    "ChannelConfig",
    "CrowdFilterConfig",
    "DyadConfig",
    "EventConfig",
    "GroupConfig",
    "ModesConfig",
    "NetworkConfig",
    "OutputConfig",
    "PerceptionConfig",
    "Scenario",
    "SimulationConfig",
    "TechnologyConfig",
    "TraumaConfig",
    "TrustConfig",
    "apply_overrides",
    "parse_override",
]


NETWORK_KINDS = (
    "complete",
    "ring",
    "watts_strogatz",
    "random",
    "spatial",
    "barabasi_albert",
    "stochastic_block",
    "edges",
)


# ----------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class NetworkConfig:
    """Who perceives whom. ``kind`` picks a generator of :mod:`syntony.model.network`."""

    kind: str = _f("watts_strogatz", _choice(*NETWORK_KINDS))
    k: int = _f(2, _int_min(1))  # neighbours per side (ring, watts_strogatz)
    p: float = _f(0.1, _prob)  # rewiring probability (watts_strogatz)
    degree: int = _f(10, _int_min(1))  # out-degree (random)
    m: int = _f(2, _int_min(1))  # edges per new node (barabasi_albert)
    radius: float = _f(0.15, _pos)  # perception radius (spatial)
    size: float = _f(1.0, _pos)  # side of the square (spatial)
    sizes: tuple[int, ...] = _f(())  # group sizes (stochastic_block)
    p_in: float = _f(0.3, _prob)
    p_out: float = _f(0.01, _prob)
    edges: tuple[tuple[float, ...], ...] = _f(())  # (i, j[, weight]) rows (edges)
    directed: bool = _f(False)
    weight: float = _f(1.0, _pos)


@dataclass(frozen=True)
class AgentsConfig:
    """Agent parameters shared by everyone (groups and trauma override them per agent)."""

    n: int = _f(50, _int_min(1))
    kappa: float = _f(1.0, _nonneg)  # action gain: body driven toward the prediction
    homeostasis: float = _f(0.5, _nonneg)  # lambda: return to the mode's baseline
    q_x: float = _f(0.1, _nonneg)  # body noise variance per second
    sigma: float = _f(0.2, _pos)  # sensory-noise variance of s
    gamma_int: float = _f(1.0, _nonneg)  # weight of interoceptive prediction errors
    gamma_soc: float = _f(1.0, _nonneg)  # weight of the socio-affective context
    q: float = _f(0.01, _nonneg)  # volatility of the prediction
    x0: float = _f(0.0)
    x0_sd: float = _f(0.0, _nonneg)
    mu0: float = _f(0.0)
    v0: float = _f(1.0, _pos)


@dataclass(frozen=True)
class ChannelConfig:
    """One affect channel: how visible it is (overt ~1, covert ~0.1) and how noisy its cues."""

    name: str = _f("arousal")
    observability: float = _f(1.0, _open_unit)
    cue_noise: float = _f(0.5, _pos)


@dataclass(frozen=True)
class PerceptionConfig:
    """Synchrony and the belief update; ``update``/``gain``/``on_unstable`` are the switches."""

    tau_rho: float = _f(5.0, _pos)  # seconds
    rho0: float = _f(0.0, _corr)
    online_synchrony: bool = _f(True)  # False: rho stays at rho0 and sigma at agents.sigma
    floor: float = _f(1e-6, _pos)
    update: str = _f("precision", _choice("precision", "seed"))
    gain: str = _f("precision", _choice("precision", "seed"))
    on_unstable: str = _f("raise", _choice("raise", "clip"))
    max_gain: float = _f(1.0, _pos)

    def gain_policy(self) -> GainPolicy:
        """The gain policy object the switches stand for."""
        if self.gain == "precision":
            return PrecisionGain()
        if self.on_unstable == "clip":
            return ClipGain(self.max_gain)
        return SeedGain()


@dataclass(frozen=True)
class ModesConfig:
    """Defensive vs affiliative modes (hazard + Bayes on the interoceptive input)."""

    enabled: bool = _f(True)
    b_aff: float = _f(0.0)
    b_def: float = _f(2.0)
    v_aff: float = _f(0.5, _pos)
    v_def: float = _f(0.5, _pos)
    hazard: float = _f(0.01, _prob)  # affiliative -> defensive per step
    hazard_to_affiliative: float | None = _f(None, _prob)  # defaults to hazard
    p0: float = _f(0.05, _prob)
    beta_threat: float = _f(0.0, _nonneg)


@dataclass(frozen=True)
class TrustConfig:
    learned: bool = _f(False)
    initial: float = _f(1.0, _prob)
    eta: float = _f(0.05, _prob)
    s_tau: float = _f(1.0, _pos)


@dataclass(frozen=True)
class TraumaConfig:
    """The trauma phenotype, applied to ``agents`` (indices) or a random ``fraction``."""

    fraction: float = _f(0.0, _prob)
    agents: tuple[int, ...] = _f(())
    gamma_int: float = _f(2.0, _nonneg)
    gamma_soc: float = _f(0.3, _nonneg)
    sigma_scale: float = _f(2.0, _pos)
    p0: float = _f(0.5, _prob)
    hazard_to_affiliative: float = _f(0.001, _prob)


@dataclass(frozen=True)
class GroupConfig:
    """Per-agent overrides for a subset of agents (e.g. the caregiver of a dyad)."""

    agents: tuple[int, ...] = _f(())
    kappa: float | None = _f(None, _nonneg)
    homeostasis: float | None = _f(None, _nonneg)
    q_x: float | None = _f(None, _nonneg)
    sigma: float | None = _f(None, _pos)
    gamma_int: float | None = _f(None, _nonneg)
    gamma_soc: float | None = _f(None, _nonneg)
    q: float | None = _f(None, _nonneg)
    x0: float | None = _f(None)
    p0: float | None = _f(None, _prob)


@dataclass(frozen=True)
class TechnologyConfig:
    """A technology channel with its own network (broadcast, scale-free, sensor sharing)."""

    name: str = _f("platform")
    network: NetworkConfig = field(default_factory=lambda: NetworkConfig(kind="barabasi_albert"))
    observability: float = _f(1.0, _open_unit)
    noise: float = _f(0.5, _pos)
    amplification: float = _f(0.0, _nonneg)


@dataclass(frozen=True)
class EventConfig:
    """An external drive: ``step`` (stressor), ``sine`` (music, breathing pacer) or ``random``."""

    kind: str = _f("step", _choice("step", "sine", "random"))
    onset: float = _f(0.0, _nonneg)  # seconds
    duration: float = _f(1.0, _pos)
    amplitude: float = _f(1.0)
    offset: float = _f(0.0)
    period: float = _f(5.0, _pos)  # sine
    shared_phase: bool = _f(True)  # sine: False gives each agent its own random phase
    rate: float = _f(0.1, _nonneg)  # random: onsets per second per agent
    pulse: float = _f(1.0, _pos)  # random: length of each pulse (s)
    agents: tuple[int, ...] = _f(())  # empty: everybody (or a random fraction)
    fraction: float = _f(1.0, _prob)
    channel: str = _f("")  # empty: every channel


@dataclass(frozen=True)
class OutputConfig:
    sample_agents: int = _f(0, _int_min(0))  # 0: store every agent
    every: int = _f(1, _int_min(1))
    record_edges: int = _f(0, _int_min(0))  # how many edges to store rho/omega/trust for
    threshold: float = _f(1.0)  # contagion reach: fraction with x above this
    convergence_fraction: float = _f(0.1, _open_unit)  # D(t) <= fraction * peak D


@dataclass(frozen=True)
class SimulationConfig:
    steps: int = _f(500, _int_min(1))
    dt: float = _f(0.1, _pos)
    engine: str = _f("numba", _choice("numba", "numpy"))


@dataclass(frozen=True)
class DyadConfig:
    """The published dyad, eqs (1)-(2), on synchronised signals."""

    rho: float = _f(0.5, _corr)
    variances: tuple[float, ...] = _f((1.0, 1.0))
    autocorrelation: float = _f(0.0, _open_corr)
    window: int = _f(50, _int_min(2))
    mu0: float = _f(0.0)
    prior_precision0: float = _f(1.0, _pos)
    rho0: float = _f(0.0, _corr)


@dataclass(frozen=True)
class CrowdFilterConfig:
    """The crowd-level shared prior, eqs (3)-(5)."""

    n: int = _f(20, _int_min(1))
    rho: float = _f(0.3, _corr)  # synchrony -> Sigma_0
    variance: float = _f(1.0, _pos)  # sigma_i
    noise: float = _f(1.0, _pos)  # Sigma_eps = noise * I
    process_noise: float = _f(0.0, _nonneg)
    observed_fraction: float = _f(1.0, _open_unit)
    true_state: float = _f(1.0)
    prior_mean: float = _f(0.0)


MODELS = ("agents", "dyad", "crowd_filter")


@dataclass(frozen=True)
class Scenario:
    """One simulation, fully described. Build with :meth:`from_dict`/:meth:`from_file`."""

    name: str = _f("custom")
    description: str = _f("")
    model: str = _f("agents", _choice(*MODELS))
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    agents: AgentsConfig = field(default_factory=AgentsConfig)
    channels: tuple[ChannelConfig, ...] = (ChannelConfig(),)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    modes: ModesConfig = field(default_factory=ModesConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)
    trauma: TraumaConfig = field(default_factory=TraumaConfig)
    groups: tuple[GroupConfig, ...] = ()
    technology: tuple[TechnologyConfig, ...] = ()
    events: tuple[EventConfig, ...] = ()
    output: OutputConfig = field(default_factory=OutputConfig)
    dyad: DyadConfig = field(default_factory=DyadConfig)
    crowd_filter: CrowdFilterConfig = field(default_factory=CrowdFilterConfig)

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        """Validate ``data`` (nested dicts/lists, as read from TOML/YAML) into a Scenario."""
        scenario = build(cls, data, "")
        scenario._check_consistency()
        return scenario

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<string>") -> Scenario:
        """Read TOML ``text``; errors name ``source`` and the line of the offending key."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
            message = str(exc).split(" (at ")[0]
            line = int(found.group(1)) if found else None
            raise InputError(f"malformed TOML: {message}", source=source, line=line) from None
        try:
            return cls.from_dict(data)
        except ParameterError as exc:
            raise _locate(exc, source, toml_line(text, exc.name)) from None

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<string>") -> Scenario:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            if line is None and getattr(exc, "position", None) is not None:
                line = text.count("\n", 0, exc.position) + 1  # a reader error: bad character
            problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
            problem = " ".join(str(problem).split("\n  in ")[0].split())
            raise InputError(f"malformed YAML: {problem}", source=source, line=line) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InputError("expected a mapping of sections at the top level", source=source)
        _refuse_cycles(data, source)
        try:
            return cls.from_dict(data)
        except ParameterError as exc:
            raise _locate(exc, source, yaml_line(text, exc.name)) from None

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Read a ``.toml`` or ``.yaml``/``.yml`` scenario file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("scenario file not found", source=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read scenario file: {exc}", source=path) from None
        suffix = path.suffix.lower()
        # Errors keep their class (callers catch ParameterError) and name the file and line.
        if suffix in (".yaml", ".yml"):
            return cls.from_yaml(text, source=str(path))
        if suffix == ".toml":
            return cls.from_toml(text, source=str(path))
        raise InputError("unknown scenario format; expected .toml, .yaml or .yml", source=path)

    @classmethod
    def builtin(cls, name: str) -> Scenario:
        """One of the scenarios shipped with syntony (see :func:`builtin_names`)."""
        from importlib import resources

        names = builtin_names()
        if name not in names:
            raise ParameterError("scenario", "one of builtin:" + ", builtin:".join(names), name)
        resource = resources.files("syntony").joinpath("builtin_scenarios", f"{name}.toml")
        return cls.from_toml(resource.read_text(encoding="utf-8"), source=f"builtin:{name}")

    @classmethod
    def load(cls, spec: str | Path) -> Scenario:
        """``builtin:NAME`` or a path to a TOML/YAML file."""
        text = str(spec)
        if text.startswith("builtin:"):
            return cls.builtin(text.removeprefix("builtin:"))
        return cls.from_file(spec)

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts/lists (``None`` values are left out: TOML has no null)."""
        return plain(self)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_overrides(self, overrides: dict[str, Any] | list[str]) -> Scenario:
        """A new scenario with dotted keys replaced (``{"agents.kappa": 2.0}`` or ``["agents.kappa=2"]``)."""
        if isinstance(overrides, list):
            overrides = dict(parse_override(item) for item in overrides)
        return Scenario.from_dict(apply_overrides(self.to_dict(), overrides))

    # -- cross-field checks ------------------------------------------------------------------
    def _check_consistency(self) -> None:
        n = self.agents.n
        names = [c.name for c in self.channels]
        if not names:
            raise ParameterError("channels", "at least one affect channel", "an empty list")
        if len(set(names)) != len(names):
            raise ParameterError("channels", "distinct channel names", names)
        _check_network(self.network, n, "network")
        for i, tech in enumerate(self.technology):
            _check_network(tech.network, n, f"technology[{i}].network")
        for i, event in enumerate(self.events):
            if event.channel and event.channel not in names:
                raise ParameterError(
                    f"events[{i}].channel", "one of " + ", ".join(names), event.channel
                )
            _check_agents(event.agents, n, f"events[{i}].agents")
        _check_agents(self.trauma.agents, n, "trauma.agents")
        for i, group in enumerate(self.groups):
            _check_agents(group.agents, n, f"groups[{i}].agents")
        if self.output.sample_agents > n:
            raise ParameterError(
                "output.sample_agents", f"at most agents.n = {n}", self.output.sample_agents
            )
        if len(self.dyad.variances) != 2 or any(v <= 0 for v in self.dyad.variances):
            raise ParameterError("dyad.variances", "two variances > 0", list(self.dyad.variances))


def _refuse_cycles(data: Any, source: str) -> None:
    """Refuse YAML whose anchors make a value contain itself (it would never end)."""
    stack: list[tuple[Any, set[int]]] = [(data, set())]
    while stack:
        node, above = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if id(node) in above:
            raise InputError(
                "a value contains itself (a YAML alias inside its own anchor)", source=source
            )
        inner = above | {id(node)}
        stack.extend((v, inner) for v in (node.values() if isinstance(node, dict) else node))


def _locate(exc: ParameterError, source: str, line: int | None) -> ParameterError:
    """``exc`` with the file (and the key's line, when found) in front of its message."""
    if source == "<string>" and line is None:
        return exc
    return located(exc, f"{source}:{line}" if line is not None else source)


def _check_agents(agents: tuple[int, ...], n: int, name: str) -> None:
    bad = [a for a in agents if not 0 <= a < n]
    if bad:
        raise ParameterError(name, f"agent indices in [0, {n - 1}]", bad[0])


def _check_network(net: NetworkConfig, n: int, name: str) -> None:
    if net.kind == "stochastic_block":
        if not net.sizes or sum(net.sizes) != n:
            raise ParameterError(
                f"{name}.sizes", f"group sizes adding up to agents.n = {n}", list(net.sizes)
            )
    if net.kind == "edges":
        if not net.edges:
            raise ParameterError(
                f"{name}.edges", "a non-empty list of [i, j] or [i, j, weight]", []
            )
        for row, edge in enumerate(net.edges):
            if len(edge) not in (2, 3) or not all(0 <= a < n and a == int(a) for a in edge[:2]):
                raise ParameterError(
                    f"{name}.edges[{row}]",
                    f"[i, j] or [i, j, weight] with 0 <= i, j < {n}",
                    list(edge),
                )
            if len(edge) == 3 and edge[2] <= 0:
                raise ParameterError(f"{name}.edges[{row}]", "a weight > 0", list(edge))
    if net.kind == "barabasi_albert" and net.m >= n:
        raise ParameterError(f"{name}.m", f"an integer < agents.n = {n}", net.m)


def builtin_names() -> list[str]:
    """Names of the built-in scenarios (``builtin:NAME``)."""
    from importlib import resources

    folder = resources.files("syntony").joinpath("builtin_scenarios")
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )
