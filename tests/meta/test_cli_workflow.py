"""``syntony contrast | conjunction | macm | workflow fu2025`` on real files."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from _outputs import assert_same_outputs
from click.testing import CliRunner

from syntony.cli import app
from syntony.meta.ale import ale_map
from syntony.meta.readers import read_studyset


@pytest.fixture(scope="module")
def files(shared_data):
    folder = shared_data / "nimare"
    return (
        str(folder / "semantic_knowledge_children.txt"),
        str(folder / "semantic_relatedness_children.txt"),
    )


def _run(args, env=None):
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


def test_contrast_nimare_test_writes_the_difference(files, tmp_path):
    out = tmp_path / "contrast"
    args = ["contrast", *files, "--out", str(out), "--test", "nimare", "--n-permutations",
            "6", "--seed", "1", "-q"]  # fmt: skip
    res = _run(args)
    assert res.exit_code == 0, res.output
    diff = np.asarray(nib.load(out / "diff.nii.gz").dataobj)
    a, b = (read_studyset(f) for f in files)
    from syntony.meta.space import mni152_grid

    np.testing.assert_array_equal(diff[mni152_grid().mask], ale_map(a) - ale_map(b))
    assert (out / "clusters_b_gt_a.tsv").exists() and (out / "methods.md").exists()
    again = _run(args)
    assert again.exit_code == 2
    assert again.output.startswith("syntony: error:") and "--force" in again.output


def test_contrast_gingerale_default(files, tmp_path):
    out = tmp_path / "g"
    res = _run(["contrast", *files, "--out", str(out), "--n-permutations", "5", "--n-iters",
                "5", "--seed", "2", "--p", "0.5", "--atlas", "none", "--main-effect", "uncorrected"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "cluster(s) A > B" in res.output
    tested = np.asarray(nib.load(out / "tested.nii.gz").dataobj)
    assert 0 < tested.sum() < 228_483  # only the main effects' voxels


def test_macm_command_with_two_regions(shared_data, tmp_path):
    out = tmp_path / "macm"
    db = str(shared_data / "neuroquery")
    res = _run(["macm", "--roi", "sphere:-20,-60,-40,4", "--roi", "sphere:20,-60,-40,4",
                "--database", db, "--default-n", "20", "--n-iters", "3", "--out", str(out),
                "--seed", "0", "-q"])  # fmt: skip
    assert res.exit_code == 0, res.output
    left = out / "sphere_-20_-60_-40_r4"
    ids = pd.read_csv(left / "experiments.tsv", sep="\t")["id"]
    assert len(ids) >= 10
    network = pd.read_csv(out / "network.tsv", sep="\t")
    assert {"significant", "significance_test", "regions"} <= set(network.columns)
    assert (left / "report.html").exists() and (out / "report.html").exists()
    scale = _run(["macm", "--roi", "sphere:-20,-60,-40,4", "--database", db, "--default-n",
                  "20", "--n-iters", "3", "--out", str(tmp_path / "scale"), "--scale", "-q"])  # fmt: skip
    assert scale.exit_code == 0, scale.output
    methods = (tmp_path / "scale" / "sphere_-20_-60_-40_r4" / "methods.md").read_text()
    assert "SCALE" in methods and "N = 20" in methods


def test_user_errors_are_one_line(files, shared_data, tmp_path):
    res = _run(["contrast", "neuroquery:terms=empathy", files[0], "--out", str(tmp_path),
                "--database-dir", str(shared_data / "neuroquery")])  # fmt: skip
    assert res.exit_code == 2 and "default-n" in res.output
    assert len(res.output.strip().splitlines()) == 1
    env = {"SYNTONY_NEUROQUERY_DIR": str(shared_data / "neuroquery")}
    res = _run(["macm", "--roi", "sphere:1,2", "--database", "neuroquery", "--default-n", "20",
                "--out", str(tmp_path)], env=env)  # fmt: skip
    assert res.exit_code == 2 and "sphere:X,Y,Z,RADIUS" in res.output
    res = _run(["contrast", files[0], files[0], "--out", str(tmp_path), "--test", "nimare"])
    assert res.exit_code == 2 and "both groups" in res.output


def test_workflow_fu2025_command(files, shared_data, tmp_path):
    out = tmp_path / "fu"
    env = {"SYNTONY_NEUROQUERY_DIR": str(shared_data / "neuroquery")}
    res = _run(["workflow", "fu2025", "--group-a", files[0], "--group-b", files[1],
                "--database", "neuroquery", "--default-n", "20", "--n-iters", "40",
                "--macm-iters", "3", "--max-rois", "1", "--n-permutations", "5", "--seed", "3",
                "--out", str(out)], env=env)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "paper's regions found here" in res.output and "report.html" in res.output
    assert "| conjunction | cingulate gyrus |" in (out / "comparison.md").read_text()
    for name in ("comparison.tsv", "methods.md", "ale_a/ale.nii.gz", "contrast/p.nii.gz",
                 "conjunction/clusters.tsv", "report.html", "ale_a/report.html"):  # fmt: skip
        assert (out / name).exists(), name
    table = pd.read_csv(out / "comparison.tsv", sep="\t")
    assert list(table["paper_finding"])[:3] == [
        "cingulate gyrus", "middle frontal gyrus", "inferior parietal lobule"
    ]  # fmt: skip
    # The workflow's MACM of a region is `syntony macm` of that region with the same seed:
    # both draw from SeedTree(3).child("macm", "conjunction1").
    region = out / "macm" / "conjunction1"
    assert (region / "clusters.tsv").exists(), "the largest conjunction cluster seeds a MACM"
    roi = tmp_path / "conjunction1.nii.gz"
    shutil.copy(region / "roi.nii.gz", roi)
    alone = tmp_path / "alone"
    res = _run(["macm", "--roi", str(roi), "--database", "neuroquery", "--default-n", "20",
                "--n-iters", "3", "--seed", "3", "--out", str(alone), "-q"], env=env)  # fmt: skip
    assert res.exit_code == 0, res.output
    names = assert_same_outputs(region, alone / "conjunction1")
    assert {"clusters.tsv", "contributions.tsv", "experiments.tsv", "z_cluster_size_fwe.nii.gz",
            "null_distributions.npz"} <= set(names)  # fmt: skip
