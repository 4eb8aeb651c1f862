"""The one result protocol every syntony analysis follows.

A result knows how to write its files (:meth:`Result._write`), read them back
(:meth:`Result._read`) and draw its report (:meth:`Result._build_report`); everything else —
saving atomically into a directory that holds exactly one result, the ``result.json``
manifest, ``report.html``, loading any saved result by its kind, the notebook view — is
defined here once.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from syntony.errors import InputError
from syntony.report._html import Report

__all__ = ["MANIFEST", "REPORT", "Result", "load_result", "read_manifest"]

#: The manifest every saved result directory holds.
MANIFEST = "result.json"
#: The report written beside the result's files.
REPORT = "report.html"
_FORMAT = 1


class Result(ABC):
    """Base class of every analysis result.

    Subclasses set ``kind`` (a unique key stored in the manifest) and ``title``, expose
    ``parameters``, ``provenance`` and ``methods``, and implement :meth:`summary`,
    :meth:`_write`, :meth:`_read` and :meth:`_build_report`. An optional ``warnings`` attribute
    (a sequence of strings) is shown at the top of the report and saved in the manifest.
    """

    kind: ClassVar[str]
    title: ClassVar[str]
    _registry: ClassVar[dict[str, type[Result]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if kind is not None:
            Result._registry[kind] = cls

    # -- what subclasses provide ---------------------------------------------------------------
    @abstractmethod
    def summary(self) -> str:
        """A few lines for the terminal: the main numbers and what they mean."""

    @abstractmethod
    def _write(self, directory: Path) -> None:
        """Write the result's own files into ``directory`` (new, empty, not yet visible)."""

    @classmethod
    @abstractmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> Self:
        """Rebuild the result from ``directory``; ``manifest`` is its parsed ``result.json``."""

    @abstractmethod
    def _build_report(self, report: Report) -> None:
        """Add the result's sections (figures, tables, text) to ``report``."""

    # -- the protocol ---------------------------------------------------------------------------
    @property
    def result_warnings(self) -> list[str]:
        return [str(w) for w in (getattr(self, "warnings", None) or ())]

    def report(self) -> Report:
        """The HTML report of this result (``_repr_html_`` for notebooks, ``save(path)``)."""
        report = Report(self.title, subtitle=self._subtitle())
        for message in self.result_warnings:
            report.warn(message)
        self._build_report(report)
        report.methods(self.methods)
        report.parameters(self.parameters)
        report.provenance(self.provenance)
        return report

    def _subtitle(self) -> str | None:
        first = self.summary().strip().splitlines()
        return first[0] if first else None

    def save(self, directory: str | Path, *, force: bool = False) -> list[Path]:
        """Write the result, its manifest and its report into ``directory``.

        The directory is built aside and swapped in whole: it never holds half a result, and
        with ``force`` an earlier result is replaced entirely (no file of it survives).

        Returns
        -------
        list of Path
            Every file written, under ``directory``.

        Raises
        ------
        OutputExistsError
            ``directory`` already holds files and ``force`` is false.
        """
        from syntony._io_utils import staged_directory

        target = Path(directory)
        with staged_directory(target, force=force) as tmp:
            names = self._write_into(tmp)
        return [target / name for name in names]

    def _write_into(self, directory: Path) -> list[str]:
        """Write files, manifest and report into an existing empty ``directory``.

        Composite results (a workflow) call this on their parts' subdirectories.
        """
        directory.mkdir(parents=True, exist_ok=True)
        self._write(directory)
        self.report().save(directory / REPORT)
        files = sorted(
            str(p.relative_to(directory)).replace("\\", "/")
            for p in directory.rglob("*")
            if p.is_file() and p.name != MANIFEST
        )
        manifest = {
            "format": _FORMAT,
            "kind": self.kind,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "title": self.title,
            "summary": self.summary(),
            "warnings": self.result_warnings,
            "parameters": self.parameters,
            "provenance": self.provenance,
            "methods": self.methods,
            "files": files,
        }
        from syntony._io_utils import write_json

        write_json(directory / MANIFEST, manifest)
        return [*files, MANIFEST]

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """Read a result saved by :meth:`save`.

        Called on :class:`Result` it returns whatever kind of result the directory holds; on a
        subclass it also checks that the directory holds that kind.
        """
        result = load_result(directory)
        if cls is not Result and not isinstance(result, cls):
            raise InputError(
                f"holds a {result.kind!r} result, not {cls.kind!r}",
                source=Path(directory) / MANIFEST,
                field="kind",
            )
        return result  # type: ignore[return-value]

    def _repr_html_(self) -> str:
        return self.report()._repr_html_()

    def __repr__(self) -> str:
        first = self.summary().strip().splitlines()
        return f"<{type(self).__name__}: {first[0] if first else self.title}>"


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The parsed ``result.json`` of a saved result, checked for the fields every result has."""
    path = Path(directory) / MANIFEST
    if not Path(directory).is_dir():
        raise InputError("expected a directory written by a syntony analysis", source=directory)
    if not path.is_file():
        raise InputError(
            f"not a syntony result directory (no {MANIFEST}; was it written by an older "
            "version or by hand?)",
            source=directory,
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", source=path) from None
    if not isinstance(manifest, Mapping):
        raise InputError("expected a JSON object", source=path)
    for key in ("kind", "class", "parameters", "provenance", "methods"):
        if key not in manifest:
            raise InputError("missing field", source=path, field=key)
    return dict(manifest)


def load_result(directory: str | Path) -> Result:
    """Load the result saved in ``directory``, whatever its kind."""
    manifest = read_manifest(directory)
    path = Path(directory) / MANIFEST
    kind = manifest["kind"]
    cls = Result._registry.get(kind)
    if cls is None:
        module, _, _ = str(manifest["class"]).partition(":")
        if not module.startswith("syntony."):
            raise InputError(f"unknown result class {manifest['class']!r}", source=path)
        try:
            importlib.import_module(module)
        except ImportError:
            raise InputError(
                f"result kind {kind!r} needs {module}, which this syntony does not have",
                source=path,
                field="class",
            ) from None
        cls = Result._registry.get(kind)
        if cls is None:
            raise InputError(f"unknown result kind {kind!r}", source=path, field="kind")
    return cls._read(Path(directory), manifest)
