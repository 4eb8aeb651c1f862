"""Null baselines for group synchrony: circular shifts, segment shuffles and pseudo-groups.

A surrogate keeps what each person's signal is like on its own (its spectrum, its rate) and
breaks what ties people together in time. Circular shifts and segment shuffles break all
alignment, including what a shared stimulus produces; pseudo-groups, built from members of
different sessions who heard the same stimulus at the same moment, keep the stimulus and break
only the social loop. The statistic compared is the mean pairwise synchrony (tanh of the mean
Fisher z over pairs and windows).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from syntony._rng import SeedLike, SeedTree
from syntony._validate import check_integer
from syntony.errors import InputError, ParameterError
from syntony.physio._chunks import chunk_generator, run_chunks
from syntony.physio.synchrony import DEFAULT_SYNC, SyncConfig, fisher_z, group_synchrony, wlcc_peaks

__all__ = [
    "PSEUDO_GROUP_CHUNK",
    "SURROGATE_CHUNK",
    "SurrogateResult",
    "circular_shift",
    "phase_surrogate_test",
    "pseudo_group_test",
    "segment_shuffle",
    "surrogate_test",
]

Surrogate = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def circular_shift(min_shift: int) -> Surrogate:
    """Surrogate maker: roll each person's series by its own random offset.

    ``min_shift`` (samples) keeps every offset at least that far from 0 (and from a full turn),
    so a shifted series never stays near its original alignment.
    """
    return _CircularShift(check_integer("min_shift", min_shift, minimum=0))


def segment_shuffle(segment: int) -> Surrogate:
    """Surrogate maker: cut each series into ``segment``-sample pieces and permute them per person.

    A trailing remainder shorter than ``segment`` stays at the end.
    """
    return _SegmentShuffle(check_integer("segment", segment, minimum=1))


# The surrogate makers are small classes rather than closures so that they pickle: the chunks of
# a test can then run on worker processes or Dask (see ``executor`` in the tests below).
@dataclass(frozen=True)
class _CircularShift:
    min_shift: int

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n_t, n_p = x.shape
        if n_t - 2 * self.min_shift < 1:
            raise ParameterError(
                "min_shift", f"less than half the series ({n_t} samples)", self.min_shift
            )
        shifts = rng.integers(self.min_shift, n_t - self.min_shift + 1, size=n_p)
        # Gather instead of looping over persons: row index (t - shift) mod T per column.
        rows = (np.arange(n_t)[:, None] - shifts[None, :]) % n_t
        return np.take_along_axis(x, rows, axis=0)


@dataclass(frozen=True)
class _SegmentShuffle:
    segment: int

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        segment = self.segment
        n_t, n_p = x.shape
        n_seg = n_t // segment
        if n_seg < 2:
            raise ParameterError("segment", f"at most half the series ({n_t} samples)", segment)
        order = np.argsort(rng.random((n_seg, n_p)), axis=0)  # one permutation per person
        rows = (order[:, None, :] * segment + np.arange(segment)[None, :, None]).reshape(-1, n_p)
        rows = np.concatenate(
            [
                rows,
                np.broadcast_to(
                    np.arange(n_seg * segment, n_t)[:, None], (n_t - n_seg * segment, n_p)
                ),
            ]
        )
        return np.take_along_axis(x, rows, axis=0)


@dataclass(frozen=True)
class SurrogateResult:
    """Observed group synchrony against a null distribution.

    Attributes
    ----------
    observed : float
        Mean pairwise synchrony of the real group (tanh of mean z).
    null : ndarray (n,)
        The same statistic for each surrogate.
    p_value : float
        One-sided, ``(1 + #(null >= observed)) / (1 + n)``.
    effect_size : float
        ``(z_obs - mean z_null) / sd z_null`` in Fisher-z units.
    null_windows : ndarray (n, n_windows) or None
        Per-window group synchrony of each surrogate (for the band in plots).
    method : str
    extra : dict
    """

    observed: float
    null: np.ndarray
    p_value: float
    effect_size: float
    null_windows: np.ndarray | None
    method: str
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Plain numbers for tables and JSON."""
        return {
            "method": self.method,
            "observed": self.observed,
            "null_mean": float(
                np.mean(self.null)
                if self.extra.get("scale") == "raw"
                else np.tanh(np.mean(fisher_z(self.null)))
            ),
            "null_q025": float(np.quantile(self.null, 0.025)),
            "null_q975": float(np.quantile(self.null, 0.975)),
            "p_value": self.p_value,
            "effect_size": self.effect_size,
            "n": int(self.null.size),
            **self.extra,
        }


def _statistic(group_per_window: np.ndarray) -> float:
    return float(np.tanh(np.nanmean(fisher_z(group_per_window))))


def _compare(observed: float, null: np.ndarray) -> tuple[float, float]:
    p = (1.0 + np.sum(null >= observed)) / (1.0 + null.size)
    zn = fisher_z(null)
    sd = np.std(zn, ddof=1) if null.size > 1 else np.nan
    effect = (fisher_z(np.array(observed)) - zn.mean()) / sd if sd > 0 else np.nan
    return float(p), float(effect)


#: Surrogates (and pseudo-groups) per checkpointed chunk; each chunk has its own seed stream.
SURROGATE_CHUNK = 25
PSEUDO_GROUP_CHUNK = 100


def surrogate_test(
    x: np.ndarray,
    fs: float,
    config: SyncConfig = DEFAULT_SYNC,
    *,
    surrogate: Surrogate | None = None,
    n_surrogates: int = 200,
    seed: SeedLike | SeedTree = None,
    method: str = "circular-shift",
    progress: Callable[[int], None] | None = None,
    checkpoint=None,
    checkpoint_slot: int = 0,
    executor=None,
) -> SurrogateResult:
    """Test the group's mean pairwise synchrony against surrogates of its own signals.

    Parameters
    ----------
    x : ndarray (T, P)
    fs : float
        Sampling rate (Hz).
    surrogate : callable, optional
        ``surrogate(x, rng) -> x_surrogate``; default ``circular_shift`` with offsets of at least
        one window plus the maximum lag.
    n_surrogates : int
    seed : int, SeedTree or None
        Surrogates are drawn in chunks of :data:`SURROGATE_CHUNK`; chunk ``k`` draws from the
        stream ``child("chunk", k)`` of this seed, so the numbers do not depend on how the run
        was split or resumed.
    method : str
        Label stored in the result.
    progress : callable, optional
        Called with the number of surrogates finished (e.g. to advance a progress bar).
    checkpoint : Checkpoint, optional
        Saves finished chunks and reuses those of an interrupted run
        (:class:`syntony._checkpoint.Checkpoint`); ``checkpoint_slot`` keeps this test's chunks
        apart from the other tests sharing the checkpoint.
    executor : Executor, optional
        Runs the chunks as tasks on local workers or Dask (:mod:`syntony.execution`); the
        numbers are those of the serial run. For worker processes a custom ``surrogate`` must
        be a module-level function (or class instance), not a lambda.
    """
    n_surrogates = check_integer("n_surrogates", n_surrogates, minimum=1)
    x = np.asarray(x, float)
    w, s, lag = config.samples(fs)
    if surrogate is None:
        surrogate = circular_shift(min(w + lag, x.shape[0] // 2 - 1))
    tree = SeedTree(seed)
    r, _, _ = wlcc_peaks(x, w, s, lag, peak=config.peak)
    observed = _statistic(group_synchrony(r))

    shared = {"x": x, "surrogate": surrogate, "samples": (w, s, lag), "peak": config.peak}
    null_windows = run_chunks(
        n_surrogates,
        SURROGATE_CHUNK,
        functools.partial(_surrogate_chunk, tree),
        checkpoint=checkpoint,
        slot=checkpoint_slot,
        advance=progress,
        executor=executor,
        shared=shared,
    )["windows"]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # surrogates without a valid window
        null = np.tanh(np.nanmean(fisher_z(null_windows), axis=1))
    p, effect = _compare(observed, null)
    return SurrogateResult(observed, null, p, effect, null_windows, method)


def _surrogate_chunk(
    tree: SeedTree, k: int, start: int, stop: int, data: dict
) -> dict[str, np.ndarray]:
    """Per-window group synchrony of the surrogates ``start:stop`` (chunk ``k``)."""
    rng = chunk_generator(tree, k)
    w, s, lag = data["samples"]
    windows = []
    for _ in range(stop - start):
        rs, _, _ = wlcc_peaks(data["surrogate"](data["x"], rng), w, s, lag, peak=data["peak"])
        windows.append(group_synchrony(rs))
    return {"windows": np.array(windows)}


def pseudo_group_test(
    x: np.ndarray,
    other: np.ndarray,
    fs: float,
    config: SyncConfig = DEFAULT_SYNC,
    *,
    n_groups: int = 1000,
    seed: SeedLike | SeedTree = None,
    progress: Callable[[int], None] | None = None,
    checkpoint=None,
    checkpoint_slot: int = 4,
    executor=None,
) -> SurrogateResult:
    """Compare a real group with pseudo-groups mixing its members with another session's.

    Both sessions must be on the same time base (e.g. time since the start of the same piece),
    so members of different sessions share the stimulus but not the room. The series are cut to
    their common length. A pseudo-group has as many members as the real group, drawn at random
    from both sessions (at least one from each); its statistic is the mean synchrony over its
    *cross-session* pairs only, i.e. the synchrony the stimulus alone produces. Groups are drawn
    in chunks of :data:`PSEUDO_GROUP_CHUNK`, each from its own seed stream (and saved in
    ``checkpoint`` when given, run on ``executor`` when given, see :func:`surrogate_test`).

    ``extra`` holds the mean synchrony over all cross-session pairs and Cohen's d between the
    real pairs' and the cross-session pairs' mean z (pairs as units).
    """
    n_groups = check_integer("n_groups", n_groups, minimum=1)
    x = np.asarray(x, float)
    other = np.asarray(other, float)
    n_a, n_b = x.shape[1], other.shape[1]
    if n_a < 2 or n_b < 1:
        raise InputError(
            "pseudo-groups need at least two persons in the group and one in the other session"
        )
    n_t = min(x.shape[0], other.shape[0])
    both = np.concatenate([x[:n_t], other[:n_t]], axis=1)
    w, s, lag = config.samples(fs)
    r, _, _ = wlcc_peaks(both, w, s, lag, peak=config.peak)
    z = fisher_z(r)
    z = 0.5 * (z + np.swapaxes(z, 1, 2))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs without a valid window
        zbar = np.nanmean(z, axis=0)  # (P, P): mean over windows per pair
    real_pairs = zbar[:n_a, :n_a][np.triu_indices(n_a, 1)]
    cross_pairs = zbar[:n_a, n_a:].ravel()
    observed = _statistic(group_synchrony(r[:, :n_a, :n_a]))
    tree = SeedTree(seed)
    n_total = n_a + n_b
    session = np.r_[np.zeros(n_a, bool), np.ones(n_b, bool)]
    size = min(n_a, n_total)

    per_window = run_chunks(
        n_groups,
        PSEUDO_GROUP_CHUNK,
        functools.partial(_pseudo_group_chunk, tree, size),
        checkpoint=checkpoint,
        slot=checkpoint_slot,
        advance=progress,
        executor=executor,
        shared={"z": z, "session": session},
    )["z_windows"]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        windows = np.tanh(per_window)
        null = np.tanh(np.nanmean(per_window, axis=1))
    p, effect = _compare(observed, null)
    pooled = np.sqrt(
        (
            (real_pairs.size - 1) * np.var(real_pairs, ddof=1)
            + (cross_pairs.size - 1) * np.var(cross_pairs, ddof=1)
        )
        / max(real_pairs.size + cross_pairs.size - 2, 1)
    )
    extra = {
        "cross_pairs_mean": float(np.tanh(np.nanmean(cross_pairs))),
        "cohens_d_pairs": float((np.nanmean(real_pairs) - np.nanmean(cross_pairs)) / pooled)
        if pooled > 0
        else float("nan"),
        "n_real_pairs": int(real_pairs.size),
        "n_cross_pairs": int(cross_pairs.size),
        "n_time_common": int(n_t),
    }
    return SurrogateResult(observed, null, p, effect, windows, "pseudo-group", extra)


def _pseudo_group_chunk(
    tree: SeedTree, size: int, k: int, start: int, stop: int, data: dict
) -> dict[str, np.ndarray]:
    """Per-window mean cross-session z of the pseudo-groups ``start:stop`` (chunk ``k``)."""
    rng = chunk_generator(tree, k)
    z, session = data["z"], data["session"]
    windows = np.empty((stop - start, z.shape[0]))
    for g in range(stop - start):
        while True:
            members = rng.choice(session.size, size=size, replace=False)
            from_b = session[members]
            if from_b.any() and (~from_b).any():
                break
        a, b = members[~from_b], members[from_b]
        cross = z[:, a[:, None], b[None, :]].reshape(z.shape[0], -1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            windows[g] = np.nanmean(cross, axis=1)
    return {"z_windows": windows}


def phase_surrogate_test(
    phase: np.ndarray,
    *,
    statistic: Callable[[np.ndarray], float] | None = None,
    surrogate: Surrogate | None = None,
    n_surrogates: int = 200,
    seed: SeedLike | SeedTree = None,
    method: str = "kuramoto circular-shift",
    checkpoint=None,
    checkpoint_slot: int = 2,
    executor=None,
) -> SurrogateResult:
    """Test a phase-synchrony statistic (default: mean Kuramoto order) against surrogates.

    Parameters
    ----------
    phase : ndarray (T, P)
        Instantaneous phases (rad), e.g. the ``phase`` variable of the breathing feature.
    statistic : callable, optional
        ``statistic(phase) -> float``; default the time-averaged Kuramoto order parameter.
        For cluster-phase synchrony pass a function returning
        ``np.nanmean(cluster_phase(ph)[0])``.
    surrogate : callable, optional
        Default: circular shifts of at least a tenth of the series.
    seed, checkpoint, checkpoint_slot, executor
        As for :func:`surrogate_test` (chunks of :data:`SURROGATE_CHUNK`); with worker
        processes a custom ``statistic`` must be a module-level function.

    The effect size is ``(observed - mean null) / sd null`` on the statistic's own scale.
    """
    n_surrogates = check_integer("n_surrogates", n_surrogates, minimum=1)
    phase = np.asarray(phase, float)
    statistic = statistic or _mean_kuramoto
    surrogate = surrogate or circular_shift(max(1, phase.shape[0] // 10))
    tree = SeedTree(seed)
    observed = float(statistic(phase))

    null = run_chunks(
        n_surrogates,
        SURROGATE_CHUNK,
        functools.partial(_phase_chunk, tree),
        checkpoint=checkpoint,
        slot=checkpoint_slot,
        executor=executor,
        shared={"phase": phase, "statistic": statistic, "surrogate": surrogate},
    )["null"]
    p = (1.0 + np.sum(null >= observed)) / (1.0 + n_surrogates)
    sd = np.std(null, ddof=1) if n_surrogates > 1 else np.nan
    effect = (observed - null.mean()) / sd if sd > 0 else np.nan
    return SurrogateResult(observed, null, float(p), float(effect), None, method, {"scale": "raw"})


def _mean_kuramoto(phase: np.ndarray) -> float:
    """The time-averaged Kuramoto order parameter (the default phase statistic)."""
    from syntony.physio.synchrony import kuramoto_order

    return float(np.nanmean(kuramoto_order(phase)))


def _phase_chunk(tree: SeedTree, k: int, start: int, stop: int, data: dict) -> dict:
    """The phase statistic of the surrogates ``start:stop`` (chunk ``k``)."""
    rng = chunk_generator(tree, k)
    statistic, surrogate, phase = data["statistic"], data["surrogate"], data["phase"]
    return {"null": np.array([statistic(surrogate(phase, rng)) for _ in range(stop - start)])}
