"""Dataset fetchers: checksums against the shared copies, overrides, cache and bad files.

The real download cannot run here (no network); pooch is exercised with a downloader that
copies from the shared folder, which checks the URLs, the cache location, the verification
of downloaded files and that nothing is downloaded twice.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from syntony import datasets
from syntony.datasets import NEUROQUERY, NEUROSYNTH, fetch_neuroquery, fetch_neurosynth, verify
from syntony.errors import ChecksumError, DownloadError, InputError, ParameterError
from syntony.meta.databases import load_neuroquery


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch, tmp_path):
    for var in ("SYNTONY_NEUROQUERY_DIR", "SYNTONY_NEUROSYNTH_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SYNTONY_DATA_DIR", str(tmp_path / "cache"))


def test_registries_match_the_shared_copies(shared_data):
    for source in (NEUROQUERY, NEUROSYNTH):
        folder = shared_data / source.name
        assert set(source.files) == {p.name for p in folder.iterdir()} - {"README.md"}
        assert verify(source, folder) == folder
        assert source.url(next(iter(source.files))).startswith("https://github.com/")


def test_path_argument_and_env_overrides(shared_data, monkeypatch):
    nq, ns = shared_data / "neuroquery", shared_data / "neurosynth"
    assert fetch_neuroquery(nq) == nq
    monkeypatch.setenv("SYNTONY_NEUROQUERY_DIR", str(nq))
    monkeypatch.setenv("SYNTONY_NEUROSYNTH_DIR", str(ns))
    assert fetch_neuroquery() == nq
    assert fetch_neurosynth() == ns
    # The database loaders use the fetchers when no path is given.
    assert load_neuroquery().n_articles == 13459


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        shutil.copy(f, dst / f.name)
    return dst


def test_bad_checksum_and_missing_file(shared_data, tmp_path):
    copy = _copy(shared_data / "neurosynth", tmp_path / "ns")
    target = copy / "data-neurosynth_version-7_vocab-LDA50_vocabulary.txt"
    target.write_text(target.read_text().replace("0_network", "0_netw0rk"))
    with pytest.raises(ChecksumError, match=r"vocab-LDA50_vocabulary.txt: SHA-256 mismatch"):
        fetch_neurosynth(copy)
    target.unlink()
    with pytest.raises(InputError, match="missing neurosynth file"):
        fetch_neurosynth(copy)
    with pytest.raises(InputError, match="does not exist"):
        fetch_neurosynth(tmp_path / "nowhere")
    # The licence must travel with the data.
    copy = _copy(shared_data / "neuroquery", tmp_path / "nq")
    (copy / "README.md").unlink()
    assert fetch_neuroquery(copy) == copy
    (copy / "LICENSE").unlink()
    with pytest.raises(InputError, match="'LICENSE'"):
        fetch_neuroquery(copy)


class _CopyFromShared:
    """A pooch downloader that serves the shared copy for the expected GitHub URLs."""

    def __init__(self, folder: Path, corrupt: str | None = None) -> None:
        self.folder, self.corrupt, self.urls = folder, corrupt, []

    def __call__(self, url: str, output_file, pooch_obj) -> None:
        self.urls.append(url)
        name = Path(urlparse(url).path).name
        data = (self.folder / name).read_bytes()
        if name == self.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 1])
        if hasattr(output_file, "write"):
            output_file.write(data)
        else:
            Path(output_file).write_bytes(data)


def test_download_into_cache_once(shared_data, tmp_path):
    down = _CopyFromShared(shared_data / "neuroquery")
    folder = fetch_neuroquery(downloader=down)
    assert folder == tmp_path / "cache" / "neuroquery"
    assert sorted(p.name for p in folder.iterdir()) == sorted(NEUROQUERY.files)
    assert len(down.urls) == len(NEUROQUERY.files)
    assert all(
        u.startswith("https://github.com/neuroquery/neuroquery_data/raw/") for u in down.urls
    )
    assert any(u.endswith("/data/data-neuroquery_version-1_coordinates.tsv.gz") for u in down.urls)
    assert verify(NEUROQUERY, folder) == folder
    fetch_neuroquery(downloader=down)
    assert len(down.urls) == len(NEUROQUERY.files)  # cached: nothing downloaded again
    # A cached file that was damaged is downloaded again.
    (folder / "LICENSE").write_text("tampered")
    fetch_neuroquery(downloader=down)
    assert len(down.urls) == len(NEUROQUERY.files) + 1


def test_corrupt_download_and_network_failure(shared_data):
    name = "data-neurosynth_version-7_metadata.tsv.gz"
    with pytest.raises(ChecksumError, match="failed verification"):
        fetch_neurosynth(downloader=_CopyFromShared(shared_data / "neurosynth", corrupt=name))
    assert not (datasets.data_dir() / "neurosynth" / name).exists()

    def offline(url, output_file, pooch_obj):
        raise ConnectionError("no route to host")

    with pytest.raises(DownloadError, match="SYNTONY_NEUROSYNTH_DIR"):
        fetch_neurosynth(downloader=offline)


def test_default_cache_location(monkeypatch):
    import pooch

    monkeypatch.delenv("SYNTONY_DATA_DIR")
    assert datasets.data_dir() == Path(pooch.os_cache("syntony"))


def test_cli_fetch_verifies_a_local_copy_and_reports_a_bad_one(shared_data, tmp_path):
    from click.testing import CliRunner

    from syntony.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["fetch", "neuroquery", "--path", str(shared_data / "neuroquery")])
    assert ok.exit_code == 0, ok.output
    assert "verified" in ok.output
    bad = runner.invoke(app, ["fetch", "neurosynth", "--path", str(tmp_path)])
    assert bad.exit_code == 2
    assert bad.output.startswith("syntony: error:") and "missing" in bad.output


# ---------------------------------------------------------------------------------------------
# Data shipped inside the package
# ---------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = ROOT / "src" / "syntony" / "data"


def test_find_local_never_downloads(shared_data, tmp_path, monkeypatch):
    assert datasets.find_local(NEUROQUERY) is None  # empty cache, no override
    monkeypatch.setenv("SYNTONY_NEUROQUERY_DIR", str(shared_data / "neuroquery"))
    assert datasets.find_local(NEUROQUERY) == shared_data / "neuroquery"
    monkeypatch.delenv("SYNTONY_NEUROQUERY_DIR")
    cached = _copy(shared_data / "neuroquery", tmp_path / "cache" / "neuroquery")
    assert datasets.find_local(NEUROQUERY) == cached
    (cached / "LICENSE").write_text("tampered")
    with pytest.raises(ChecksumError):
        datasets.find_local(NEUROQUERY)


@pytest.mark.parametrize("performance", ["Sae1", "Sae2"])
def test_load_concert_equals_the_published_csv(shared_data, performance):
    import numpy as np

    from syntony.physio.io import read_recording

    csv = shared_data / "concert_respiration" / f"Case2_{performance}_AudResp.csv"
    expected = read_recording(csv, channel="respiration")
    got = datasets.load_concert(performance)
    assert got["signal"].dims == expected["signal"].dims == ("time", "person", "channel")
    assert set(got.coords) == set(expected.coords)
    assert list(got.person.values) == list(expected.person.values)
    assert got.sizes["person"] == 15
    # Same times (pandas' fast float parser can be one ulp off the decimal in the file).
    np.testing.assert_allclose(got.time.values, expected.time.values, rtol=0, atol=1e-12)
    assert got.time.attrs == expected.time.attrs
    assert list(got.channel.values) == ["respiration"]
    assert list(got["units"].values) == list(expected["units"].values)
    diff = np.abs(got["signal"].values - expected["signal"].values)
    assert diff.max() <= 0.005 + 1e-9  # stored to hundredths of a unit
    assert diff.max() > 0  # (it is rounded: the check above is not vacuous)
    assert set(expected.attrs) <= set(got.attrs)
    for name in set(expected.attrs) - {"source", "sampling_rate"}:
        assert got.attrs[name] == expected.attrs[name], name
    assert got.attrs["sampling_rate"] == 25.0
    assert abs(expected.attrs["sampling_rate"] - 25.0) < 1e-9
    assert "Exploratory_Listening_Phys" in got.attrs["source"]
    assert "10.3390/bs15050710" in got.attrs["citation"]


def test_concert_files_are_small_and_carry_their_licence(shared_data):
    concert = PACKAGE_DATA / "concert"
    sizes = [p.stat().st_size for p in concert.glob("*.npz")]
    assert len(sizes) == 2 and sum(sizes) < 600_000
    source = shared_data / "concert_respiration" / "LICENSE"
    assert (concert / "LICENSE").read_bytes() == source.read_bytes()
    citation = (concert / "CITATION.cff").read_text(encoding="utf-8")
    assert "finn42/Exploratory_Listening_Phys" in citation and "10.3390/bs15050710" in citation
    with pytest.raises(ParameterError, match="performance"):
        datasets.load_concert("Sae3")


def test_shipped_studysets_rederive_from_neuroquery(shared_data, tmp_path):
    import subprocess
    import sys

    script = ROOT / "scripts" / "make_demo_studysets.py"
    subprocess.run(
        [sys.executable, str(script), str(shared_data / "neuroquery"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    shipped = PACKAGE_DATA / "neuroquery"
    for name in ("mimicry.txt", "contagion.txt", "articles.tsv", "LICENSE"):
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name


def test_load_studyset(shared_data):
    import numpy as np
    import pandas as pd

    from syntony.meta.databases import load_neuroquery

    db = load_neuroquery(shared_data / "neuroquery")
    articles = pd.read_csv(PACKAGE_DATA / "neuroquery" / "articles.tsv", sep="\t", dtype=str)
    sets = {}
    for name in ("mimicry", "contagion"):
        studyset = datasets.load_studyset(name)
        sets[name] = set(studyset.ids)
        assert studyset.n_experiments == 30
        assert sorted(studyset.ids) == sorted(articles.loc[articles["set"] == name, "pmid"])
        assert (studyset.sample_sizes == 20).all()
        reference = db.select(ids=studyset.ids).studyset(default_n=20)
        assert list(reference.ids) == list(studyset.ids)
        np.testing.assert_array_equal(studyset.coordinates, reference.coordinates)
        np.testing.assert_array_equal(studyset.focus_experiment, reference.focus_experiment)
        assert list(studyset.experiments["title"]) == [
            " ".join(t.split()) for t in reference.experiments["title"]
        ]
        # Every chosen article uses one of its set's terms and none of the other set's.
        own = articles.loc[articles["set"] == name, "total"].astype(int)
        assert (own >= 1).all()
    assert not sets["mimicry"] & sets["contagion"]
    pain = datasets.load_studyset("pain")
    assert (pain.n_experiments, pain.n_foci) == (21, 267)
    with pytest.raises(ParameterError, match="name"):
        datasets.load_studyset("anger")
