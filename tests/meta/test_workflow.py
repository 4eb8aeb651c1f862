"""Study-set specs and the Fu et al. 2025 workflow on small real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from syntony.errors import InputError, ParameterError
from syntony.meta.atlas import label_coordinates
from syntony.meta.contrast import AllVoxels
from syntony.meta.databases import load_neuroquery
from syntony.meta.readers import read_studyset
from syntony.meta.specs import Databases, DatabaseSpec, parse_spec, resolve_spec
from syntony.meta.threshold import MonteCarloThreshold
from syntony.meta.workflow import (
    PAPER_FINDINGS,
    Fu2025Config,
    Fu2025Result,
    compare_with_paper,
    label_voxel_counts,
    run_fu2025,
)
from syntony.report import load_result


@pytest.fixture(scope="module")
def neuroquery(shared_data):
    return load_neuroquery(shared_data / "neuroquery")


@pytest.fixture(scope="module")
def dbs(neuroquery):
    return Databases(loader=lambda name, path: neuroquery)


def test_parse_spec_grammar():
    spec = parse_spec("neuroquery: terms = imitation, mimicry ; not_terms=empathy; min_count=2")
    assert isinstance(spec, DatabaseSpec)
    assert spec.database == "neuroquery"
    assert spec.query == {
        "terms": ["imitation", "mimicry"],
        "not_terms": ["empathy"],
        "min_count": 2,
    }
    assert parse_spec("studies.txt") == Path("studies.txt")
    assert parse_spec("C:/data/x.txt") == Path("C:/data/x.txt")  # not a database name
    for bad in (
        "neuroquery:",
        "neuroquery:terms",
        "neuroquery:colour=red",
        "neuroquery:min_count=x",
    ):
        with pytest.raises(InputError):
            parse_spec(bad)


def test_resolve_spec_selects_like_the_database(neuroquery, dbs):
    ss = resolve_spec("neuroquery:terms=imitation,mimicry;not_terms=empathy", default_n=20,
                      databases=dbs)  # fmt: skip
    with_terms = set(map(str, neuroquery.select(terms=["imitation", "mimicry"]).ids))
    empathy = set(map(str, neuroquery.select(terms=["empathy"]).ids))
    assert set(ss.ids) == with_terms - empathy
    assert np.all(ss.sample_sizes == 20)
    titled = resolve_spec("neuroquery:title=imitat", default_n=15, databases=dbs)
    assert all("imitat" in t.lower() for t in titled.experiments["title"])
    with pytest.raises(InputError, match="default-n"):
        resolve_spec("neuroquery:terms=empathy", databases=dbs)
    with pytest.raises(InputError, match="no article"):
        resolve_spec("neuroquery:title=zzzqqqxxx", default_n=20, databases=dbs)
    with pytest.raises(InputError):
        resolve_spec("/nonexistent/file.txt")


def test_databases_by_env_variable(shared_data, monkeypatch):
    monkeypatch.setenv("SYNTONY_NEUROQUERY_DIR", str(shared_data / "neuroquery"))
    db = Databases().get("neuroquery")
    assert db.name == "neuroquery" and db.n_articles > 10_000
    with pytest.raises(ParameterError):
        Databases().get("/no/such/folder")


def test_label_voxel_counts_against_atlas_labels(shared_data):
    from syntony.meta.space import mni152_grid

    grid = mni152_grid()
    rng = np.random.default_rng(0)
    selected = np.zeros(grid.n_voxels, dtype=bool)
    selected[rng.choice(grid.n_voxels, 3000, replace=False)] = True
    labels = label_coordinates(grid.ijk_to_mm(grid.mask_ijk[selected]), atlas="aal")
    expected = sum("insula" in lab.lower() for lab in labels)
    assert label_voxel_counts(grid, selected, ("Insula",)) == expected


@pytest.fixture(scope="module")
def run(shared_data, neuroquery):
    folder = shared_data / "nimare"
    a = read_studyset(folder / "semantic_knowledge_children.txt")
    b = read_studyset(folder / "semantic_relatedness_children.txt")
    config = Fu2025Config(
        n_iters=20, n_permutations=20, macm_iters=4, fwe_alpha=0.5, cluster_p=0.01,
        contrast=AllVoxels(p_threshold=0.05), max_rois=1, macm_min_experiments=2,
        default_n=20, cluster_threshold=MonteCarloThreshold(4),
    )  # fmt: skip
    database = neuroquery.select(terms=["language"], min_count=3)
    return run_fu2025(a, b, database, config=config, random_state=0), database


def test_workflow_chains_every_step(run):
    result, database = run
    conj = result.conjunction
    assert conj.maps["clusters"].max() >= 1, "lenient thresholds should leave an overlap"
    # the conjunction is the minimum of the two thresholded main effects
    both = (result.ale_a.maps["ale_thresholded"] > 0) & (result.ale_b.maps["ale_thresholded"] > 0)
    np.testing.assert_array_equal(conj.maps["clusters"] > 0, both)
    # MACM from the largest conjunction cluster, or a recorded reason why not
    assert len(result.macm) + len(result.skipped_rois) == 1
    if result.macm:
        m = result.macm[0]
        assert m.roi.name == "conjunction1"
        np.testing.assert_array_equal(m.roi.in_mask(), conj.maps["clusters"] == 1)
        assert set(m.experiment_ids) <= set(map(str, database.ids))
        assert result.network is not None
    table = result.comparison
    assert len(table) == len(PAPER_FINDINGS)
    assert set(table["found_here"]) <= {"yes", "no"}
    again = compare_with_paper(conj, result.network)
    assert again.equals(table)
    for heading in ("Main effect A", "Conjunction", "Contrast", "MACM"):
        assert heading in result.methods
    assert "4 Monte Carlo null maps" in result.ale_a.methods


def test_workflow_saves_everything(run, tmp_path, check_report):
    result, _ = run
    result.save(tmp_path / "fu")
    out = tmp_path / "fu"
    for part in ("ale_a/ale.nii.gz", "ale_b/clusters.tsv", "conjunction/ale_min.nii.gz",
                 "contrast/z.nii.gz", "contrast/clusters_a_gt_b.tsv", "comparison.md",
                 "comparison.tsv", "methods.md"):  # fmt: skip
        assert (out / part).exists(), part
    if result.macm:
        assert (out / "macm" / "conjunction1" / "experiments.tsv").exists()
        assert (out / "macm" / "n_regions.nii.gz").exists()
    assert "thalamus" in (out / "comparison.md").read_text()
    back = load_result(out)
    assert isinstance(back, Fu2025Result)
    pd.testing.assert_frame_equal(back.comparison, result.comparison)
    pd.testing.assert_frame_equal(back.conjunction.clusters, result.conjunction.clusters)
    np.testing.assert_array_equal(back.contrast.maps["z"], result.contrast.maps["z"])
    assert [r.roi.name for r in back.macm] == [r.roi.name for r in result.macm]
    assert back.skipped_rois == result.skipped_rois and back.summary() == result.summary()
    state = check_report(out / "report.html")
    tables = {t["name"]: t for t in state["tables"]}
    assert [row[1] for row in tables["comparison"]["rows"]] == list(
        result.comparison["paper_finding"]
    )
    html = (out / "report.html").read_text()
    for part in ("ale_a/report.html", "conjunction/report.html", "contrast/report.html"):
        assert f'href="{part}"' in html and (out / part).is_file()
    check_report(out / "contrast" / "report.html")
    from syntony.errors import OutputExistsError

    with pytest.raises(OutputExistsError):
        result.save(out)


def test_config_errors(neuroquery):
    with pytest.raises(ParameterError):
        Fu2025Config(n_iters=1)
    with pytest.raises(ParameterError):
        Fu2025Config(contrast="gingerale")
    from syntony.meta.studyset import Studyset

    a = Studyset.from_arrays([[0, 0, 0]], [0], [10], ids=["a"])
    b = Studyset.from_arrays([[0, 0, 0]], [0], [10], ids=["b"])
    with pytest.raises(InputError, match="default"):
        run_fu2025(a, b, neuroquery, config=Fu2025Config(n_iters=2))
