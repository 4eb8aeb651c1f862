"""Results and reports shared by the three parts.

Every analysis returns a :class:`Result`: it saves into a directory that holds exactly one
result (``save``), loads back (:func:`load_result`), reports itself as a self-contained HTML page
(``report()``), prints a short ``summary()`` and carries its ``methods`` text, ``parameters``
and ``provenance``.
"""

from __future__ import annotations

from syntony.report._html import Report, Section, figure_grid, split_references
from syntony.report._result import MANIFEST, REPORT, Result, load_result, read_manifest

__all__ = [
    "MANIFEST",
    "REPORT",
    "Report",
    "Result",
    "Section",
    "figure_grid",
    "load_result",
    "methods_text",
    "read_manifest",
    "split_references",
]


def methods_text(*paragraphs: str, references: list[str] | tuple[str, ...] = ()) -> str:
    """Join methods paragraphs and a reference list in the layout every result uses."""
    body = "\n\n".join(p.strip() for p in paragraphs if p and p.strip())
    if references:
        body += "\n\nReferences\n\n" + "\n".join(f"- {r}" for r in references)
    return body
