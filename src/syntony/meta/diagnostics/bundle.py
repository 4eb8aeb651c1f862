"""A diagnostic as a result carries it: tables, maps, a methods paragraph; files and report.

Every diagnostic saves as ``diagnostics_<name>.tsv`` (its main table) beside the result's own
files, with further tables as ``diagnostics_<name>_<part>.tsv`` and maps as
``diagnostics_<name>[_<part>].nii.gz``; the result's ``analysis.json`` keeps each diagnostic's
record (:meth:`Diagnostic.record`) so that it loads back with its column types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony.meta.result_files import read_maps, read_table, table_types, write_maps, write_table

if TYPE_CHECKING:
    from syntony.meta.space import Grid
    from syntony.report import Report

__all__ = [
    "TITLES",
    "Diagnosable",
    "Diagnostic",
    "diagnostic_sections",
    "read_diagnostics",
    "read_diagnostics_record",
    "write_diagnostics",
]

#: Headings of the diagnostics in the report.
TITLES = {
    "jackknife": "Jackknife",
    "focus-counter": "Focus counter",
    "stability": "Resampled stability",
    "fsn": "Fail-safe N",
    "focus-filter": "Focus filter",
}


@dataclass(eq=False)
class Diagnostic:
    """One diagnostic of a result.

    Attributes
    ----------
    name : str
        ``"jackknife"``, ``"focus-counter"``, ``"stability"``, ``"fsn"`` or ``"focus-filter"``.
    table : pandas.DataFrame
        The main table (``diagnostics_<name>.tsv``).
    parts : dict of str -> DataFrame
        Further tables (``diagnostics_<name>_<part>.tsv``).
    maps : dict of str -> ndarray
        In-mask maps; key ``""`` is ``diagnostics_<name>.nii.gz``, others
        ``diagnostics_<name>_<key>.nii.gz``.
    text : str
        What was computed, for the report and the methods (one paragraph).
    parameters : dict
    references : list of str
    warnings : list of str
    """

    name: str
    table: pd.DataFrame
    text: str
    parameters: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, pd.DataFrame] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def stem(self, part: str = "") -> str:
        return f"diagnostics_{self.name}" + (f"_{part}" if part else "")

    @property
    def files(self) -> list[str]:
        names = [f"{self.stem()}.tsv"] + [f"{self.stem(p)}.tsv" for p in self.parts]
        return names + [f"{self.stem(k)}.nii.gz" for k in self.maps]

    def record(self) -> dict[str, Any]:
        """What ``analysis.json`` keeps of it (all but the tables and maps themselves)."""
        return {
            "name": self.name,
            "text": self.text,
            "parameters": self.parameters,
            "references": list(self.references),
            "warnings": list(self.warnings),
            "table": table_types(self.table),
            "parts": {k: table_types(v) for k, v in self.parts.items()},
            "maps": list(self.maps),
        }


def write_diagnostics(directory: Path, grid: Grid, diagnostics: list[Diagnostic]) -> list[dict]:
    """Write every diagnostic's tables and maps; return their records for ``analysis.json``."""
    for d in diagnostics:
        write_table(directory / f"{d.stem()}.tsv", d.table)
        for part, frame in d.parts.items():
            write_table(directory / f"{d.stem(part)}.tsv", frame)
        if d.maps:
            write_maps(directory, grid, {d.stem(k): v for k, v in d.maps.items()})
    return [d.record() for d in diagnostics]


def read_diagnostics(directory: Path, grid: Grid, records: list[dict]) -> list[Diagnostic]:
    """The diagnostics of a saved result, from the records of its ``analysis.json``."""
    out = []
    for rec in records or []:
        name = rec["name"]
        stem = f"diagnostics_{name}"
        maps = read_maps(directory, grid, [stem + (f"_{k}" if k else "") for k in rec["maps"]])
        out.append(
            Diagnostic(
                name=name,
                table=read_table(directory / f"{stem}.tsv", rec["table"]),
                text=rec["text"],
                parameters=rec.get("parameters", {}),
                parts={
                    k: read_table(directory / f"{stem}_{k}.tsv", types)
                    for k, types in rec.get("parts", {}).items()
                },
                maps={k: maps[stem + (f"_{k}" if k else "")] for k in rec["maps"]},
                references=list(rec.get("references", [])),
                warnings=list(rec.get("warnings", [])),
            )
        )
    return out


def diagnostic_sections(report: Report, grid: Grid, diagnostics: list[Diagnostic]) -> None:
    """One report section per diagnostic: its paragraph, tables and maps."""
    for d in diagnostics:
        section = report.section(TITLES.get(d.name, d.name))
        section.text(d.text)
        section.table(d.table, caption=f"{d.stem()}.tsv", name=d.stem(), max_rows=25)
        for part, frame in d.parts.items():
            section.table(frame, caption=f"{d.stem(part)}.tsv", name=d.stem(part), max_rows=10)
        if d.maps:
            from syntony.meta.reporting import glass_brains

            panels = [(k or d.name, np.asarray(v, dtype=np.float32)) for k, v in d.maps.items()]
            if any(np.any(v != 0) for _, v in panels):
                section.figure(
                    glass_brains(grid, panels),
                    caption=", ".join(f"{d.stem(k)}.nii.gz" for k in d.maps),
                    alt=f"{d.name} maps",
                )
            else:
                section.text("Every map is zero: nothing to draw.")


def read_diagnostics_record(
    directory: Path, grid: Grid, record: dict[str, Any]
) -> list[Diagnostic]:
    """The diagnostics listed in a saved result's ``analysis.json`` record (none: ``[]``)."""
    return read_diagnostics(directory, grid, record.get("diagnostics") or [])


class Diagnosable:
    """What a result with ``grid``, ``warnings`` and ``diagnostics`` attributes gains.

    Used by the meta results: keep diagnostics (a newer one replaces an older one of the same
    name, and its warnings join the result's), write them beside the result's files, and add
    their sections to its report.
    """

    diagnostics: list[Diagnostic]

    def add_diagnostics(self, diagnostics: list[Diagnostic]) -> None:
        """Keep ``diagnostics``; their paragraphs and references join the methods text."""
        from syntony.report import methods_text, split_references

        names = {d.name for d in diagnostics}
        replaced = {d.text for d in self.diagnostics if d.name in names}
        kept = [d for d in self.diagnostics if d.name not in names]
        self.diagnostics[:] = kept + list(diagnostics)
        paragraphs, references = split_references(self.methods)  # type: ignore[attr-defined]
        paragraphs = [p for p in paragraphs if p not in replaced]
        for d in diagnostics:
            self.add_warnings(d.warnings)  # type: ignore[attr-defined]
            paragraphs.append(d.text)
            references += [r for r in d.references if r not in references]
        self.methods = methods_text(*paragraphs, references=references)  # type: ignore[attr-defined]

    def _write_diagnostics(self, directory: Path) -> list[dict[str, Any]]:
        return write_diagnostics(directory, self.grid, self.diagnostics)  # type: ignore[attr-defined]

    def _report_diagnostics(self, report: Report) -> None:
        if self.diagnostics:
            diagnostic_sections(report, self.grid, self.diagnostics)  # type: ignore[attr-defined]
