"""Inputs that must not slip through: implausible features, short pseudo sessions, n/a values,
degenerate signals, and messages in the user's terms."""

from __future__ import annotations

import json
import warnings

import neurokit2 as nk
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from syntony.cli import app
from syntony.errors import InputError
from syntony.physio import (
    ContagionModel,
    Respiration,
    SyncConfig,
    analyze_synchrony,
    extract_features,
    fit_contagion,
    load_features,
    synchrony,
)
from syntony.physio.io import read_long, read_network, read_wide
from syntony.physio.statespace import complete_adjacency, laplacian, simulate_statespace

LEAKS = ("np.float64", "np.str_", "np.int64", "Unnamed")


def _no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, text


def _nothing_written(tmp_path, out) -> None:
    """A failed run leaves neither the output nor its lock or checkpoint siblings."""
    assert not out.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}")]


# --- plausibility of what the feature extractors find ---------------------------------------


@pytest.mark.parametrize("command", ["sync", "fit"])
def test_ecg_on_concert_respiration_stops_and_names_respiration(shared_data, tmp_path, command):
    data = shared_data / "concert_respiration" / "Case2_Sae1_AudResp.csv"
    out = tmp_path / "out"
    args = [command, str(data), "--signal", "ecg", "--out", str(out), "-q"]
    if command == "sync":
        args += ["--surrogates", "0"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("syntony: error:"), res.output
    assert "15 of 15 persons give no plausible heart_rate" in lines[0]
    assert "look like respiration" in lines[0] and "--signal respiration" in lines[0]
    _no_leak(res.output)
    _nothing_written(tmp_path, out)


def _group(signals, fs, names=None):
    values = np.column_stack(signals)[:, :, None]
    return xr.Dataset(
        {"signal": (("time", "person", "channel"), values)},
        coords={
            "time": np.arange(values.shape[0]) / fs,
            "person": names or [f"p{k}" for k in range(values.shape[1])],
            "channel": ["resp"],
        },
        attrs={"sampling_rate": float(fs), "source": "synthetic"},
    )


def test_a_person_breathing_at_an_impossible_rate_is_left_out_with_the_reason():
    fs = 25
    rsp = [
        nk.rsp_simulate(duration=120, sampling_rate=fs, respiratory_rate=rr, random_state=k)
        for k, rr in enumerate((12, 15, 18))
    ]
    t = np.arange(len(rsp[0])) / fs
    fast = np.sin(2 * np.pi * 1.5 * t)  # 90 cycles per minute: a heartbeat, not a breath
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feats = extract_features(_group([*rsp, fast], fs), Respiration(), fs=4.0)
    assert list(feats.person.values) == ["p0", "p1", "p2"]
    reason = json.loads(feats.attrs["excluded_reasons"])["p3"]
    assert reason.startswith("breathing rate of 8") and "outside the human range 3-50" in reason


def test_eda_in_microsiemens_outside_the_human_range_is_refused(tmp_path):
    stem = "sub-01_task-rest_physio"
    rng = np.random.default_rng(0)
    level = 500 + np.cumsum(rng.normal(0, 0.01, 3000))  # 500 uS: no human skin
    np.savetxt(tmp_path / f"{stem}.tsv", level[:, None], delimiter="\t", fmt="%.5f")
    meta = {"SamplingFrequency": 50, "StartTime": 0, "Columns": ["eda"], "eda": {"Units": "uS"}}
    (tmp_path / f"{stem}.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="tonic skin conductance of 500 uS") as info:
        load_features(tmp_path / f"{stem}.tsv", "eda", fs=4.0)
    assert "1 of 1 persons give no plausible eda_tonic" in str(info.value)


# --- pseudo sessions of another length ---------------------------------------------------------


def _write_group(path, seed, *, n_t, c=0.5, n=4, start=0.0):
    _, y = simulate_statespace(
        n_t, laplacian(complete_adjacency(n)), c=c, lam=0.1, q=0.2, r=0.1, seed=seed
    )
    frame = pd.DataFrame(y, columns=[f"S{seed}P{k}" for k in range(n)])
    frame.insert(0, "time", start + np.arange(n_t))
    frame.to_csv(path, index=False)
    return path


def test_pseudo_session_sharing_too_little_is_refused_unless_asked(tmp_path):
    group = _write_group(tmp_path / "long.csv", 1, n_t=400)
    short = _write_group(tmp_path / "short.csv", 2, n_t=150)  # 150 of 400 s: 38%
    config = SyncConfig(window=30, step=15, max_lag=5)
    kwargs = {"signal": "raw", "fs": 1.0, "config": config, "n_surrogates": 0, "seed": 1}
    with pytest.raises(InputError, match=r"shares only 150 s .*38% .*--min-overlap"):
        analyze_synchrony(group, pseudo_from=short, n_pseudo_groups=20, **kwargs)
    with pytest.raises(InputError, match="--min-overlap"):
        fit_contagion(group, pseudo_from=short, n_pseudo_groups=2, seed=1)
    res = analyze_synchrony(group, pseudo_from=short, n_pseudo_groups=20, min_overlap=0.3, **kwargs)
    row = res.tests.set_index("method").loc["pseudo-group"]
    assert row["overlap_s"] == 150 and row["overlap_fraction"] == pytest.approx(150 / 400)
    assert any("pseudo-groups use the 150 s both sessions share: 38%" in n for n in res.notes)
    # The CLI says the same, in one line, and writes nothing.
    out = tmp_path / "sync"
    cli = CliRunner().invoke(
        app,
        ["sync", str(group), "--signal", "raw", "--fs", "1", "--out", str(out), "--surrogates",
         "0", "--pseudo-from", str(short), "--pseudo-groups", "20"],
    )  # fmt: skip
    assert cli.exit_code == 2 and "--min-overlap" in cli.output
    _nothing_written(tmp_path, out)


def test_pseudo_session_with_too_few_windows_is_refused(tmp_path):
    group = _write_group(tmp_path / "g.csv", 1, n_t=100)
    other = _write_group(tmp_path / "o.csv", 2, n_t=55)  # 55% but only 2 windows of 30 s
    with pytest.raises(InputError, match="hold 2 synchrony window"):
        analyze_synchrony(
            group,
            signal="raw",
            fs=1.0,
            config=SyncConfig(window=30, step=15, max_lag=0),
            n_surrogates=0,
            pseudo_from=other,
            n_pseudo_groups=5,
        )


def test_concert_sessions_of_different_lengths_report_the_overlap(shared_data):
    folder = shared_data / "concert_respiration"
    res = analyze_synchrony(
        folder / "Case2_Sae1_AudResp.csv",
        signal="raw",
        fs=1.0,
        n_surrogates=0,
        pseudo_from=folder / "Case1_Saev_OtherResp.csv",
        n_pseudo_groups=10,
        seed=0,
    )
    row = res.tests.set_index("method").loc["pseudo-group"]
    assert 270 < row["overlap_s"] < 290 and 0.55 < row["overlap_fraction"] < 0.62
    assert any("both sessions share" in n and "of the other" in n for n in res.notes)


# --- n/a values: counted and reported -----------------------------------------------------------


def test_na_values_in_a_wide_table_are_counted_and_reported(tmp_path):
    rng = np.random.default_rng(3)
    values = rng.standard_normal((300, 3)).round(4).astype(object)
    values[[50, 51], 0] = "n/a"  # short gap: interpolated
    values[100:140, 1] = ""  # 10 s: too long, stays missing
    frame = pd.DataFrame(values, columns=["A", "B", "C"])
    frame.insert(0, "time", np.arange(300) / 4)  # 4 Hz: the 2 samples are a 0.5 s gap
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    ds = read_wide(path)
    assert json.loads(ds.attrs["missing_values"]) == {"A": 2, "B": 40}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, notes = load_features(path, "raw", fs=4.0)
    assert "person 'A': 2 empty or n/a value(s) in the file" in " ".join(notes)
    assert any(n.startswith("person 'A'") and "2 sample(s) interpolated" in n for n in notes)
    assert any(n.startswith("person 'B'") and "40 sample(s) left missing" in n for n in notes)
    assert not any(n.startswith("person 'C'") for n in notes)


def test_rows_missing_from_a_long_table_are_counted(tmp_path):
    rows = [(t, p, float(np.sin(t + k))) for t in range(50) for k, p in enumerate("xyz")]
    rows = [r for r in rows if not (r[1] == "y" and r[0] in (10, 11, 12))]
    rows.append((20.0, "z", "n/a"))
    rows = [r for r in rows if not (r[1] == "z" and r[0] == 20 and r[2] != "n/a")]
    path = tmp_path / "long.csv"
    pd.DataFrame(rows, columns=["time", "person", "value"]).to_csv(path, index=False)
    ds = read_long(path)
    assert json.loads(ds.attrs["missing_values"]) == {"y": 3, "z": 1}


# --- numerical guards ---------------------------------------------------------------------------


def test_constant_person_or_stimulus_is_refused_by_the_fit():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((100, 4))
    y[:, 2] = 3.0
    data = xr.DataArray(y, dims=("time", "person"), coords={"person": list("abcd")})
    with pytest.raises(InputError, match="person 'c': constant series"):
        ContagionModel().fit(data)
    with pytest.raises(InputError, match="stimulus: constant"):
        ContagionModel().fit(rng.standard_normal((100, 4)), np.ones(100))


def test_singular_hessian_is_said_not_passed_on_as_silent_nan(monkeypatch):
    from syntony.physio import fit as fit_module

    monkeypatch.setattr(fit_module, "_hessian", lambda fun, x: np.zeros((x.size, x.size)))
    rng = np.random.default_rng(1)
    model = ContagionModel().fit(rng.standard_normal((60, 3)))
    assert np.isnan(model.se_["c"])
    assert any("singular Hessian" in n for n in model.result_.warnings)


def _features(x, names=None):
    names = names or [f"p{k}" for k in range(x.shape[1])]
    return xr.Dataset(
        {"v": (("time", "person"), x)},
        coords={"time": np.arange(len(x)) / 1.0, "person": names},
        attrs={"sampling_rate": 1.0, "feature": "v"},
    )


def test_flat_signals_give_a_message_not_nan_synchrony():
    x = np.zeros((200, 3)) + np.arange(3)
    with pytest.raises(InputError, match="synchrony is undefined"):
        synchrony(_features(x), SyncConfig(window=30, step=15, max_lag=5))


def test_identical_signals_are_named_in_the_notes(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 3))
    x[:, 2] = x[:, 0]
    frame = pd.DataFrame(x, columns=["ann", "bob", "ann_copy"])
    frame.insert(0, "time", np.arange(300))
    frame.to_csv(tmp_path / "g.csv", index=False)
    res = analyze_synchrony(tmp_path / "g.csv", signal="raw", fs=1.0, n_surrogates=0)
    note = " ".join(res.notes)
    assert "identical signals for persons 'ann' and 'ann_copy'" in note
    assert np.isfinite(res.pairs["synchrony"]).all()


def test_nan_stretches_inside_a_recording_never_reach_the_result_as_nan(tmp_path):
    rng = np.random.default_rng(4)
    x = np.cumsum(rng.standard_normal((400, 3)), axis=0)
    x[100:105, 0] = np.nan  # bridged
    x[200:260, 1] = np.nan  # left missing: windows touching it are skipped
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame.insert(0, "time", np.arange(400))
    frame.to_csv(tmp_path / "g.csv", index=False)
    res = analyze_synchrony(tmp_path / "g.csv", signal="raw", fs=1.0, n_surrogates=5, seed=1)
    assert np.isfinite(res.group_synchrony)
    assert np.isfinite(res.tests["p_value"]).all()
    assert any("left missing" in n for n in res.notes)


# --- messages in the user's terms -------------------------------------------------------------


def test_messages_name_columns_as_written(tmp_path):
    path = tmp_path / "concert.csv"
    path.write_text(",A1,A2\n0,1,2\n1,oops,3\n")  # time column without a header, as in the concert
    with pytest.raises(InputError) as info:
        read_wide(path)
    assert str(info.value) == f"{path}:3 [A1]: expected a number, got 'oops'"
    path.write_text(",A1,A2\n0,1,2\nx,1,3\n")
    with pytest.raises(InputError, match=r":3 \[column 1\]: expected a number") as info:
        read_wide(path)
    _no_leak(str(info.value))
    path.write_text("time,A1,A1\n0,1,2\n1,2,3\n")
    with pytest.raises(InputError, match="column 3 repeats the header 'A1'"):
        read_wide(path)


def test_edge_list_messages_are_plain(tmp_path):
    edges = tmp_path / "edges.csv"
    edges.write_text("source,target,weight\nann,bob,1\nbob,ann,-2.5\n")
    with pytest.raises(InputError) as info:
        read_network(edges, ["ann", "bob"])
    assert str(info.value) == f"{edges}:3 [weight]: expected a non-negative weight, got '-2.5'"
    edges.write_text("source,target\nann,bobb\n")
    with pytest.raises(InputError, match="unknown person 'bobb'; did you mean 'bob'"):
        read_network(edges, ["ann", "bob"])
    edges.write_text("sorce,target\nann,bob\n")
    with pytest.raises(InputError, match=r":1 \[source\].*did you mean 'sorce'"):
        read_network(edges, ["ann", "bob"])


def test_exclusion_notes_print_plain_names():
    fs = 25
    rsp = [
        nk.rsp_simulate(duration=90, sampling_rate=fs, respiratory_rate=rr, random_state=k)
        for k, rr in enumerate((12, 15, 16))
    ]
    for start in range(0, len(rsp[1]), 10 * fs):  # a 2 s gap every 10 s: no 20 s stretch
        rsp[1][start : start + 2 * fs] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, notes = load_features(_group(rsp, fs, ["AU807", "AU805", "AU802"]), "respiration")
    assert any(n.startswith("person 'AU805' excluded: no stretch of at least 20 s") for n in notes)
    _no_leak(json.dumps(notes))
