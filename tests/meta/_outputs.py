"""Compare the maps and tables two runs wrote."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

PAYLOAD = (".nii.gz", ".tsv", ".npz")


def payload_files(directory: Path) -> list[str]:
    """Relative paths of every map, table and array file under ``directory``."""
    return sorted(
        str(p.relative_to(directory))
        for p in Path(directory).rglob("*")
        if p.is_file() and p.name.endswith(PAYLOAD)
    )


def assert_same_outputs(a: Path, b: Path, names: list[str] | None = None) -> list[str]:
    """The same maps (values and types), tables (bytes) and arrays in both directories."""
    every = names is None
    names = payload_files(a) if every else names
    assert names, f"nothing to compare in {a}"
    if every:
        assert payload_files(b) == names
    for name in names:
        pa, pb = Path(a) / name, Path(b) / name
        if name.endswith(".nii.gz"):
            ia, ib = nib.load(pa), nib.load(pb)
            assert ia.get_data_dtype() == ib.get_data_dtype(), name
            np.testing.assert_array_equal(ia.affine, ib.affine, err_msg=name)
            np.testing.assert_array_equal(
                np.asanyarray(ia.dataobj), np.asanyarray(ib.dataobj), err_msg=name
            )
        elif name.endswith(".tsv"):
            assert pa.read_bytes() == pb.read_bytes(), name
        else:
            with np.load(pa) as da, np.load(pb) as db:
                assert sorted(da.files) == sorted(db.files), name
                for key in da.files:
                    np.testing.assert_array_equal(da[key], db[key], err_msg=f"{name}:{key}")
    return names
