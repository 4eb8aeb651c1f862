"""Data for syntony: fetchers for the open coordinate databases, and the data shipped inside it.

Shipped with the package (no network, see ``syntony/data/*/README.md``):

* :func:`load_concert`: live-concert audience respiration, two performances of the same piece
  heard by two audiences of 15 (github.com/finn42/Exploratory_Listening_Phys, MIT licence);
* :func:`load_studyset`: the 21 pain experiments of NiMARE's resources (MIT) and two small
  NeuroQuery selections for the mimicry vs contagion question (BSD-3-Clause).

Fetched on demand, cached and checked by SHA-256, each a fixed set of files from its public
GitHub repository:

* NeuroQuery, version 1 (github.com/neuroquery/neuroquery_data, BSD-3-Clause): coordinates,
  titles, per-article term counts and the 7,547-term vocabulary.
* Neurosynth, version 7 (github.com/neurosynth/neurosynth-data, Open Database License 1.0):
  coordinates, metadata and the LDA-50 topic model (weights, vocabulary, keys).

The licence file of each repository is fetched with the data and kept beside it (the READMEs
are not: they are edited upstream from time to time and would fail their checksum).

Where the files live, in order of precedence:

1. ``path=`` given to the fetcher, or the environment variable ``SYNTONY_NEUROQUERY_DIR`` /
   ``SYNTONY_NEUROSYNTH_DIR``: an existing local copy, used without any network access after
   every file has been verified against its checksum;
2. the cache ``$SYNTONY_DATA_DIR/<source>`` (default: ``pooch.os_cache("syntony")``), filled
   by downloading with pooch the first time and verified on every call.

A file whose checksum does not match is never used: :class:`~syntony.errors.ChecksumError`
names the file and both hashes. :func:`find_local` answers whether a verified copy is already
on this machine without downloading anything.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syntony.errors import ChecksumError, DownloadError, InputError, ParameterError

if TYPE_CHECKING:
    import xarray as xr

    from syntony.meta.studyset import Studyset

__all__ = [
    "CONCERT_PERFORMANCES",
    "NEUROQUERY",
    "NEUROSYNTH",
    "STUDYSETS",
    "DataSource",
    "data_dir",
    "fetch",
    "fetch_neuroquery",
    "fetch_neurosynth",
    "find_local",
    "load_concert",
    "load_studyset",
    "verify",
]

#: Downloader signature accepted by pooch: (url, output_file, pooch_instance) -> None.
Downloader = Callable[[str, str, object], None]


@dataclass(frozen=True)
class DataSource:
    """A fixed set of files published in one repository.

    Parameters
    ----------
    name : str
        Folder name in the cache.
    base_url : str
        URL prefix; a file's URL is ``base_url + remote path``.
    files : mapping of str to (str, str)
        Local file name -> (path in the repository, SHA-256 hex digest).
    env_var : str
        Environment variable naming an existing local copy.
    licence : str
        Licence of the data, for reports.
    """

    name: str
    base_url: str
    files: Mapping[str, tuple[str, str]]
    env_var: str
    licence: str

    def url(self, local_name: str) -> str:
        return self.base_url + self.files[local_name][0]


# The repositories' default branch is used; the checksums pin the exact content (computed
# from the copies used in syntony's tests), so a change upstream is reported, not absorbed.
# GitHub's /raw/ form redirects both to plain files and to Git LFS storage.
NEUROQUERY = DataSource(
    name="neuroquery",
    base_url="https://github.com/neuroquery/neuroquery_data/raw/master/",
    files={
        "LICENSE": ("LICENSE", "f2448f4467b33827570df47be6173d64bca5c8a45c1b1815793321f47571fd3d"),
        "data-neuroquery_version-1_coordinates.tsv.gz": (
            "data/data-neuroquery_version-1_coordinates.tsv.gz",
            "b97cf50346dc8a6f78b3c02c8a19680679d7dbdf35f760a1032e46c2cad3666c",
        ),
        "data-neuroquery_version-1_metadata.tsv.gz": (
            "data/data-neuroquery_version-1_metadata.tsv.gz",
            "d84d2c7b2e2ca1692381419833fde043fb42d279014104c3c957feeeece140ea",
        ),
        "data-neuroquery_version-1_vocab-neuroquery7547_source-abstract_type-count_features.npz": (
            "data/data-neuroquery_version-1_vocab-neuroquery7547_source-abstract_type-count_features.npz",
            "79c38b2515a316b711eef1ef1737ba57ce720d79d8506b7a08da6639418cf60a",
        ),
        "data-neuroquery_version-1_vocab-neuroquery7547_source-keywords_type-count_features.npz": (
            "data/data-neuroquery_version-1_vocab-neuroquery7547_source-keywords_type-count_features.npz",
            "01c51de4b0f58194725c0c160e529c1c59cd812b83e51a693924be824f0e9c1b",
        ),
        "data-neuroquery_version-1_vocab-neuroquery7547_source-title_type-count_features.npz": (
            "data/data-neuroquery_version-1_vocab-neuroquery7547_source-title_type-count_features.npz",
            "c8243762f0f4c705c7ec60246c25e36785f0ea555dc914f85ede08a623afec74",
        ),
        "data-neuroquery_version-1_vocab-neuroquery7547_vocabulary.txt": (
            "data/data-neuroquery_version-1_vocab-neuroquery7547_vocabulary.txt",
            "ae4a13380451797735d3df142fb8b4b3792056fbf79471454aa40e12bec7717b",
        ),
    },
    env_var="SYNTONY_NEUROQUERY_DIR",
    licence="BSD-3-Clause",
)

NEUROSYNTH = DataSource(
    name="neurosynth",
    base_url="https://github.com/neurosynth/neurosynth-data/raw/master/",
    files={
        name: (name, digest)
        for name, digest in {
            "LICENSE.txt": "54e5da85f76242bab005c8a5e6792468aa53498e417b0557801fcdd9c87e8074",
            "data-neurosynth_version-7_coordinates.tsv.gz": "17135be3e08a0ab045896c77217e8463086543a0817d52a6a88c8e32c1161616",
            "data-neurosynth_version-7_metadata.tsv.gz": "8acde7de2a14ee2a12b406e50a8805e83288b0bc78924ddb36879d496dfb757b",
            "data-neurosynth_version-7_vocab-LDA50_keys.tsv": "7d2c872af784eb0bb96e7f2d63ba5c699cd002d3f58baa60353d9450c9431bac",
            "data-neurosynth_version-7_vocab-LDA50_metadata.json": "d803b63c1b9afa4e65503b07c087f16304147cb236c8d82e7d79e4e2339e308f",
            "data-neurosynth_version-7_vocab-LDA50_source-abstract_type-weight_features.npz": "dff7606079404b8496be4baca35c0d261e91d4ac6ff5c5595e1ef519e598a571",
            "data-neurosynth_version-7_vocab-LDA50_vocabulary.txt": "57a5fba4d3ee97cfcbf73a13d0631a1d9709a53c5a1fdf6d173f04ac8bb8f302",
        }.items()
    },
    env_var="SYNTONY_NEUROSYNTH_DIR",
    licence="ODbL-1.0",
)


def data_dir() -> Path:
    """Root of the download cache: ``$SYNTONY_DATA_DIR`` or ``pooch.os_cache("syntony")``."""
    value = os.environ.get("SYNTONY_DATA_DIR")
    if value:
        return Path(value).expanduser()
    import pooch

    return Path(pooch.os_cache("syntony"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(source: DataSource, folder: str | os.PathLike[str]) -> Path:
    """Check that ``folder`` holds every file of ``source`` with the right SHA-256.

    Returns the folder. Raises :class:`InputError` for a missing folder or file and
    :class:`ChecksumError` for a file whose content differs.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InputError(f"{source.name} folder does not exist", source=str(root))
    for local, (_, expected) in source.files.items():
        path = root / local
        if not path.exists():
            raise InputError(f"missing {source.name} file {local!r}", source=str(root))
        actual = _sha256(path)
        if actual != expected:
            raise ChecksumError(
                f"SHA-256 mismatch: expected {expected}, got {actual}; the file is corrupt or "
                "not the published version (delete it to download it again)",
                source=str(path),
            )
    return root


def fetch(
    source: DataSource,
    path: str | os.PathLike[str] | None = None,
    *,
    downloader: Downloader | None = None,
    progress: bool = False,
) -> Path:
    """Return a verified local folder with every file of ``source``, downloading if needed.

    Parameters
    ----------
    source : DataSource
        :data:`NEUROQUERY` or :data:`NEUROSYNTH`.
    path : path-like, optional
        An existing local copy to use instead of the cache (no network).
    downloader : callable, optional
        A pooch downloader (default: pooch's HTTP downloader).
    progress : bool
        Show download progress bars.
    """
    local = path if path is not None else os.environ.get(source.env_var)
    if local:
        return verify(source, local)
    import pooch

    folder = data_dir() / source.name
    registry = {name: f"sha256:{digest}" for name, (_, digest) in source.files.items()}
    store = pooch.create(
        path=folder,
        base_url=source.base_url,
        registry=registry,
        urls={name: source.url(name) for name in source.files},
    )
    if downloader is None:
        downloader = pooch.HTTPDownloader(progressbar=progress)
    for name in source.files:
        try:
            store.fetch(name, downloader=downloader)
        except ValueError as exc:
            # pooch raises ValueError when the downloaded file's hash differs.
            raise ChecksumError(
                f"downloaded file failed verification ({exc})", source=source.url(name)
            ) from None
        except Exception as exc:
            raise DownloadError(
                f"{source.url(name)}: download failed ({type(exc).__name__}: {exc}); "
                f"without network, point {source.env_var} at a local copy"
            ) from None
    return folder


def fetch_neuroquery(
    path: str | os.PathLike[str] | None = None,
    *,
    downloader: Downloader | None = None,
    progress: bool = False,
) -> Path:
    """Folder with the NeuroQuery version-1 files (see :func:`fetch`)."""
    return fetch(NEUROQUERY, path, downloader=downloader, progress=progress)


def fetch_neurosynth(
    path: str | os.PathLike[str] | None = None,
    *,
    downloader: Downloader | None = None,
    progress: bool = False,
) -> Path:
    """Folder with the Neurosynth version-7 files (see :func:`fetch`)."""
    return fetch(NEUROSYNTH, path, downloader=downloader, progress=progress)


def find_local(source: DataSource) -> Path | None:
    """A verified local copy of ``source`` if this machine has one, else ``None``.

    Looks at the environment variable (``SYNTONY_NEUROQUERY_DIR`` / ``SYNTONY_NEUROSYNTH_DIR``),
    then the cache; never downloads. A copy that fails verification raises, as in :func:`fetch`
    (a damaged copy is worth knowing about).
    """
    local = os.environ.get(source.env_var)
    if local:
        return verify(source, local)
    folder = data_dir() / source.name
    if all((folder / name).is_file() for name in source.files):
        return verify(source, folder)
    return None


# ---------------------------------------------------------------------------------------------
# Data shipped inside the package
# ---------------------------------------------------------------------------------------------

#: Performances of the concert recordings shipped with syntony.
CONCERT_PERFORMANCES = ("Sae1", "Sae2")

#: Studysets shipped with syntony (see :func:`load_studyset`).
STUDYSETS = ("pain", "mimicry", "contagion")

_CONCERT_REPOSITORY = "github.com/finn42/Exploratory_Listening_Phys"
_CONCERT_CITATION = (
    "Haswell-Martin R, Upham F, Høffding S, Nielsen N (2025). Embodied, exploratory listening "
    "in the concert hall. Behavioral Sciences 15(5):710. doi:10.3390/bs15050710. "
    "Data: Upham F (2025). Exploratory Listening Physiology Analysis, version 1.0.0, "
    "https://github.com/finn42/Exploratory_Listening_Phys (MIT licence)."
)


def _package_file(*parts: str):
    from importlib import resources

    return resources.files("syntony").joinpath("data", *parts)


def load_concert(performance: str = "Sae1") -> xr.Dataset:
    """Audience respiration recorded at a live concert (shipped with syntony, no network).

    Two performances of Harald Sæverud's *Kjempeviseslåtten* by the Norwegian Radio Orchestra
    (Oslo, 2024), each heard by a different audience; 15 listeners of each audience wore a
    respiration sensor. The two audiences share the music but not the room, so listeners of
    one performance make pseudo-groups for the other.

    Parameters
    ----------
    performance : {"Sae1", "Sae2"}
        Which performance (Case2 of the source repository).

    Returns
    -------
    xarray.Dataset
        The layout of :func:`syntony.physio.io.read_recording` for a wide table: variable
        ``signal`` with dims (time, person, channel), one channel ``"respiration"`` in
        arbitrary units, time in seconds from the start of the piece (from -15 s), 25 Hz in
        ``attrs["sampling_rate"]``; ``attrs`` also name the source, licence and citation.

    Notes
    -----
    Values are the published ones rounded to 0.01 (about five significant digits); times are
    exact. Source: Case2_<performance>_AudResp.csv of github.com/finn42/Exploratory_Listening_Phys
    (MIT licence, copyright 2025 Finn Upham); cite Haswell-Martin et al. (2025), Behavioral
    Sciences 15(5):710, doi:10.3390/bs15050710.
    """
    import numpy as np
    import xarray as xr

    if performance not in CONCERT_PERFORMANCES:
        raise ParameterError("performance", f"one of {list(CONCERT_PERFORMANCES)}", performance)
    name = f"Case2_{performance}_AudResp"
    with _package_file("concert", f"{name}.npz").open("rb") as handle, np.load(handle) as archive:
        time_ms = archive["time_ms"].astype(np.int64)
        persons = [str(p) for p in archive["person"]]
        values = np.cumsum(archive["signal"].astype(np.int64), axis=1) / float(archive["scale"])
    time = time_ms / 1000.0
    return xr.Dataset(
        {"signal": (("time", "person", "channel"), values.T[:, :, None])},
        coords={
            "time": ("time", time, {"units": "s"}),
            "person": persons,
            "channel": ["respiration"],
            "units": ("channel", ["a.u."]),
        },
        attrs={
            "sampling_rate": 1000.0 / float(np.median(np.diff(time_ms))),
            "source": f"{_CONCERT_REPOSITORY}: data/Physiological_data/{name}.csv",
            "units": "a.u.",
            "missing_values": "{}",  # the published files have no gaps
            "session": f"Case2_{performance}",
            "licence": "MIT",
            "citation": _CONCERT_CITATION,
        },
    )


def load_studyset(name: str) -> Studyset:
    """A studyset shipped with syntony (no network).

    Parameters
    ----------
    name : {"pain", "mimicry", "contagion"}
        ``"pain"``: 21 pain fMRI experiments with their sample sizes, from NiMARE's resources
        (MIT licence). ``"mimicry"`` and ``"contagion"``: 30 NeuroQuery articles each
        (BSD-3-Clause), selected by term counts for the question of Fu et al. (2025) --
        *imitation*/*mimicry*/*imitative* without *empathy*/*empathic*, and the reverse -- with
        the default sample size 20 (NeuroQuery records none); ids are PubMed ids and the
        ``title`` column holds the article titles. ``syntony/data/neuroquery/README.md`` says
        exactly how they were derived.

    Returns
    -------
    Studyset
    """
    from importlib import resources

    from syntony.meta.readers import read_studyset

    if name not in STUDYSETS:
        raise ParameterError("name", f"one of {list(STUDYSETS)}", name)
    if name == "pain":
        with resources.as_file(
            resources.files("syntony").joinpath("examples", "nidm_pain_dset.json")
        ) as path:
            return read_studyset(path, name="pain")
    with resources.as_file(_package_file("neuroquery", f"{name}.txt")) as path:
        studyset = read_studyset(path, name=name)
    with resources.as_file(_package_file("neuroquery", "articles.tsv")) as path:
        import pandas as pd

        articles = pd.read_csv(path, sep="\t", dtype={"pmid": str})
    titles = articles[articles["set"] == name].set_index("pmid")["title"]
    return _by_pmid(studyset, titles, name)


def _by_pmid(studyset: Studyset, titles, name: str) -> Studyset:
    """Re-key a Sleuth-read NeuroQuery studyset by PubMed id and attach the titles."""
    from syntony.meta.studyset import Studyset

    experiments = studyset.experiments.drop(columns=["contrast"], errors="ignore")
    pmids = experiments["study"].astype(str)
    rename = dict(zip(experiments.index, pmids, strict=True))
    experiments = experiments.set_axis(pmids.to_numpy(), axis=0)
    experiments["title"] = titles.reindex(experiments.index).to_numpy()
    foci = studyset.foci.assign(experiment=studyset.foci["experiment"].map(rename))
    return Studyset(
        experiments,
        foci,
        name=name,
        source=f"syntony.datasets.load_studyset({name!r}) (NeuroQuery, BSD-3-Clause)",
    )
