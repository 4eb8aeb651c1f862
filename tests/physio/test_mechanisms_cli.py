"""``syntony fit --model gated|switching|directed`` and ``--groups`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from syntony.cli import app
from syntony.physio import ContagionFitResult
from syntony.physio.mechanisms import (
    DirectedFitResult,
    GatedFitResult,
    PooledFitResult,
    SwitchingFitResult,
)
from syntony.physio.statespace import complete_adjacency, laplacian, simulate_statespace
from syntony.report import MANIFEST, load_result


def _write_group(path, seed, *, c, n=4, n_t=240):
    u = np.where((np.arange(n_t) // 40) % 2 == 0, 0.0, 1.0)  # a level that switches
    _, y = simulate_statespace(
        n_t,
        laplacian(complete_adjacency(n)),
        c=c,
        lam=0.2,
        beta=0.4,
        u=u,
        q=0.2,
        r=0.1,
        seed=seed,
    )
    frame = pd.DataFrame(y, columns=[f"P{seed}{k}" for k in range(n)])
    frame.insert(0, "time", np.arange(n_t, dtype=float))
    frame.to_csv(path, index=False)
    return path


def _run(*args):
    return CliRunner().invoke(app, ["fit", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("groups")
    return [_write_group(root / f"g{k}.csv", k + 1, c=0.5) for k in range(3)]


@pytest.mark.parametrize(
    ("model", "kind", "extra", "tables"),
    [
        ("gated", GatedFitResult, ["--window", "20"], {"weights.tsv", "pseudo.tsv"}),
        ("switching", SwitchingFitResult, ["--boot", "3"], {"bootstrap.tsv", "pseudo.tsv"}),
        ("directed", DirectedFitResult, [], {"influence.tsv", "pulls.tsv", "pseudo.tsv"}),
    ],
)
def test_fit_model(files, tmp_path, model, kind, extra, tables):
    out = tmp_path / model
    args = [
        files[0],
        "--out",
        out,
        "--model",
        model,
        "--pseudo-from",
        files[1],
        "--pseudo-groups",
        "3",
        "--seed",
        "2",
        *extra,
    ]
    res = _run(*args)
    assert res.exit_code == 0, res.output
    result = load_result(out)
    assert isinstance(result, kind)
    written = {p.name for p in out.iterdir()}
    assert {MANIFEST, "report.html", "params.tsv", "tests.tsv", "fitted.nc"} | tables <= written
    assert result.parameters["input"] == str(files[0])
    pseudo = result.tests[result.tests["test"] == kind.PSEUDO]
    assert len(pseudo) == 1 and int(pseudo["n"].iloc[0]) <= 3
    if model == "switching":
        assert result.test(kind.BOOT)["n"] == 3
    # the same seed gives the same tables
    again = tmp_path / f"{model}-again"
    assert _run(*[a if a != out else again for a in args]).exit_code == 0
    pd.testing.assert_frame_equal(load_result(again).tests, result.tests)
    pd.testing.assert_frame_equal(load_result(again).params, result.params)


def test_fit_groups_pools(files, tmp_path):
    out = tmp_path / "pooled"
    res = _run(files[0], "--out", out, "--groups", files[1], "--groups", files[2], "-q")
    assert res.exit_code == 0, res.output
    result = load_result(out)
    assert isinstance(result, PooledFitResult)
    assert list(result.groups["group"]) == [str(f) for f in files]
    assert result.parameters["group_model"] == "linear"


def test_fit_linear_is_unchanged(files, tmp_path):
    res = _run(files[0], "--out", tmp_path / "lin", "-q")
    assert res.exit_code == 0, res.output
    assert isinstance(load_result(tmp_path / "lin"), ContagionFitResult)


def test_fit_model_errors(files, tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "fit",
            str(files[0]),
            "--out",
            str(tmp_path / "x"),
            "--model",
            "switching",
            "--groups",
            str(files[1]),
        ],
    )
    assert res.exit_code == 2
    assert "'linear' or 'gated' when several groups are pooled" in res.output
    assert "Traceback" not in res.output


@pytest.fixture(scope="module")
def stimulus_file(files, tmp_path_factory):
    """The level the groups were simulated with, on their time base."""
    n_t = len(pd.read_csv(files[0]))
    u = np.where((np.arange(n_t) // 40) % 2 == 0, 0.0, 1.0)
    path = tmp_path_factory.mktemp("stimulus") / "stimulus.csv"
    pd.DataFrame({"time": np.arange(n_t, dtype=float), "level": u}).to_csv(path, index=False)
    return path


def test_fit_switching_hazard_from_stimulus(files, stimulus_file, tmp_path):
    out = tmp_path / "hazard"
    args = ["--model", "switching", "--stimulus", stimulus_file, "--boot", "0", "-q"]
    res = _run(files[0], "--out", out, *args, "--hazard", "stimulus", "--hazard-lag", "2")
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["parameters"]["hazard"] == "stimulus"
    assert manifest["parameters"]["hazard_lag"] == 2
    result = load_result(out)
    assert isinstance(result, SwitchingFitResult)
    assert {"h_up", "h_down"} <= set(result.params["parameter"])
    # the default hazard is constant, is recorded, and has no stimulus slopes
    res = _run(files[0], "--out", tmp_path / "constant", *args)
    assert res.exit_code == 0, res.output
    constant = load_result(tmp_path / "constant")
    assert constant.parameters["hazard"] == "constant"
    assert not {"h_up", "h_down"} & set(constant.params["parameter"])


def test_fit_groups_bias_correction(files, tmp_path):
    groups = ["--groups", files[1], "--groups", files[2], "-q"]
    fits = {}
    for correction in ("none", "jackknife"):
        out = tmp_path / correction
        res = _run(files[0], "--out", out, *groups, "--bias-correction", correction)
        assert res.exit_code == 0, res.output
        manifest = json.loads((out / MANIFEST).read_text())
        assert manifest["parameters"]["bias_correction"] == correction
        fits[correction] = load_result(out)
    plain, jack = fits["none"], fits["jackknife"]
    assert isinstance(jack, PooledFitResult)
    assert jack.estimate("mu_c") != pytest.approx(plain.estimate("mu_c"), abs=1e-6)
    assert "Quenouille" in jack.methods and "Quenouille" not in plain.methods
    # the default is no correction: the same numbers as --bias-correction none
    assert _run(files[0], "--out", tmp_path / "default", *groups).exit_code == 0
    assert load_result(tmp_path / "default").estimate("mu_c") == plain.estimate("mu_c")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "switching", "--hazard", "stimulus"], "hazard: expected 'constant' when no"),
        (["--model", "gated", "--hazard", "stimulus", "--stimulus", "STIM"], "unless the model"),
        (["--model", "switching", "--hazard-lag", "3"], "hazard_lag: expected the default 1"),
        (["--bias-correction", "jackknife"], "bias_correction: expected 'none' unless several"),
        (["--hazard", "sometimes"], "Invalid value for '--hazard'"),
        (["--bias-correction", "bootstrap"], "Invalid value for '--bias-correction'"),
        (["--hazard-lag", "-1"], "Invalid value for '--hazard-lag'"),
    ],
)
def test_fit_option_errors(files, stimulus_file, tmp_path, args, message):
    args = [stimulus_file if a == "STIM" else a for a in args]
    res = CliRunner().invoke(
        app, ["fit", str(files[0]), "--out", str(tmp_path / "x"), *map(str, args)]
    )
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    # one line says what is wrong (a library error is all of the output)
    errors = [line for line in res.output.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and message in errors[0]
    if "Invalid value" not in message:
        assert res.output.strip() == errors[0]
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
