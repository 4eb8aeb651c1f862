"""Readers: Sleuth, NiMARE JSON and CSV against NiMARE's own readers and hand-made files."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syntony.errors import InputError
from syntony.meta.readers import (
    read_csv,
    read_nimare_json,
    read_sleuth,
    read_studyset,
)
from syntony.meta.space import tal_to_mni

DATA = Path(__file__).parent / "data"


def _sleuth_files(shared: Path) -> list[Path]:
    files = sorted((shared / "nimare").glob("*.txt"))
    files += sorted((shared / "sleuth_ptsd").glob("*_MNI.txt"))
    files += sorted((shared / "sleuth_ptsd").glob("*_Tal.txt"))
    return files


def _nimare_dataset(path: Path):
    import gc

    from nimare.io import convert_sleuth_to_dataset

    # nilearn runs a full gc.collect() per image read inside NiMARE's Dataset; freezing the
    # long-lived objects first (as NiMARE's own test suite does) keeps that cheap.
    gc.freeze()
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert_sleuth_to_dataset(str(path))
    finally:
        logging.disable(logging.NOTSET)
        gc.unfreeze()


def _compare_with_nimare(ours, coords, sample_sizes) -> float:
    """Largest coordinate difference, foci matched as sorted rows within each experiment.

    NiMARE reorders foci inside an experiment, so both tables are sorted by (id, x, y, z).
    """
    assert set(ours.ids) == set(coords["id"])
    key = ["experiment", "x", "y", "z"]
    mine = ours.foci[key].sort_values(key).reset_index(drop=True)
    theirs = coords.rename(columns={"id": "experiment"})[key]
    theirs = theirs.astype({a: float for a in "xyz"}).sort_values(key).reset_index(drop=True)
    assert len(mine) == len(theirs)
    assert (mine["experiment"] == theirs["experiment"]).all()
    diff = np.abs(mine[["x", "y", "z"]].to_numpy() - theirs[["x", "y", "z"]].to_numpy())
    np.testing.assert_array_equal(ours.sample_sizes, [np.mean(sample_sizes[i]) for i in ours.ids])
    return float(diff.max())


def test_sleuth_matches_nimare_on_every_shared_file(shared_data):
    files = _sleuth_files(shared_data)
    assert len(files) == 9
    expected = {
        "nbackflanker_all_sleuth_MNI": (898, 9401),
        "nbackflanker_nback_sleuth_MNI": (494, 6146),
        "nbackflanker_flanker_sleuth_MNI": (404, 3255),
        "semantic_knowledge_children": (21, 262),
        "semantic_relatedness_children": (16, 201),
    }
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # out-of-box warnings are tested separately
            ours = read_sleuth(path)
        dset = _nimare_dataset(path)
        sizes = dset.metadata.set_index("id")["sample_sizes"].to_dict()
        worst = _compare_with_nimare(ours, dset.coordinates, sizes)
        assert len(ours) == len(dset.ids)
        assert ours.n_foci == len(dset.coordinates)
        if path.stem in expected:
            assert (ours.n_experiments, ours.n_foci) == expected[path.stem]
        if path.stem.endswith("_Tal"):
            assert set(ours.experiments["space"]) == {"TAL"}
            # Same matrix (inverse of icbm_other) as NiMARE, so only float rounding differs.
            assert worst < 1e-9, (path.name, worst)
        else:
            assert worst == 0.0, path.name


def test_talairach_conversion_equals_nimare_tal2mni():
    from nimare.utils import tal2mni

    xyz = np.random.default_rng(3).uniform(-90, 90, size=(500, 3))
    np.testing.assert_allclose(tal_to_mni(xyz), tal2mni(xyz), rtol=0, atol=1e-12)


def test_sleuth_tal_file_is_converted(shared_data):
    path = shared_data / "sleuth_ptsd" / "BP_HCgtPTSD_Tal.txt"
    ours = read_sleuth(path)
    raw = np.array([[1, 35, 1], [9, 1, 34], [-8, -36, 18], [10, -22, 29], [-33, -29, 3]], float)
    np.testing.assert_allclose(ours.coordinates, tal_to_mni(raw), atol=1e-12)
    assert ours.sample_sizes.tolist() == [14.0]


def test_sleuth_out_of_box_foci_warn_and_are_kept(shared_data):
    path = shared_data / "nimare" / "nbackflanker_all_sleuth_MNI.txt"
    with pytest.warns(UserWarning, match=r"16 of 9401 foci \(in 2 experiment\(s\)\).*kept"):
        ours = read_sleuth(path)
    assert ours.n_foci == 9401
    assert ours.outside_box().sum() == 16


def test_sleuth_mixed_format_tabs_spaces_crlf_comments_spaces():
    ss = read_sleuth(DATA / "mixed_sleuth.txt")
    assert ss.ids == [
        "Smith et al., 2010-faces > shapes",
        "Jones 2012-imitation second name line",
        "Lee 2015-analysis_1",
    ]
    assert ss.experiments["study"].tolist() == ["Smith et al., 2010", "Jones 2012", "Lee 2015"]
    assert ss.sample_sizes.tolist() == [12.0, 20.0, 8.0]
    assert ss.experiments["space"].tolist() == ["TAL", "TAL", "MNI"]
    assert ss.experiments["line"].tolist() == [3, 9, 14]
    expected = np.vstack(
        [tal_to_mni([[10, 20, 30], [-10, -20, -30], [0, 0, 0]]), [[4.0, 5.0, 6.0]]]
    )
    np.testing.assert_allclose(ss.coordinates, expected)


def _write(tmp_path: Path, text: str, name: str = "bad.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "pattern"),
    [
        (
            "//Reference=MNI\n//A\n//Subjects=10\n1 2 3\n4 5x 6\n",
            5,
            r"malformed number '5x'",
        ),
        ("//Reference=MNI\n1 2 3\n//A\n//Subjects=3\n", 2, "focus before any experiment"),
        ("//Reference=MNI\n//A\n1 2 3\n", 2, r"no //Subjects=N"),
        ("//Reference=MNI\n//A\n//Subjects=ten\n1 2 3\n", 3, "malformed number 'ten'"),
        ("//Reference=MNI\n//A\n//Subjects=0\n1 2 3\n", 3, "must be > 0"),
        ("//Reference=SPM\n//A\n//Subjects=3\n1 2 3\n", 1, "unknown reference space 'SPM'"),
        ("//Reference=MNI\n//A\n//Subjects=3\n1 nan 3\n", 4, "non-finite value 'nan'"),
        ("//Reference=MNI\n//A\n//Subjects=3\n1 2 inf\n", 4, "non-finite value 'inf'"),
        ("//Reference=MNI\n//A\n//Subjects=3\n\n//B\n//Subjects=4\n1 2 3\n", 2, "'A' has no foci"),
        ("//Reference=MNI\n//A\n//Subjects=3\n1 2 3\n//B\n//Subjects=4\n", 5, "'B' has no foci"),
        ("//Reference=MNI\n//A\n//Subjects=3\n1 2 3 4\n", 4, r"expected 3 numbers.*got 4"),
        ("//Reference=MNI\n//A\n//Subjects=3\n1,2,3\n", 4, r"expected 3 numbers.*got 1"),
        ("//A\n//Subjects=3\n1 2 3\n", 1, "no //Reference="),
    ],
)
def test_sleuth_errors_name_file_and_line(tmp_path, text, line, pattern):
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=pattern) as info:
        read_sleuth(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert info.value.line == line


def test_sleuth_repeated_names_are_kept_apart(tmp_path):
    path = _write(
        tmp_path, "//Reference=MNI\n//A; x\n//Subjects=3\n1 2 3\n//A; x\n//Subjects=4\n4 5 6\n"
    )
    with pytest.warns(UserWarning, match=r"'A-x' at lines \[2, 5\]"):
        ss = read_sleuth(path)
    assert ss.ids == ["A-x", "A-x (2)"]
    assert ss.sample_sizes.tolist() == [3.0, 4.0]
    np.testing.assert_array_equal(ss.coordinates, [[1, 2, 3], [4, 5, 6]])


def test_sleuth_missing_file_and_empty_file(tmp_path):
    with pytest.raises(InputError, match="cannot read file"):
        read_sleuth(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="no experiments"):
        read_sleuth(_write(tmp_path, "//Reference=MNI\n\n"))


def test_nimare_json_matches_nimare_dataset(shared_data):
    from nimare.dataset import Dataset

    path = shared_data / "nimare" / "nidm_pain_dset.json"
    ours = read_nimare_json(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dset = Dataset(str(path))
    assert (ours.n_experiments, ours.n_foci) == (21, 267)
    sizes = dset.metadata.set_index("id")["sample_sizes"].to_dict()
    assert _compare_with_nimare(ours, dset.coordinates, sizes) == 0.0
    assert ours.experiments["sample_sizes"].iloc[0] == [25.0]


def test_nimare_json_tal_default_n_and_errors(tmp_path):
    doc = {
        "s1": {
            "contrasts": {
                "c1": {
                    "coords": {"space": "TAL", "x": [1.0, 2.0], "y": [3.0, 4.0], "z": [5.0, 6.0]},
                    "metadata": {"sample_sizes": [10, 20]},
                },
                "img": {"images": {"z": "z.nii.gz"}},
            }
        },
        "s2": {"contrasts": {"c": {"coords": {"space": "MNI", "x": [0], "y": [0], "z": [0]}}}},
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"s2/contrasts/c/metadata.*no default_n"):
        read_nimare_json(path)
    with pytest.warns(UserWarning, match="skipped 1 contrast"):
        ss = read_nimare_json(path, default_n=16)
    assert ss.ids == ["s1-c1", "s2-c"]
    assert ss.sample_sizes.tolist() == [15.0, 16.0]
    np.testing.assert_allclose(ss.coordinates[:2], tal_to_mni([[1, 3, 5], [2, 4, 6]]))

    def broken(change) -> Path:
        bad = json.loads(json.dumps(doc))
        change(bad["s1"]["contrasts"]["c1"])
        path.write_text(json.dumps(bad))
        return path

    cases = [
        (lambda c: c["coords"].update(space="SPM99"), "coords/space.*unknown reference space"),
        (lambda c: c["coords"].update(x=[1.0, "a"]), r"coords/x.*malformed number"),
        (lambda c: c["coords"].update(x=[1.0, None]), r"coords/x.*malformed number"),
        (lambda c: c["coords"].update(y=[1.0]), r"different lengths"),
        (lambda c: c["coords"].update(x=[], y=[], z=[]), r"has no foci"),
        (lambda c: c["metadata"].update(sample_sizes=[0]), r"sample_sizes.*> 0"),
    ]
    for change, pattern in cases:
        with pytest.raises(InputError, match=pattern), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read_nimare_json(broken(change), default_n=10)
    path.write_text('{"s1": {"contrasts": {\n "c": [1, 2,]}}}')
    with pytest.raises(InputError, match=r"d.json:2: invalid JSON"):
        read_nimare_json(path)
    # NaN is valid in Python's JSON dialect; it must still be refused.
    path.write_text(
        '{"s": {"contrasts": {"c": {"coords": {"space": "MNI", "x": [NaN], "y": [1], "z": [1]}}}}}'
    )
    with pytest.raises(InputError, match=r"s/contrasts/c/coords/x.*non-finite"):
        read_nimare_json(path, default_n=10)


def test_csv_reader_round_trip_and_fields(tmp_path):
    ss = read_csv(DATA / "foci.csv")
    assert ss.ids == ["a", "b"]
    assert ss.sample_sizes.tolist() == [12.0, 20.0]
    assert ss.experiments["contrast"].tolist() == ["faces", "imitation"]
    assert ss.experiments["space"].tolist() == ["MNI", "TAL"]
    np.testing.assert_allclose(ss.coordinates[2:], tal_to_mni([[0, 0, 0], [1.5, 2.5, 3.5]]))
    table = ss.to_table()
    assert table.columns.tolist() == [
        "experiment",
        "study",
        "sample_size",
        "space",
        "reported_space",
        "x",
        "y",
        "z",
    ]
    assert table["space"].tolist() == ["MNI"] * 4
    assert table["reported_space"].tolist() == ["MNI", "MNI", "TAL", "TAL"]
    path = tmp_path / "back.csv"
    table.to_csv(path, index=False, float_format="%.17g")
    back = read_csv(path)
    np.testing.assert_array_equal(back.coordinates, ss.coordinates)
    assert back.experiments["reported_space"].tolist() == ["MNI", "TAL"]


def test_csv_round_trip_through_to_table(tmp_path, shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ss = read_sleuth(shared_data / "nimare" / "semantic_knowledge_children.txt")
    table = ss.to_table()
    path = tmp_path / "foci.tsv"
    table.to_csv(path, sep="\t", index=False, float_format="%.17g")
    back = read_studyset(path)
    assert back == ss
    np.testing.assert_array_equal(back.coordinates, ss.coordinates)
    np.testing.assert_array_equal(back.sample_sizes, ss.sample_sizes)


@pytest.mark.parametrize(
    ("text", "line", "field", "pattern"),
    [
        ("experiment,n,x,y,z\na,10,1,2,3\na,10,1,zz,3\n", 3, "y", "malformed number 'zz'"),
        ("experiment,n,x,y,z\na,10,1,2,3\na,10,1,nan,3\n", 3, "y", "non-finite number 'nan'"),
        ("experiment,n,x,y,z\na,10,1,2,3\na,12,1,2,3\n", 3, "sample_size", "differs from"),
        ("experiment,n,x,y,z,space\na,10,1,2,3,MNI\na,10,1,2,3,SPM\n", 3, "space", "unknown"),
        ("experiment,n,x,y,z\na,10,1,2,3\n,10,1,2,3\n", 3, "experiment", "empty experiment"),
        ("experiment,n,x,y,z\na,0,1,2,3\n", 2, "sample_size", "> 0"),
    ],
)
def test_csv_errors(tmp_path, text, line, field, pattern):
    path = _write(tmp_path, text, "t.csv")
    with pytest.raises(InputError, match=pattern) as info:
        read_csv(path)
    assert str(info.value).startswith(f"{path}:{line} [{field}]: ")


def test_csv_structure_errors(tmp_path):
    with pytest.raises(InputError, match="missing column"):
        read_csv(_write(tmp_path, "exp,x,y,z\na,1,2,3\n", "t.csv"))
    with pytest.raises(InputError, match="no sample_size column and no default_n"):
        read_csv(_write(tmp_path, "experiment,x,y,z\na,1,2,3\n", "t.csv"))
    with pytest.raises(InputError, match="line 3"):  # wrong column count, from the parser
        read_csv(_write(tmp_path, "experiment,x,y,z\na,1,2,3\na,1,2,3,4\n", "t.csv"))
    ss = read_csv(_write(tmp_path, "id,x,y,z\na,1,2,3\n", "t.csv"), default_n=20, space="TAL")
    text = "experiment,n,x,y,z,label,peak_z\na,,1,2,3,amygdala,3.1\na,,4,5,6,amygdala,4.2\nb,9,0,0,0,insula,5\n"
    with pytest.raises(InputError, match=r"t.csv:2 \[sample_size\]: malformed number ''"):
        read_csv(_write(tmp_path, text, "t.csv"))
    mixed = read_csv(_write(tmp_path, text, "mixed.csv"), default_n=20)
    assert mixed.sample_sizes.tolist() == [20.0, 9.0]
    assert mixed.experiments["label"].tolist() == ["amygdala", "insula"]
    assert mixed.foci["peak_z"].tolist() == ["3.1", "4.2", "5"]
    np.testing.assert_allclose(ss.coordinates, tal_to_mni([[1, 2, 3]]))


def test_read_studyset_dispatch(tmp_path, shared_data):
    json_path = shared_data / "nimare" / "nidm_pain_dset.json"
    assert read_studyset(json_path).n_experiments == 21
    assert read_studyset(DATA / "foci.csv").n_experiments == 2
    assert read_studyset(DATA / "mixed_sleuth.txt").n_experiments == 3
    both = read_studyset([DATA / "mixed_sleuth.txt", DATA / "foci.csv"])
    assert both.n_experiments == 5
    with pytest.raises(InputError, match="unrecognised format"):
        read_studyset(_write(tmp_path, "hello\n", "x.dat"))
    with pytest.raises(InputError, match="file not found"):
        read_studyset(tmp_path / "missing.txt")


def test_write_sleuth_round_trip(tmp_path, shared_data):
    from syntony.errors import OutputExistsError
    from syntony.meta.readers import write_sleuth

    def read_quietly(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return read_sleuth(path)

    for path in _sleuth_files(shared_data)[3:]:
        ss = read_quietly(path)
        if path.stem.endswith("_Tal"):
            # Written back in Talairach: the same ids and spaces, coordinates up to rounding.
            back = read_quietly(write_sleuth(ss, tmp_path / f"{path.stem}.txt", space="TAL"))
            assert back.ids == ss.ids
            assert back.experiments["space"].tolist() == ss.experiments["space"].tolist()
            np.testing.assert_allclose(back.coordinates, ss.coordinates, atol=1e-9)
            continue
        out = write_sleuth(ss, tmp_path / f"{path.stem}.txt")
        assert read_quietly(out) == ss
        with pytest.raises(OutputExistsError):
            write_sleuth(ss, out)
        tal = read_quietly(write_sleuth(ss, tmp_path / "tal.txt", space="TAL", force=True))
        assert tal.ids == ss.ids
        np.testing.assert_allclose(tal.coordinates, ss.coordinates, atol=1e-9)
        assert set(tal.experiments["space"]) == {"TAL"}


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 5),
            st.integers(1, 200),
            st.sampled_from([" ", "\t", "  \t "]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_sleuth_write_read_property(tmp_path_factory, experiments, rnd):
    from syntony.meta.readers import write_sleuth
    from syntony.meta.studyset import Studyset

    counts = [c for c, _, _ in experiments]
    which = np.repeat(np.arange(len(counts)), counts)
    xyz = np.array([[rnd.uniform(-70, 70) for _ in range(3)] for _ in which])
    sizes = np.array([n for _, n, _ in experiments], dtype=float)
    ss = Studyset.from_arrays(xyz, which, sizes)
    path = write_sleuth(ss, tmp_path_factory.mktemp("w") / "s.txt")
    back = read_sleuth(path)
    assert back.ids == [f"{i}-analysis_1" for i in ss.ids]
    np.testing.assert_array_equal(back.coordinates, ss.coordinates)
    np.testing.assert_array_equal(back.sample_sizes, ss.sample_sizes)
    # The same content with other separators and extra blank lines reads the same.
    seps = iter(sep for _, _, sep in experiments for _ in range(10_000))
    text = path.read_text().replace("\t", next(seps)).replace("\n//", "\n\n\n//")
    path.write_text(text)
    assert read_sleuth(path) == back


def test_sleuth_cp1252_names(tmp_path):
    path = tmp_path / "w.txt"
    path.write_bytes(
        "//Reference=MNI\n//M\u00fcller 2010: faces\n//Subjects=9\n1 2 3\n".encode("cp1252")
    )
    assert read_sleuth(path).ids == ["M\u00fcller 2010-faces"]


_SLEUTH_TOKENS = [
    "//",
    "// ",
    "Reference=MNI",
    "Reference=Talairach",
    "Reference=SPM",
    "Subjects=",
    "Subjects = 12",
    "12",
    "-3.5",
    "1e3",
    "nan",
    "inf",
    "x",
    ";",
    ":",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\n\n",
    "Smith 2010",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_SLEUTH_TOKENS), max_size=60))
def test_sleuth_reader_fails_only_with_input_error(tmp_path_factory, tokens):
    path = tmp_path_factory.mktemp("fuzz") / "f.txt"
    path.write_text("//Reference=MNI\n" + "".join(tokens))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ss = read_sleuth(path)
    except InputError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert ss.n_foci >= ss.n_experiments >= 1
        assert np.isfinite(ss.coordinates).all()
