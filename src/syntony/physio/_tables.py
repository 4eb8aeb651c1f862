"""Reading the text tables of the physio readers, with errors in the user's terms.

Every problem is an :class:`~syntony.errors.InputError` naming the file, the line (counted as
an editor counts them, the header being line 1) and the column as the file spells it: a column
with an empty header is "column 1", never pandas' ``Unnamed: 0``. Empty cells and ``n/a``
(BIDS) are missing values, counted so that the analyses can report what was left out or filled.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from syntony.errors import InputError, plain

__all__ = [
    "Table",
    "check_time",
    "column_label",
    "did_you_mean",
    "header_names",
    "numeric_column",
    "read_table",
]

# Sampling jitter tolerated before a series counts as irregular (relative to the median step).
JITTER = 0.05


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """``"; did you mean 'kappa'?"`` when ``word`` is close to one of ``options``, else ``""``."""
    lowered = {str(o).lower(): str(o) for o in options}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def column_label(name: object, position: int) -> str:
    """How a message names a column: its header, or ``column N`` when the header is empty."""
    text = str(name)
    if text.startswith("Unnamed: ") or not text.strip():
        return f"column {position + 1}"
    return text


class Table:
    """A parsed text table: its frame, the column labels of messages, and the header lines."""

    def __init__(self, frame: pd.DataFrame, path: Path, header_lines: int) -> None:
        self.frame = frame
        self.path = path
        self.header_lines = header_lines
        self.labels = [column_label(c, k) for k, c in enumerate(frame.columns)]

    def label(self, column: object) -> str:
        return self.labels[list(self.frame.columns).index(column)]

    def line(self, row: int) -> int:
        """The file line of data row ``row`` (0-based)."""
        return row + 1 + self.header_lines


def _separator(path: Path) -> str:
    return "\t" if ".tsv" in "".join(path.suffixes).lower() else ","


def read_table(path: Path, *, header: bool = True) -> Table:
    """Read a CSV (``,``) or TSV (``.tsv``, ``.tsv.gz``) file; ``header=False`` for BIDS data.

    Duplicate header names are refused (pandas would silently rename them ``x.1``); a ragged
    row, an unreadable encoding or a broken archive are refused with the file named.
    """
    sep = _separator(path)
    try:
        frame = pd.read_csv(
            path,
            sep=sep,
            header=0 if header else None,
            compression="infer",
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
            engine="c",
        )
        names = _raw_header(path, sep) if header else None
    except FileNotFoundError:
        raise InputError("file not found", source=path) from None
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", source=path) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot parse table: {_parser_message(exc)}", source=path) from None
    except UnicodeDecodeError:
        raise InputError("not a text table (cannot decode it as UTF-8)", source=path) from None
    except (gzip.BadGzipFile, zlib.error, EOFError):
        raise InputError("broken or truncated gzip archive", source=path) from None
    except (OSError, ValueError, csv.Error) as exc:
        raise InputError(f"cannot read table ({' '.join(str(exc).split())})", source=path) from None
    if names is not None:
        seen: set[str] = set()
        for k, name in enumerate(names):
            if name.strip() and name in seen:
                raise InputError(
                    f"column {k + 1} repeats the header {name!r}", source=path, line=1, field=name
                )
            seen.add(name)
        if len(names) == frame.shape[1]:
            frame.columns = [n if n.strip() else f"Unnamed: {k}" for k, n in enumerate(names)]
    return Table(frame, path, 1 if header else 0)


def header_names(path: Path) -> list[str]:
    """The header cells of a CSV/TSV file as written (for choosing a reader)."""
    try:
        return _raw_header(path, _separator(path))
    except FileNotFoundError:
        raise InputError("file not found", source=path) from None
    except UnicodeDecodeError:
        raise InputError("not a text table (cannot decode it as UTF-8)", source=path) from None
    except (gzip.BadGzipFile, zlib.error, EOFError):
        raise InputError("broken or truncated gzip archive", source=path) from None
    except (OSError, csv.Error) as exc:
        raise InputError(f"cannot read table ({' '.join(str(exc).split())})", source=path) from None


def _raw_header(path: Path, sep: str) -> list[str]:
    """The header cells as written (pandas renames duplicates and empty names)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as stream:  # type: ignore[operator]
        first = stream.readline()
    return next(csv.reader(io.StringIO(first), delimiter=sep), [])


def _parser_message(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    # pandas: "Error tokenizing data. C error: Expected 3 fields in line 5, saw 4"
    if "C error:" in text:
        text = text.split("C error:", 1)[1].strip()
    return text


_MISSING = {"", "n/a", "na", "nan", "null"}


def numeric_column(table: Table, column: object, *, finite: bool = True) -> np.ndarray:
    """A column as floats: empty cells and ``n/a`` become NaN; anything else must be a number.

    ``inf`` is refused (with ``finite``): a recording never holds an infinite value.
    """
    series = table.frame[column]
    label = table.label(column)
    text = series.astype(str).str.strip()
    missing = text.str.lower().isin(_MISSING)
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"expected a number, got {_cell(series.iloc[row])}",
            source=table.path,
            line=table.line(row),
            field=label,
        )
    out = values.to_numpy(dtype=float)
    if finite:
        infinite = np.isinf(out)
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise InputError(
                f"expected a finite number, got {_cell(series.iloc[row])}",
                source=table.path,
                line=table.line(row),
                field=label,
            )
    return out


def _cell(value: object) -> str:
    text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return plain(text)


def check_time(time: np.ndarray, path: Path, field: str, lines: np.ndarray | None = None) -> float:
    """Check that time is finite, strictly increasing and regular; return the sampling rate.

    ``lines`` gives the file line of each entry (for messages); by default entry k is on line
    k + 2 (one header line).
    """

    def line(k: int) -> int:
        return int(lines[k]) if lines is not None else k + 2

    if time.size < 2:
        raise InputError("need at least two samples", source=path, field=field)
    missing = ~np.isfinite(time)
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise InputError("time is missing", source=path, line=line(k), field=field)
    with np.errstate(over="ignore", invalid="ignore"):
        step = np.diff(time)
    if (step <= 0).any():
        k = int(np.flatnonzero(step <= 0)[0]) + 1
        raise InputError(
            f"time is not strictly increasing ({time[k - 1]:g} then {time[k]:g})",
            source=path,
            line=line(k),
            field=field,
        )
    dt = float(np.median(step))
    if not np.isfinite(dt) or dt <= 0 or not np.isfinite(1.0 / dt):
        raise InputError(f"time steps of {dt:g} s cannot be sampled", source=path, field=field)
    irregular = np.abs(step - dt) > JITTER * dt
    if irregular.any():
        k = int(np.flatnonzero(irregular)[0]) + 1
        raise InputError(
            f"irregular sampling: step {step[k - 1]:g} s where the median step is {dt:g} s; "
            "resample the recording to a regular grid first",
            source=path,
            line=line(k),
            field=field,
        )
    return 1.0 / dt
