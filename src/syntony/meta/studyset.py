"""Studyset: the experiments of a coordinate-based meta-analysis and their foci.

A :class:`Studyset` is the typed object that every reader returns and every estimator takes.
Coordinates are always stored in MNI millimetres; the space each experiment was reported in is
kept for provenance. Readers for Sleuth, NiMARE JSON, CSV and the open databases live in
:mod:`syntony.meta.readers`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from syntony.errors import InputError
from syntony.meta.space import tal_to_mni

__all__ = [
    "MNI152_2MM_SHAPE",
    "Studyset",
    "note",
    "parse_space",
    "to_mni",
    "warn_outside_box",
]

#: The MNI152 2 mm grid (docs/theory/ale.rst): shape and the mm position of voxel (0, 0, 0).
MNI152_2MM_SHAPE = (91, 109, 91)
_MNI152_2MM_ORIGIN = np.array([-90.0, -126.0, -72.0])

_EXPERIMENT_COLUMNS = ("study", "sample_size", "space")
_FOCI_COLUMNS = ("experiment", "x", "y", "z")


@dataclass(frozen=True, eq=False)
class Studyset:
    """Experiments and their activation foci.

    Parameters
    ----------
    experiments : pandas.DataFrame
        One row per experiment, indexed by a unique string id, with columns ``study`` (str),
        ``sample_size`` (float > 0: the number of subjects, the mean over groups when an
        experiment pools several) and ``space`` (the space the foci were reported in,
        ``"MNI"`` or ``"TAL"``). Extra columns (titles, years, ...) are kept.
    foci : pandas.DataFrame
        One row per focus with columns ``experiment`` (an id of ``experiments``) and ``x``,
        ``y``, ``z`` (float, MNI millimetres).
    name : str
        A short name used in reports.
    source : str
        Where the studyset came from (a file path, a database and query).
    notes : tuple of str
        What the reader left out or filled in (contrasts without coordinates, sample sizes
        taken from a default), one sentence each; estimators repeat them in their results'
        warnings. Kept by :meth:`select`, :meth:`drop` and :meth:`concat`.

    Notes
    -----
    Every experiment must have at least one focus: an experiment without foci contributes
    nothing to ALE and almost always signals an error in the input.
    """

    experiments: pd.DataFrame
    foci: pd.DataFrame
    name: str = "studyset"
    source: str = ""
    notes: tuple[str, ...] = ()
    _index: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = self.source or self.name
        missing = [c for c in _EXPERIMENT_COLUMNS if c not in self.experiments.columns]
        if missing:
            raise InputError(f"experiments table lacks column(s) {missing}", source=where)
        missing = [c for c in _FOCI_COLUMNS if c not in self.foci.columns]
        if missing:
            raise InputError(f"foci table lacks column(s) {missing}", source=where)
        experiments = self.experiments.copy()
        experiments.index = experiments.index.astype(str)
        experiments.index.name = "id"
        if experiments.index.has_duplicates:
            dup = experiments.index[experiments.index.duplicated()][0]
            raise InputError(f"experiment id {dup!r} is not unique", source=where)
        sizes = pd.to_numeric(experiments["sample_size"], errors="coerce").astype(float)
        bad = ~(np.isfinite(sizes) & (sizes > 0))
        if bad.any():
            raise InputError(
                f"sample_size must be a number > 0 for every experiment; "
                f"{experiments.index[bad.to_numpy()][0]!r} has {experiments['sample_size'][bad].iloc[0]!r}",
                source=where,
            )
        experiments["sample_size"] = sizes
        foci = self.foci.reset_index(drop=True).copy()
        foci["experiment"] = foci["experiment"].astype(str)
        for axis in "xyz":
            foci[axis] = pd.to_numeric(foci[axis], errors="coerce").astype(float)
        if not np.isfinite(foci[["x", "y", "z"]].to_numpy()).all():
            row = int(np.flatnonzero(~np.isfinite(foci[["x", "y", "z"]].to_numpy()).all(axis=1))[0])
            raise InputError(f"focus {row} has a non-finite coordinate", source=where)
        index = experiments.index.get_indexer(foci["experiment"])
        if (index < 0).any():
            unknown = foci["experiment"][index < 0].iloc[0]
            raise InputError(f"focus refers to unknown experiment {unknown!r}", source=where)
        counts = np.bincount(index, minlength=len(experiments))
        if (counts == 0).any():
            empty = experiments.index[counts == 0][0]
            raise InputError(f"experiment {empty!r} has no foci", source=where)
        object.__setattr__(self, "experiments", experiments)
        object.__setattr__(self, "foci", foci)
        object.__setattr__(self, "notes", tuple(dict.fromkeys(str(n) for n in self.notes)))
        object.__setattr__(self, "_index", index.astype(np.intp))

    # -- array views used by the estimators ---------------------------------------------------
    @property
    def coordinates(self) -> np.ndarray:
        """Focus coordinates, (n_foci, 3) float64, MNI mm."""
        return self.foci[["x", "y", "z"]].to_numpy(dtype=float)

    @property
    def focus_experiment(self) -> np.ndarray:
        """For each focus, the position of its experiment in :attr:`experiments`, (n_foci,)."""
        return self._index

    @property
    def sample_sizes(self) -> np.ndarray:
        """Sample size of each experiment, (n_experiments,) float64."""
        return self.experiments["sample_size"].to_numpy(dtype=float)

    @property
    def ids(self) -> list[str]:
        """Experiment ids in order."""
        return list(self.experiments.index)

    @property
    def n_experiments(self) -> int:
        return len(self.experiments)

    @property
    def n_foci(self) -> int:
        return len(self.foci)

    @property
    def n_subjects(self) -> float:
        """Total number of subjects (sum of sample sizes)."""
        return float(self.sample_sizes.sum())

    def __len__(self) -> int:
        return self.n_experiments

    def __repr__(self) -> str:
        return (
            f"Studyset({self.name!r}: {self.n_experiments} experiments, {self.n_foci} foci, "
            f"{self.n_subjects:g} subjects)"
        )

    def __eq__(self, other: object) -> bool:
        """Same experiments (ids, studies, sample sizes, spaces, in order) and the same foci."""
        if not isinstance(other, Studyset):
            return NotImplemented
        mine, theirs = self.experiments, other.experiments
        return (
            self.ids == other.ids
            and mine["study"].astype(str).tolist() == theirs["study"].astype(str).tolist()
            and mine["space"].astype(str).tolist() == theirs["space"].astype(str).tolist()
            and np.array_equal(self.sample_sizes, other.sample_sizes)
            and np.array_equal(self.focus_experiment, other.focus_experiment)
            and np.array_equal(self.coordinates, other.coordinates)
        )

    # A Studyset holds mutable DataFrames and compares by content, so it is not hashable.
    __hash__ = None  # type: ignore[assignment]

    def outside_box(self) -> np.ndarray:
        """Foci whose nearest MNI152 2 mm voxel lies outside the 91 x 109 x 91 grid, (n_foci,) bool.

        Such foci are kept (as NiMARE keeps them); only the parts of their kernels that reach
        into the grid contribute to ALE.
        """
        ijk = np.rint((self.coordinates - _MNI152_2MM_ORIGIN) / 2.0)
        return ((ijk < 0) | (ijk >= np.array(MNI152_2MM_SHAPE))).any(axis=1)

    def to_table(self) -> pd.DataFrame:
        """One row per focus: experiment, study, sample_size, space ("MNI"), reported_space, x, y, z.

        Extra per-focus columns (a peak statistic read from a CSV, ...) follow.

        The inverse of :func:`syntony.meta.readers.read_csv` (which reads this table back).
        """
        extra = [c for c in self.foci.columns if c not in _FOCI_COLUMNS]
        table = self.foci[["experiment", "x", "y", "z", *extra]].copy()
        info = self.experiments.iloc[self._index]
        table.insert(1, "study", info["study"].to_numpy())
        table.insert(2, "sample_size", info["sample_size"].to_numpy())
        # The coordinates are MNI whatever the experiment reported, so the table says so and
        # keeps the reported space beside it; read_csv then reads it back without converting.
        table.insert(3, "space", "MNI")
        table.insert(4, "reported_space", info["space"].to_numpy())
        return table

    def summary(self) -> dict[str, float | int]:
        """Counts for reports: experiments, foci, subjects, median sample size, foci per experiment."""
        counts = np.bincount(self._index, minlength=self.n_experiments)
        return {
            "n_experiments": self.n_experiments,
            "n_studies": int(self.experiments["study"].nunique()),
            "n_foci": self.n_foci,
            "n_subjects": self.n_subjects,
            "median_sample_size": float(np.median(self.sample_sizes)),
            "median_foci_per_experiment": float(np.median(counts)),
            "n_foci_outside_box": int(self.outside_box().sum()),
        }

    # -- building new studysets ---------------------------------------------------------------
    def select(self, ids: Iterable[str], *, name: str | None = None) -> Studyset:
        """Return the studyset restricted to the experiments ``ids`` (in the given order)."""
        wanted = [str(i) for i in ids]
        unknown = [i for i in wanted if i not in self.experiments.index]
        if unknown:
            raise InputError(
                f"unknown experiment id(s) {unknown[:5]}", source=self.source or self.name
            )
        experiments = self.experiments.loc[wanted]
        foci = self.foci[self.foci["experiment"].isin(set(wanted))]
        return Studyset(
            experiments, foci, name=name or self.name, source=self.source, notes=self.notes
        )

    def drop(self, ids: Iterable[str], *, name: str | None = None) -> Studyset:
        """Return the studyset without the experiments ``ids`` (which must exist)."""
        unwanted = {str(i) for i in ids}
        unknown = sorted(unwanted.difference(self.experiments.index))
        if unknown:
            raise InputError(
                f"unknown experiment id(s) {unknown[:5]}", source=self.source or self.name
            )
        return self.select([i for i in self.ids if i not in unwanted], name=name)

    def with_sample_size(self, sample_size: float) -> Studyset:
        """Return a copy where every experiment has the same ``sample_size``."""
        experiments = self.experiments.copy()
        experiments["sample_size"] = float(sample_size)
        return Studyset(
            experiments, self.foci, name=self.name, source=self.source, notes=self.notes
        )

    @classmethod
    def concat(cls, parts: Sequence[Studyset], *, name: str = "studyset") -> Studyset:
        """Join studysets whose experiment ids do not overlap."""
        experiments = pd.concat([p.experiments for p in parts])
        foci = pd.concat([p.foci for p in parts], ignore_index=True)
        return cls(
            experiments,
            foci,
            name=name,
            source="; ".join(p.source for p in parts if p.source),
            notes=tuple(n for p in parts for n in p.notes),
        )

    @classmethod
    def from_arrays(
        cls,
        coordinates: np.typing.ArrayLike,
        focus_experiment: np.typing.ArrayLike,
        sample_sizes: np.typing.ArrayLike,
        *,
        ids: Sequence[str] | None = None,
        name: str = "studyset",
        source: str = "",
    ) -> Studyset:
        """Build a studyset from plain arrays (MNI coordinates, experiment index per focus)."""
        xyz = np.asarray(coordinates, dtype=float).reshape(-1, 3)
        which = np.asarray(focus_experiment, dtype=np.intp)
        sizes = np.asarray(sample_sizes, dtype=float)
        names = list(ids) if ids is not None else [f"exp{k:04d}" for k in range(sizes.size)]
        experiments = pd.DataFrame(
            {"study": names, "sample_size": sizes, "space": "MNI"}, index=pd.Index(names, name="id")
        )
        foci = pd.DataFrame(
            {
                "experiment": np.asarray(names, dtype=object)[which],
                "x": xyz[:, 0],
                "y": xyz[:, 1],
                "z": xyz[:, 2],
            }
        )
        return cls(experiments, foci, name=name, source=source)


def note(notes: list[str], text: str, *, stacklevel: int = 3) -> None:
    """Warn ``text`` (what a reader dropped or filled in) and keep it for the studyset's notes."""
    warnings.warn(text, UserWarning, stacklevel=stacklevel)
    notes.append(text)


def warn_outside_box(studyset: Studyset, *, stacklevel: int = 3) -> int:
    """Warn, with counts, when foci lie outside the MNI152 2 mm grid; return their number.

    The foci are kept, exactly as NiMARE keeps them, so results stay comparable.
    """
    outside = studyset.outside_box()
    n = int(outside.sum())
    if n:
        n_exp = np.unique(studyset.focus_experiment[outside]).size
        first = studyset.coordinates[outside][0]
        warnings.warn(
            f"{studyset.source or studyset.name}: {n} of {studyset.n_foci} foci "
            f"(in {n_exp} experiment(s)) lie outside the MNI152 2 mm box, e.g. "
            f"({first[0]:g}, {first[1]:g}, {first[2]:g}); they are kept, as in NiMARE",
            UserWarning,
            stacklevel=stacklevel,
        )
    return n


_SPACE_ALIASES = {
    "mni": "MNI",
    "mni152": "MNI",
    "talairach": "TAL",
    "tal": "TAL",
}


def parse_space(
    value: object,
    *,
    source: str | os.PathLike[str] | None = None,
    line: int | None = None,
    field: str | None = None,
) -> str:
    """Map a reference-space name to ``"MNI"`` or ``"TAL"``.

    Accepted (case-insensitive): ``MNI``, ``MNI152``, ``Talairach``, ``TAL`` and NiMARE's
    template names (``mni152_2mm``, ``ale_2mm``). Anything else is an :class:`InputError`.
    """
    text = str(value).strip()
    key = text.lower().replace(" ", "")
    if key in _SPACE_ALIASES:
        return _SPACE_ALIASES[key]
    if key.startswith(("mni152_", "ale_")):
        return "MNI"
    raise InputError(
        f"unknown reference space {text!r}; expected MNI or Talairach (TAL)",
        source=source,
        line=line,
        field=field,
    )


def to_mni(xyz: np.ndarray, spaces: np.ndarray) -> np.ndarray:
    """MNI copy of ``xyz`` (n, 3): rows whose ``spaces`` entry is ``"TAL"`` are converted."""
    out = np.array(xyz, dtype=float, copy=True)
    tal = spaces == "TAL"
    if tal.any():
        out[tal] = tal_to_mni(out[tal])
    return out
