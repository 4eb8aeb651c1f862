"""Sleuth / GingerALE text files: read them into a Studyset and write one back.

Format: ``//Reference=MNI`` (or ``Talairach``/``TAL``), then one block per experiment: one or
more ``//`` name lines, a ``//Subjects=N`` line and one focus per line (x y z separated by tabs
or spaces). Blank lines are ignored, as in NiMARE, so a header block is the run of ``//`` lines
between two runs of foci. A later ``//Reference=`` line switches the space for the experiments
that follow (files concatenated from several GingerALE exports); NiMARE only reads the first.

Experiment ids are NiMARE's ``"study-contrast"``: the name is split at the first ``;`` or ``:``
after a four-digit year (else the first one; else the contrast is ``analysis_1``). Talairach
foci are converted with :func:`syntony.meta.space.tal_to_mni`, the inverse of Lancaster's
icbm_other, the same matrix as NiMARE's ``tal2mni`` (measured difference 0 on the shared files).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from syntony._io_utils import write_text
from syntony.errors import InputError
from syntony.meta.space import mni_to_tal
from syntony.meta.studyset import Studyset, parse_space, to_mni, warn_outside_box

__all__ = ["read_sleuth", "write_sleuth"]

PathLike = str | os.PathLike[str]

_REFERENCE = re.compile(r"^reference\s*=\s*(.*)$", re.IGNORECASE)
_SUBJECTS = re.compile(r"^subjects\s*=\s*(.*)$", re.IGNORECASE)
_YEAR = re.compile(r"(?:19|20)\d\d")


@dataclass
class _Block:
    line: int
    space: str | None
    names: list[str] = field(default_factory=list)
    subjects: float | None = None
    subjects_line: int | None = None
    foci: list[tuple[float, float, float]] = field(default_factory=list)


def _split_study(info: str) -> tuple[str, str]:
    """Split a Sleuth experiment name into (study, contrast) the way NiMARE does.

    The separator (``;`` or ``:``) is looked for after the first four-digit year, so that
    ``"Smith et al., 2010; faces > shapes"`` gives ``("Smith et al., 2010", "faces > shapes")``;
    without a year the first ``;`` then ``:`` is used; without a separator the contrast is
    ``"analysis_1"``.
    """
    info = info.strip()
    if not info:
        return "", "analysis_1"
    year = _YEAR.search(info)
    if year is not None:
        positions = [p for p in (info.find(";", year.end()), info.find(":", year.end())) if p >= 0]
        if positions:
            cut = min(positions)
            study, contrast = info[:cut].strip(), info[cut + 1 :].strip()
            return study or info, contrast or "analysis_1"
    for sep in (";", ":"):
        if sep in info:
            study, _, contrast = info.partition(sep)
            return study.strip() or info, contrast.strip() or "analysis_1"
    return info, "analysis_1"


def _parse_number(text: str, *, source: str, line: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"malformed number {text!r} in {what}", source=source, line=line) from None
    if not math.isfinite(value):
        raise InputError(f"non-finite value {text!r} in {what}", source=source, line=line)
    return value


def read_sleuth(path: PathLike, *, name: str | None = None) -> Studyset:
    """Read a Sleuth / GingerALE text file.

    Parameters
    ----------
    path : path-like
        The text file.
    name : str, optional
        Name of the studyset (default: the file stem).

    Returns
    -------
    Studyset
        Experiments in file order with ids ``"study-contrast"`` (NiMARE's ids), foci in MNI mm.

    Raises
    ------
    InputError
        Naming the file and line: malformed or non-finite numbers, a focus line without three
        values, a focus before any experiment, a missing ``//Subjects=N``, an unknown reference
        space, an experiment without foci. A repeated experiment name only warns: both
        experiments are kept, the second with the id suffix ``" (2)"``.
    """
    source = str(path)
    try:
        raw_bytes = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", source=source) from None
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        # GingerALE files written on Windows are often cp1252 (accented author names); only
        # names are affected, never numbers.
        text = raw_bytes.decode("cp1252", errors="replace")

    space: str | None = None
    blocks: list[_Block] = []
    current: _Block | None = None
    in_header = False

    def close(block: _Block) -> None:
        if block.subjects is None:
            raise InputError(
                f"experiment {' '.join(block.names)!r} has no //Subjects=N line",
                source=source,
                line=block.line,
            )
        if not block.foci:
            raise InputError(
                f"experiment {' '.join(block.names)!r} has no foci",
                source=source,
                line=block.line,
            )

    # Universal newlines (\n, \r\n, \r) as NiMARE does; line numbers are 1-based.
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped.startswith("//"):
            content = stripped[2:].strip()
            ref = _REFERENCE.match(content.replace(" ", ""))
            if ref:
                space = parse_space(ref.group(1), source=source, line=lineno)
                continue
            subjects = _SUBJECTS.match(content)
            starts_new = not in_header or (current is not None and current.subjects is not None)
            if starts_new:
                if current is not None:
                    close(current)
                current = _Block(line=lineno, space=None)
                blocks.append(current)
                in_header = True
            if subjects:
                n = _parse_number(
                    subjects.group(1).strip(), source=source, line=lineno, what="//Subjects="
                )
                if n <= 0:
                    raise InputError(
                        f"//Subjects= must be > 0, got {subjects.group(1).strip()!r}",
                        source=source,
                        line=lineno,
                    )
                current.subjects, current.subjects_line = n, lineno
            else:
                current.names.append(content)
            continue
        # A focus line.
        if current is None:
            raise InputError(
                "focus before any experiment (expected '// name' and '//Subjects=N' lines first)",
                source=source,
                line=lineno,
            )
        if in_header:
            if current.subjects is None:
                close(current)  # raises: missing Subjects
            current.space = space
            if current.space is None:
                raise InputError(
                    "no //Reference=MNI or //Reference=Talairach line before the first experiment",
                    source=source,
                    line=current.line,
                )
            in_header = False
        fields = stripped.split()
        if len(fields) != 3:
            raise InputError(
                f"expected 3 numbers (x y z) separated by tabs or spaces, got {len(fields)} field(s)",
                source=source,
                line=lineno,
            )
        current.foci.append(
            tuple(
                _parse_number(f, source=source, line=lineno, what=f"coordinate {axis}")
                for f, axis in zip(fields, "xyz", strict=True)
            )
        )
    if current is not None:
        close(current)
    if not blocks:
        raise InputError("no experiments found", source=source)

    ids: list[str] = []
    studies: list[str] = []
    seen: dict[str, list[int]] = {}
    for block in blocks:
        study, contrast = _split_study(" ".join(block.names))
        exp_id = f"{study}-{contrast}"
        lines = seen.setdefault(exp_id, [])
        lines.append(block.line)
        # GingerALE treats every block as its own experiment whatever its name; NiMARE would
        # keep only the last of two equal names. Keep both, with a visible suffix.
        ids.append(exp_id if len(lines) == 1 else f"{exp_id} ({len(lines)})")
        studies.append(study)
    repeated = {k: v for k, v in seen.items() if len(v) > 1}
    if repeated:
        first = next(iter(repeated.items()))
        warnings.warn(
            f"{source}: {len(repeated)} experiment name(s) used more than once, e.g. "
            f"{first[0]!r} at lines {first[1]}; kept as separate experiments with ids "
            f"suffixed ' (2)', ' (3)', ...",
            UserWarning,
            stacklevel=2,
        )
    counts = np.array([len(b.foci) for b in blocks])
    xyz = np.array([f for b in blocks for f in b.foci], dtype=float)
    spaces = np.repeat(np.array([b.space for b in blocks], dtype=object), counts)
    xyz = to_mni(xyz, spaces)
    experiments = pd.DataFrame(
        {
            "study": studies,
            "contrast": [_split_study(" ".join(b.names))[1] for b in blocks],
            "sample_size": [b.subjects for b in blocks],
            "space": [b.space for b in blocks],
            "line": [b.line for b in blocks],
        },
        index=pd.Index(ids, name="id"),
    )
    foci = pd.DataFrame(
        {
            "experiment": np.repeat(np.array(ids, dtype=object), counts),
            "x": xyz[:, 0],
            "y": xyz[:, 1],
            "z": xyz[:, 2],
        }
    )
    studyset = Studyset(experiments, foci, name=name or Path(path).stem, source=source)
    warn_outside_box(studyset)
    return studyset


def write_sleuth(
    studyset: Studyset,
    path: PathLike,
    *,
    space: str = "MNI",
    force: bool = False,
) -> Path:
    """Write a studyset as a Sleuth / GingerALE text file (e.g. a database selection).

    Parameters
    ----------
    studyset : Studyset
        The experiments; coordinates are written with full precision.
    path : path-like
        Output file; an existing file is only replaced with ``force=True``.
    space : {"MNI", "TAL"}
        ``"TAL"`` converts the (MNI) coordinates with :func:`syntony.meta.space.mni_to_tal`.
    force : bool
        Replace an existing file.

    Notes
    -----
    Each experiment is written as ``// <id>`` (or ``// <study>: <contrast>`` when the id is
    NiMARE's ``study-contrast``, so that :func:`read_sleuth` gives the same id back) and
    ``//Subjects=<sample size>``. Reading the file back gives the same coordinates up to the
    Talairach round trip.
    """
    target = parse_space(space, field="space")
    xyz = studyset.coordinates
    if target == "TAL":
        xyz = mni_to_tal(xyz)
    exps = studyset.experiments
    has_contrast = "contrast" in exps.columns
    lines = ["// Reference=" + ("MNI" if target == "MNI" else "Talairach")]
    order = np.argsort(studyset.focus_experiment, kind="stable")
    starts = np.searchsorted(studyset.focus_experiment[order], np.arange(len(exps) + 1))
    for k, exp_id in enumerate(studyset.ids):
        name = exp_id
        if has_contrast:
            study, contrast = str(exps["study"].iloc[k]), str(exps["contrast"].iloc[k])
            if exp_id == f"{study}-{contrast}" and _split_study(f"{study}: {contrast}") == (
                study,
                contrast,
            ):
                name = f"{study}: {contrast}"
        if "\n" in name or "\r" in name or _REFERENCE.match(name) or _SUBJECTS.match(name):
            raise InputError(
                "experiment id cannot be written as a Sleuth name (line break, or it reads as "
                "a Reference=/Subjects= line)",
                source=str(path),
                field=exp_id,
            )
        n = float(exps["sample_size"].iloc[k])
        lines.append(f"// {name}")
        lines.append(f"// Subjects={int(n) if n.is_integer() else repr(n)}")
        for x, y, z in xyz[order[starts[k] : starts[k + 1]]].tolist():
            lines.append(f"{x!r}\t{y!r}\t{z!r}")
        lines.append("")
    return write_text(path, "\n".join(lines), force=force)
