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
from syntony.errors import ChecksumError, DownloadError, InputError
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
