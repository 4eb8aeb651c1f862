"""The P1–P7 summary used by the demo: every prediction holds, the result round-trips and reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from syntony.errors import ParameterError
from syntony.model.predictions import PREDICTIONS, PredictionsResult, check_predictions
from syntony.report import load_result


@pytest.fixture(scope="module")
def result() -> PredictionsResult:
    return check_predictions(n_replicates=2, seed=5)


def test_every_prediction_holds_in_every_replicate(result):
    assert list(result.tables) == list(PREDICTIONS) == [f"P{k}" for k in range(1, 8)]
    for code, table in result.tables.items():
        assert table["holds"].all(), (code, table)
        assert len(table) == (6 if code == "P6" else 2)
    # The measured effects, not only their signs.
    p1 = result.tables["P1"]
    assert (p1["time to 10% (synchrony 0.6) [s]"] < 0.8 * p1["time to 10% (synchrony 0) [s]"]).all()
    p6 = result.tables["P6"]
    assert p6["gain at start"].iloc[0] > 0.999 and p6["gain at start"].iloc[4] < 1e-5
    np.testing.assert_allclose(p6["gain at end"], p6["closed form at end"], rtol=1e-6)
    np.testing.assert_allclose(p6["gain at start"], p6["closed form at start"], rtol=1e-6)
    assert (np.diff(result.curves["P6"].isel(condition=slice(0, 5)).values, axis=1) <= 0).all()
    assert result.summary().startswith("7 of 7 predictions hold in every replicate")


def test_same_seed_same_numbers_other_seed_other_numbers(result):
    again = check_predictions(n_replicates=2, seed=5, which=["P1", "P4"])
    other = check_predictions(n_replicates=2, seed=6, which=["P1"])
    for code in ("P1", "P4"):
        pd.testing.assert_frame_equal(again.tables[code], result.tables[code])
        xr.testing.assert_equal(again.curves[code], result.curves[code])
    assert not other.tables["P1"].equals(result.tables["P1"])


def test_save_load_and_report(result, tmp_path, check_report):
    written = result.save(tmp_path / "p")
    names = {p.name for p in written}
    assert {"P1.tsv", "P7.tsv", "curves.nc", "report.html", "result.json"} <= names
    loaded = load_result(tmp_path / "p")
    assert isinstance(loaded, PredictionsResult)
    assert loaded.summary() == result.summary()
    for code in result.tables:
        pd.testing.assert_frame_equal(loaded.tables[code], result.tables[code])
        xr.testing.assert_allclose(loaded.curves[code], result.curves[code])
    page = check_report(tmp_path / "p" / "report.html")
    assert page["n_images"] == 7
    tables = {t["name"]: t for t in page["tables"]}
    for code, table in result.tables.items():
        shown = tables[code]
        assert shown["header"] == list(table.columns)
        numbers = table.drop(columns="holds").to_numpy(dtype=float)
        on_page = np.array([[float(v) for v in row[:-1]] for row in shown["rows"]])
        np.testing.assert_array_equal(on_page, numbers)


def test_bad_arguments():
    with pytest.raises(ParameterError, match="which"):
        check_predictions(which=["P8"])
    with pytest.raises(ParameterError, match="n_replicates"):
        check_predictions(n_replicates=0)
