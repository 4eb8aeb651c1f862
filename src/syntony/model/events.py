"""External events u_i(t): stressor onsets, music, a breathing pacer, random stressors.

Each event adds a drive (arousal per second) to some agents on some affect channels while it is
active. A :class:`EventSchedule` evaluates all events at a step and returns the (N, E) drive, or
``None`` when nothing is active, so that quiet stretches cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Event", "EventSchedule", "random_pulses"]


@dataclass(frozen=True, eq=False)
class Event:
    """One drive: ``offset + amplitude * shape(t)`` on ``agents`` x ``channels`` in [onset, onset + duration).

    ``shape`` is 1 for a step (stressor), ``sin(2 pi (t - onset) / period + phase)`` for a
    periodic drive (music, breathing pacer). ``phase`` may be one value (a shared drive) or one
    per target agent (each agent breathing at its own phase).
    """

    agents: np.ndarray  # indices of target agents
    channels: np.ndarray  # indices of target channels
    onset: float
    duration: float
    amplitude: float = 1.0
    offset: float = 0.0
    period: float | None = None
    phase: np.ndarray | float = 0.0

    def value(self, t: float) -> np.ndarray | float | None:
        if not (self.onset <= t < self.onset + self.duration):
            return None
        if self.period is None:
            return self.offset + self.amplitude
        return self.offset + self.amplitude * np.sin(
            2.0 * np.pi * (t - self.onset) / self.period + self.phase
        )


def random_pulses(
    rng: np.random.Generator,
    agents: np.ndarray,
    channels: np.ndarray,
    *,
    rate: float,
    amplitude: float,
    duration: float,
    start: float,
    stop: float,
) -> list[Event]:
    """Unpredictable stressors: Poisson onsets at ``rate`` per second for each target agent."""
    events = []
    span = max(stop - start, 0.0)
    for agent in np.asarray(agents):
        count = rng.poisson(rate * span)
        for onset in np.sort(rng.uniform(start, stop, count)):
            events.append(
                Event(np.array([agent]), channels, float(onset), duration, amplitude=amplitude)
            )
    return events


@dataclass(frozen=True, eq=False)
class EventSchedule:
    """All events of a run; ``schedule(step)`` gives the drive applied during that step."""

    events: tuple[Event, ...]
    n_agents: int
    n_channels: int
    dt: float

    def __call__(self, step: int) -> np.ndarray | None:
        t = step * self.dt
        drive: np.ndarray | None = None
        for event in self.events:
            value = event.value(t)
            if value is None:
                continue
            if drive is None:
                drive = np.zeros((self.n_agents, self.n_channels))
            value = np.asarray(value, dtype=float)
            if value.ndim == 1:  # one phase per agent
                value = value[:, None]
            drive[np.ix_(event.agents, event.channels)] += value
        return drive
