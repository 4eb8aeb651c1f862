"""Study-set specifications for the command line: a file, or a query of an open database.

Grammar (whitespace around separators is ignored)::

    SPEC  := PATH | DB ":" QUERY
    DB    := "neuroquery" | "neurosynth"
    QUERY := ITEM (";" ITEM)*
    ITEM  := KEY "=" VALUE            (lists: comma-separated values)

Keys (all optional, combined with AND):

- ``terms``: NeuroQuery terms, an article qualifies when one of them occurs (``match=all``:
  every one) at least ``min_count`` times in ``sources`` (``abstract,title,keywords``).
- ``title``: a regular expression searched in the title (case-insensitive).
- ``topics`` / ``min_weight``: Neurosynth LDA topics (labels or numbers) and weight threshold.
- ``ids``: article ids.
- ``not_terms`` / ``not_title``: leave out articles matching these (to make groups disjoint).

Examples: ``neuroquery:terms=empathy``, ``neuroquery:title=imitat``,
``neuroquery:terms=imitation,mimicry;not_terms=empathy;min_count=2``, ``my_studies.txt``.
Database specs need an explicit default sample size (the databases have none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syntony.errors import InputError, ParameterError

if TYPE_CHECKING:
    from syntony.meta.databases import ReferenceDatabase
    from syntony.meta.studyset import Studyset

__all__ = ["DATABASES", "DatabaseSpec", "Databases", "parse_spec", "resolve_spec"]

DATABASES = ("neuroquery", "neurosynth")
_LIST_KEYS = {"terms", "not_terms", "sources", "topics", "ids"}
_SCALAR_KEYS = {"title", "not_title", "min_count", "match", "min_weight"}


@dataclass(frozen=True)
class DatabaseSpec:
    """A parsed database query (see the module's grammar)."""

    database: str
    query: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    def select(self, db: ReferenceDatabase) -> ReferenceDatabase:
        """Apply the query to ``db``."""
        q = dict(self.query)
        exclude_terms = q.pop("not_terms", None)
        exclude_title = q.pop("not_title", None)
        chosen = db.select(**q)
        drop: set[str] = set()
        if exclude_terms:
            sub = {k: q[k] for k in ("sources",) if k in q}
            drop |= set(map(str, chosen.select(terms=exclude_terms, **sub).ids))
        if exclude_title:
            drop |= set(map(str, chosen.select(title=exclude_title).ids))
        if drop:
            chosen = chosen.select(ids=[i for i in map(str, chosen.ids) if i not in drop])
        return chosen


def parse_spec(text: str) -> Path | DatabaseSpec:
    """Parse a SPEC: a :class:`DatabaseSpec` for ``DB:QUERY``, else a file path."""
    head, sep, rest = text.partition(":")
    if not sep or head.strip().lower() not in DATABASES:
        return Path(text)
    database = head.strip().lower()
    query: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(";"))):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or not value.strip():
            raise InputError(f"expected KEY=VALUE, got {item!r}", source=text, field=key or None)
        value = value.strip()
        if key in _LIST_KEYS:
            query[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key == "min_count":
            query[key] = _number(value, int, key, text)
        elif key == "min_weight":
            query[key] = _number(value, float, key, text)
        elif key in _SCALAR_KEYS:
            query[key] = value
        else:
            known = ", ".join(sorted(_LIST_KEYS | _SCALAR_KEYS))
            raise InputError(f"unknown key {key!r} (known: {known})", source=text, field=key)
    if not query:
        raise InputError(
            "a database spec needs a query, e.g. neuroquery:terms=empathy", source=text
        )
    return DatabaseSpec(database, query, text)


def _number(value: str, kind: type, key: str, text: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise InputError(f"{key} must be a number, got {value!r}", source=text, field=key) from None


class Databases:
    """Loads each reference database once, from a folder or through :mod:`syntony.datasets`.

    Parameters
    ----------
    paths : dict of str to path, optional
        Folder of a database by name; databases not listed are found by the fetchers
        (``SYNTONY_NEUROQUERY_DIR`` / ``SYNTONY_NEUROSYNTH_DIR``, then the cache).
    loader : callable, optional
        ``loader(name, path_or_None) -> ReferenceDatabase`` (for tests).
    """

    def __init__(
        self,
        paths: dict[str, str | Path] | None = None,
        *,
        loader: Callable[[str, Path | None], ReferenceDatabase] | None = None,
    ) -> None:
        self.paths = {k.lower(): Path(v) for k, v in (paths or {}).items()}
        self.loader = loader or _load
        self._cache: dict[str, ReferenceDatabase] = {}

    def get(self, name_or_path: str) -> ReferenceDatabase:
        """A database by name (``neuroquery``/``neurosynth``) or by folder."""
        key = name_or_path.strip()
        if key.lower() in DATABASES:
            key = key.lower()
            if key not in self._cache:
                self._cache[key] = self.loader(key, self.paths.get(key))
            return self._cache[key]
        path = Path(key)
        if not path.is_dir():
            raise ParameterError(
                "database", "neuroquery, neurosynth or a folder holding one", name_or_path
            )
        if str(path) not in self._cache:
            from syntony.meta.databases import load_database

            self._cache[str(path)] = load_database(path)
        return self._cache[str(path)]


def _load(name: str, path: Path | None) -> ReferenceDatabase:
    from syntony.meta.databases import load_neuroquery, load_neurosynth

    return load_neuroquery(path) if name == "neuroquery" else load_neurosynth(path)


def resolve_spec(
    text: str,
    *,
    default_n: float | None = None,
    databases: Databases | None = None,
    name: str | None = None,
) -> Studyset:
    """Turn a SPEC into a :class:`~syntony.meta.studyset.Studyset`.

    Raises
    ------
    InputError
        For a database query without ``default_n``, an empty selection, or a bad file.
    """
    from syntony.meta.readers import read_studyset

    spec = parse_spec(text)
    if isinstance(spec, Path):
        return read_studyset(spec, default_n=default_n, name=name)
    if default_n is None:
        raise InputError(
            f"{spec.database} has no sample sizes: give --default-n (e.g. 20)", source=text
        )
    db = (databases or Databases()).get(spec.database)
    chosen = spec.select(db)
    if chosen.n_articles == 0:
        raise InputError(
            f"the query selects no article of {spec.database} ({db.n_articles} searched); "
            "loosen it (other or fewer terms, a lower min_count or min_weight, fewer not_ keys)",
            source=text,
        )
    return chosen.studyset(default_n=default_n, name=name or text)
