"""Self-contained HTML reports: sections of text, embedded figures and tables, one file.

A :class:`Report` is built by a result (see :mod:`syntony.report._result`) and written as a single
HTML file with its figures embedded as PNG data, so it reads offline, with no server and no
network. Every table cell carries its exact value in ``data-value`` so that tests (and users'
scripts) can check the page against the result it came from.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["Report", "Section", "split_references"]

_TEMPLATE = "report.html.j2"


def split_references(methods: str) -> tuple[list[str], list[str]]:
    """Split a methods text into its paragraphs and its reference list.

    The convention of every syntony result: paragraphs, then a line ``References`` followed by
    one reference per line (a leading dash is optional).
    """
    parts = re.split(r"^\s*References\s*:?\s*$", methods.strip(), maxsplit=1, flags=re.M)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", parts[0]) if p.strip()]
    references: list[str] = []
    if len(parts) == 2:
        for line in parts[1].splitlines():
            line = line.strip()
            if line:
                references.append(re.sub(r"^[-*]\s+", "", line))
    return paragraphs, references


def _cell_value(value: Any) -> str:
    """The exact value of a cell, as tests and scripts read it back (``repr`` for floats)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(value)


def _cell_text(value: Any, float_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return "–"
        return float_format.format(v)
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


class Section:
    """A titled part of a report; blocks are added in order with the methods below."""

    def __init__(self, heading: str, *, anchor: str) -> None:
        self.heading = heading
        self.anchor = anchor
        self.blocks: list[str] = []

    def text(self, text: str) -> Section:
        """Add paragraphs (blank lines separate them); the text is escaped."""
        for paragraph in re.split(r"\n\s*\n", text.strip()):
            if paragraph.strip():
                self.blocks.append(f"<p>{html.escape(paragraph.strip())}</p>")
        return self

    def html(self, markup: str) -> Section:
        """Add trusted HTML as it is."""
        self.blocks.append(markup)
        return self

    def figure(
        self, fig: Any, *, caption: str | None = None, alt: str | None = None, dpi: int = 100
    ) -> Section:
        """Embed a matplotlib figure as PNG data and close it."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return self.image(buffer.getvalue(), caption=caption, alt=alt or caption or self.heading)

    def image(self, png: bytes, *, caption: str | None = None, alt: str | None = None) -> Section:
        """Embed PNG bytes (for figures drawn by other libraries, e.g. nilearn)."""
        data = base64.b64encode(png).decode("ascii")
        label = html.escape(alt or caption or self.heading, quote=True)
        figcaption = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.blocks.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{label}">{figcaption}</figure>'
        )
        return self

    def table(
        self,
        frame: Any,
        *,
        caption: str | None = None,
        max_rows: int = 20,
        float_format: str | Mapping[str, str] = "{:.4g}",
        name: str | None = None,
    ) -> Section:
        """Add a table; a long one folds away behind its row count, a wide one scrolls in its box.

        Parameters
        ----------
        frame : pandas.DataFrame
        caption : str, optional
        max_rows : int
            Tables with more rows start folded (``<details>``), their row count stated.
        float_format : str or dict
            A format for all floats, or one per column (others use ``"{:.4g}"``).
        name : str, optional
            ``data-name`` of the table, for tests and scripts that look it up.
        """
        columns = [str(c) for c in frame.columns]
        formats = (
            {c: float_format.get(c, "{:.4g}") for c in columns}
            if isinstance(float_format, Mapping)
            else dict.fromkeys(columns, float_format)
        )
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        rows = []
        for record in frame.itertuples(index=False, name=None):
            cells = []
            for column, value in zip(columns, record, strict=True):
                value = value.item() if hasattr(value, "item") else value
                numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
                cells.append(
                    f'<td class="{"num" if numeric else "txt"}" '
                    f'data-value="{html.escape(_cell_value(value), quote=True)}">'
                    f"{html.escape(_cell_text(value, formats[column]))}</td>"
                )
            rows.append("<tr>" + "".join(cells) + "</tr>")
        n = len(rows)
        label = f' data-name="{html.escape(name, quote=True)}"' if name else ""
        table = (
            f'<div class="table-wrap"><table{label} data-rows="{n}">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
        count = f"{n} row{'s' if n != 1 else ''}"
        title = html.escape(caption) + f" ({count})" if caption else count.capitalize()
        if n > max_rows:
            self.blocks.append(
                f'<details class="long-table"><summary>{title} — show all</summary>{table}</details>'
            )
        else:
            self.blocks.append(f'<p class="caption">{title}</p>{table}' if caption else table)
        return self

    def key_values(self, items: Mapping[str, Any], *, float_format: str = "{:.4g}") -> Section:
        """A two-column table of named values."""
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th>"
            f'<td data-value="{html.escape(_cell_value(v), quote=True)}">'
            f"{html.escape(_cell_text(v, float_format))}</td></tr>"
            for k, v in items.items()
        )
        self.blocks.append(f'<div class="table-wrap"><table class="kv">{rows}</table></div>')
        return self

    def iframe(self, document: str, *, height: int = 420, title: str = "viewer") -> Section:
        """Embed a whole HTML document (an interactive viewer) in a sandboxed frame."""
        self.blocks.append(
            f'<iframe class="viewer" title="{html.escape(title, quote=True)}" '
            f'srcdoc="{html.escape(document, quote=True)}" height="{int(height)}" '
            'sandbox="allow-scripts"></iframe>'
        )
        return self

    def render(self) -> str:
        return "\n".join(self.blocks)


class Report:
    """An HTML report: a title, warnings, sections, methods with references, parameters.

    Parameters
    ----------
    title : str
    subtitle : str, optional

    Examples
    --------
    >>> import pandas as pd
    >>> rep = Report("Example")
    >>> _ = rep.section("Numbers").table(pd.DataFrame({"a": [1.5]}))
    >>> "<table" in rep.to_html()
    True
    """

    def __init__(self, title: str, *, subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[Section] = []
        self.warnings: list[str] = []
        self._methods: tuple[list[str], list[str]] | None = None
        self._parameters: Mapping[str, Any] | None = None
        self._provenance: Mapping[str, Any] | None = None
        self.links: list[tuple[str, str]] = []

    def section(self, heading: str) -> Section:
        """Start a new section and return it."""
        anchor = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "section"
        taken = {s.anchor for s in self.sections}
        base, k = anchor, 2
        while anchor in taken:
            anchor, k = f"{base}-{k}", k + 1
        section = Section(heading, anchor=anchor)
        self.sections.append(section)
        return section

    def warn(self, message: str) -> Report:
        """Add a warning to the box at the top (duplicates are kept once)."""
        if message not in self.warnings:
            self.warnings.append(message)
        return self

    def link(self, label: str, href: str) -> Report:
        """Link a file written beside the report (shown under the title)."""
        self.links.append((label, href))
        return self

    def methods(self, text: str) -> Report:
        """The methods paragraph(s) and their reference list (see :func:`split_references`)."""
        self._methods = split_references(text)
        return self

    def parameters(self, parameters: Mapping[str, Any]) -> Report:
        self._parameters = parameters
        return self

    def provenance(self, provenance: Mapping[str, Any]) -> Report:
        self._provenance = provenance
        return self

    def to_html(self) -> str:
        """The whole page as one self-contained HTML document."""
        import jinja2

        from syntony import __version__

        env = jinja2.Environment(
            loader=jinja2.PackageLoader("syntony", "report/templates"),
            autoescape=jinja2.select_autoescape(["html", "j2"]),
        )
        return env.get_template(_TEMPLATE).render(
            title=self.title,
            subtitle=self.subtitle,
            warnings=self.warnings,
            links=self.links,
            sections=[
                {"heading": s.heading, "anchor": s.anchor, "body": s.render()}
                for s in self.sections
            ],
            methods=self._methods,
            parameters=_flatten(self._parameters or {}),
            provenance=_flatten(self._provenance or {}),
            version=__version__,
            created=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )

    def save(self, path: str | Path, *, force: bool = True) -> Path:
        """Write the page atomically to ``path``."""
        from syntony._io_utils import write_text

        return write_text(path, self.to_html(), force=force)

    def _repr_html_(self) -> str:
        # A frame keeps the report's styles from leaking into the notebook and vice versa.
        return (
            f'<iframe srcdoc="{html.escape(self.to_html(), quote=True)}" '
            'style="width:100%;height:720px;border:1px solid #ddd" '
            'sandbox="allow-scripts allow-popups"></iframe>'
        )

    def __repr__(self) -> str:
        return f"Report({self.title!r}, {len(self.sections)} sections)"


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested parameters as ``(dotted.key, value)`` rows for the collapsible tables."""
    rows: list[tuple[str, str]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(_flatten(value, prefix=f"{name}."))
        else:
            rows.append((name, _short(value)))
    return rows


def _short(value: Any, limit: int = 300) -> str:
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
        text = ", ".join(map(str, value))
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def figure_grid(
    draw: Iterable[Callable[[Any], None]], *, ncols: int = 2, width: float = 10.0
) -> Any:
    """A matplotlib figure with one panel per drawing function (width in inches)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    functions = list(draw)
    nrows = max(1, math.ceil(len(functions) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, 3.2 * nrows), squeeze=False, layout="constrained"
    )
    for ax, fn in zip(axes.flat, functions, strict=False):
        fn(ax)
    for ax in list(axes.flat)[len(functions) :]:
        ax.set_visible(False)
    return fig
