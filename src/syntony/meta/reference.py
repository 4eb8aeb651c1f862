"""A reference database of published coordinates held in memory, and its selections.

:class:`ReferenceDatabase` keeps every article of NeuroQuery or Neurosynth as arrays (MNI peaks
grouped by article, the article of each peak) with the article metadata and its annotations
(term counts or topic weights). It selects articles by id, title, terms or topics, finds the
articles with a peak inside a region (what MACM needs) and turns a selection into a
:class:`~syntony.meta.studyset.Studyset`. The files are read by :mod:`syntony.meta.databases`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from syntony.errors import InputError, ParameterError
from syntony.meta.studyset import Studyset

__all__ = ["ReferenceDatabase"]

# The MNI152 2 mm grid (91 x 109 x 91), used when a region is given as voxel indices.
_MNI_2MM_AFFINE = np.array(
    [[2.0, 0, 0, -90.0], [0, 2.0, 0, -126.0], [0, 0, 2.0, -72.0], [0, 0, 0, 1.0]]
)
_MNI_2MM_SHAPE = (91, 109, 91)


@dataclass(frozen=True, eq=False)
class ReferenceDatabase:
    """Articles of an open coordinate database, held as arrays for fast selection.

    Parameters
    ----------
    name : str
        ``"neuroquery"`` or ``"neurosynth"`` (used in reports and error messages).
    metadata : pandas.DataFrame
        One row per article, indexed by article id (str), with at least ``title``, ``space``
        (the space its peaks were treated as being in: ``"MNI"`` or ``"TAL"``; the coordinates
        are MNI either way) and ``reported_space`` (as the database says, e.g. ``UNKNOWN``).
    coordinates : ndarray, shape (n_peaks, 3)
        Peak coordinates in MNI mm, grouped by article in the order of ``metadata``.
    peak_article : ndarray of int, shape (n_peaks,)
        Row of ``metadata`` of each peak (non-decreasing).
    term_counts : dict of str to scipy.sparse.csr_matrix
        Per source (``"abstract"``, ``"title"``, ``"keywords"``), an (n_articles, n_terms)
        matrix of counts; empty for Neurosynth.
    vocabulary : pandas.Index
        The terms (columns of ``term_counts``).
    topic_weights : scipy.sparse.csr_matrix or None
        (n_articles, n_topics) LDA weights (Neurosynth).
    topics : pandas.DataFrame
        One row per topic, indexed by its label, with ``keys`` (its top words).
    source : str
        Where the files were read from.
    """

    name: str
    metadata: pd.DataFrame
    coordinates: np.ndarray
    peak_article: np.ndarray
    term_counts: dict[str, sparse.csr_matrix] = field(default_factory=dict)
    vocabulary: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    topic_weights: sparse.csr_matrix | None = None
    topics: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"keys": []}))
    source: str = ""
    _starts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.metadata)
        order = np.asarray(self.peak_article)
        if order.size and (np.any(np.diff(order) < 0) or order[0] < 0 or order[-1] >= n):
            raise ValueError("peak_article must be non-decreasing rows of metadata")
        # starts[k]:starts[k + 1] are the peaks of article k (a CSR-like layout).
        starts = np.searchsorted(order, np.arange(n + 1))
        object.__setattr__(self, "_starts", starts)

    # -- basic views ---------------------------------------------------------------------------
    @property
    def ids(self) -> np.ndarray:
        """Article ids, (n_articles,) of str."""
        return self.metadata.index.to_numpy()

    @property
    def n_articles(self) -> int:
        return len(self.metadata)

    @property
    def n_peaks(self) -> int:
        return int(self.coordinates.shape[0])

    @property
    def peaks_per_article(self) -> np.ndarray:
        """Number of peaks of each article, (n_articles,)."""
        return np.diff(self._starts)

    def __len__(self) -> int:
        return self.n_articles

    def __repr__(self) -> str:
        return f"ReferenceDatabase({self.name!r}: {self.n_articles} articles, {self.n_peaks} peaks)"

    def term_count(self, term: str, *, sources: Sequence[str] | None = None) -> np.ndarray:
        """Occurrences of ``term`` in each article, summed over ``sources``, (n_articles,)."""
        mats = self._sources(sources)
        column = self._term_column(term)
        total = np.zeros(self.n_articles)
        for mat in mats:
            total += mat[:, column].toarray().ravel()
        return total

    def find_terms(self, pattern: str) -> list[str]:
        """Vocabulary terms matching the regular expression ``pattern`` (case-insensitive)."""
        regex = _compile(pattern, "pattern")
        return [t for t in self.vocabulary if regex.search(t)]

    def find_topics(self, word: str) -> list[str]:
        """Topics whose label or top words contain ``word``."""
        word = word.lower()
        hits = self.topics.index.str.lower().str.contains(word, regex=False) | self.topics[
            "keys"
        ].str.lower().str.split().apply(lambda keys: word in keys)
        return list(self.topics.index[hits.to_numpy()])

    # -- selection -------------------------------------------------------------------------------
    def select(
        self,
        *,
        ids: Iterable[str | int] | None = None,
        title: str | re.Pattern[str] | None = None,
        terms: str | Sequence[str] | None = None,
        min_count: int = 1,
        sources: Sequence[str] | None = None,
        match: str = "any",
        topics: str | int | Sequence[str | int] | None = None,
        min_weight: float = 0.05,
    ) -> ReferenceDatabase:
        """Return the articles meeting every given criterion, as a smaller database.

        Parameters
        ----------
        ids : iterable of str or int, optional
            Article ids (PubMed ids). Unknown ids are an error.
        title : str or compiled regex, optional
            Regular expression searched in the title (case-insensitive when given as str).
        terms : str or sequence of str, optional
            NeuroQuery vocabulary terms; an article qualifies when a term occurs at least
            ``min_count`` times in its ``sources`` (summed). Unknown terms are an error that
            lists close vocabulary entries.
        min_count : int
            Minimum number of occurrences (default 1).
        sources : sequence of {"abstract", "title", "keywords"}, optional
            Which text the counts come from (default: all three).
        match : {"any", "all"}
            Whether one of the ``terms`` suffices or all are needed.
        topics : str, int or sequence, optional
            Neurosynth LDA topics (labels or column numbers); an article qualifies when its
            weight for one of them is at least ``min_weight``.
        min_weight : float
            Topic-weight threshold (default 0.05).

        Returns
        -------
        ReferenceDatabase
            The selected articles (in database order) with their peaks and annotations.
        """
        keep = np.ones(self.n_articles, dtype=bool)
        if ids is not None:
            wanted = pd.Index([str(i) for i in ids])
            rows = self.metadata.index.get_indexer(wanted)
            if (rows < 0).any():
                missing = list(wanted[rows < 0][:5])
                raise InputError(f"unknown article id(s) {missing}", source=self.name)
            chosen = np.zeros(self.n_articles, dtype=bool)
            chosen[rows] = True
            keep &= chosen
        if title is not None:
            regex = _compile(title, "title")
            titles = self.metadata["title"].fillna("").astype(str)
            keep &= titles.map(lambda t: regex.search(t) is not None).to_numpy(dtype=bool)
        if terms is not None:
            keep &= self._term_mask(terms, min_count=min_count, sources=sources, match=match)
        if topics is not None:
            keep &= self._topic_mask(topics, min_weight=min_weight)
        return self.take(np.flatnonzero(keep))

    def experiments_with_focus_in(self, region: object) -> np.ndarray:
        """Ids of the articles with at least one peak inside ``region``.

        Parameters
        ----------
        region : ROI, nibabel image, boolean ndarray or integer ndarray
            A :class:`syntony.meta.roi.ROI` (its volume on its grid), a 3-D image (non-zero
            voxels are the region; its own affine maps peaks to voxels),
            a boolean array on the MNI152 2 mm grid (91 x 109 x 91), or an (n, 3) array of
            voxel indices on that grid. Peaks go to the nearest voxel (round half to even,
            as NiMARE); peaks outside the image never count.
        """
        mask, affine = _region_mask(region)
        ijk = np.rint(
            self.coordinates @ np.linalg.inv(affine)[:3, :3].T + np.linalg.inv(affine)[:3, 3]
        )
        ijk = ijk.astype(np.int64)
        inside = np.all((ijk >= 0) & (ijk < np.array(mask.shape)), axis=1)
        hit = np.zeros(self.n_peaks, dtype=bool)
        hit[inside] = mask[ijk[inside, 0], ijk[inside, 1], ijk[inside, 2]]
        articles = np.unique(self.peak_article[hit])
        return self.ids[articles]

    def experiments_near(self, center_mm: Sequence[float], radius_mm: float) -> np.ndarray:
        """Ids of the articles with a peak within ``radius_mm`` of ``center_mm`` (MNI mm)."""
        center = np.asarray(center_mm, dtype=float).reshape(3)
        if not radius_mm > 0:
            raise ParameterError("radius_mm", "a number > 0", radius_mm)
        d2 = ((self.coordinates - center) ** 2).sum(axis=1)
        return self.ids[np.unique(self.peak_article[d2 <= radius_mm**2])]

    def take(self, rows: np.ndarray) -> ReferenceDatabase:
        """The articles at positions ``rows`` (with their peaks and annotations), in that order."""
        rows = np.asarray(rows, dtype=np.intp)
        counts = self.peaks_per_article[rows]
        # Gather each selected article's contiguous run of peaks without a Python loop.
        offsets = np.repeat(self._starts[rows] - np.cumsum(counts) + counts, counts)
        peaks = offsets + np.arange(counts.sum())
        return ReferenceDatabase(
            name=self.name,
            metadata=self.metadata.iloc[rows],
            coordinates=self.coordinates[peaks],
            peak_article=np.repeat(np.arange(rows.size), counts),
            term_counts={k: m[rows] for k, m in self.term_counts.items()},
            vocabulary=self.vocabulary,
            topic_weights=None if self.topic_weights is None else self.topic_weights[rows],
            topics=self.topics,
            source=self.source,
        )

    # -- conversion ------------------------------------------------------------------------------
    def studyset(self, *, default_n: float | None = None, name: str | None = None) -> Studyset:
        """All articles of this (selected) database as a studyset with sample size ``default_n``.

        Raises
        ------
        InputError
            Without ``default_n``: these databases have no sample sizes and none is guessed.
        """
        if default_n is None:
            raise InputError(
                f"{self.name} has no sample sizes: give default_n explicitly (e.g. 20); "
                "reports state the value used",
                source=self.source or self.name,
            )
        if not (np.isfinite(default_n) and default_n > 0):
            raise ParameterError("default_n", "a number > 0", default_n)
        if self.n_articles == 0:
            raise InputError("the selection is empty: no articles", source=self.source or self.name)
        experiments = self.metadata.copy()
        experiments.insert(0, "study", experiments.index.to_numpy())
        experiments.insert(1, "sample_size", float(default_n))
        ids = self.ids.astype(object)
        foci = pd.DataFrame(
            {
                "experiment": ids[self.peak_article],
                "x": self.coordinates[:, 0],
                "y": self.coordinates[:, 1],
                "z": self.coordinates[:, 2],
            }
        )
        return Studyset(experiments, foci, name=name or self.name, source=self.source or self.name)

    # -- internals -------------------------------------------------------------------------------
    def _sources(self, sources: Sequence[str] | None) -> list[sparse.csr_matrix]:
        if not self.term_counts:
            raise InputError(
                f"{self.name} has no term counts; select by title or topics instead",
                source=self.source or self.name,
            )
        names = list(self.term_counts) if sources is None else [str(s) for s in sources]
        unknown = [s for s in names if s not in self.term_counts]
        if unknown or not names:
            raise ParameterError("sources", f"a subset of {list(self.term_counts)}", sources)
        return [self.term_counts[s] for s in names]

    def _term_column(self, term: str) -> int:
        key = " ".join(str(term).lower().split())
        column = self.vocabulary.get_indexer([key])[0]
        if column < 0:
            close = difflib.get_close_matches(key, list(self.vocabulary), n=5, cutoff=0.75)
            hint = f"; close terms: {close}" if close else ""
            raise InputError(
                f"term {term!r} is not in the {self.name} vocabulary ({len(self.vocabulary)} terms){hint}",
                source=self.source or self.name,
                field="terms",
            )
        return int(column)

    def _term_mask(self, terms, *, min_count, sources, match) -> np.ndarray:
        if match not in ("any", "all"):
            raise ParameterError("match", "'any' or 'all'", match)
        if not (isinstance(min_count, int | np.integer) and min_count >= 1):
            raise ParameterError("min_count", "an integer >= 1", min_count)
        names = [terms] if isinstance(terms, str) else list(terms)
        if not names:
            raise ParameterError("terms", "at least one term", terms)
        mats = self._sources(sources)
        columns = [self._term_column(t) for t in names]
        total = sum(m[:, columns] for m in mats).tocsc()
        hits = (total >= min_count).toarray()
        return hits.any(axis=1) if match == "any" else hits.all(axis=1)

    def _topic_mask(self, topics, *, min_weight) -> np.ndarray:
        if self.topic_weights is None:
            raise InputError(
                f"{self.name} has no topic weights; select by terms or title instead",
                source=self.source or self.name,
            )
        if not (np.isfinite(min_weight) and min_weight > 0):
            raise ParameterError("min_weight", "a number > 0", min_weight)
        wanted = [topics] if isinstance(topics, str | int | np.integer) else list(topics)
        columns = []
        for t in wanted:
            if isinstance(t, int | np.integer):
                if not 0 <= t < len(self.topics):
                    raise ParameterError("topics", f"topic numbers in [0, {len(self.topics)})", t)
                columns.append(int(t))
            else:
                k = self.topics.index.get_indexer([t])[0]
                if k < 0:
                    raise InputError(
                        f"unknown topic {t!r}; see .topics or .find_topics(word)",
                        source=self.source or self.name,
                        field="topics",
                    )
                columns.append(int(k))
        weights = self.topic_weights[:, columns].toarray()
        return (weights >= min_weight).any(axis=1)


def _compile(pattern: str | re.Pattern[str], name: str) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ParameterError(name, "a valid regular expression", f"{pattern!r} ({exc})") from None


def _region_mask(region: object) -> tuple[np.ndarray, np.ndarray]:
    grid = getattr(region, "grid", None)
    if grid is not None and hasattr(region, "volume") and hasattr(grid, "affine"):
        # A syntony.meta.roi.ROI (a boolean volume on a grid).
        return np.asarray(region.volume, dtype=bool), np.asarray(grid.affine, dtype=float)
    if hasattr(region, "affine") and hasattr(region, "get_fdata"):
        data = np.asanyarray(region.dataobj)
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            raise ParameterError("region", "a 3-D image", data.shape)
        return data != 0, np.asarray(region.affine, dtype=float)
    array = np.asarray(region)
    if array.dtype == bool:
        if array.shape != _MNI_2MM_SHAPE:
            raise ParameterError(
                "region", f"a boolean array of shape {_MNI_2MM_SHAPE}", array.shape
            )
        return array, _MNI_2MM_AFFINE
    if array.ndim == 2 and array.shape[1] == 3 and np.issubdtype(array.dtype, np.integer):
        mask = np.zeros(_MNI_2MM_SHAPE, dtype=bool)
        ok = np.all((array >= 0) & (array < np.array(_MNI_2MM_SHAPE)), axis=1)
        if not ok.all():
            raise ParameterError(
                "region", "voxel indices inside the 91 x 109 x 91 grid", array[~ok][0]
            )
        mask[array[:, 0], array[:, 1], array[:, 2]] = True
        return mask, _MNI_2MM_AFFINE
    raise ParameterError(
        "region", "a nibabel image, a 91x109x91 boolean array or (n, 3) voxel indices", type(region)
    )
