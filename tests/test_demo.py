"""The demonstration runs end to end and writes what its page links to."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from syntony.cli import app


@pytest.mark.slow
def test_demo_writes_every_part_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "demo"
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--out", str(out), "--n-iters", "20", "-q"])
    assert result.exit_code == 0, result.output
    numbers = json.loads((out / "demo.json").read_text())["numbers"]
    assert set(numbers) == {"model", "physio", "meta"}
    for name in numbers["model"]["figures"]:
        assert (out / "model" / name).stat().st_size > 0
    assert (out / "model" / "simulation.nc").exists()
    assert (out / "meta" / "ale.nii.gz").exists() and (out / "meta" / "clusters.tsv").exists()
    rows = numbers["physio"]["table"]
    coupled, alone = rows
    assert coupled["social loop"] == "on"
    # the coupled audience is more synchronous than the uncoupled one with the same seed, and
    # only its coupling stands out against pseudo-groups that share the music
    assert coupled["group synchrony"] > alone["group synchrony"]
    assert coupled["pseudo-group p"] < alone["pseudo-group p"]
    html = (out / "index.html").read_text()
    assert "syntony" in html and "model/simulation.nc" in html

    again = runner.invoke(app, ["demo", "--out", str(out), "--n-iters", "20", "-q"])
    assert again.exit_code == 2 and "--force" in again.output
