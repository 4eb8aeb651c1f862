"""Diagnostics of ALE, contrast and conjunction results: tables, files and their round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _ale_helpers import ball_grid
from _diagnostics_helpers import planted_studyset

from syntony.errors import InputError, ParameterError
from syntony.meta.ale import ALE
from syntony.meta.conjunction import conjunction
from syntony.meta.contrast import ALEContrast, AllVoxels
from syntony.meta.diagnostics import Observed, jackknife
from syntony.meta.diagnostics.apply import (
    DiagnosticSettings,
    diagnose_ale,
    diagnose_conjunction,
    diagnose_contrast,
    estimator_from,
    parse_diagnostics,
)
from syntony.meta.diagnostics.bundle import read_diagnostics, write_diagnostics

SETTINGS = DiagnosticSettings(
    stability_resamples=8, stability_iters=40, coverage="brain", fsn_max=30
)


@pytest.fixture(scope="module")
def analysis():
    grid = ball_grid(radius=14, size=34)
    ss = planted_studyset(np.random.default_rng(8), grid, 18, n_carrying=9,
                          centre_mm=(2.0, 0.0, 0.0), spread_mm=2.0)  # fmt: skip
    est = ALE(grid=grid, n_iters=100, random_state=0)
    return grid, ss, est, est.fit(ss).result_


def test_parse_diagnostics():
    assert parse_diagnostics("fsn, jackknife") == ("jackknife", "fsn")
    assert parse_diagnostics(["focus_counter"]) == ("focus-counter",)
    assert parse_diagnostics("all") == ("jackknife", "focus-counter", "stability", "fsn")
    assert parse_diagnostics(None) == ()
    with pytest.raises(ParameterError, match="--diagnostics"):
        parse_diagnostics("jackknife,bootstrap")


def test_diagnose_ale_tables_maps_and_round_trip(analysis, tmp_path):
    grid, ss, est, result = analysis
    out = diagnose_ale(result, ss, "all", estimator=est, settings=SETTINGS, random_state=2)
    assert [d.name for d in out] == ["jackknife", "focus-counter", "stability", "fsn"]
    jk, fc, st, fsn = out
    significant = result.clusters.loc[result.clusters["significant"].astype(bool), "cluster"]
    assert list(jk.table.columns) == ["id"] + [f"cluster_{c}" for c in significant]
    assert list(jk.table["id"]) == ss.ids and list(fc.table["id"]) == ss.ids
    expected = jackknife(Observed.build(ss, grid=grid), result.maps["clusters"])
    pd.testing.assert_frame_equal(jk.table, expected)
    assert st.maps[""].shape == (grid.n_voxels,) and 0 < st.maps[""].max() <= 1
    assert len(fsn.table) == len(result.clusters)  # one row per cluster of clusters.tsv
    assert {"analyses", "null_experiments"} == set(fsn.parts)
    assert "Acar et al., 2018" in fsn.text and fsn.references
    records = write_diagnostics(tmp_path, grid, out)
    assert (tmp_path / "diagnostics_jackknife.tsv").is_file()
    assert (tmp_path / "diagnostics_stability.nii.gz").is_file()
    assert (tmp_path / "diagnostics_fsn_analyses.tsv").is_file()
    back = read_diagnostics(tmp_path, grid, records)
    for a, b in zip(out, back, strict=True):
        assert a.name == b.name and a.text == b.text and a.warnings == b.warnings
        pd.testing.assert_frame_equal(a.table, b.table)
        for k in a.parts:
            pd.testing.assert_frame_equal(a.parts[k], b.parts[k])
        for k in a.maps:
            np.testing.assert_array_equal(a.maps[k], b.maps[k])


def test_estimator_from_and_wrong_studyset(analysis):
    grid, ss, est, result = analysis
    rebuilt = estimator_from(result)
    assert rebuilt.n_iters == 100 and rebuilt.cluster_p == est.cluster_p
    assert rebuilt.grid is grid
    with pytest.raises(InputError, match="pass the studyset"):
        diagnose_ale(result, ss.select(ss.ids[:-1]), "jackknife")
    uncorrected = ALE(grid=grid, n_iters=0).fit(ss).result_
    (jk,) = diagnose_ale(uncorrected, ss, "jackknife")
    assert "no Monte Carlo FWE" in jk.text
    assert jk.table.shape[1] == 1 + len(uncorrected.clusters)
    with pytest.raises(ParameterError, match="fsn"):
        diagnose_ale(uncorrected, ss, "fsn")


def test_contrast_and_conjunction_diagnostics(analysis):
    grid, ss, _, result = analysis
    b = planted_studyset(np.random.default_rng(2), grid, 12, n_carrying=0, prefix="b")
    con = ALEContrast(test=AllVoxels(p_threshold=0.01), grid=grid, n_permutations=100,
                      random_state=1).fit(ss, b).result_  # fmt: skip
    out = diagnose_contrast(con, ss, b, "jackknife,focus-counter,stability", settings=SETTINGS,
                            n_iters=40, random_state=1)  # fmt: skip
    jk, fc, st = out
    assert list(jk.table["group"]) == ["A"] * 18 + ["B"] * 12
    n_pos = len(con.tables["clusters_a_gt_b"])
    assert sum(c.startswith("a_gt_b_") for c in jk.table.columns) == n_pos
    assert list(fc.table.columns) == list(jk.table.columns)
    assert set(st.maps) == {"a", "b"} and set(st.table["direction"]) <= {"a_gt_b", "b_gt_a"}
    with pytest.raises(InputError, match="contrast"):
        diagnose_contrast(con, ss, b.select(b.ids[:5]), "jackknife")

    other = planted_studyset(np.random.default_rng(3), grid, 15, n_carrying=8,
                             centre_mm=(2.0, 0.0, 0.0), spread_mm=2.0, prefix="c")  # fmt: skip
    second = ALE(grid=grid, n_iters=100, random_state=1).fit(other).result_
    conj = conjunction([result, second], names=["A", "C"])
    assert conj.maps["clusters"].max() >= 1
    jk, fc, fsn = diagnose_conjunction(conj, [ss, other], "jackknife,focus-counter,fsn",
                                       settings=SETTINGS, random_state=1)  # fmt: skip
    assert list(jk.table["map"]) == ["A"] * 18 + ["C"] * 15
    assert list(fc.table["map"]) == ["A"] * 18 + ["C"] * 15
    weakest = fsn.parts["weakest"]
    assert (weakest["fsn"].to_numpy() == fsn.table.groupby("cluster")["fsn"].min().to_numpy()).all()
    with pytest.raises(InputError, match="main effects"):
        diagnose_conjunction(conj.without_main_effects(), [ss, other], "jackknife")


def test_diagnose_adds_paragraphs_and_references_to_the_methods_once(analysis):
    _, ss, est, _ = analysis
    result = est.fit(ss).result_
    result.diagnose("jackknife", ss)
    result.diagnose("jackknife,focus-counter", ss)  # a second jackknife replaces the first
    assert [d.name for d in result.diagnostics] == ["jackknife", "focus-counter"]
    body, refs = result.methods.split("References")
    assert body.count("NiMARE's jackknife") == 1 and body.count("FocusCounter") == 1
    assert refs.count("Salo T, Yarkoni T") == 1
