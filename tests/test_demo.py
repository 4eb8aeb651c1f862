"""The demonstration: every part on shipped data, saved as a result with its report, one index.

One small run (few iterations, surrogates and pseudo-groups) serves most tests; the numbers
of the full-size run are not checked here, its structure is the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from syntony._rng import SeedTree
from syntony.demo import DemoSettings, run_demo
from syntony.report import load_result

SMALL = DemoSettings(
    n_iters=50,
    n_permutations=100,
    n_surrogates=19,
    n_pseudo_groups=19,
    n_fit_pseudo_groups=4,
    n_replicates=1,
    macm_iters=10,
)
KINDS = {
    "concert-sae1-synchrony": "synchrony",
    "concert-sae1-fit": "contagion-fit",
    "concert-sae2-synchrony": "synchrony",
    "concert-sae2-fit": "contagion-fit",
    "audience-coupled-synchrony": "synchrony",
    "audience-coupled-fit": "contagion-fit",
    "audience-uncoupled-synchrony": "synchrony",
    "audience-uncoupled-fit": "contagion-fit",
    "ale-pain": "ale",
    "ale-mimicry": "ale",
    "ale-contagion": "ale",
    "conjunction": "conjunction",
    "contrast": "contrast",
    "macm": "macm",
    "scenario-concert-crowd": "simulation",
    "predictions": "predictions",
}


@pytest.fixture(autouse=True)
def _no_database(monkeypatch, tmp_path_factory):
    """No NeuroQuery unless a test passes one: no override, an empty cache."""
    monkeypatch.delenv("SYNTONY_NEUROQUERY_DIR", raising=False)
    monkeypatch.setenv("SYNTONY_DATA_DIR", str(tmp_path_factory.mktemp("empty-cache")))


@pytest.fixture(scope="module")
def demo(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    lines: list[str] = []
    result = run_demo(
        out, seed=3, settings=SMALL, neuroquery=shared_data / "neuroquery", log=lines.append
    )
    return result, lines


@pytest.mark.slow
def test_every_part_is_a_saved_result_with_its_report(demo):
    result, lines = demo
    out = result.directory
    assert list(result.results) == list(KINDS)
    for name, kind in KINDS.items():
        folder = out / name
        assert (folder / "report.html").stat().st_size > 0, name
        manifest = json.loads((folder / "result.json").read_text())
        assert manifest["kind"] == kind, name
        loaded = load_result(folder)
        assert loaded.kind == kind
        assert loaded.summary() == result.results[name].summary(), name
    assert len(lines) == len(KINDS) + 1 and "open" in lines[-1]
    summary = json.loads((out / "demo.json").read_text())
    assert summary["seed"] == 3 and set(summary["parts"]) == set(KINDS)
    assert not result.notes  # the database was given, and MACM found its seed
    # The index links every part's report, and only files that exist.
    html = result.index.read_text()
    links = re.findall(r'href="([^"#]+)"', html)
    assert sorted(links) == sorted(f"{name}/report.html" for name in KINDS)
    assert all((out / link).exists() for link in links)
    assert not list(out.parent.glob(".demo-output*"))  # no staging left behind


@pytest.mark.slow
def test_the_seeds_are_named_per_part(demo):
    result, _ = demo
    concert = result.results["concert-sae1-synchrony"].provenance["seed"]
    assert concert["entropy"] == 3 and concert["path"] == ["concert", "Sae1", "synchrony"]

    # The meta-analyses record the seed sequence of their stream: the workflow's names.
    def key(*names):
        return list(SeedTree(3).child("fu2025", *names).seed_sequence.spawn_key)

    macm = result.results["macm"]
    assert macm.provenance["seed"]["spawn_key"] == key("macm", macm.roi.name)
    mimicry = result.results["ale-mimicry"].provenance["seed"]
    assert mimicry["spawn_key"] == key("main-effect", "a")


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for name in names:
        if name.suffix == ".tsv":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
        elif name.suffix == ".nc":
            with xr.open_dataset(a / name) as x, xr.open_dataset(b / name) as y:
                xr.testing.assert_identical(x.drop_attrs(), y.drop_attrs())


@pytest.mark.slow
def test_a_part_run_alone_gives_the_same_files(demo, tmp_path):
    """Same seed, same numbers, whichever other parts run (each has its own stream)."""
    result, _ = demo
    parts = ["concert-sae2-fit", "audience-uncoupled-synchrony", "predictions"]
    alone = run_demo(tmp_path / "again", seed=3, settings=SMALL, only=parts, log=None)
    assert list(alone.results) == parts
    for name in parts:
        _same_files(result.directory / name, alone.directory / name)
    other = run_demo(
        tmp_path / "other", seed=4, settings=SMALL, only=["concert-sae2-fit"], log=None
    )
    first = pd.read_csv(result.directory / "concert-sae2-fit" / "fit_tests.tsv", sep="\t")
    second = pd.read_csv(other.directory / "concert-sae2-fit" / "fit_tests.tsv", sep="\t")
    assert not first.equals(second)  # the pseudo-groups follow the seed


@pytest.mark.slow
def test_index_and_reports_in_chromium(demo, check_report):
    result, _ = demo
    page = check_report(result.index)
    table = {t["name"]: t for t in page["tables"]}["side-by-side"]
    rooms = {
        "concert, performance Sae1": "concert-sae1",
        "concert, performance Sae2": "concert-sae2",
        "simulated, social loop on": "audience-coupled",
        "simulated, social loop off": "audience-uncoupled",
    }
    assert [row[0] for row in table["rows"]] == list(rooms)
    for row in table["rows"]:
        sync = result.results[f"{rooms[row[0]]}-synchrony"]
        fit = result.results[f"{rooms[row[0]]}-fit"]
        expected = [
            sync.group_synchrony,
            sync.test("circular-shift")["p_value"],
            sync.test("pseudo-group")["p_value"],
            fit.estimate("c"),
            fit.lrt["p_value"],
            fit.pseudo_group["p_value"],
        ]
        np.testing.assert_array_equal([float(v) for v in row[1:]], expected)
    for name in KINDS:
        shown = check_report(result.directory / name / "report.html")
        empty = name == "conjunction" and result.results[name].clusters.empty
        assert shown["n_images"] >= (0 if empty else 1), name


@pytest.mark.slow
def test_without_the_database_the_page_names_the_fetch_command(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, seed=0, settings=SMALL, only=["scenario", "macm"], log=None)
    assert list(result.results) == ["scenario-concert-crowd"]
    assert not (out / "macm").exists()
    assert any(command == "syntony fetch neuroquery" for _, command in result.notes)
    assert "<code>syntony fetch neuroquery</code>" in (out / "index.html").read_text()


def test_cli_runs_the_chosen_parts_and_refuses_to_overwrite(tmp_path):
    from syntony.cli import app

    out = tmp_path / "demo"
    runner = CliRunner()
    args = ["demo", "--out", str(out), "--only", "scenario", "--seed", "2", "-q"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.output == ""
    assert (out / "scenario-concert-crowd" / "report.html").exists()
    assert (out / "index.html").exists()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--force" in again.output
    forced = runner.invoke(app, [*args[:-1], "--force"])
    assert forced.exit_code == 0, forced.output
    assert "1 part in" in forced.output and "index.html" in forced.output
    bad = runner.invoke(app, ["demo", "--out", str(tmp_path / "x"), "--only", "nothing"])
    assert bad.exit_code == 2 and "only" in bad.output
    helped = runner.invoke(app, ["demo", "--help"])
    assert "Examples:" in helped.output and "index.html" in helped.output
