"""The physio results: one library call each, save/load round trips, reports in a real browser."""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from syntony.errors import InputError, OutputExistsError, ParameterError
from syntony.physio import (
    ContagionFitResult,
    ContagionModel,
    SyncConfig,
    SynchronyResult,
    align_sessions,
    analyze_synchrony,
    fit_contagion,
    load_features,
    read_network,
    read_recording,
)
from syntony.physio.fit_result import lrt_sentence, pseudo_sentence
from syntony.physio.statespace import complete_adjacency, laplacian, simulate_statespace
from syntony.physio.sync_result import n_exceeded, verdict
from syntony.report import MANIFEST, REPORT, load_result

SMALL = SyncConfig(window=20.0, step=10.0, max_lag=2.0)


def _group(seed, *, c, n=4, n_t=240, start=0.0, prefix="P"):
    _, y = simulate_statespace(
        n_t, laplacian(complete_adjacency(n)), c=c, lam=0.1, q=0.2, r=0.1, seed=seed
    )
    persons = [f"{prefix}{seed}{k}" for k in range(n)]
    return xr.Dataset(
        {"signal": (("time", "person", "channel"), y[:, :, None])},
        coords={"time": start + np.arange(n_t, dtype=float), "person": persons, "channel": ["x"]},
        attrs={"sampling_rate": 1.0, "source": f"group{seed}"},
    )


@pytest.fixture(scope="module")
def sync_result():
    group = _group(1, c=0.6)
    # One person with no signal at all: excluded, with the reason kept.
    group["signal"][:, 1, 0] = np.nan
    return analyze_synchrony(
        group,
        signal="raw",
        fs=1.0,
        config=SMALL,
        n_surrogates=9,
        pseudo_from=_group(2, c=0.0),
        n_pseudo_groups=15,
        seed=4,
    )


@pytest.fixture(scope="module")
def fit_result():
    return fit_contagion(_group(3, c=0.5), pseudo_from=_group(4, c=0.0), n_pseudo_groups=5, seed=2)


def _assert_same_sync(a: SynchronyResult, b: SynchronyResult) -> None:
    xr.testing.assert_identical(a.features, b.features)
    xr.testing.assert_identical(a.synchrony, b.synchrony)
    for name in ("windows", "pairs", "tests"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    for name in ("bands", "nulls"):
        x, y = getattr(a, name), getattr(b, name)
        assert list(x) == list(y)
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    assert a.notes == b.notes and a.exclusions == b.exclusions
    assert a.parameters == b.parameters


def test_synchrony_result_holds_the_whole_analysis(sync_result):
    r = sync_result
    assert r.persons == ["P10", "P12", "P13"]
    assert r.exclusions == {"P11": "no valid (non-missing, non-constant) signal"}
    assert any("'P11' excluded" in n for n in r.notes)
    assert list(r.tests["method"]) == [
        "circular-shift",
        "segment-shuffle",
        "kuramoto circular-shift",
        "cluster-phase circular-shift",
        "pseudo-group",
    ]
    assert list(r.nulls) == list(r.tests["method"])
    assert set(r.bands) == {"circular-shift", "segment-shuffle", "pseudo-group"}
    assert r.bands["circular-shift"].shape == (9, r.n_windows)
    assert len(r.pairs) == 3 and (r.pairs["n_windows"] == r.n_windows).all()
    assert (
        r.group_synchrony == r.synchrony.attrs["group_mean"] == r.test("circular-shift")["observed"]
    )
    for _, row in r.tests.iterrows():  # p-values agree with the stored null draws
        null = r.nulls[row["method"]]
        assert row["p_value"] == pytest.approx(
            (1 + np.sum(null >= row["observed"])) / (1 + len(null))
        )
    text = r.summary()
    assert text.startswith("group synchrony") and "1 excluded" in text and "pseudo-group" in text
    assert "Theiler J" in r.methods and "Boker SM" in r.methods and "Bernieri FJ" in r.methods


def test_synchrony_round_trip(sync_result, tmp_path):
    written = sync_result.save(tmp_path / "out")
    names = {p.name for p in written}
    assert names == {
        "features.nc",
        "synchrony.nc",
        "synchrony_nulls.nc",
        "synchrony_windows.tsv",
        "synchrony_pairs.tsv",
        "synchrony_tests.tsv",
        MANIFEST,
        REPORT,
    }
    loaded = load_result(tmp_path / "out")
    assert isinstance(loaded, SynchronyResult)
    _assert_same_sync(sync_result, loaded)
    assert loaded.summary() == sync_result.summary()
    # Saving what was loaded gives the same result again.
    loaded.save(tmp_path / "again")
    _assert_same_sync(sync_result, SynchronyResult.load(tmp_path / "again"))
    with pytest.raises(OutputExistsError):
        sync_result.save(tmp_path / "out")
    with pytest.raises(InputError, match="holds a 'synchrony' result"):
        ContagionFitResult.load(tmp_path / "out")


def test_empty_tables_keep_their_header(tmp_path):
    r = analyze_synchrony(_group(5, c=0.3), fs=1.0, config=SMALL, n_surrogates=0, seed=0)
    assert r.tests.empty and not r.bands and not r.nulls
    r.save(tmp_path / "out")
    header = (tmp_path / "out" / "synchrony_tests.tsv").read_text().splitlines()
    assert header == ["\t".join(r.tests.columns)]
    loaded = SynchronyResult.load(tmp_path / "out")
    assert loaded.tests.empty and list(loaded.tests.columns) == list(r.tests.columns)
    assert "No null test was run" in loaded.report().to_html()


def test_fit_result_round_trip(fit_result, tmp_path):
    r = fit_result
    assert r.persons == ["P30", "P31", "P32", "P33"]
    assert list(r.params["parameter"]) == ["c", "lambda", "b", "q", "r"]
    lo, hi = r.interval("c")
    assert lo < 0.5 < hi and r.lrt["p_value"] < 0.01
    assert r.pseudo_group["n"] == 5 and len(r.pseudo_values) == 5
    assert r.pseudo_group["statistic"] == r.estimate("c")
    written = {p.name for p in r.save(tmp_path / "fit")}
    assert written == {
        "fitted.nc",
        "fit_params.tsv",
        "fit_models.tsv",
        "fit_tests.tsv",
        "fit_pseudo.tsv",
        MANIFEST,
        REPORT,
    }
    loaded = load_result(tmp_path / "fit")
    assert isinstance(loaded, ContagionFitResult)
    xr.testing.assert_identical(loaded.fitted, r.fitted)
    for name in ("params", "models", "tests"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(r, name))
    np.testing.assert_array_equal(loaded.pseudo_values, r.pseudo_values)
    assert loaded.summary() == r.summary() and loaded.methods == r.methods
    manifest = json.loads((tmp_path / "fit" / MANIFEST).read_text())
    assert manifest["kind"] == "contagion-fit" and manifest["parameters"]["n_pseudo_groups"] == 5


def test_estimator_keeps_sklearn_shape_and_sets_result():
    y = _group(6, c=0.4)["signal"].isel(channel=0)
    model = ContagionModel()
    assert model.fit(y) is model
    result = model.result_
    assert isinstance(result, ContagionFitResult) and result.pseudo_group is None
    assert result.persons == [str(p) for p in y["person"].values]
    np.testing.assert_array_equal(result.fitted["observed"].to_numpy(), y.to_numpy())
    assert result.estimate("c") == model.params_["c"] and result.lrt["p_value"] == model.lrt_pvalue_
    assert "No pseudo-group test was run" in result.report().to_html()
    # A plain array gives numbered persons and time in steps of dt.
    plain = ContagionModel(dt=0.5).fit(y.to_numpy()).result_
    assert plain.persons == ["0", "1", "2", "3"]
    assert plain.fitted["time"].to_numpy()[:3].tolist() == [0.0, 0.5, 1.0]


def test_plain_sentences():
    tests = pd.DataFrame(
        {
            "test": ["likelihood ratio (c = 0)", "pseudo-group"],
            "statistic": [12.0, 0.3],
            "p_value": [0.0005, 4 / 101],
            "n": [np.nan, 100.0],
        }
    )
    assert "prefers the coupled model" in lrt_sentence(tests, 0.3)
    assert "negative" in lrt_sentence(tests, -0.3)
    assert pseudo_sentence(tests) == (
        "The coupling is larger than in 97 of 100 pseudo-groups (p = 0.04): the synchrony is "
        "not explained by the shared stimulus alone."
    )
    tests["p_value"] = [0.4, 0.5]
    assert "does not reject c = 0" in lrt_sentence(tests, 0.01)
    assert "may explain it" in pseudo_sentence(tests)
    tests["p_value"] = [0.4, 1 / 11]
    tests["n"] = [np.nan, 10.0]
    assert "all 10 pseudo-groups" in pseudo_sentence(tests) and "at least 19" in pseudo_sentence(
        tests
    )
    row = {"method": "circular-shift", "p_value": 1 / 20, "n": 19}
    assert verdict(row).startswith("Group synchrony is higher than in 19 of 19")
    assert "line up in time" in verdict(row)
    assert n_exceeded(0.5, 9) == 5


def test_report_in_a_real_browser(sync_result, fit_result, tmp_path, check_report):
    sync_result.save(tmp_path / "sync")
    state = check_report(tmp_path / "sync" / REPORT)
    tables = {t["name"]: t for t in state["tables"]}
    assert {"tests", "pairs", "windows", "exclusions"} <= set(tables)
    assert state["n_images"] == 5
    _same_as_frame(tables["tests"], sync_result.tests)
    _same_as_frame(tables["pairs"], sync_result.pairs)
    _same_as_frame(tables["windows"], sync_result.windows)
    assert tables["exclusions"]["rows"] == [["P11", "no valid (non-missing, non-constant) signal"]]

    fit_result.save(tmp_path / "fit")
    state = check_report(tmp_path / "fit" / REPORT)
    tables = {t["name"]: t for t in state["tables"]}
    _same_as_frame(tables["params"], fit_result.params)
    _same_as_frame(tables["tests"], fit_result.tests)
    _same_as_frame(tables["models"], fit_result.models)
    assert state["n_images"] == 2
    page = (tmp_path / "fit" / REPORT).read_text()
    assert html.escape(lrt_sentence(fit_result.tests, fit_result.estimate("c"))) in page
    assert html.escape(pseudo_sentence(fit_result.tests)) in page


def _same_as_frame(table, frame: pd.DataFrame) -> None:
    """The page's cells (their exact data-value) equal the result's table, column by column."""
    assert table["header"] == [str(c) for c in frame.columns]
    assert len(table["rows"]) == len(frame)
    for k, column in enumerate(frame.columns):
        cells = [row[k] for row in table["rows"]]
        values = frame[column].to_numpy()
        if values.dtype.kind in "biuf":
            if values.dtype.kind == "b":
                assert cells == [str(bool(v)) for v in values], column
            else:
                np.testing.assert_array_equal(np.array(cells, float), values.astype(float))
        else:
            assert cells == ["nan" if v is None or v != v else str(v) for v in values], column


def test_library_errors_name_the_field(tmp_path):
    with pytest.raises(ParameterError, match="signal"):
        analyze_synchrony(_group(1, c=0.1), signal="nose")
    with pytest.raises(ParameterError, match="n_surrogates"):
        analyze_synchrony(_group(1, c=0.1), fs=1.0, n_surrogates=-1)
    with pytest.raises(ParameterError, match="network"):
        fit_contagion(_group(1, c=0.1), network=np.ones((4, 4)), pseudo_from=_group(2, c=0.0))
    with pytest.raises(InputError, match="do not overlap"):
        feats, _ = load_features(_group(1, c=0.1), fs=1.0)
        late, _ = load_features(_group(2, c=0.1, start=1000.0), fs=1.0)
        align_sessions(feats, late)
    with pytest.raises(InputError, match=r"\(4, 4\) matrix"):
        read_network(np.ones((3, 3)), ["a", "b", "c", "d"])


def test_alignment_offset_and_pseudo_band_placement():
    early, _ = load_features(_group(1, c=0.4, n_t=200), fs=1.0)
    late, _ = load_features(_group(2, c=0.0, n_t=200, start=30.0), fs=1.0)
    aligned = align_sessions(early, late)
    assert aligned.offset == 30 and aligned.x.shape == aligned.other.shape == (170, 4)
    np.testing.assert_array_equal(aligned.x, early["raw"].to_numpy()[30:])
    r = analyze_synchrony(
        early["raw"].to_dataset().assign_attrs(early.attrs),
        fs=1.0,
        config=SMALL,
        n_surrogates=0,
        pseudo_from=late,
        n_pseudo_groups=5,
        seed=1,
    )
    band = r.bands["pseudo-group"]
    # 30 s in is three 10 s steps: the band starts at the fourth window.
    assert np.isnan(band[:, :3]).all() and np.isfinite(band[:, 3]).all()
    shifted, _ = load_features(_group(3, c=0.0, n_t=200, start=25.0), fs=1.0)
    r = analyze_synchrony(early, fs=1.0, config=SMALL, n_surrogates=0, pseudo_from=shifted,
                          n_pseudo_groups=5, seed=1)  # fmt: skip
    assert "pseudo-group" not in r.bands and any("no pseudo-group band" in n for n in r.notes)
    assert r.test("pseudo-group")["n"] == 5


def test_concert_synchrony_through_the_library(shared_data):
    data = shared_data / "concert_respiration"
    result = analyze_synchrony(
        data / "Case2_Sae1_AudResp.csv",
        signal="respiration",
        n_surrogates=9,
        pseudo_from=read_recording(data / "Case2_Sae2_AudResp.csv", channel="respiration"),
        n_pseudo_groups=20,
        seed=1,
    )
    assert len(result.persons) + len(result.exclusions) == 15
    rates = result.features["breathing_rate"].to_numpy()
    assert 10 < np.nanmedian(rates) < 22 and result.units == "breaths/min"
    assert set(result.tests["method"]) == {
        "circular-shift",
        "segment-shuffle",
        "kuramoto circular-shift",
        "cluster-phase circular-shift",
        "pseudo-group",
    }
    assert ((result.tests["p_value"] > 0) & (result.tests["p_value"] <= 1)).all()
    pseudo = result.test("pseudo-group")
    assert pseudo["n"] == 20 and pseudo["n_real_pairs"] == len(result.pairs)
    assert 0 < result.group_synchrony < 1
    assert result.parameters["pseudo_from"].startswith("<Dataset from")
