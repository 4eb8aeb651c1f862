"""``syntony sync`` and ``syntony fit`` end to end, on synthetic input and on the concert data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from syntony.cli import app
from syntony.physio.statespace import complete_adjacency, laplacian, simulate_statespace


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
    for name in (
        "features.nc",
        "synchrony.nc",
        "synchrony_windows.tsv",
        "synchrony_pairs.tsv",
        "synchrony_tests.tsv",
        "synchrony.json",
        "sync_matrix.png",
        "group_synchrony.png",
    ):
        assert (out / name).stat().st_size > 0, name
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
    summary = json.loads((out / "synchrony.json").read_text())
    with xr.open_dataset(out / "synchrony.nc") as ds:
        assert ds.attrs["group_mean"] == pytest.approx(summary["group_synchrony"])
        assert ds["rho"].dims == ("window", "person", "other")
    windows = pd.read_csv(out / "synchrony_windows.tsv", sep="\t")
    assert {"group", "circular-shift_q025", "pseudo-group_q975"} <= set(windows.columns)
    # Same seed, same numbers.
    again = _run([*args[:5], str(tmp_path / "sync2"), *args[6:]])
    assert again.exit_code == 0
    pd.testing.assert_frame_equal(
        tests, pd.read_csv(tmp_path / "sync2" / "synchrony_tests.tsv", sep="\t")
    )
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
    summary = json.loads((out / "fit.json").read_text())
    assert summary["c_ci_low"] < 0.5 < summary["c_ci_high"] and summary["lrt_pvalue"] < 0.01
    params = pd.read_csv(out / "fit_params.tsv", sep="\t")
    assert list(params["parameter"]) == ["c", "lambda", "b", "q", "r"]
    with xr.open_dataset(out / "fitted.nc") as ds:
        assert ds["predicted"].shape == ds["observed"].shape == (400, 4)
    assert (out / "fit.png").stat().st_size > 0
    # The complete network gives the same fit as the equivalent edge list.
    res = _run(["fit", str(group), "--out", str(tmp_path / "fit2")])
    assert json.loads((tmp_path / "fit2" / "fit.json").read_text())["c"] == pytest.approx(
        summary["c"], rel=1e-4
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
    summary = json.loads((out / "synchrony.json").read_text())
    assert summary["n_persons"] == 15 and 10 < summary["feature_median"] < 22
    tests = {t["method"]: t for t in summary["tests"]}
    assert set(tests) == {
        "circular-shift",
        "segment-shuffle",
        "kuramoto circular-shift",
        "cluster-phase circular-shift",
        "pseudo-group",
    }
    assert all(0 < t["p_value"] <= 1 for t in tests.values())
    assert 0 < summary["group_synchrony"] < 1
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
    fit = json.loads((out / "fit.json").read_text())
    assert fit["converged"] and len(fit["persons"]) == 18
    assert fit["c_ci_low"] <= fit["c"] <= fit["c_ci_high"] and 0 <= fit["lrt_pvalue"] <= 1


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
    fit = json.loads((out / "fit.json").read_text())
    assert fit["beta_ci_low"] < 0.8 < fit["beta_ci_high"]
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
    assert json.loads((tmp_path / "f4" / "fit.json").read_text())["n_obs"] == 4 * 199


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
    summary = json.loads((tmp_path / "c" / "synchrony.json").read_text())
    assert summary["n_persons"] == 3 and summary["group_synchrony"] > 0.5
