"""Readers: BIDS physio with sidecars, wide and long tables, several sessions; bad input."""

from __future__ import annotations

import gzip
import json
import warnings

import numpy as np
import pytest

from syntony.errors import InputError
from syntony.physio.features import SignalExclusionWarning, clean_gaps
from syntony.physio.io import (
    read_bids_physio,
    read_long,
    read_recording,
    read_sessions,
    read_wide,
    resample,
)


def _bids(
    tmp_path, sub, data, *, fs=50.0, start=0.0, columns=("cardiac", "respiratory"), drop=None
):
    stem = f"sub-{sub}_task-concert_physio"
    with gzip.open(tmp_path / f"{stem}.tsv.gz", "wt") as fh:
        np.savetxt(fh, data, delimiter="\t", fmt="%.6f")
    meta = {"SamplingFrequency": fs, "StartTime": start, "Columns": list(columns)}
    meta["respiratory"] = {"Units": "mV"}
    if drop:
        meta.pop(drop)
    (tmp_path / f"{stem}.json").write_text(json.dumps(meta))
    return tmp_path / f"{stem}.tsv.gz"


def test_bids_group_aligned_on_start_time(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((500, 2)), rng.standard_normal((500, 2))
    pa = _bids(tmp_path, "01", a, start=0.0)
    pb = _bids(tmp_path, "02", b, start=0.5)
    ds = read_bids_physio([pa, pb])
    assert list(ds.person.values) == ["01", "02"]
    assert list(ds.channel.values) == ["cardiac", "respiratory"]
    assert ds.attrs["sampling_rate"] == 50.0
    assert list(ds["units"].values) == ["a.u.", "mV"]
    assert json.loads(ds.attrs["units"]) == {"cardiac": "a.u.", "respiratory": "mV"}
    # Common span: 0.5 s .. 9.98 s; person 01 starts 25 samples into its file.
    assert ds.time.values[0] == pytest.approx(0.5)
    np.testing.assert_allclose(ds["signal"].sel(person="01").values[:10], a[25:35], atol=1e-6)
    np.testing.assert_allclose(ds["signal"].sel(person="02").values[:10], b[:10], atol=1e-6)
    # A directory is read as BIDS too.
    assert read_recording(tmp_path).sizes["person"] == 2


def test_bids_different_rates_need_a_choice(tmp_path):
    pa = _bids(tmp_path, "01", np.zeros((500, 2)) + np.arange(500)[:, None], fs=50.0)
    pb = _bids(tmp_path, "02", np.zeros((1000, 2)) + np.arange(1000)[:, None], fs=100.0)
    with pytest.raises(InputError, match=r"\[SamplingFrequency\]: different sampling rates"):
        read_bids_physio([pa, pb])
    ds = read_bids_physio([pa, pb], resample_to=50.0)
    assert ds.attrs["sampling_rate"] == 50.0
    # A linear ramp resamples to the same ramp (in seconds): value/fs == time.
    mid = slice(5, -5)
    np.testing.assert_allclose(
        ds["signal"].sel(person="01").values[mid, 0] / 50, ds.time.values[mid], atol=1e-6
    )
    np.testing.assert_allclose(
        ds["signal"].sel(person="02").values[mid, 0] / 100, ds.time.values[mid], atol=1e-6
    )


@pytest.mark.parametrize("field", ["StartTime", "Columns", "SamplingFrequency"])
def test_bids_missing_sidecar_field(tmp_path, field):
    p = _bids(tmp_path, "01", np.zeros((10, 2)), drop=field)
    with pytest.raises(InputError, match=field) as info:
        read_bids_physio(p)
    assert "_physio.json" in str(info.value)


def test_bids_column_count_and_missing_sidecar(tmp_path):
    p = _bids(tmp_path, "01", np.zeros((10, 3)))
    with pytest.raises(InputError, match="3 columns in the data but 2 named"):
        read_bids_physio(p)
    (tmp_path / "sub-01_task-concert_physio.json").unlink()
    with pytest.raises(InputError, match="missing JSON sidecar"):
        read_bids_physio(p)


def _wide(tmp_path, text, name="g.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_wide_reads_concert_layout(tmp_path):
    path = _wide(tmp_path, ",AU1,AU2\n0.0,1,2\n0.04,3,4\n0.08,5,6\n0.121,7,8\n")
    ds = read_wide(path, channel="respiration")
    assert ds["signal"].dims == ("time", "person", "channel")
    assert list(ds.person.values) == ["AU1", "AU2"]
    assert ds.attrs["sampling_rate"] == pytest.approx(1 / 0.04, rel=0.02)
    np.testing.assert_array_equal(ds["signal"].values[:, 1, 0], [2, 4, 6, 8])


def test_wide_bad_inputs_name_line_and_column(tmp_path):
    path = _wide(tmp_path, "time,a,b\n0,1,2\n1,3,x\n2,5,6\n")
    with pytest.raises(InputError, match=r"g\.csv:3 \[b\]: expected a number, got 'x'"):
        read_wide(path)
    path = _wide(tmp_path, "time,a,b\n0,1,2\n1,3,4\n1,5,6\n")
    with pytest.raises(InputError, match=r"g\.csv:4 \[time\]: time is not strictly increasing"):
        read_wide(path)
    path = _wide(tmp_path, "time,a,b\n0,1,2\n1,3,4\n3,5,6\n4,5,6\n")
    with pytest.raises(InputError, match=r"irregular sampling"):
        read_wide(path)
    path = _wide(tmp_path, "time,a,b\n0,1,2\n1,3,4\n")
    with pytest.raises(InputError, match="implies 1 Hz"):
        read_wide(path, sampling_rate=4.0)


def test_long_format_and_errors(tmp_path):
    rows = ["time,person,value"] + [
        f"{t / 2},{p},{10 * t + k}" for t in range(6) for k, p in enumerate("ab")
    ]
    path = _wide(tmp_path, "\n".join(rows[:1] + rows[1:][::-1]) + "\n", "long.csv")
    ds = read_recording(path)
    assert ds.attrs["sampling_rate"] == 2.0
    np.testing.assert_array_equal(ds["signal"].sel(person="b").values[:, 0], 10 * np.arange(6) + 1)
    dup = _wide(tmp_path, "time,person,value\n0,a,1\n0,a,2\n", "dup.csv")
    with pytest.raises(InputError, match=r"dup\.csv:3 \[person\]: duplicate sample"):
        read_long(dup)
    with pytest.raises(InputError, match="missing column 'value'"):
        read_long(_wide(tmp_path, "time,person,val\n0,a,1\n", "bad.csv"))


def test_several_sessions(tmp_path):
    a = _wide(tmp_path, "t,x,y\n0,1,2\n1,2,3\n2,3,4\n", "s1.csv")
    b = _wide(tmp_path, "t,x,z,w\n0,1,2,3\n1,2,3,4\n2,3,4,5\n", "s2.csv")
    sessions = read_sessions([a, b])
    assert list(sessions) == ["s1", "s2"]
    assert sessions["s2"].sizes["person"] == 3
    assert sessions["s1"].attrs["session"] == "s1"
    with pytest.raises(InputError, match="file not found"):
        read_sessions([tmp_path / "nope.csv"])


def test_gaps_are_interpolated_kept_or_excluded_and_reported(tmp_path):
    t = np.arange(100) / 10
    a = np.sin(t)
    a[20:23] = np.nan  # 0.3 s gap: interpolated
    b = np.cos(t)
    b[40:70] = np.nan  # 3 s gap: kept
    c = np.full(100, np.nan)  # no signal: excluded
    text = "time,a,b,c\n" + "\n".join(
        f"{ti},{ai},{bi},{ci}" for ti, ai, bi, ci in zip(t, a, b, c, strict=True)
    )
    ds = read_wide(_wide(tmp_path, text))
    with pytest.warns(SignalExclusionWarning, match="'c' excluded"):
        out = clean_gaps(ds, max_gap=1.0)
    assert list(out.person.values) == ["a", "b"]
    assert json.loads(out.attrs["excluded"]) == ["c"]
    gaps = json.loads(out.attrs["gaps"])
    assert gaps["a/0"] == {"interpolated": 3, "missing": 0}
    assert gaps["b/0"] == {"interpolated": 0, "missing": 30}
    np.testing.assert_allclose(
        out["signal"].sel(person="a").values[20:23, 0], np.sin(t[20:23]), atol=0.03
    )
    assert np.isnan(out["signal"].sel(person="b").values[40:70, 0]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="no person has a valid signal"):
            clean_gaps(ds.sel(person=["c"]))


def test_resample_sine():
    import xarray as xr

    t = np.arange(0, 20, 0.01)
    ds = xr.Dataset(
        {"signal": (("time", "person", "channel"), np.sin(2 * np.pi * 0.2 * t)[:, None, None])},
        coords={"time": t, "person": ["a"], "channel": ["x"]},
        attrs={"sampling_rate": 100.0},
    )
    out = resample(ds, 10.0)
    assert out.attrs["sampling_rate"] == 10.0
    truth = np.sin(2 * np.pi * 0.2 * out.time.values)
    np.testing.assert_allclose(out["signal"].values[2:-2, 0, 0], truth[2:-2], atol=0.01)
