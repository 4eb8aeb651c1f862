"""NeuroQuery and Neurosynth on the shared copies: counts, selections, spaces, regions."""

from __future__ import annotations

import re
import warnings
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from syntony.errors import InputError, ParameterError
from syntony.meta.databases import load_database, load_neuroquery, load_neurosynth
from syntony.meta.readers import read_studyset
from syntony.meta.space import tal_to_mni

NQ_PREFIX = "data-neuroquery_version-1_"
NS_PREFIX = "data-neurosynth_version-7_"


@pytest.fixture(scope="module")
def nq_dir(shared_data):
    return shared_data / "neuroquery"


@pytest.fixture(scope="module")
def ns_dir(shared_data):
    return shared_data / "neurosynth"


@pytest.fixture(scope="module")
def nq(nq_dir):
    return load_neuroquery(nq_dir)


@pytest.fixture(scope="module")
def ns(ns_dir):
    return load_neurosynth(ns_dir)


@pytest.fixture(scope="module")
def ns_raw(ns_dir):
    coords = pd.read_table(ns_dir / f"{NS_PREFIX}coordinates.tsv.gz", dtype={"id": str})
    meta = pd.read_table(ns_dir / f"{NS_PREFIX}metadata.tsv.gz", dtype={"id": str})
    return coords, meta


def test_counts(nq, ns):
    assert (nq.n_articles, nq.n_peaks) == (13459, 469260)
    assert (ns.n_articles, ns.n_peaks) == (14371, 507891)
    assert len(nq.vocabulary) == 7547
    assert set(nq.term_counts) == {"abstract", "title", "keywords"}
    assert nq.term_counts["abstract"].shape == (13459, 7547)
    assert ns.topic_weights.shape == (14371, 50)
    assert ns.topics.attrs["n_topics"] == 50
    assert ns.topics.loc["40_face_faces_facial", "keys"].startswith("face")


@pytest.fixture(scope="module")
def nq_counts(nq_dir):
    """Term counts summed over sources, read straight from the files (no syntony code)."""
    vocab = (nq_dir / f"{NQ_PREFIX}vocab-neuroquery7547_vocabulary.txt").read_text().splitlines()
    total = None
    for src in ("abstract", "title", "keywords"):
        name = f"{NQ_PREFIX}vocab-neuroquery7547_source-{src}_type-count_features.npz"
        matrix = sparse.load_npz(nq_dir / name).tocsc()
        total = matrix if total is None else total + matrix
    ids = pd.read_table(nq_dir / f"{NQ_PREFIX}metadata.tsv.gz", dtype={"id": str})["id"]
    return vocab, total, ids


def _independent_term_hits(nq_counts, term: str, min_count: int) -> set[str]:
    vocab, total, ids = nq_counts
    column = total[:, vocab.index(term)].toarray().ravel()
    return set(ids[column >= min_count])


@pytest.mark.parametrize(
    ("term", "expected"),
    [("empathy", 218), ("imitation", 70), ("facial expression", 114), ("mimicry", 5)],
)
def test_term_selection(nq, nq_counts, term, expected):
    selected = nq.select(terms=term)
    assert selected.n_articles == expected
    assert set(selected.ids) == _independent_term_hits(nq_counts, term, 1)
    twice = nq.select(terms=term, min_count=2)
    assert set(twice.ids) == _independent_term_hits(nq_counts, term, 2)
    # Every selected article brings all its peaks and only those.
    ss = selected.studyset(default_n=20)
    ref = nq.studyset(default_n=20).select(ss.ids)
    assert ss == ref


def test_term_combinations_and_sources(nq):
    either = nq.select(terms=["empathy", "imitation"])
    both = nq.select(terms=["empathy", "imitation"], match="all")
    e, i = set(nq.select(terms="empathy").ids), set(nq.select(terms="imitation").ids)
    assert set(either.ids) == e | i
    assert set(both.ids) == e & i
    in_titles = nq.select(terms="empathy", sources=["title"])
    assert set(in_titles.ids) <= e
    assert in_titles.n_articles == int((nq.term_count("empathy", sources=["title"]) > 0).sum())
    assert "empathy" in nq.find_terms("^empath")


def test_unknown_term_lists_close_terms(nq):
    with pytest.raises(
        InputError, match=r"'emotional contagion' is not in the neuroquery vocabulary"
    ):
        nq.select(terms="emotional contagion")
    with pytest.raises(InputError, match=r"close terms: \['facial expression'"):
        nq.select(terms="facial expresion")
    with pytest.raises(ParameterError, match="match"):
        nq.select(terms="empathy", match="most")
    with pytest.raises(ParameterError, match="min_count"):
        nq.select(terms="empathy", min_count=0)


def test_title_regex(nq, ns, nq_dir):
    titles = pd.read_table(nq_dir / f"{NQ_PREFIX}metadata.tsv.gz", dtype={"id": str})
    hits = titles["id"][titles["title"].str.contains("contagio|mimicry", case=False, regex=True)]
    selected = nq.select(title=r"contagio|mimicry")
    assert set(selected.ids) == set(hits)
    assert selected.n_articles > 5
    case_sensitive = nq.select(title=re.compile("Empathy"))
    assert all("Empathy" in t for t in case_sensitive.metadata["title"])
    assert ns.select(title="emotional contagion").n_articles >= 1
    combined = nq.select(title="face", terms="empathy")
    assert set(combined.ids) == set(nq.select(title="face").ids) & set(
        nq.select(terms="empathy").ids
    )
    with pytest.raises(ParameterError, match="regular expression"):
        nq.select(title="(unclosed")


def test_ids_and_default_n(nq):
    some = list(nq.ids[[5, 0, 9]])
    selected = nq.select(ids=some)
    assert list(selected.ids) == [nq.ids[0], nq.ids[5], nq.ids[9]]  # database order
    with pytest.raises(InputError, match="unknown article id"):
        nq.select(ids=["not-a-pmid"])
    with pytest.raises(InputError, match="no sample sizes: give default_n"):
        selected.studyset()
    ss = selected.studyset(default_n=18)
    assert ss.sample_sizes.tolist() == [18.0, 18.0, 18.0]
    assert ss.n_foci == int(selected.peaks_per_article.sum())
    assert "title" in ss.experiments.columns
    with pytest.raises(InputError, match="empty"):
        nq.select(title="zzzzqqqq").studyset(default_n=20)


def test_neurosynth_tal_rows_converted(ns, ns_raw):
    from nimare.utils import tal2mni

    coords, meta = ns_raw
    assert meta["space"].value_counts().to_dict() == {"MNI": 10204, "TAL": 2335, "UNKNOWN": 1832}
    tal_id = meta.loc[meta["space"] == "TAL", "id"].iloc[3]
    mni_id = meta.loc[meta["space"] == "MNI", "id"].iloc[3]
    unk_id = meta.loc[meta["space"] == "UNKNOWN", "id"].iloc[3]
    db_xyz = {i: ns.select(ids=[i]).coordinates for i in (tal_id, mni_id, unk_id)}
    raw = {i: coords.loc[coords["id"] == i, ["x", "y", "z"]].to_numpy(float) for i in db_xyz}
    np.testing.assert_allclose(db_xyz[tal_id], tal2mni(raw[tal_id]), atol=1e-9)
    np.testing.assert_array_equal(db_xyz[mni_id], raw[mni_id])
    np.testing.assert_array_equal(db_xyz[unk_id], raw[unk_id])  # default: used as reported
    assert ns.metadata.loc[tal_id, "space"] == "TAL"
    assert ns.metadata.loc[unk_id, ["space", "reported_space"]].tolist() == ["MNI", "UNKNOWN"]
    ss = ns.select(ids=[tal_id]).studyset(default_n=20)
    assert ss.experiments["space"].tolist() == ["TAL"]
    # Over the whole table: TAL articles differ from the raw file exactly by tal_to_mni.
    is_tal = (ns.metadata["space"] == "TAL").to_numpy()[ns.peak_article]
    assert is_tal.sum() == coords["id"].isin(set(meta.loc[meta["space"] == "TAL", "id"])).sum()


def test_neurosynth_unknown_space_choices(ns_dir, ns, ns_raw):
    coords, meta = ns_raw
    unk_id = meta.loc[meta["space"] == "UNKNOWN", "id"].iloc[0]
    as_tal = load_neurosynth(ns_dir, unknown_space="TAL")
    raw = coords.loc[coords["id"] == unk_id, ["x", "y", "z"]].to_numpy(float)
    np.testing.assert_allclose(as_tal.select(ids=[unk_id]).coordinates, tal_to_mni(raw))
    with pytest.warns(UserWarning, match=r"1832 article\(s\) with UNKNOWN space left out"):
        excluded = load_neurosynth(ns_dir, unknown_space="exclude")
    assert excluded.n_articles == 14371 - 1832
    assert excluded.n_peaks == ns.n_peaks - int(
        ns.peaks_per_article[(ns.metadata["reported_space"] == "UNKNOWN").to_numpy()].sum()
    )
    with pytest.raises(ParameterError, match="unknown_space"):
        load_neurosynth(ns_dir, unknown_space="guess")


def test_neurosynth_topics(ns):
    assert ns.find_topics("empathy") == ["28_social_empathy_moral"]
    sel = ns.select(topics="28_social_empathy_moral", min_weight=0.2)
    weights = ns.topic_weights[:, 28].toarray().ravel()
    assert sel.n_articles == int((weights >= 0.2).sum()) > 50
    assert ns.select(topics=28, min_weight=0.2).n_articles == sel.n_articles
    with pytest.raises(InputError, match="no term counts"):
        ns.select(terms="empathy")
    with pytest.raises(InputError, match="unknown topic"):
        ns.select(topics="99_nothing")


def test_experiments_with_focus_in_region(nq):
    # A 6 mm sphere around left anterior insula, as voxels of the MNI 2 mm grid.
    affine = np.array([[2, 0, 0, -90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1.0]])
    grid = np.indices((91, 109, 91)).reshape(3, -1).T
    mm = grid * 2 + np.array([-90, -126, -72])
    mask = (((mm - np.array([-38, 14, 0])) ** 2).sum(axis=1) <= 36).reshape(91, 109, 91)
    found = nq.experiments_with_focus_in(mask)
    # Independent: each peak's nearest voxel (half to even) tested against the mask.
    ijk = np.rint((nq.coordinates - np.array([-90, -126, -72])) / 2).astype(int)
    ok = np.all((ijk >= 0) & (ijk < np.array(mask.shape)), axis=1)
    hit = np.zeros(len(ijk), bool)
    hit[ok] = mask[tuple(ijk[ok].T)]
    assert set(found) == set(nq.ids[np.unique(nq.peak_article[hit])])
    assert 100 < len(found) < nq.n_articles
    img = nib.Nifti1Image(mask.astype(np.uint8), affine)
    assert set(nq.experiments_with_focus_in(img)) == set(found)
    assert set(nq.experiments_with_focus_in(np.argwhere(mask))) == set(found)
    roi_like = SimpleNamespace(volume=mask, grid=SimpleNamespace(affine=affine))
    assert set(nq.experiments_with_focus_in(roi_like)) == set(found)
    # A peak whose voxel is within 6 mm of the centre lies within 6 + sqrt(3) mm of it.
    near = nq.experiments_near([-38, 14, 0], 7.8)
    assert set(found) <= set(near)
    dist = np.linalg.norm(nq.coordinates - np.array([-38, 14, 0]), axis=1)
    assert set(near) == set(nq.ids[np.unique(nq.peak_article[dist <= 7.8])])
    macm = nq.select(ids=found).studyset(default_n=20)
    assert macm.n_experiments == len(found)
    with pytest.raises(ParameterError, match="region"):
        nq.experiments_with_focus_in(np.zeros((10, 10, 10), bool))


def test_read_studyset_on_database_folder(nq_dir, ns_dir, tmp_path):
    with pytest.raises(InputError, match="give default_n"):
        read_studyset(nq_dir)
    ss = read_studyset(nq_dir / f"{NQ_PREFIX}coordinates.tsv.gz", default_n=20)
    assert (ss.n_experiments, ss.n_foci) == (13459, 469260)
    assert load_database(ns_dir).name == "neurosynth"
    with pytest.raises(InputError, match="no NeuroQuery"):
        load_database(tmp_path)


def test_broken_files_are_reported(nq_dir, tmp_path):
    for f in nq_dir.iterdir():
        (tmp_path / f.name).symlink_to(f)
    (tmp_path / f"{NQ_PREFIX}metadata.tsv.gz").unlink()
    with pytest.raises(InputError, match=r"metadata file .* is missing"):
        load_neuroquery(tmp_path)
    meta = pd.read_table(nq_dir / f"{NQ_PREFIX}metadata.tsv.gz", dtype=str).iloc[1:]
    meta.to_csv(tmp_path / f"{NQ_PREFIX}metadata.tsv.gz", sep="\t", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="not in the metadata"):
            load_neuroquery(tmp_path)


def _nimare_convert(coordinates, metadata):
    import logging

    from nimare.io import convert_neurosynth_to_dataset

    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert_neurosynth_to_dataset(str(coordinates), str(metadata))
    finally:
        logging.disable(logging.NOTSET)


def test_neurosynth_subset_matches_nimare_conversion(ns, ns_raw, tmp_path):
    # NiMARE's converter on 100 articles of each space (the whole table takes ~30 s there).
    coords, meta = ns_raw
    chosen = pd.concat([meta[meta["space"] == s].iloc[:100] for s in ("MNI", "TAL", "UNKNOWN")])
    meta_path, coord_path = tmp_path / "m.tsv", tmp_path / "c.tsv"
    chosen.to_csv(meta_path, sep="\t", index=False)
    coords[coords["id"].isin(set(chosen["id"]))].to_csv(coord_path, sep="\t", index=False)
    dset = _nimare_convert(coord_path, meta_path)
    theirs = dset.coordinates.assign(experiment=dset.coordinates["study_id"].astype(str))
    ours = ns.select(ids=chosen["id"]).studyset(default_n=20).to_table()
    key = ["experiment", "x", "y", "z"]
    theirs = theirs[key].sort_values(key).reset_index(drop=True)
    ours = ours[key].sort_values(key).reset_index(drop=True)
    assert len(ours) == len(theirs) > 3000
    assert (ours["experiment"] == theirs["experiment"]).all()
    diff = np.abs(ours[["x", "y", "z"]].to_numpy() - theirs[["x", "y", "z"]].to_numpy(float))
    assert diff.max() < 1e-9
