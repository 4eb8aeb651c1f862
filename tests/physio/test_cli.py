"""``syntony sync`` and ``syntony fit`` end to end, on synthetic input and on the concert data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from syntony.cli import app
from syntony.physio import ContagionFitResult, SynchronyResult
from syntony.physio.statespace import complete_adjacency, laplacian, simulate_statespace
from syntony.report import MANIFEST, load_result


def _write_group(path, seed, *, c, n=4, n_t=400, fs=1.0):
    _, y = simulate_statespace(
        n_t, laplacian(complete_adjacency(n)), c=c, lam=0.1, q=0.2, r=0.1, seed=seed
    )
    frame = pd.DataFrame(y, columns=[f"P{seed}{k}" for k in range(n)])
    frame.insert(0, "time", np.arange(n_t) / fs)
    frame.to_csv(path, index=False)
    return path


def _run(args):
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result


def test_sync_end_to_end(tmp_path):
    group = _write_group(tmp_path / "g.csv", 1, c=0.6)
    other = _write_group(tmp_path / "o.csv", 2, c=0.0)
    out = tmp_path / "sync"
    args = [
        "sync",
        str(group),
        "--signal",
        "raw",
        "--out",
        str(out),
        "--fs",
        "1",
        "--surrogates",
        "19",
        "--pseudo-from",
        str(other),
        "--pseudo-groups",
        "50",
        "--seed",
        "3",
    ]
    res = _run(args)
    assert res.exit_code == 0, res.output
    assert "circular-shift" in res.output and "pseudo-group" in res.output
    names = {
        "features.nc",
        "synchrony.nc",
        "synchrony_nulls.nc",
        "synchrony_windows.tsv",
        "synchrony_pairs.tsv",
        "synchrony_tests.tsv",
        MANIFEST,
        "report.html",
    }
    assert {p.name for p in out.iterdir()} == names
    assert all((out / name).stat().st_size > 0 for name in names)
    tests = pd.read_csv(out / "synchrony_tests.tsv", sep="\t")
    assert list(tests["method"]) == [
        "circular-shift",
        "segment-shuffle",
        "kuramoto circular-shift",
        "cluster-phase circular-shift",
        "pseudo-group",
    ]
    # A coupled group beats every null of the correlation-based synchrony.
    assert (tests["p_value"].iloc[[0, 1, 4]] <= 0.05).all()
    result = load_result(out)
    assert isinstance(result, SynchronyResult)
    with xr.open_dataset(out / "synchrony.nc") as ds:
        assert ds.attrs["group_mean"] == result.group_synchrony == tests["observed"].iloc[0]
        assert ds["rho"].dims == ("window", "person", "other")
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["kind"] == "synchrony" and manifest["parameters"]["n_surrogates"] == 19
    windows = pd.read_csv(out / "synchrony_windows.tsv", sep="\t")
    assert {"group", "circular-shift_q025", "pseudo-group_q975"} <= set(windows.columns)
    # Existing outputs are not overwritten without --force.
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "--force" in res.output


def test_fit_end_to_end_with_network_file(tmp_path):
    group = _write_group(tmp_path / "g.csv", 4, c=0.5, n=4)
    edges = tmp_path / "net.tsv"
    rows = [(f"P4{i}", f"P4{j}") for i in range(4) for j in range(4) if i != j]
    pd.DataFrame(rows, columns=["source", "target"]).to_csv(edges, sep="\t", index=False)
    out = tmp_path / "fit"
    res = _run(["fit", str(group), "--out", str(out), "--network", str(edges)])
    assert res.exit_code == 0, res.output
    fit = ContagionFitResult.load(out)
    lo, hi = fit.interval("c")
    assert lo < 0.5 < hi and fit.lrt["p_value"] < 0.01
    assert "likelihood-ratio test prefers the coupled model" in res.output
    params = pd.read_csv(out / "fit_params.tsv", sep="\t")
    assert list(params["parameter"]) == ["c", "lambda", "b", "q", "r"]
    with xr.open_dataset(out / "fitted.nc") as ds:
        assert ds["predicted"].shape == ds["observed"].shape == (400, 4)
        assert list(ds["person"].values) == ["P40", "P41", "P42", "P43"]
    assert {p.name for p in out.iterdir()} == {
        "fitted.nc", "fit_params.tsv", "fit_models.tsv", "fit_tests.tsv", MANIFEST, "report.html"
    }  # fmt: skip
    # The complete network gives the same fit as the equivalent edge list.
    res = _run(["fit", str(group), "--out", str(tmp_path / "fit2"), "-q"])
    assert res.output == ""
    assert ContagionFitResult.load(tmp_path / "fit2").estimate("c") == pytest.approx(
        fit.estimate("c"), rel=1e-4
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,a,b\n0,1,2\n2,3,4\n1,5,6\n", "g.csv:4 [time]: time is not strictly increasing"),
        ("time,a,b\n0,1,2\n1,3,oops\n2,5,6\n", "g.csv:3 [b]: expected a number, got 'oops'"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, content, message):
    path = tmp_path / "g.csv"
    path.write_text(content)
    for cmd in (["sync", str(path), "--signal", "raw"], ["fit", str(path)]):
        res = CliRunner().invoke(app, [*cmd, "--out", str(tmp_path / "o")])
        assert res.exit_code == 2
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("syntony: error:") and message in lines[0]


def test_network_file_errors(tmp_path):
    group = _write_group(tmp_path / "g.csv", 5, c=0.2, n=3, n_t=100)
    edges = tmp_path / "net.csv"
    edges.write_text("source,target\nP50,P51\nP50,nobody\n")
    res = CliRunner().invoke(
        app, ["fit", str(group), "--out", str(tmp_path / "o"), "--network", str(edges)]
    )
    assert res.exit_code == 2 and "net.csv:3 [target]: unknown person 'nobody'" in res.output


@pytest.mark.slow
def test_concert_sync_and_fit(shared_data, tmp_path):
    data = shared_data / "concert_respiration"
    out = tmp_path / "sync"
    res = _run(
        [
            "sync",
            str(data / "Case2_Sae1_AudResp.csv"),
            "--signal",
            "respiration",
            "--out",
            str(out),
            "--surrogates",
            "20",
            "--pseudo-from",
            str(data / "Case2_Sae2_AudResp.csv"),
            "--pseudo-groups",
            "200",
            "--seed",
            "1",
            "-q",
        ]
    )
    assert res.exit_code == 0, res.output
    result = SynchronyResult.load(out)
    rates = result.features["breathing_rate"].to_numpy()
    assert len(result.persons) == 15 and 10 < np.nanmedian(rates) < 22
    tests = {t["method"]: t for t in result.tests.to_dict(orient="records")}
    assert set(tests) == {
        "circular-shift",
        "segment-shuffle",
        "kuramoto circular-shift",
        "cluster-phase circular-shift",
        "pseudo-group",
    }
    assert all(0 < t["p_value"] <= 1 for t in tests.values())
    assert 0 < result.group_synchrony < 1
    out = tmp_path / "fit"
    res = _run(
        [
            "fit",
            str(data / "Case1_Saev_OtherResp.csv"),
            "--signal",
            "respiration",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert res.exit_code == 0, res.output
    fit = ContagionFitResult.load(out)
    assert fit.converged and len(fit.persons) == 18
    lo, hi = fit.interval("c")
    assert lo <= fit.estimate("c") <= hi and 0 <= fit.lrt["p_value"] <= 1


def test_fit_with_stimulus_recovers_its_effect(tmp_path):
    n_t = 400
    u = np.sin(np.arange(n_t) / 8)
    _, y = simulate_statespace(
        n_t, laplacian(complete_adjacency(4)), c=0.3, lam=0.1, beta=0.8, q=0.2, r=0.1, u=u, seed=7
    )
    frame = pd.DataFrame(y, columns=list("abcd"))
    frame.insert(0, "time", np.arange(n_t, dtype=float))
    frame.to_csv(tmp_path / "g.csv", index=False)
    pd.DataFrame({"time": np.arange(n_t, dtype=float), "music": u}).to_csv(
        tmp_path / "u.csv", index=False
    )
    out = tmp_path / "fit"
    res = _run(
        [
            "fit",
            str(tmp_path / "g.csv"),
            "--out",
            str(out),
            "--stimulus",
            str(tmp_path / "u.csv"),
            "-q",
        ]
    )
    assert res.exit_code == 0, res.output
    lo, hi = ContagionFitResult.load(out).interval("beta")
    assert lo < 0.8 < hi
    short = tmp_path / "short.csv"
    pd.DataFrame({"time": [0.0, 1.0], "music": [0.0, 1.0]}).to_csv(short, index=False)
    res = CliRunner().invoke(
        app,
        ["fit", str(tmp_path / "g.csv"), "--out", str(tmp_path / "f2"), "--stimulus", str(short)],
    )
    assert res.exit_code == 2 and "does not cover" in res.output
    res = _run(["fit", str(tmp_path / "g.csv"), "--out", str(tmp_path / "f3"), "--stimulus", str(short),
                "--tmin", "0", "--tmax", "0.5", "-q"])  # fmt: skip
    assert res.exit_code == 2 and "fewer than 10 samples" in res.output
    res = _run(
        ["fit", str(tmp_path / "g.csv"), "--out", str(tmp_path / "f4"), "--tmax", "199", "-q"]
    )
    assert ContagionFitResult.load(tmp_path / "f4").models["n_obs"].iloc[0] == 4 * 199


def test_sync_on_bids_folder_needs_channel_and_common_rate(tmp_path):
    import gzip

    rng = np.random.default_rng(8)
    shared = np.convolve(rng.standard_normal(1300), np.ones(5) / 5, mode="same")
    for k, fs in enumerate((10.0, 10.0, 20.0)):
        n = 1200 if fs == 10.0 else 2400
        t = np.arange(n) / fs
        resp = np.interp(t, np.arange(1300) / 10.0, shared) + 0.3 * rng.standard_normal(n)
        data = np.column_stack([rng.standard_normal(n), resp])
        with gzip.open(tmp_path / f"sub-{k:02d}_task-x_physio.tsv.gz", "wt") as fh:
            np.savetxt(fh, data, delimiter="\t")
        meta = {"SamplingFrequency": fs, "StartTime": 0.0, "Columns": ["cardiac", "respiratory"]}
        (tmp_path / f"sub-{k:02d}_task-x_physio.json").write_text(json.dumps(meta))
    base = ["sync", str(tmp_path), "--signal", "raw", "--fs", "2", "--surrogates", "9", "-q"]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and "different sampling rates" in res.output
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "b"), "--resample", "10"])
    assert res.exit_code == 2 and "choose one" in res.output
    res = _run(
        [*base, "--out", str(tmp_path / "c"), "--resample", "10", "--channel", "respiratory"]
    )
    assert res.exit_code == 0, res.output
    result = SynchronyResult.load(tmp_path / "c")
    assert len(result.persons) == 3 and result.group_synchrony > 0.5


def _same_files(a, b):
    """Every table byte for byte, every NetCDF's data and attributes (provenance aside)."""
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name.endswith(".tsv"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
        elif name.endswith(".nc"):
            with xr.open_dataset(a / name) as x, xr.open_dataset(b / name) as y:
                x.attrs.pop("provenance", None)
                y.attrs.pop("provenance", None)
                xr.testing.assert_identical(x.load(), y.load())
    return names


def test_sync_and_fit_are_deterministic_for_a_seed(tmp_path):
    group = _write_group(tmp_path / "g.csv", 1, c=0.5, n=4, n_t=240)
    other = _write_group(tmp_path / "o.csv", 2, c=0.0, n=4, n_t=240)
    sync = ["sync", str(group), "--signal", "raw", "--fs", "1", "--window", "20", "--step", "10",
            "--surrogates", "9", "--pseudo-from", str(other), "--pseudo-groups", "20", "-q"]  # fmt: skip
    for name, seed in (("s1", "5"), ("s2", "5"), ("s3", "6")):
        assert _run([*sync, "--seed", seed, "--out", str(tmp_path / name)]).exit_code == 0
    names = _same_files(tmp_path / "s1", tmp_path / "s2")
    assert "synchrony_tests.tsv" in names and "synchrony_nulls.nc" in names
    # Another seed draws other surrogates: the comparison above can fail.
    assert (tmp_path / "s1" / "synchrony_tests.tsv").read_bytes() != (
        tmp_path / "s3" / "synchrony_tests.tsv"
    ).read_bytes()
    # Named streams: the pseudo-groups draw the same whether or not surrogates ran before them.
    _run([*sync, "--seed", "5", "--surrogates", "0", "--out", str(tmp_path / "s4")])
    first, alone = SynchronyResult.load(tmp_path / "s1"), SynchronyResult.load(tmp_path / "s4")
    row, row_alone = first.test("pseudo-group"), alone.test("pseudo-group")
    assert {k: row[k] for k in row_alone} == row_alone
    np.testing.assert_array_equal(first.nulls["pseudo-group"], alone.nulls["pseudo-group"])

    fit = ["fit", str(group), "--pseudo-from", str(other), "--pseudo-groups", "4", "-q"]
    for name in ("f1", "f2"):
        assert _run([*fit, "--seed", "5", "--out", str(tmp_path / name)]).exit_code == 0
    names = _same_files(tmp_path / "f1", tmp_path / "f2")
    assert {"fit_tests.tsv", "fit_pseudo.tsv", "fitted.nc"} <= set(names)


@pytest.mark.parametrize("command", ["sync", "fit"])
def test_help_ends_with_examples_and_the_files_written(command):
    res = CliRunner().invoke(app, [command, "--help"])
    assert res.exit_code == 0
    tail = res.output[res.output.index("Examples:") :]
    assert f"syntony {command} " in tail and "Writes into --out:" in tail
    assert "result.json" in tail and "report.html" in tail
    assert tail.index("Examples:") > res.output.index("--help") - res.output.index("Examples:")
