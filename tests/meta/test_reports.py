"""Meta results as syntony.report Results: round trips, significance columns and real-browser reports.

Small real studysets (the semantic Sleuth files, a tiny NeuroQuery selection) and few
iterations keep every analysis to seconds; each result is saved once per module.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from syntony.meta.ale import ALE
from syntony.meta.analyses import AtlasLabeller, peak_labeller
from syntony.meta.conjunction import ConjunctionResult, conjunction
from syntony.meta.contrast import ALEContrast, AllVoxels, ContrastResult
from syntony.meta.macm import MACMNetwork, MACMResult, macm, macm_network
from syntony.meta.readers import read_studyset
from syntony.meta.results import ALEResult
from syntony.meta.roi import sphere_roi
from syntony.report import load_result


@pytest.fixture(scope="module")
def groups(shared_data):
    folder = shared_data / "nimare"
    return (
        read_studyset(folder / "semantic_knowledge_children.txt"),
        read_studyset(folder / "semantic_relatedness_children.txt"),
    )


@pytest.fixture(scope="module")
def labeller():
    return peak_labeller("harvard_oxford")


@pytest.fixture(scope="module")
def mains(groups, labeller):
    return [
        ALE(n_iters=30, random_state=k, labeller=labeller).fit(g).result_
        for k, g in enumerate(groups)
    ]


@pytest.fixture(scope="module")
def saved_ale(mains, tmp_path_factory):
    out = tmp_path_factory.mktemp("ale") / "ale"
    mains[1].save(out)
    return mains[1], out


# -- helpers -----------------------------------------------------------------------------------
def assert_maps_equal(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _cell(value):
    """The data-value a report cell carries for a table value."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def assert_page_table(state: dict, name: str, frame: pd.DataFrame) -> None:
    """The page's tables ``name`` (and ``name_statistics``) show exactly the frame's values."""
    tables = {t["name"]: t for t in state["tables"] if t["name"]}
    assert name in tables, f"no table {name!r} on the page: {sorted(tables)}"
    shown = set()
    for key in (name, f"{name}_statistics"):
        if key not in tables:
            continue
        table = tables[key]
        assert len(table["rows"]) == len(frame)
        for j, column in enumerate(table["header"]):
            expected = [_cell(v) for v in frame[column].astype(object)]
            got = [row[j] for row in table["rows"]]
            assert got == expected, column
            shown.add(column)
    assert set(frame.columns) - {"contributions"} <= shown


# -- ALE ---------------------------------------------------------------------------------------
def test_ale_round_trip(saved_ale):
    result, out = saved_ale
    back = load_result(out)
    assert isinstance(back, ALEResult) and back.kind == "ale"
    assert_maps_equal(back.maps, result.maps)
    pd.testing.assert_frame_equal(back.clusters, result.clusters)
    pd.testing.assert_frame_equal(back.contributions, result.contributions)
    np.testing.assert_array_equal(back.fwe.max_size, result.fwe.max_size)
    np.testing.assert_array_equal(back.null.weights, result.null.weights)
    assert back.threshold == result.threshold and back.summary() == result.summary()
    assert back.grid is result.grid  # the packaged MNI grid is recognised
    # the layout of the files is kept
    for name in ("ale.nii.gz", "clusters.tsv", "null_distributions.npz", "methods.md",
                 "analysis.json", "contributions.tsv", "report.html", "result.json"):  # fmt: skip
        assert (out / name).is_file(), name


def test_ale_significance_is_marked_and_matches_the_map(saved_ale):
    result, _ = saved_ale
    table = result.clusters
    assert {"significant", "significance_test"} <= set(table.columns)
    assert set(table["significance_test"]) == {"cluster-size FWE p<0.05"}
    flags = table["significant"].astype(bool).to_numpy()
    np.testing.assert_array_equal(flags, table["p_fwe_size"].to_numpy() < 0.05)
    # the cluster map holds exactly the significant clusters
    assert int(flags.sum()) == len(np.unique(result.maps["clusters"][result.maps["clusters"] > 0]))
    summary = result.summary()
    assert f"{len(table)} clusters above the cluster-forming threshold" in summary
    assert f"{int(flags.sum())} significant" in summary


def test_ale_without_monte_carlo_says_not_tested(groups, tmp_path):
    result = ALE(n_iters=0).fit(groups[0]).result_
    assert result.clusters["significant"].isna().all()
    assert "not tested" in result.summary() and "0 significant" not in result.summary()
    result.save(tmp_path / "r")
    back = load_result(tmp_path / "r")
    pd.testing.assert_frame_equal(back.clusters, result.clusters)
    assert back.fwe is None


def test_empty_cluster_table_keeps_its_header(groups, tmp_path):
    result = ALE(n_iters=0, cluster_p=1e-300).fit(groups[0]).result_
    assert len(result.clusters) == 0 and "significant" in result.clusters.columns
    result.save(tmp_path / "r")
    table = pd.read_csv(tmp_path / "r" / "clusters.tsv", sep="\t")
    assert list(table.columns) == list(result.clusters.columns) and len(table) == 0
    pd.testing.assert_frame_equal(load_result(tmp_path / "r").clusters, result.clusters)


def test_warnings_of_the_fit_reach_the_result(groups, monkeypatch):
    import warnings

    from syntony.meta import layout

    original = layout.Layout.build

    def noisy(*args, **kwargs):
        warnings.warn("a test warning from the engine", UserWarning, stacklevel=2)
        return original(*args, **kwargs)

    monkeypatch.setattr(layout.Layout, "build", staticmethod(noisy))
    with pytest.warns(UserWarning, match="test warning"):
        result = ALE(n_iters=0).fit(groups[0]).result_
    assert "a test warning from the engine" in result.warnings
    assert "a test warning from the engine" in result.report().to_html()


def test_labeller_falls_back_to_a_second_atlas():
    labels = AtlasLabeller(("harvard_oxford", "aal"))(np.array([[20.0, -60, -40], [40, 18, 0]]))
    assert labels[0].endswith("(aal)") and "Cerebel" in labels[0]
    assert labels[1] == "Right Insular Cortex"
    assert peak_labeller("none") is None


def test_ale_report_in_a_browser(saved_ale, check_report):
    result, out = saved_ale
    state = check_report(out / "report.html")
    assert state["n_images"] >= 3  # glass brain, slices, nulls
    assert_page_table(state, "clusters", result.clusters)
    html = (out / "report.html").read_text()
    assert "Talairach" in html and "<iframe" in html
    for message in result.warnings:  # e.g. the few-experiments warning of the fit
        assert message in html
    assert "http://" not in html.split("<iframe")[0]  # the page itself loads nothing


# -- contrast ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def contrast(groups, labeller, tmp_path_factory):
    result = (
        ALEContrast(
            test=AllVoxels(p_threshold=0.2), n_permutations=20, random_state=0, labeller=labeller
        )
        .fit(*groups)
        .result_
    )
    out = tmp_path_factory.mktemp("contrast") / "c"
    result.save(out)
    return result, out


def test_contrast_round_trip_and_report(contrast, check_report):
    result, out = contrast
    back = load_result(out)
    assert isinstance(back, ContrastResult)
    assert_maps_equal(back.maps, result.maps)
    assert sum(len(t) for t in result.tables.values()) > 0
    for name, table in result.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], table)
        assert table["significant"].all()
        assert table["significance_test"].str.contains("permutation p<0.2").all()
    np.testing.assert_array_equal(back.arrays["max_abs_diff"], result.arrays["max_abs_diff"])
    state = check_report(out / "report.html")
    for name, table in result.tables.items():
        if len(table):
            assert_page_table(state, name, table)


def test_contrast_without_clusters_writes_headers(groups, tmp_path):
    result = ALEContrast(test=AllVoxels(p_threshold=1e-9), n_permutations=4,
                         random_state=0).fit(*groups).result_  # fmt: skip
    assert all(len(t) == 0 for t in result.tables.values())
    result.save(tmp_path / "c")
    for name in ("clusters_a_gt_b", "clusters_b_gt_a"):
        table = pd.read_csv(tmp_path / "c" / f"{name}.tsv", sep="\t")
        assert len(table) == 0 and {"cluster", "significant", "max_diff"} <= set(table.columns)


# -- conjunction -------------------------------------------------------------------------------
def test_conjunction_round_trip_and_report(mains, labeller, tmp_path, check_report):
    result = conjunction(mains, level="uncorrected", labeller=labeller)
    assert result.clusters["significant"].isna().all()
    assert result.clusters["significance_test"].str.startswith("not tested").all()
    result.save(tmp_path / "conj")
    back = load_result(tmp_path / "conj")
    assert isinstance(back, ConjunctionResult) and len(back.main_effects) == 2
    assert_maps_equal(back.maps, result.maps)
    pd.testing.assert_frame_equal(back.clusters, result.clusters)
    assert_maps_equal(back.main_effects[0].maps, mains[0].maps)
    assert (tmp_path / "conj" / "ale_b" / "report.html").is_file()
    state = check_report(tmp_path / "conj" / "report.html")
    assert_page_table(state, "clusters", result.clusters)


def test_cluster_level_conjunction_is_marked_significant(mains):
    result = conjunction(mains, level="cluster", keep_main_effects=False)
    table = result.clusters
    assert table["significant"].all() or len(table) == 0
    assert "ale_min" in result.maps and result.main_effects == []


# -- MACM --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def network(shared_data, labeller, tmp_path_factory):
    from syntony.meta.databases import load_neuroquery

    database = load_neuroquery(shared_data / "neuroquery").select(terms=["empathy"])
    est = ALE(n_iters=6, labeller=labeller)
    regions = [
        macm(sphere_roi(centre, 10, name=name), database, default_n=20, estimator=est,
             random_state=k)
        for k, (name, centre) in enumerate((("L_insula", (-38, 16, 2)),
                                             ("R_insula", (40, 18, 0))))
    ]  # fmt: skip
    result = macm_network(regions, level="uncorrected", labeller=labeller)
    out = tmp_path_factory.mktemp("macm") / "net"
    result.save(out)
    return result, out


def test_macm_counts_say_both_numbers(network):
    result, _ = network
    region = result.regions[0]
    summary = region.summary()
    n_above, n_sig = region.ale.n_clusters, region.ale.n_significant
    assert f"{n_above} cluster" in summary
    if 1 / region.ale.fwe.n_iters < 0.05:
        assert f"{n_sig} significant" in summary
    else:  # too few iterations to reach the level: said so, never "0 significant"
        assert "none can reach" in summary and "0 significant" not in summary
    assert n_sig == len(np.unique(region.ale.maps["clusters"][region.ale.maps["clusters"] > 0]))


def test_macm_network_round_trip(network):
    result, out = network
    back = load_result(out)
    assert isinstance(back, MACMNetwork)
    assert_maps_equal(back.maps, result.maps)
    pd.testing.assert_frame_equal(back.network, result.network)
    assert [r.roi.name for r in back.regions] == ["L_insula", "R_insula"]
    region = MACMResult.load(out / "L_insula")
    original = result.regions[0]
    assert region.experiment_ids == original.experiment_ids
    np.testing.assert_array_equal(region.roi.volume, original.roi.volume)
    assert_maps_equal(region.ale.maps, original.ale.maps)
    pd.testing.assert_frame_equal(region.clusters, original.clusters)
    assert region.methods == original.methods and "N = 20" in region.methods


def test_macm_reports_in_a_browser(network, check_report):
    result, out = network
    state = check_report(out / "report.html")
    assert_page_table(state, "network", result.network)
    region = result.regions[0]
    state = check_report(out / "L_insula" / "report.html")
    assert_page_table(state, "clusters", region.clusters)


# -- SCALE -------------------------------------------------------------------------------------
def test_scale_result_round_trip_and_report(groups, labeller, tmp_path, check_report):
    from syntony.meta.scale import SCALE, SCALEResult

    rng = np.random.default_rng(0)
    reference = np.array([[40.0, 20.0, 0.0], [-44, 20, 8]]).repeat(300, axis=0)
    reference += rng.normal(0, 6, size=reference.shape)
    result = SCALE(reference=reference, n_iters=12, random_state=2,
                   labeller=labeller).fit(groups[1]).result_  # fmt: skip
    assert isinstance(result, SCALEResult) and result.kind == "scale"
    assert "SCALE; Langner et al., 2014" in result.methods
    assert "Langner R" in result.methods.split("References")[1]
    assert "in-mask coordinates of reference coordinates (SCALE)" in result.summary()
    result.save(tmp_path / "s")
    back = load_result(tmp_path / "s")
    assert isinstance(back, SCALEResult)
    assert_maps_equal(back.maps, result.maps)
    pd.testing.assert_frame_equal(back.clusters, result.clusters)
    assert back.parameters["reference_pool_size"] == result.parameters["reference_pool_size"]
    state = check_report(tmp_path / "s" / "report.html")
    if len(result.clusters):
        assert_page_table(state, "clusters", result.clusters)


def test_viewer_page_loads_nothing_from_the_network(saved_ale):
    import html
    import re

    _, out = saved_ale
    page = (out / "report.html").read_text()
    frames = re.findall(r'<iframe[^>]*srcdoc="([^"]*)"', page)
    assert frames, "the report embeds a viewer"
    for frame in [page, *map(html.unescape, frames)]:
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", frame)
        assert not re.search(r"""url\(\s*["']?(https?:)?//""", frame)
        assert not re.search(r"@import", frame)
