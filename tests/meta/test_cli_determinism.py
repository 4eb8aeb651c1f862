"""Every meta command run twice with the same seed writes identical maps and tables."""

from __future__ import annotations

import pytest
from _outputs import assert_same_outputs
from click.testing import CliRunner

from syntony.cli import app


@pytest.fixture(scope="module")
def files(shared_data):
    folder = shared_data / "nimare"
    return (
        str(folder / "semantic_knowledge_children.txt"),
        str(folder / "semantic_relatedness_children.txt"),
    )


def _twice(tmp_path, args, env=None):
    outs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        res = CliRunner().invoke(app, [*args, "--out", str(out), "-q"], env=env,
                                 catch_exceptions=False)  # fmt: skip
        assert res.exit_code == 0, res.output
        outs.append(out)
    return outs


def test_ale_same_seed_same_files(files, tmp_path):
    a, b = _twice(tmp_path, ["ale", files[1], "--n-iters", "20", "--seed", "5"])
    names = assert_same_outputs(a, b)
    assert "clusters.tsv" in names and "z_cluster_size_fwe.nii.gz" in names


def test_contrast_replaying_nimare_same_seed_same_files(files, tmp_path):
    # The published test: main effects (Monte Carlo) and permutations both seeded.
    a, b = _twice(tmp_path, ["contrast", *files, "--replay-nimare", "--n-iters", "10",
                             "--n-permutations", "10", "--p", "0.2", "--seed", "5"])  # fmt: skip
    names = assert_same_outputs(a, b)
    assert {"tested.nii.gz", "clusters_a_gt_b.tsv", "null_distributions.npz"} <= set(names)


def test_conjunction_same_seed_same_files(files, tmp_path):
    a, b = _twice(tmp_path, ["conjunction", *files, "--n-iters", "10", "--seed", "5"])
    names = assert_same_outputs(a, b)
    assert {"ale_a/clusters.tsv", "ale_b/ale.nii.gz", "ale_min.nii.gz", "clusters.tsv"} <= set(
        names
    )
    assert (a / "report.html").is_file() and (a / "ale_b" / "report.html").is_file()


def test_macm_same_seed_same_files(shared_data, tmp_path):
    args = ["macm", "--roi", "sphere:-20,-60,-40,4", "--database", "neuroquery", "--default-n",
            "20", "--n-iters", "4", "--seed", "5"]  # fmt: skip
    env = {"SYNTONY_NEUROQUERY_DIR": str(shared_data / "neuroquery")}
    a, b = _twice(tmp_path, args, env=env)
    names = assert_same_outputs(a, b)
    assert "sphere_-20_-60_-40_r4/clusters.tsv" in names and "network.tsv" in names
