"""The result protocol: atomic save into a directory of one result, load by kind, reports."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from syntony.errors import InputError, OutputExistsError
from syntony.report import MANIFEST, REPORT, Report, Result, load_result, methods_text


@dataclass(eq=False)
class ToyResult(Result):
    """A result with one table, one figure and a warning, as every real result has."""

    kind = "toy-test"
    title = "Toy result"

    values: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    fail_in_write: bool = False

    @property
    def methods(self) -> str:
        return methods_text("We counted things.", references=["Doe J (2020). Counting. J 1:1."])

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"k": np.arange(len(self.values)), "value": self.values})

    def summary(self) -> str:
        return f"{len(self.values)} values, mean {self.values.mean():.3f}"

    def _write(self, directory: Path) -> None:
        self.table.to_csv(directory / "values.tsv", sep="\t", index=False)
        if self.fail_in_write:
            raise RuntimeError("disk full (simulated)")

    @classmethod
    def _read(cls, directory: Path, manifest: dict[str, Any]) -> ToyResult:
        table = pd.read_csv(directory / "values.tsv", sep="\t")
        return cls(
            values=table["value"].to_numpy(),
            parameters=manifest["parameters"],
            provenance=manifest["provenance"],
            warnings=manifest["warnings"],
        )

    def _build_report(self, report: Report) -> None:
        import matplotlib.pyplot as plt

        section = report.section("Values")
        section.text("The values, one per row.")
        section.table(self.table, caption="Values", name="values", max_rows=10)
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(self.values)
        section.figure(fig, caption="The values in order.")


def _toy(n: int = 5, **kw: Any) -> ToyResult:
    return ToyResult(np.linspace(0.1, 1.0, n), parameters={"n": n, "nested": {"a": 1}}, **kw)


def test_save_load_round_trip(tmp_path):
    result = _toy(warnings=["few values"])
    written = result.save(tmp_path / "out")
    names = {p.name for p in written}
    assert {"values.tsv", MANIFEST, REPORT} <= names
    assert all(p.exists() for p in written)
    loaded = load_result(tmp_path / "out")
    assert isinstance(loaded, ToyResult)
    np.testing.assert_array_equal(loaded.values, result.values)
    assert loaded.parameters == result.parameters
    assert loaded.warnings == ["few values"]
    assert ToyResult.load(tmp_path / "out").summary() == result.summary()
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["kind"] == "toy-test" and "values.tsv" in manifest["files"]


def test_existing_result_needs_force_and_force_replaces_everything(tmp_path):
    out = tmp_path / "out"
    _toy().save(out)
    (out / "stale.nii.gz").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="--force"):
        _toy().save(out)
    _toy(7).save(out, force=True)
    assert not (out / "stale.nii.gz").exists()
    assert len(load_result(out).values) == 7
    # no temporary siblings left behind
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_save_leaves_nothing_and_keeps_the_old_result(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        _toy(fail_in_write=True).save(out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    _toy(3).save(out)
    with pytest.raises(RuntimeError):
        _toy(9, fail_in_write=True).save(out, force=True)
    assert len(load_result(out).values) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        written = _toy().save(tmp_path / "out")
    finally:
        os.umask(old)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="not a syntony result directory"):
        load_result(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(InputError, match=r"result\.json"):
        load_result(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"kind": "nope"}))
    with pytest.raises(InputError, match=r"\[class\]"):
        load_result(tmp_path)


def test_loading_as_the_wrong_kind_is_refused(tmp_path):
    class Other(ToyResult):
        kind = "toy-other"

    Other(np.ones(2)).save(tmp_path / "o")
    with pytest.raises(InputError, match="holds a 'toy-other' result"):
        # ToyResult is not a subclass of Other, so loading as Other's sibling must fail
        type("Sibling", (ToyResult,), {"kind": "toy-sibling"}).load(tmp_path / "o")


def test_report_has_methods_references_warnings_and_exact_table_values():
    html = _toy(12, warnings=["<b>careful</b>"]).report().to_html()
    assert "Doe J (2020)" in html and '<ol class="references">' in html
    assert "&lt;b&gt;careful&lt;/b&gt;" in html  # escaped, never raw markup
    assert "12 rows" in html and "<details" in html  # long tables fold with their count
    assert 'data-value="0.1"' in html
    assert "http://" not in html and "https://" not in html  # no CDN, no network
    assert _toy()._repr_html_().startswith("<iframe")


def test_report_in_a_real_browser(tmp_path, check_report):
    wide = pd.DataFrame({f"a rather long column name {k}": [1.23456789e-5] * 40 for k in range(30)})
    result = _toy(40, warnings=["a warning"])
    report = result.report()
    report.section("Wide").table(wide, name="wide", caption="A very wide table")
    path = report.save(tmp_path / "report.html")
    state = check_report(path)
    assert state["n_images"] == 1
    tables = {t["name"]: t for t in state["tables"]}
    got = np.array([float(row[1]) for row in tables["values"]["rows"]])
    np.testing.assert_array_equal(got, result.values)
    assert len(tables["wide"]["rows"]) == 40


def test_cli_report_rerenders_a_saved_result(tmp_path):
    from click.testing import CliRunner

    from syntony.cli import app

    _toy().save(tmp_path / "out")
    (tmp_path / "out" / REPORT).unlink()
    run = CliRunner().invoke(app, ["report", str(tmp_path / "out")])
    assert run.exit_code == 0, run.output
    assert "5 values" in run.output and (tmp_path / "out" / REPORT).exists()
    run = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert run.exit_code == 2 and "not a syntony result directory" in run.output


def test_many_long_section_headings_wrap_instead_of_scrolling(tmp_path, check_report):
    report = _toy().report()
    for k in range(14):
        report.section(f"A long section heading about region number {k}").text("text")
    check_report(report.save(tmp_path / "report.html"))
