"""``syntony ale`` end to end on real data."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
from click.testing import CliRunner

from syntony.cli import app


def test_uncorrected_maps_only(shared_data, tmp_path):
    out = tmp_path / "out"
    source = shared_data / "nimare" / "nidm_pain_dset.json"
    result = CliRunner().invoke(
        app, ["ale", str(source), "--out", str(out), "--n-iters", "0", "-q"]
    )
    assert result.exit_code == 0, result.output
    for name in ("ale", "p", "z"):
        image = nib.load(out / f"{name}.nii.gz")
        assert image.get_data_dtype() == np.float32 and image.shape == (91, 109, 91)
    assert not (out / "z_voxel_fwe.nii.gz").exists()
    ale = np.asanyarray(nib.load(out / "ale.nii.gz").dataobj)
    assert 0 < ale.max() < 1
    again = CliRunner().invoke(app, ["ale", str(source), "--out", str(out), "--n-iters", "0"])
    assert again.exit_code == 2 and "syntony: error:" in again.output and "--force" in again.output


def test_fwe_outputs_select_and_provenance(shared_data, tmp_path):
    out = tmp_path / "fwe"
    source = shared_data / "nimare" / "nidm_pain_dset.json"
    args = [
        "ale",
        str(source),
        "--out",
        str(out),
        "--n-iters",
        "40",
        "--seed",
        "3",
        "-q",
        "--atlas",
        "none",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in (
        "logp_voxel_fwe",
        "z_cluster_size_fwe",
        "logp_cluster_mass_fwe",
        "ale_thresholded",
    ):
        assert nib.load(out / f"{name}.nii.gz").get_data_dtype() == np.float32
    assert nib.load(out / "clusters.nii.gz").get_data_dtype() == np.int32
    table = pd.read_csv(out / "clusters.tsv", sep="\t")
    assert {"p_fwe_size", "p_fwe_mass", "contributions", "peak_tal_x"} <= set(table.columns)
    nulls = np.load(out / "null_distributions.npz")
    assert nulls["max_ale"].shape == (40,) and nulls["max_cluster_size"].shape == (40,)
    record = json.loads((out / "analysis.json").read_text())
    assert (
        record["parameters"]["n_iters_run"] == 40 and record["provenance"]["seed"]["entropy"] == 3
    )
    methods = (out / "methods.md").read_text()
    assert "Eickhoff" in methods and "Turkeltaub" in methods and "NiMARE" in methods
    # --select keeps the named experiments only.
    sub = tmp_path / "sub"
    ids = "pain_01.nidm-1,pain_02.nidm-1,pain_03.nidm-1"
    result = CliRunner().invoke(
        app, ["ale", str(source), "--out", str(sub), "--n-iters", "0", "-q", "--select", ids]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((sub / "analysis.json").read_text())["parameters"]["n_experiments"] == 3


def test_bad_input_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("// Reference=MNI\n// study one\n// Subjects=abc\n10 20\n")
    result = CliRunner().invoke(
        app, ["ale", str(bad), "--out", str(tmp_path / "o"), "--n-iters", "0"]
    )
    assert result.exit_code == 2
    assert (
        result.output.startswith("syntony: error:") and len(result.output.strip().splitlines()) == 1
    )
    result = CliRunner().invoke(
        app, ["ale", str(bad), "--out", str(tmp_path / "o"), "--n-iters", "1"]
    )
    assert result.exit_code == 2


def test_log_space_null_option_is_used_and_recorded(shared_data, tmp_path):
    source = shared_data / "nimare" / "nidm_pain_dset.json"
    maps = {}
    for null in ("exact", "fft"):
        out = tmp_path / null
        args = ["ale", str(source), "--out", str(out), "--n-iters", "0", "--null", null, "-q"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        record = json.loads((out / "analysis.json").read_text())
        assert ("FFT" in record["parameters"]["null_method"]) == (null == "fft")
        maps[null] = np.asanyarray(nib.load(out / "p.nii.gz").dataobj)
    assert np.max(np.abs(maps["fft"] - maps["exact"])) < 1e-4
    bad = CliRunner().invoke(app, ["ale", str(source), "--out", str(tmp_path / "x"), "--null", "x"])
    assert bad.exit_code == 2 and "--null" in bad.output


def test_gingerale_options(shared_data, tmp_path):
    source = shared_data / "nimare" / "nidm_pain_dset.json"
    out = tmp_path / "ginger"
    args = ["ale", str(source), "--out", str(out), "--n-iters", "0", "--gingerale-mask"]
    result = CliRunner().invoke(app, [*args, "--subvoxel", "-q"])
    assert result.exit_code == 0, result.output
    image = nib.load(out / "ale.nii.gz")
    assert image.affine[0, 0] == -2.0  # GingerALE's mask stores x reversed
    record = json.loads((out / "analysis.json").read_text())
    assert "exact position" in (out / "methods.md").read_text()
    assert record["parameters"]["grid"] != ""
    plain = tmp_path / "plain"
    CliRunner().invoke(app, ["ale", str(source), "--out", str(plain), "--n-iters", "0", "-q"])
    a = np.asanyarray(image.dataobj)[::-1]  # back to NiMARE's orientation
    b = np.asanyarray(nib.load(plain / "ale.nii.gz").dataobj)
    assert 0 < np.max(np.abs(a - b)) < 0.01  # sub-voxel centring moves the maps a little
