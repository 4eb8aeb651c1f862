"""The file layout every saved meta-analysis result shares.

Maps are float32 NIfTI images (int32 for cluster labels) beside the grid's ``mask.nii.gz``;
tables are TSV files that always carry their header and come back with their recorded column
types (``analysis.json`` keeps them), so an empty table is still a table; null distributions are
arrays in one ``.npz``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from syntony._io_utils import write_text

if TYPE_CHECKING:
    from syntony.meta.space import Grid

__all__ = [
    "ANALYSIS",
    "NULLS",
    "json_safe",
    "read_analysis",
    "read_arrays",
    "read_grid",
    "read_maps",
    "read_table",
    "seed_record",
    "table_types",
    "write_arrays",
    "write_grid",
    "write_maps",
    "write_table",
]

#: The record of parameters, provenance, methods and column types of a saved result.
ANALYSIS = "analysis.json"
#: The null distributions of a saved result.
NULLS = "null_distributions.npz"


# -- maps, tables, arrays -------------------------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def seed_record(seed: Any) -> Any:
    """What provenance keeps of a seed (int, SeedSequence, SeedTree or None)."""
    from syntony._rng import SeedTree

    if isinstance(seed, SeedTree):
        return seed.record()
    if isinstance(seed, np.random.SeedSequence):
        return {"entropy": json_safe(seed.entropy), "spawn_key": list(seed.spawn_key)}
    if seed is None or isinstance(seed, (int, np.integer)):
        return None if seed is None else int(seed)
    return repr(seed)


def write_grid(directory: Path, grid: Grid) -> None:
    import nibabel as nib

    image = nib.Nifti1Image(grid.mask.astype(np.uint8), grid.affine)
    image.header.set_data_dtype(np.uint8)
    nib.save(image, directory / "mask.nii.gz")


def read_grid(directory: Path) -> Grid:
    """The grid of a saved result (the packaged MNI152 grid object when it is that one)."""
    from syntony.meta.space import Grid, mni152_grid

    grid = Grid.from_mask_image(str(directory / "mask.nii.gz"))
    for known in (mni152_grid(), mni152_grid(gingerale=True)):
        if np.allclose(known.affine, grid.affine) and np.array_equal(known.mask, grid.mask):
            return known
    return grid


def write_maps(directory: Path, grid: Grid, maps: Mapping[str, np.ndarray]) -> None:
    import nibabel as nib

    for name, values in maps.items():
        dtype = np.int32 if np.issubdtype(np.asarray(values).dtype, np.integer) else np.float32
        nib.save(grid.to_image(values, dtype=dtype), directory / f"{name}.nii.gz")


def read_maps(directory: Path, grid: Grid, names: list[str]) -> dict[str, np.ndarray]:
    return {name: grid.from_image(str(directory / f"{name}.nii.gz")) for name in names}


def table_types(frame: pd.DataFrame) -> dict[str, str]:
    return {str(c): str(t) for c, t in frame.dtypes.items()}


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """A TSV with its header even when empty (missing values as empty cells)."""
    write_text(path, frame.to_csv(sep="\t", index=False, na_rep=""), force=True)


def read_table(path: Path, types: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A TSV written by :func:`write_table`, each column back in its recorded type."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    for column, kind in (types or {}).items():
        if column not in frame.columns:
            continue
        text = frame[column]
        if kind in ("str", "object", "string"):
            frame[column] = text.astype("str")
        elif kind == "boolean":
            frame[column] = pd.array(
                [pd.NA if v == "" else v == "True" for v in text], dtype="boolean"
            )
        elif kind == "bool":
            frame[column] = np.array([v == "True" for v in text], dtype=bool)
        elif kind == "Int64":
            frame[column] = pd.array([pd.NA if v == "" else int(v) for v in text], dtype="Int64")
        else:  # numpy numbers: exact round trip of the written repr
            values = np.array([v if v != "" else "nan" for v in text], dtype=str)
            frame[column] = values.astype(np.float64).astype(kind) if len(values) else (
                np.array([], dtype=kind)
            )  # fmt: skip
    return frame


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with open(path, "wb") as stream:
        np.savez_compressed(stream, **{k: np.asarray(v) for k, v in arrays.items()})


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def read_analysis(directory: Path) -> dict[str, Any]:
    from syntony.errors import InputError

    path = directory / ANALYSIS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the result's analysis record ({exc})", source=path) from None
