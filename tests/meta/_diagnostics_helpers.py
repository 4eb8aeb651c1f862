"""Shared pieces of the diagnostics tests: NiMARE datasets as studysets, small planted studysets."""

from __future__ import annotations

import warnings

import numpy as np

from syntony.meta.space import Grid
from syntony.meta.studyset import Studyset


def load_nimare(shared_data, name: str, *, first: int | None = None):
    """A NiMARE Dataset of ../shared/data/nimare and the same experiments as a Studyset.

    Experiments are sorted by id (NiMARE's order); ``first`` keeps that many of them.
    """
    from nimare.dataset import Dataset
    from nimare.io import convert_sleuth_to_dataset

    folder = shared_data / "nimare"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "nidm_pain":
            dset = Dataset(str(folder / "nidm_pain_dset.json"))
        else:
            dset = convert_sleuth_to_dataset(
                str(folder / f"{name}_sleuth_MNI.txt"), target="mni152_2mm"
            )
        if first is not None:
            dset = dset.slice(sorted(dset.ids)[:first])
    coords = dset.coordinates.sort_values("id", kind="stable")
    ids = list(dict.fromkeys(coords["id"]))
    index = {k: i for i, k in enumerate(ids)}
    meta = dset.metadata.set_index("id")
    sizes = np.array([np.mean(meta.loc[i, "sample_sizes"]) for i in ids], dtype=float)
    studyset = Studyset.from_arrays(
        coords[["x", "y", "z"]].to_numpy(), coords["id"].map(index).to_numpy(), sizes, ids=ids
    )
    return dset, studyset


def planted_studyset(
    rng: np.random.Generator,
    grid: Grid,
    n_exp: int,
    *,
    n_carrying: int,
    centre_mm=(0.0, 0.0, 0.0),
    spread_mm: float = 2.0,
    max_foci: int = 4,
    prefix: str = "exp",
) -> Studyset:
    """Experiments with random foci in the mask; the first ``n_carrying`` add one focus near
    ``centre_mm`` (a planted effect)."""
    counts = rng.integers(1, max_foci + 1, size=n_exp)
    which = np.repeat(np.arange(n_exp), counts)
    voxels = grid.mask_ijk[rng.integers(0, grid.n_voxels, size=which.size)]
    xyz = grid.ijk_to_mm(voxels)
    if n_carrying:
        extra = np.asarray(centre_mm) + rng.normal(0.0, spread_mm, size=(n_carrying, 3))
        xyz = np.vstack([xyz, extra])
        which = np.concatenate([which, np.arange(n_carrying)])
    sizes = rng.integers(10, 30, size=n_exp).astype(float)
    return Studyset.from_arrays(xyz, which, sizes, ids=[f"{prefix}{k}" for k in range(n_exp)])
