"""``--diagnostics`` on ``syntony ale | contrast | conjunction`` and ``syntony contrast --balanced``:
files, round trip, same seed -> same files, and the report's tables in Chromium."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from syntony.cli import app
from syntony.report import load_result


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def _page_table(state: dict, name: str, frame: pd.DataFrame) -> None:
    tables = {t["name"]: t for t in state["tables"] if t["name"]}
    assert name in tables, sorted(tables)
    table = tables[name]
    assert table["header"] == [str(c) for c in frame.columns]
    assert [row for row in table["rows"]] == [
        [_cell(v) for v in row] for row in frame.astype(object).itertuples(index=False)
    ]


def _run(args):
    result = CliRunner().invoke(app, [*args, "-q"])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def ale_out(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("diag") / "ale"
    source = shared_data / "nimare" / "nidm_pain_dset.json"
    _run(["ale", str(source), "--out", str(out), "--n-iters", "60", "--seed", "3",
          "--atlas", "none", "--diagnostics", "jackknife,focus-counter,stability"])  # fmt: skip
    return source, out


def test_ale_diagnostics_files_and_round_trip(ale_out, tmp_path):
    source, out = ale_out
    for name in ("jackknife", "focus-counter", "stability"):
        assert (out / f"diagnostics_{name}.tsv").is_file(), name
    assert (out / "diagnostics_stability.nii.gz").is_file()
    result = load_result(out)
    assert [d.name for d in result.diagnostics] == ["jackknife", "focus-counter", "stability"]
    table = pd.read_csv(out / "diagnostics_jackknife.tsv", sep="\t")
    significant = result.clusters.loc[result.clusters["significant"].astype(bool), "cluster"]
    assert list(table.columns) == ["id"] + [f"cluster_{c}" for c in significant]
    assert len(table) == 21
    # The same seed writes the same diagnostics.
    again = tmp_path / "again"
    _run(["ale", str(source), "--out", str(again), "--n-iters", "60", "--seed", "3",
          "--atlas", "none", "--diagnostics", "stability,jackknife,focus-counter"])  # fmt: skip
    for name in ("jackknife", "focus-counter", "stability"):
        a = (out / f"diagnostics_{name}.tsv").read_bytes()
        assert a == (again / f"diagnostics_{name}.tsv").read_bytes(), name
    back = load_result(again)
    np.testing.assert_array_equal(back.diagnostics[2].maps[""], result.diagnostics[2].maps[""])


def test_ale_diagnostics_in_the_report(ale_out, check_report):
    _, out = ale_out
    result = load_result(out)
    state = check_report(out / "report.html")
    for d in result.diagnostics:
        _page_table(state, d.stem(), d.table)
    html = (out / "report.html").read_text()
    assert ">Jackknife<" in html and ">Resampled stability<" in html


def test_bad_diagnostic_name_is_one_line(shared_data, tmp_path):
    source = shared_data / "nimare" / "nidm_pain_dset.json"
    result = CliRunner().invoke(app, ["ale", str(source), "--out", str(tmp_path / "x"),
                                      "--diagnostics", "jackknife,bootstrap"])  # fmt: skip
    assert result.exit_code == 2 and "--diagnostics" in result.output
    assert "Traceback" not in result.output


def test_balanced_contrast_and_conjunction_with_diagnostics(shared_data, tmp_path, check_report):
    folder = shared_data / "nimare"
    a, b = (str(folder / f"semantic_{k}_children.txt") for k in ("knowledge", "relatedness"))
    out = tmp_path / "balanced"
    balanced = ["contrast", a, b, "--balanced", "--balanced-iters", "8", "--subsamples", "4",
                "--difference-iterations", "3", "--seed", "5", "--atlas", "none",
                "--diagnostics", "jackknife,focus-counter"]  # fmt: skip
    _run([*balanced, "--out", str(out)])
    result = load_result(out)
    assert result.parameters["test"] == "Balanced"
    assert {"prob_a", "prob_b", "conjunction"} <= set(result.maps)
    assert (out / "diagnostics_jackknife.tsv").is_file()
    jk = pd.read_csv(out / "diagnostics_jackknife.tsv", sep="\t")
    assert list(jk["group"].unique()) == ["A", "B"]
    _run([*balanced, "--out", str(tmp_path / "balanced2")])
    for name in ("diff.nii.gz", "prob_a.nii.gz", "diagnostics_jackknife.tsv"):
        assert (out / name).read_bytes() == (tmp_path / "balanced2" / name).read_bytes(), name
    state = check_report(out / "report.html")
    _page_table(state, "diagnostics_jackknife", result.diagnostics[0].table)

    conj = tmp_path / "conj"
    _run(["conjunction", a, b, "--out", str(conj), "--n-iters", "40", "--seed", "2",
          "--atlas", "none", "--diagnostics", "focus-counter,jackknife"])  # fmt: skip
    loaded = load_result(conj)
    assert [d.name for d in loaded.diagnostics] == ["jackknife", "focus-counter"]
    assert (conj / "diagnostics_focus-counter.tsv").is_file()


def test_focus_filter_flag_lists_what_it_removed(shared_data, tmp_path):
    source = shared_data / "nimare" / "nbackflanker_flanker_sleuth_MNI.txt"
    out = tmp_path / "filtered"
    _run(["ale", str(source), "--out", str(out), "--n-iters", "0", "--atlas", "none",
          "--focus-filter", "--diagnostics", "focus-counter"])  # fmt: skip
    result = load_result(out)
    dropped = pd.read_csv(out / "diagnostics_focus-filter.tsv", sep="\t")
    assert len(dropped) > 0 and set(dropped["reason"]) <= {"outside the mask", "outside the grid"}
    assert result.parameters["n_foci"] == 3255 - len(dropped)
    assert any(w.startswith(f"focus filter: {len(dropped)} of 3255 foci") for w in result.warnings)
    assert [d.name for d in result.diagnostics] == ["focus-filter", "focus-counter"]
