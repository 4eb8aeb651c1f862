"""Open reference databases of published coordinates: NeuroQuery and Neurosynth.

The loaders read the released files into a :class:`~syntony.meta.reference.ReferenceDatabase`
(defined in :mod:`syntony.meta.reference`, re-exported here): peak coordinates in MNI mm, the
article of each peak, the article metadata and its annotations, NeuroQuery's per-article term
counts (abstract, title and keywords over a 7,547-term vocabulary) or Neurosynth's LDA-50 topic
weights.

Each article is one experiment, as in NiMARE's conversion of these databases. Neither
database records sample sizes, so :meth:`ReferenceDatabase.studyset` requires an explicit
``default_n``.

Coordinate spaces (Neurosynth only; NeuroQuery is all MNI): ``TAL`` articles are converted
with :func:`syntony.meta.space.tal_to_mni`, as NiMARE does. 1,832 Neurosynth articles
report ``UNKNOWN``; by default (``unknown_space="MNI"``) their peaks are used as reported,
which is what NiMARE does (it leaves coordinates of an unrecognised space untransformed);
``"TAL"`` converts them, ``"exclude"`` leaves those articles out (with a warning that counts
them). The space each article reported is kept in the ``reported_space`` column.
"""

from __future__ import annotations

import json
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from syntony.errors import InputError, ParameterError
from syntony.meta.reference import ReferenceDatabase
from syntony.meta.space import tal_to_mni

__all__ = [
    "ReferenceDatabase",
    "load_database",
    "load_neuroquery",
    "load_neurosynth",
]

_UNKNOWN_SPACE_CHOICES = ("MNI", "TAL", "exclude")


def _one(folder: Path, pattern: str, what: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        state = "missing" if not found else f"ambiguous ({[f.name for f in found]})"
        raise InputError(f"{what} file {pattern!r} is {state}", source=str(folder))
    return found[0]


#: What reading a damaged file can raise (truncated or non-gzip data, bad zip, bad text).
_UNREADABLE = (OSError, ValueError, TypeError, EOFError, zlib.error, zipfile.BadZipFile)


def _reason(exc: BaseException) -> str:
    """The first line of a library's error, for a one-line message."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read_table(path: Path, columns: dict[str, object]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", usecols=list(columns), dtype=columns)
    except _UNREADABLE as exc:
        raise InputError(f"cannot read table ({_reason(exc)})", source=str(path)) from None
    return table


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", source=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", source=str(path)) from None


def _peaks(
    coords: pd.DataFrame, metadata: pd.DataFrame, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    xyz = coords[["x", "y", "z"]].to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(xyz).all(axis=1))
    if bad.size:
        raise InputError("non-finite coordinate", source=str(path), line=int(bad[0]) + 2)
    rows = metadata.index.get_indexer(coords["id"])
    if (rows < 0).any():
        k = int(np.flatnonzero(rows < 0)[0])
        raise InputError(
            f"peak of article {coords['id'].iloc[k]!r}, which is not in the metadata",
            source=str(path),
            line=k + 2,
        )
    order = np.argsort(rows, kind="stable")
    return xyz[order], rows[order].astype(np.intp)


def _metadata(path: Path, columns: dict[str, object]) -> pd.DataFrame:
    table = _read_table(path, columns)
    table["id"] = table["id"].astype(str)
    if table["id"].duplicated().any():
        dup = table["id"][table["id"].duplicated()].iloc[0]
        raise InputError(f"article id {dup!r} appears twice", source=str(path))
    return table.set_index("id")


def load_neuroquery(path: str | Path | None = None) -> ReferenceDatabase:
    """Load the NeuroQuery database (coordinates, titles, term counts and vocabulary).

    Parameters
    ----------
    path : path-like, optional
        Folder with the ``data-neuroquery_version-1_*`` files. Default: the local copy found
        or downloaded by :func:`syntony.datasets.fetch_neuroquery`.
    """
    if path is None:
        from syntony.datasets import fetch_neuroquery

        path = fetch_neuroquery()
    folder = Path(path)
    meta_path = _one(folder, "data-neuroquery_version-*_metadata.tsv.gz", "NeuroQuery metadata")
    coord_path = _one(
        folder, "data-neuroquery_version-*_coordinates.tsv.gz", "NeuroQuery coordinates"
    )
    vocab_path = _one(
        folder, "data-neuroquery_version-*_vocab-*_vocabulary.txt", "NeuroQuery vocabulary"
    )
    metadata = _metadata(meta_path, {"id": str, "title": str})
    metadata["space"] = "MNI"
    metadata["reported_space"] = "MNI"
    coords = _read_table(coord_path, {"id": str, "x": float, "y": float, "z": float})
    xyz, rows = _peaks(coords, metadata, coord_path)
    vocabulary = pd.Index(_read_lines(vocab_path))
    counts: dict[str, sparse.csr_matrix] = {}
    for src in ("abstract", "title", "keywords"):
        feat = _one(
            folder,
            f"data-neuroquery_version-*_source-{src}_type-count_features.npz",
            f"{src} counts",
        )
        matrix = _load_npz(feat, (len(metadata), len(vocabulary)))
        counts[src] = matrix
    return _finish(
        dict(
            name="neuroquery",
            metadata=metadata,
            coordinates=xyz,
            peak_article=rows,
            term_counts=counts,
            vocabulary=vocabulary,
            source=str(folder),
        )
    )


def load_neurosynth(
    path: str | Path | None = None, *, unknown_space: str = "MNI"
) -> ReferenceDatabase:
    """Load the Neurosynth database (coordinates, metadata, LDA-50 topic weights and keys).

    Parameters
    ----------
    path : path-like, optional
        Folder with the ``data-neurosynth_version-7_*`` files. Default: the local copy found
        or downloaded by :func:`syntony.datasets.fetch_neurosynth`.
    unknown_space : {"MNI", "TAL", "exclude"}
        What to do with articles whose space is ``UNKNOWN``: use the peaks as reported
        (``"MNI"``, NiMARE's behaviour and the default), convert them from Talairach
        (``"TAL"``) or leave the articles out (``"exclude"``, with a warning).
    """
    if unknown_space not in _UNKNOWN_SPACE_CHOICES:
        raise ParameterError("unknown_space", f"one of {_UNKNOWN_SPACE_CHOICES}", unknown_space)
    if path is None:
        from syntony.datasets import fetch_neurosynth

        path = fetch_neurosynth()
    folder = Path(path)
    meta_path = _one(folder, "data-neurosynth_version-*_metadata.tsv.gz", "Neurosynth metadata")
    coord_path = _one(
        folder, "data-neurosynth_version-*_coordinates.tsv.gz", "Neurosynth coordinates"
    )
    metadata = _metadata(
        meta_path,
        {
            "id": str,
            "doi": str,
            "space": str,
            "title": str,
            "authors": str,
            "year": "Int64",
            "journal": str,
        },
    )
    reported = metadata.pop("space").fillna("UNKNOWN").str.strip().str.upper()
    unknown = sorted(set(reported) - {"MNI", "TAL", "UNKNOWN"})
    if unknown:
        raise InputError(
            f"unknown space value(s) {unknown}; expected MNI, TAL or UNKNOWN",
            source=str(meta_path),
            field="space",
        )
    treated = reported.where(reported != "UNKNOWN", unknown_space)
    metadata["space"] = treated.where(treated != "exclude", "UNKNOWN")
    metadata["reported_space"] = reported
    coords = _read_table(coord_path, {"id": str, "x": float, "y": float, "z": float})
    xyz, rows = _peaks(coords, metadata, coord_path)
    is_tal = (metadata["space"] == "TAL").to_numpy()[rows]
    xyz[is_tal] = tal_to_mni(xyz[is_tal])

    topic_weights = None
    topics = pd.DataFrame({"keys": []})
    vocab_files = sorted(folder.glob("data-neurosynth_version-*_vocab-LDA*_vocabulary.txt"))
    if vocab_files:
        vocab_path = _one(
            folder, "data-neurosynth_version-*_vocab-LDA*_vocabulary.txt", "LDA vocabulary"
        )
        prefix = vocab_path.name[: -len("vocabulary.txt")]
        labels = _read_lines(vocab_path)
        feat = _one(folder, f"{prefix}source-abstract_type-weight_features.npz", "LDA weights")
        topic_weights = _load_npz(feat, (len(metadata), len(labels)))
        keys = pd.Series([""] * len(labels), index=labels, dtype=object)
        keys_path = folder / f"{prefix}keys.tsv"
        if keys_path.exists():
            keys[:] = _topic_keys(keys_path, len(labels))
        topics = pd.DataFrame({"keys": keys})
        topics.index.name = "topic"
        meta_json = folder / f"{prefix}metadata.json"
        if meta_json.exists():
            try:
                info = json.loads(meta_json.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(
                    f"not valid JSON ({_reason(exc)})", source=str(meta_json)
                ) from None
            if not isinstance(info, dict):
                raise InputError("expected a JSON object", source=str(meta_json))
            topics.attrs.update(info)

    db = _finish(
        dict(
            name="neurosynth",
            metadata=metadata,
            coordinates=xyz,
            peak_article=rows,
            topic_weights=topic_weights,
            topics=topics,
            source=str(folder),
        )
    )
    if unknown_space == "exclude":
        # Articles without peaks are already gone: count on the database that is left.
        drop = (db.metadata["reported_space"] == "UNKNOWN").to_numpy()
        warnings.warn(
            f"neurosynth: {int(drop.sum())} article(s) with UNKNOWN space left out "
            f"({int(db.peaks_per_article[drop].sum())} peaks)",
            stacklevel=2,
        )
        db = db.take(np.flatnonzero(~drop))
    return db


def _topic_keys(path: Path, n_topics: int) -> np.ndarray:
    """The top words of each topic, from a ``keys.tsv`` of rows ``topic, weight, words``."""
    try:
        table = pd.read_csv(
            path, sep="\t", header=None, names=["topic", "weight", "keys"], dtype=str,
            keep_default_na=False,
        )  # fmt: skip
    except _UNREADABLE as exc:
        raise InputError(f"cannot read table ({_reason(exc)})", source=str(path)) from None
    numbers = pd.to_numeric(table["topic"].str.strip(), errors="coerce")
    bad = ~(numbers.notna() & (numbers % 1 == 0) & (numbers >= 0))
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"topic number expected, got {table['topic'].iloc[k]!r}",
            source=str(path),
            line=k + 1,
            field="topic",
        )
    if numbers.duplicated().any():
        k = int(np.flatnonzero(numbers.duplicated().to_numpy())[0])
        raise InputError("topic listed twice", source=str(path), line=k + 1, field="topic")
    keys = pd.Series(table["keys"].to_numpy(), index=numbers.astype(int).to_numpy())
    return keys.reindex(range(n_topics)).fillna("").astype(str).to_numpy()


def _load_npz(path: Path, shape: tuple[int, int]) -> sparse.csr_matrix:
    try:
        matrix = sparse.load_npz(path).tocsr()
    except (*_UNREADABLE, KeyError) as exc:
        raise InputError(f"cannot read sparse matrix ({_reason(exc)})", source=str(path)) from None
    if matrix.shape != shape:
        raise InputError(
            f"matrix shape {matrix.shape} does not match (articles, vocabulary) {shape}",
            source=str(path),
        )
    return matrix


def _finish(args: dict) -> ReferenceDatabase:
    db = ReferenceDatabase(**args)
    empty = db.peaks_per_article == 0
    if empty.any():
        warnings.warn(
            f"{db.name}: {int(empty.sum())} article(s) without peaks left out", stacklevel=3
        )
        db = db.take(np.flatnonzero(~empty))
    return db


def load_database(path: str | Path, **options: object) -> ReferenceDatabase:
    """Load NeuroQuery or Neurosynth from ``path``, recognised by its file names."""
    folder = Path(path)
    if any(folder.glob("data-neuroquery_version-*_coordinates.tsv.gz")):
        return load_neuroquery(folder, **options)
    if any(folder.glob("data-neurosynth_version-*_coordinates.tsv.gz")):
        return load_neurosynth(folder, **options)
    raise InputError(
        "no NeuroQuery (data-neuroquery_version-*) or Neurosynth (data-neurosynth_version-*) files",
        source=str(folder),
    )
