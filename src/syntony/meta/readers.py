"""Readers that turn coordinate files into a :class:`~syntony.meta.studyset.Studyset`.

Formats
-------
Sleuth / GingerALE text
    See :mod:`syntony.meta.sleuth` (``read_sleuth`` and ``write_sleuth`` are re-exported here).
NiMARE Dataset JSON
    ``{study: {"contrasts": {contrast: {"coords": {"space", "x", "y", "z"},
    "metadata": {"sample_sizes": [...]}}}}}``; the experiment id is ``"study-contrast"`` as in
    NiMARE.
CSV / TSV
    One row per focus with columns ``experiment`` (or ``id``), ``x``, ``y``, ``z`` and optional
    ``study``, ``sample_size`` (or ``n``) and ``space``.
NeuroQuery / Neurosynth
    A folder of database files, through :mod:`syntony.meta.databases` (``default_n`` required).

All readers convert Talairach foci to MNI with :func:`syntony.meta.space.tal_to_mni`
(the inverse of Lancaster's icbm_other, the same matrix NiMARE's ``tal2mni`` uses) and warn,
without dropping them, about foci outside the MNI 2 mm box (NiMARE keeps such foci too).
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from syntony.errors import InputError
from syntony.meta.sleuth import read_sleuth, write_sleuth
from syntony.meta.space import tal_to_mni
from syntony.meta.studyset import Studyset, note, parse_space, to_mni, warn_outside_box

__all__ = [
    "parse_space",
    "read_csv",
    "read_nimare_json",
    "read_sleuth",
    "read_studyset",
    "write_sleuth",
]

PathLike = str | os.PathLike[str]


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


# ---------------------------------------------------------------------------------------------
# NiMARE Dataset JSON
# ---------------------------------------------------------------------------------------------
def _sample_size(
    metadata: object, where: str, default_n: float | None, source: str
) -> tuple[float, list[float], bool]:
    """Mean sample size, the sizes listed, and whether ``default_n`` stood in for them."""
    sizes: object = None
    if isinstance(metadata, dict):
        if metadata.get("sample_sizes") is not None:
            sizes = metadata["sample_sizes"]
            where = f"{where}/metadata/sample_sizes"
        elif metadata.get("sample_size") is not None:
            sizes = metadata["sample_size"]
            where = f"{where}/metadata/sample_size"
    if sizes is None:
        if default_n is None:
            raise InputError(
                "no sample size (metadata.sample_sizes) and no default_n given",
                source=source,
                field=f"{where}/metadata",
            )
        return float(default_n), [float(default_n)], True
    values = sizes if isinstance(sizes, list) else [sizes]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InputError(
            f"sample sizes must be numbers, got {sizes!r}", source=source, field=where
        ) from None
    if not numbers or not all(math.isfinite(v) and v > 0 for v in numbers):
        raise InputError(
            f"sample sizes must be numbers > 0, got {sizes!r}", source=source, field=where
        )
    return float(np.mean(numbers)), numbers, False


def _examples(ids: list[str], k: int = 3) -> str:
    shown = ", ".join(repr(i) for i in ids[:k])
    return shown + (", ..." if len(ids) > k else "")


def read_nimare_json(
    path: PathLike, *, default_n: float | None = None, name: str | None = None
) -> Studyset:
    """Read a NiMARE Dataset JSON file.

    Parameters
    ----------
    path : path-like
        The JSON file.
    default_n : float, optional
        Sample size for contrasts without ``metadata.sample_sizes``; without it such a contrast
        is an error.
    name : str, optional
        Name of the studyset (default: the file stem).

    Notes
    -----
    The sample size of an experiment is the mean of ``sample_sizes`` (as NiMARE's ALE does);
    the list itself is kept in the ``sample_sizes`` column. Contrasts without a ``coords``
    entry (image-only contrasts) are not coordinate data; they are left out with a warning
    that counts and names them (empty ``x``/``y``/``z`` lists are an error, as an experiment
    without foci is in every format), and the contrasts given ``default_n`` are counted the
    same way; both sentences are kept in the studyset's
    ``notes`` (and so reach the warnings of an analysis of it).
    """
    source = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", source=source, line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", source=source) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", source=source) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object of studies at the top level", source=source)

    rows: list[dict] = []
    chunks: list[np.ndarray] = []
    skipped: list[str] = []
    defaulted: list[str] = []
    n_contrasts = 0
    for study, content in data.items():
        contrasts = content.get("contrasts") if isinstance(content, dict) else None
        if not isinstance(contrasts, dict):
            raise InputError(
                "expected an object with a 'contrasts' object", source=source, field=str(study)
            )
        for contrast, exp in contrasts.items():
            where = f"{study}/contrasts/{contrast}"
            if not isinstance(exp, dict):
                raise InputError("expected an object", source=source, field=where)
            n_contrasts += 1
            coords = exp.get("coords")
            if coords is None:
                skipped.append(f"{study}-{contrast}")
                continue
            if not isinstance(coords, dict):
                raise InputError(
                    "expected an object with space, x, y, z", source=source, field=f"{where}/coords"
                )
            columns = []
            for axis in "xyz":
                values = coords.get(axis)
                if not isinstance(values, list):
                    raise InputError(
                        f"expected a list of numbers for {axis!r}",
                        source=source,
                        field=f"{where}/coords/{axis}",
                    )
                wrong = [
                    k
                    for k, v in enumerate(values)
                    if isinstance(v, bool) or not isinstance(v, int | float)
                ]
                if wrong:
                    raise InputError(
                        f"malformed number {values[wrong[0]]!r} at position {wrong[0]}",
                        source=source,
                        field=f"{where}/coords/{axis}",
                    )
                column = np.array(values, dtype=float)
                bad = np.flatnonzero(~np.isfinite(column))
                if bad.size:
                    raise InputError(
                        f"non-finite coordinate {values[bad[0]]!r} at position {bad[0]}",
                        source=source,
                        field=f"{where}/coords/{axis}",
                    )
                columns.append(column)
            if len({c.size for c in columns}) != 1:
                raise InputError(
                    f"x, y, z have different lengths {[c.size for c in columns]}",
                    source=source,
                    field=f"{where}/coords",
                )
            if columns[0].size == 0:
                raise InputError("experiment has no foci", source=source, field=f"{where}/coords")
            if "space" not in coords:
                raise InputError(
                    "missing 'space' (MNI or TAL)", source=source, field=f"{where}/coords/space"
                )
            space = parse_space(coords["space"], source=source, field=f"{where}/coords/space")
            mean_n, sizes, fallback = _sample_size(exp.get("metadata"), where, default_n, source)
            if fallback:
                defaulted.append(f"{study}-{contrast}")
            xyz = np.column_stack(columns)
            if space == "TAL":
                xyz = tal_to_mni(xyz)
            rows.append(
                {
                    "id": f"{study}-{contrast}",
                    "study": str(study),
                    "contrast": str(contrast),
                    "sample_size": mean_n,
                    "sample_sizes": sizes,
                    "space": space,
                }
            )
            chunks.append(xyz)
    if not rows:
        what = f"none of its {n_contrasts} contrasts has" if n_contrasts else "no contrasts with"
        raise InputError(f"{what} coordinates", source=source)
    notes: list[str] = []
    if skipped:
        note(
            notes,
            f"{source}: skipped {len(skipped)} contrast(s) without coordinates "
            f"({_examples(skipped)}); {len(rows)} of {n_contrasts} contrasts are used",
        )
    if defaulted:
        note(
            notes,
            f"{source}: no sample size in {len(defaulted)} of {len(rows)} contrasts "
            f"({_examples(defaulted)}); the default N = {float(default_n):g} was used",
        )
    experiments = pd.DataFrame(rows).set_index("id")
    counts = [c.shape[0] for c in chunks]
    xyz = np.concatenate(chunks)
    foci = pd.DataFrame(
        {
            "experiment": np.repeat(experiments.index.to_numpy(dtype=object), counts),
            "x": xyz[:, 0],
            "y": xyz[:, 1],
            "z": xyz[:, 2],
        }
    )
    studyset = Studyset(
        experiments, foci, name=name or Path(path).stem, source=source, notes=tuple(notes)
    )
    warn_outside_box(studyset)
    return studyset


# ---------------------------------------------------------------------------------------------
# CSV / TSV
# ---------------------------------------------------------------------------------------------
#: Cells that say "no value" (compared lower-case, stripped).
_MISSING = frozenset({"", "n/a", "na", "nan", "null", "none"})
_CSV_ALIASES = {"id": "experiment", "n": "sample_size", "subjects": "sample_size"}


def read_csv(
    path: PathLike,
    *,
    default_n: float | None = None,
    space: str | None = None,
    name: str | None = None,
) -> Studyset:
    """Read a table of foci, one row per focus (comma-separated, or tab-separated for .tsv).

    Parameters
    ----------
    path : path-like
        The table. Columns: ``experiment`` (or ``id``), ``x``, ``y``, ``z``; optional
        ``study`` (default: the experiment), ``sample_size`` (or ``n``) and ``space``. Other
        columns are kept: on the experiments when constant within each experiment, otherwise
        on the foci (e.g. a per-peak statistic).
    default_n : float, optional
        Sample size used when there is no ``sample_size`` column, or where its cell is missing
        (blank, ``n/a``, ``NA``, ``NaN``); without it a missing sample size is an error. The
        experiments given the default are counted in a warning kept in the studyset's
        ``notes``.
    space : {"MNI", "TAL"}, optional
        Space of every focus when there is no ``space`` column (default MNI).
    name : str, optional
        Name of the studyset (default: the file stem).

    Raises
    ------
    InputError
        Naming the line and column: a missing or malformed coordinate (foci are never dropped
        or guessed; the message counts the rows concerned), a malformed or missing sample
        size, an unknown space, disagreeing per-experiment values.
    """
    source = str(path)
    sep = "\t" if str(path).lower().endswith((".tsv", ".tsv.gz", ".tab")) else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise InputError(
            "empty file: expected a header and one row per focus", source=source
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", source=source) from None
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        # The C parser reports "Expected 4 fields in line 7, saw 5": keep its line number.
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot parse table ({reason})", source=source) from None
    table.columns = [_CSV_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in table.columns]
    missing = [c for c in ("experiment", "x", "y", "z") if c not in table.columns]
    if missing:
        raise InputError(
            f"missing column(s) {missing}; expected experiment, x, y, z", source=source, line=1
        )
    # Data rows start at line 2 of the file; drop rows that are entirely blank.
    lines = np.arange(2, len(table) + 2)
    blank = (table.apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    table, lines = table.loc[~blank].reset_index(drop=True), lines[~blank]
    if table.empty:
        raise InputError("no foci", source=source)

    def numbers(column: str) -> np.ndarray:
        # Python's float() rounds correctly; pandas' fast parser can be off in the last bit.
        texts = table[column].str.strip().tolist()
        values = np.array([_float_or_nan(t) for t in texts])
        if column in ("x", "y", "z"):
            missing = np.flatnonzero([t.lower() in _MISSING - {"nan"} for t in texts])
            if missing.size:
                raise InputError(
                    f"missing coordinate {texts[missing[0]]!r} in {missing.size} of "
                    f"{len(texts)} row(s); every focus needs x, y and z (fix or remove those "
                    "rows)",
                    source=source,
                    line=int(lines[missing[0]]),
                    field=column,
                )
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            k = bad[0]
            raw = texts[k]
            parsed = raw.lower().lstrip("+-") in {"nan", "inf", "infinity"}
            kind = "non-finite" if parsed else "malformed"
            hint = ""
            if column == "sample_size" and raw.lower() in _MISSING:
                hint = " (a missing sample size needs a default: default_n, --default-n)"
            raise InputError(
                f"{kind} number {raw!r}{hint}", source=source, line=int(lines[k]), field=column
            )
        return values

    xyz = np.column_stack([numbers(a) for a in "xyz"])
    exp = table["experiment"].str.strip()
    if (exp == "").any():
        k = int(np.flatnonzero(exp == "")[0])
        raise InputError(
            "empty experiment id", source=source, line=int(lines[k]), field="experiment"
        )
    if "space" in table.columns:
        spaces = np.array(
            [
                parse_space(s, source=source, line=int(ln), field="space")
                for s, ln in zip(table["space"], lines, strict=True)
            ],
            dtype=object,
        )
    else:
        spaces = np.full(
            len(table), parse_space(space or "MNI", source=source, field="space"), dtype=object
        )
    notes: list[str] = []
    if "sample_size" in table.columns:
        blank = table["sample_size"].str.strip().str.lower().isin(_MISSING)
        if blank.any() and default_n is not None:
            # Missing cells take the explicit default; anything else must be a number.
            filled = list(dict.fromkeys(exp[blank.to_numpy()]))
            table.loc[blank, "sample_size"] = repr(float(default_n))
            note(
                notes,
                f"{source}: no sample size (blank or n/a) in {int(blank.sum())} row(s), of "
                f"{len(filled)} experiment(s) ({_examples(filled)}); the default "
                f"N = {float(default_n):g} was used",
            )
        sizes = numbers("sample_size")
        bad = np.flatnonzero(sizes <= 0)
        if bad.size:
            raise InputError(
                "sample size must be > 0",
                source=source,
                line=int(lines[bad[0]]),
                field="sample_size",
            )
    elif default_n is not None:
        sizes = np.full(len(table), float(default_n))
        note(
            notes,
            f"{source}: no sample_size column; the default N = {float(default_n):g} was used "
            "for every experiment",
        )
    else:
        raise InputError("no sample_size column and no default_n given", source=source, line=1)

    frame = pd.DataFrame({"experiment": exp, "sample_size": sizes, "space": spaces, "line": lines})
    frame["study"] = table["study"].str.strip() if "study" in table.columns else exp
    extra = [
        c
        for c in table.columns
        if c not in {"experiment", "x", "y", "z", "sample_size", "space", "study"}
    ]
    for c in extra:
        frame[c] = table[c]
    # Per-experiment fields must agree across an experiment's rows: a disagreement is a typo.
    for column in ["sample_size", "space", "study"]:
        first = frame.groupby("experiment", sort=False)[column].transform("first")
        differs = np.flatnonzero((frame[column] != first).to_numpy())
        if differs.size:
            k = differs[0]
            raise InputError(
                f"{column} {frame[column].iloc[k]!r} differs from {first.iloc[k]!r} given earlier for experiment {exp.iloc[k]!r}",
                source=source,
                line=int(lines[k]),
                field=column,
            )
    grouped = frame.groupby("experiment", sort=False)
    experiments = grouped.first()
    experiments["line"] = grouped["line"].min()
    # Extra columns constant within each experiment describe it; the others describe foci.
    constant = [c for c in extra if (grouped[c].nunique(dropna=False) <= 1).all()]
    experiments = experiments[["study", "sample_size", "space", "line", *constant]]
    experiments.index.name = "id"
    xyz = to_mni(xyz, spaces)
    foci = pd.DataFrame(
        {"experiment": exp.to_numpy(dtype=object), "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}
    )
    for c in extra:
        if c not in constant:
            foci[c] = table[c].to_numpy()
    studyset = Studyset(
        experiments,
        foci,
        name=name or Path(path).stem.split(".")[0],
        source=source,
        notes=tuple(notes),
    )
    warn_outside_box(studyset)
    return studyset


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------
def _looks_like_sleuth(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    return line.strip().startswith("//")
    except OSError:
        return False
    return False


def read_studyset(
    path: PathLike | Iterable[PathLike],
    *,
    default_n: float | None = None,
    name: str | None = None,
    **options: object,
) -> Studyset:
    """Read a studyset from a file, choosing the reader from the file.

    Parameters
    ----------
    path : path-like or sequence of path-likes
        ``.json``: NiMARE Dataset JSON; ``.csv``/``.tsv``: foci table; a text file whose first
        non-blank line starts with ``//``: Sleuth. A NeuroQuery or Neurosynth folder (or its
        ``*coordinates.tsv.gz`` file) loads the whole database (see
        :mod:`syntony.meta.databases`; ``default_n`` is then required). Several paths are read
        one by one and joined (their experiment ids must not overlap).
    default_n : float, optional
        Sample size for experiments that have none (databases, tables without ``sample_size``,
        JSON without ``sample_sizes``). Never guessed.
    name : str, optional
        Name of the studyset.
    **options
        Passed to the reader (``space=`` for CSV; ``unknown_space=`` for Neurosynth).
    """
    if not isinstance(path, str | os.PathLike):
        parts = [read_studyset(p, default_n=default_n, **options) for p in path]
        if not parts:
            raise InputError("no files given")
        return Studyset.concat(parts, name=name or "+".join(p.name for p in parts))
    p = Path(path)
    lower = p.name.lower()
    if p.is_dir() or lower.endswith("coordinates.tsv.gz"):
        from syntony.meta.databases import load_database

        database = load_database(p if p.is_dir() else p.parent, **options)
        if default_n is None:
            raise InputError(
                f"{database.name} has no sample sizes: give default_n (e.g. 20) explicitly",
                source=str(p),
            )
        return database.studyset(default_n=default_n, name=name)
    if not p.exists():
        raise InputError("file not found", source=str(p))
    if lower.endswith(".json"):
        return read_nimare_json(p, default_n=default_n, name=name, **options)
    if lower.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz", ".tab")):
        return read_csv(p, default_n=default_n, name=name, **options)
    if _looks_like_sleuth(p):
        return read_sleuth(p, name=name, **options)
    raise InputError(
        "unrecognised format: expected Sleuth text (first line '//Reference=...'), "
        "NiMARE .json, .csv/.tsv, or a NeuroQuery/Neurosynth folder",
        source=str(p),
    )
