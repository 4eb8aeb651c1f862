"""Fuzzing the meta readers: any input is read, or refused with a one-line SyntonyError.

Readers fuzzed: Sleuth / GingerALE text, NiMARE Dataset JSON, foci tables (CSV and TSV), the
NeuroQuery and Neurosynth database folders (metadata, coordinates, vocabulary, term counts,
topic weights and keys), ``read_studyset`` (which picks among them by the file), database
SPECs, and ``syntony ale`` on the command line. The contract: the reader returns a valid
studyset (or database), or raises a :class:`~syntony.errors.SyntonyError` whose message is one
non-empty line in the user's terms, and it writes nothing. The number of inputs tried per
reader is printed at the end (and added to ``$SYNTONY_FUZZ_COUNTS`` when set).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import random
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

from syntony.errors import SyntonyError
from syntony.meta.databases import load_database, load_neuroquery, load_neurosynth
from syntony.meta.readers import read_csv, read_nimare_json, read_sleuth, read_studyset
from syntony.meta.reference import ReferenceDatabase
from syntony.meta.specs import Databases, parse_spec, resolve_spec
from syntony.meta.studyset import Studyset

#: Generated inputs tried, per reader (reported at the end of the module).
TRIED: Counter[str] = Counter()
#: Of those, how many the reader refused (the rest were read).
REFUSED: Counter[str] = Counter()

LEAKS = ("np.float64", "np.str_", "np.int64", "np.bool_", "Unnamed: ", "Traceback", "<class")

#: Small, deterministic CI budget: at most a few hundred inputs per reader.
EXAMPLES = int(os.environ.get("SYNTONY_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("SYNTONY_FUZZ_RANDOM") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Cells that are never a finite number (what a broken input puts where a number belongs).
NOT_NUMBERS = ["", "n/a", "NA", "nan", "NaN", "inf", "-inf", "1e400", "-", "1,5", "0x10",
               "--1", "1.2.3", "abc", "\u00e9", "#", '"', "null", "true"]  # fmt: skip
ODD = st.one_of(
    st.sampled_from([*NOT_NUMBERS, " ", "+5", " 7 ", "0", "-0", "1e-320", "3.", ".5"]),
    st.text(max_size=6),
)
NUMBERS = st.one_of(
    st.integers(-90, 90).map(str),
    st.floats(-100, 100).map(lambda v: f"{v:.3f}"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
CELLS = st.one_of(NUMBERS, NUMBERS, ODD)


def _coin(draw) -> random.Random:
    """A uniform random source for *where* inputs go wrong (hypothesis draws *what* goes wrong;
    its own integers favour boundary values, which would make every input broken)."""
    return random.Random(draw(st.integers(0, 2**32 - 1)))


def _count(coin: random.Random, odd: float, most: int) -> int:
    """How many items: usually 1..most, none now and then (more often in odd inputs)."""
    return 0 if coin.random() < 0.02 + odd / 4 else coin.randint(1, most)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per example (hypothesis cannot share pytest's tmp_path)."""
    with tempfile.TemporaryDirectory(prefix="syntony-fuzz-meta-") as folder:
        yield Path(folder)


def check_contract(reader: str, folder: Path, call) -> object:
    """Run ``call()``: a result, or a SyntonyError with a one-line plain message; nothing
    written into ``folder`` either way."""
    TRIED[reader] += 1
    before = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except SyntonyError as exc:
        REFUSED[reader] += 1
        message = str(exc)
        assert message.strip(), f"{type(exc).__name__} without a message"
        assert "\n" not in message.strip(), message
        for leak in LEAKS:
            assert leak not in message, message
        return None
    finally:
        after = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
        assert after == before, "the reader wrote files"


def check_studyset(ss: Studyset | None) -> None:
    """What every studyset a reader returns satisfies."""
    if ss is None:
        return
    assert ss.n_experiments >= 1 and ss.n_foci >= ss.n_experiments
    assert np.isfinite(ss.coordinates).all()
    assert (ss.sample_sizes > 0).all() and np.isfinite(ss.sample_sizes).all()
    assert np.bincount(ss.focus_experiment, minlength=ss.n_experiments).min() >= 1
    assert all(isinstance(n, str) and n.strip() for n in ss.notes)


@pytest.fixture(scope="module", autouse=True)
def _counts(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    counts = {r: {"tried": TRIED[r], "refused": REFUSED[r]} for r in sorted(TRIED)}
    if reporter is not None:
        reporter.write_line("")
        for reader, c in counts.items():
            reporter.write_line(
                f"fuzz meta: {reader}: {c['tried']} inputs tried, {c['refused']} refused"
            )
    target = os.environ.get("SYNTONY_FUZZ_COUNTS")
    if target:
        path = Path(target)
        stored = json.loads(path.read_text()) if path.exists() else {}
        stored.update(counts)
        path.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")


def _write(path: Path, text: str, how: str) -> None:
    if how == "utf-8":
        path.write_text(text, encoding="utf-8", newline="")
    elif how == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    else:  # a Windows export: cp1252 where it can be, else bytes that are not UTF-8
        path.write_bytes(text.encode("cp1252", errors="replace"))


# -- Sleuth text ------------------------------------------------------------------------------------
@st.composite
def sleuth_text(draw) -> str:
    """A Sleuth file that is nearly valid: a Reference line, blocks of names, a Subjects line and
    foci, with now and then an odd cell, a missing line, a wrong field count or junk."""
    coin = _coin(draw)
    odd = coin.choice([0.0, 0.0, 0.03, 0.15, 0.4])
    lines = []
    if coin.random() > odd / 2:
        lines.append("// Reference=" + draw(st.sampled_from(
            ["MNI", "Talairach", "TAL", "mni152_2mm", "SPM", ""])))  # fmt: skip
    for _ in range(_count(coin, odd, 5)):
        names = draw(st.lists(st.sampled_from(
            ["Smith et al., 2010: faces > shapes", "Doe 2001; a", "x", "Ünal 2015", "", "a:b",
             "Reference=MNI", "Subjects=3"]), min_size=0, max_size=2))  # fmt: skip
        lines += [f"// {n}" for n in names]
        if coin.random() > odd / 2:
            n = draw(st.integers(1, 60).map(str)) if coin.random() > odd else draw(CELLS)
            lines.append(f"// Subjects={n}")
        for _ in range(_count(coin, odd, 5)):
            cells = [draw(st.integers(-90, 90).map(str)) for _ in range(3)]
            if coin.random() < odd:
                cells[coin.randrange(3)] = draw(CELLS)
            if coin.random() < odd / 3:
                cells = cells[: coin.randrange(4)] + [draw(CELLS)] * coin.randrange(2)
            lines.append(coin.choice(["\t", " ", "  "]).join(cells))
        if coin.random() < 0.5:
            lines.append("")
        if coin.random() < odd / 4:
            lines.insert(coin.randrange(len(lines) + 1), draw(st.text(max_size=12)))
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)


@FUZZ
@given(text=st.one_of(sleuth_text(), sleuth_text(), sleuth_text(), st.text(max_size=80)),
       how=st.sampled_from(["utf-8", "utf-8", "bom", "cp1252"]))  # fmt: skip
def test_sleuth_text(text, how):
    with scratch() as folder:
        path = folder / "studies.txt"
        _write(path, text, how)
        check_studyset(check_contract("Sleuth text", folder, lambda: read_sleuth(path)))
        if text.lstrip().startswith("//"):
            check_studyset(check_contract("read_studyset", folder, lambda: read_studyset(path)))


# -- NiMARE JSON --------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
              st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)  # fmt: skip


@st.composite
def nimare_document(draw) -> object:
    """A NiMARE dataset that is nearly valid: studies of contrasts with coords and metadata,
    and now and then a value replaced by any JSON value or a key left out."""
    coin = _coin(draw)
    odd = coin.choice([0.0, 0.0, 0.05, 0.2, 0.5])

    def maybe(value):
        return draw(JSON_VALUES) if coin.random() < odd else value

    doc = {}
    for s in range(_count(coin, odd, 3)):
        contrasts = {}
        for c in range(_count(coin, odd, 3)):
            n = _count(coin, odd, 4)
            space = coin.choice(["MNI", "TAL", "ale_2mm"]) if coin.random() > odd else "SPM"
            coords = {"space": maybe(space)}
            for axis in "xyz":
                coords[axis] = maybe([maybe(draw(st.floats(-80, 80))) for _ in range(n)])
            exp = {"coords": maybe(coords)}
            if coin.random() > odd:
                sizes = [maybe(draw(st.integers(1, 50))) for _ in range(_count(coin, odd, 2))]
                exp["metadata"] = maybe({"sample_sizes": maybe(sizes)})
            if coin.random() < odd:
                exp.pop("coords")
            contrasts[maybe_key(draw, coin, odd, f"c{c}")] = maybe(exp)
        doc[maybe_key(draw, coin, odd, f"study{s}")] = maybe({"contrasts": maybe(contrasts)})
    return maybe(doc)


def maybe_key(draw, coin, odd, key):
    return draw(st.text(max_size=4)) if coin.random() < odd else key


@FUZZ
@given(doc=st.one_of(nimare_document(), nimare_document(), nimare_document(), JSON_VALUES),
       kind=st.sampled_from(["json"] * 6 + ["text", "bytes"]), text=st.text(max_size=40),
       raw=st.binary(max_size=40), default_n=st.sampled_from([None, 20.0]))  # fmt: skip
def test_nimare_json(doc, kind, text, raw, default_n):
    with scratch() as folder:
        path = folder / "dataset.json"
        if kind == "json":
            path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
        elif kind == "bytes":
            path.write_bytes(raw)
        else:
            path.write_text(text, encoding="utf-8")
        ss = check_contract(
            "NiMARE JSON", folder, lambda: read_nimare_json(path, default_n=default_n)
        )
        check_studyset(ss)
        check_studyset(check_contract(
            "read_studyset", folder, lambda: read_studyset(path, default_n=default_n)))  # fmt: skip


# -- foci tables ----------------------------------------------------------------------------------
HEADERS = ["experiment", "id", "x", "y", "z", "sample_size", "n", "space", "study", "peak_z",
           "X", " y ", "", "subjects"]  # fmt: skip


@st.composite
def foci_table(draw, sep: str) -> str:
    """A table of foci that is nearly valid, with the odd column name, cell or row length."""
    coin = _coin(draw)
    odd = coin.choice([0.0, 0.0, 0.03, 0.15, 0.4])
    header = ["experiment", "sample_size", "x", "y", "z"]
    if coin.random() < 0.3:
        header.append(coin.choice(["space", "study", "peak_z"]))
    if coin.random() < odd:
        header[coin.randrange(len(header))] = draw(st.sampled_from(HEADERS))
    coin.shuffle(header)
    rows = [sep.join(header)]
    experiments = draw(st.lists(st.sampled_from(["a", "b", "c", "Smith 2010", ""]), min_size=0,
                                max_size=12))  # fmt: skip
    sizes = {e: str(coin.randrange(5, 40)) for e in experiments}
    for e in experiments:
        cells = {
            "experiment": e,
            "id": e,
            "sample_size": sizes[e],
            "n": sizes[e],
            "space": coin.choice(["MNI", "TAL", "Talairach"]),
            "study": e,
            "peak_z": f"{coin.uniform(2, 6):.2f}",
        }
        row = [cells.get(h, str(coin.randrange(-80, 80))) for h in header]
        for k in range(len(row)):
            if coin.random() < odd / 3:
                row[k] = draw(CELLS)
        if coin.random() < odd / 4:
            row = row[: coin.randrange(len(row) + 1)] + [draw(CELLS)] * coin.randrange(2)
        rows.append(sep.join(row))
    if coin.random() < 0.2:
        rows.insert(coin.randrange(1, len(rows) + 1), "")
    return draw(st.sampled_from(["\n", "\r\n"])).join(rows) + draw(st.sampled_from(["\n", ""]))


@FUZZ
@given(text=st.one_of(foci_table(","), foci_table(","), foci_table(","), st.text(max_size=60)),
       default_n=st.sampled_from([None, 20.0]), space=st.sampled_from([None, "TAL", "bad"]),
       how=st.sampled_from(["utf-8", "utf-8", "bom", "cp1252"]))  # fmt: skip
def test_csv_tables(text, default_n, space, how):
    with scratch() as folder:
        path = folder / "foci.csv"
        _write(path, text, how)
        ss = check_contract(
            "foci CSV", folder, lambda: read_csv(path, default_n=default_n, space=space)
        )
        check_studyset(ss)


@FUZZ
@given(text=st.one_of(foci_table("\t"), foci_table("\t"), foci_table("\t"), st.text(max_size=60)),
       default_n=st.sampled_from([None, 20.0]), gz=st.booleans())  # fmt: skip
def test_tsv_tables(text, default_n, gz):
    with scratch() as folder:
        path = folder / ("foci.tsv.gz" if gz else "foci.tsv")
        if gz:
            path.write_bytes(gzip.compress(text.encode("utf-8")))
        else:
            path.write_text(text, encoding="utf-8")
        check_studyset(
            check_contract("foci TSV", folder, lambda: read_csv(path, default_n=default_n))
        )
        check_studyset(check_contract(
            "read_studyset", folder, lambda: read_studyset(path, default_n=default_n)))  # fmt: skip


@FUZZ
@given(raw=st.binary(max_size=80), name=st.sampled_from(
    ["a.txt", "a.json", "a.csv", "a.tsv", "a.tsv.gz", "a", "a.nii.gz"]))  # fmt: skip
def test_read_studyset_on_any_bytes(raw, name):
    with scratch() as folder:
        path = folder / name
        path.write_bytes(raw)
        check_studyset(check_contract(
            "read_studyset", folder, lambda: read_studyset(path, default_n=20)))  # fmt: skip


# -- NeuroQuery and Neurosynth folders ------------------------------------------------------------
def _gz_table(frame_text: str, coin: random.Random) -> bytes:
    data = gzip.compress(frame_text.encode("utf-8"))
    if coin.random() < 0.05:
        return data[: coin.randrange(len(data))]  # a truncated download
    if coin.random() < 0.03:
        return frame_text.encode("utf-8")  # not compressed
    return data


def _npz(matrix, coin: random.Random) -> bytes:
    stream = io.BytesIO()
    sparse.save_npz(stream, sparse.csr_matrix(matrix))
    data = stream.getvalue()
    if coin.random() < 0.05:
        return data[: coin.randrange(len(data))]
    return data


@st.composite
def database_folder(draw, kind: str) -> dict[str, bytes]:
    """The files of a small NeuroQuery or Neurosynth release, nearly valid."""
    coin = _coin(draw)
    odd = coin.choice([0.0, 0.0, 0.05, 0.2, 0.5])

    def cell(value: str) -> str:
        return draw(CELLS) if coin.random() < odd / 3 else value

    n = draw(st.integers(0, 6))
    ids = [cell(str(1000 + k)) for k in range(n)]
    if n and coin.random() < odd / 2:
        ids[-1] = ids[0]  # a repeated id
    prefix = f"data-{kind}_version-{'1' if kind == 'neuroquery' else '7'}_"
    files: dict[str, bytes] = {}
    if kind == "neuroquery":
        meta = ["id\ttitle", *(f"{i}\t{cell('a title')}" for i in ids)]
    else:
        meta = ["id\tdoi\tspace\ttitle\tauthors\tyear\tjournal", *(
            f"{i}\t10.1/x\t{cell(coin.choice(['MNI', 'TAL', 'UNKNOWN', '']))}\tt\ta\t"
            f"{cell(str(coin.randrange(1990, 2020)))}\tj" for i in ids)]  # fmt: skip
    files[prefix + "metadata.tsv.gz"] = _gz_table("\n".join(meta) + "\n", coin)
    peaks = ["id\tx\ty\tz"]
    for i in ids:
        for _ in range(coin.randrange(0, 4)):
            who = cell(i) if coin.random() > odd / 4 else "999999"
            xyz = [cell(str(coin.randrange(-70, 70))) for _ in range(3)]
            peaks.append("\t".join([who, *xyz]))
    files[prefix + "coordinates.tsv.gz"] = _gz_table("\n".join(peaks) + "\n", coin)
    shape_rows = n if coin.random() > odd / 2 else n + 1
    if kind == "neuroquery":
        vocab = ["empathy", "imitation", "pain"][: coin.randrange(1, 4)]
        files[prefix + "vocab-neuroquery7547_vocabulary.txt"] = (
            "\n".join(vocab).encode() if coin.random() > odd / 4 else b"\xff\xfe\x00bad"
        )
        for src in ("abstract", "title", "keywords"):
            if coin.random() < odd / 4:
                continue  # a file missing
            matrix = np.array(
                [[coin.randrange(0, 3) for _ in vocab] for _ in range(shape_rows)]
            ).reshape(shape_rows, len(vocab))
            files[f"{prefix}vocab-neuroquery7547_source-{src}_type-count_features.npz"] = _npz(
                matrix, coin
            )
    elif coin.random() < 0.7:
        topics = [f"topic{k:03d}" for k in range(coin.randrange(1, 4))]
        lda = prefix + "vocab-LDA50_"
        files[lda + "vocabulary.txt"] = "\n".join(topics).encode()
        weights = np.array(
            [[round(coin.random(), 2) for _ in topics] for _ in range(shape_rows)]
        ).reshape(shape_rows, len(topics))
        files[lda + "source-abstract_type-weight_features.npz"] = _npz(weights, coin)
        if coin.random() < 0.7:
            keys = [f"{k}\t{cell('0.5')}\t{cell('pain heat')}" for k in range(len(topics))]
            if coin.random() < odd:
                keys.append(draw(st.text(max_size=10)))
            files[lda + "keys.tsv"] = "\n".join(keys).encode("utf-8")
        if coin.random() < 0.5:
            files[lda + "metadata.json"] = (
                json.dumps({"n_topics": len(topics)}).encode()
                if coin.random() > odd
                else draw(
                    st.one_of(
                        st.binary(max_size=20), JSON_VALUES.map(lambda v: json.dumps(v).encode())
                    )
                )
            )
    if coin.random() < odd / 4:
        victim = coin.choice(sorted(files))
        files[victim] = draw(st.binary(max_size=30))
    return files


def _database_contract(files: dict[str, bytes], reader: str, load) -> None:
    with scratch() as folder:
        db_dir = folder / "db"
        db_dir.mkdir()
        for name, data in files.items():
            (db_dir / name).write_bytes(data)
        db = check_contract(reader, folder, lambda: load(db_dir))
        if db is None:
            return
        assert isinstance(db, ReferenceDatabase)
        assert np.isfinite(db.coordinates).all() and (db.peaks_per_article >= 1).all()
        ss = check_contract(reader, folder, lambda: db.studyset(default_n=20))
        check_studyset(ss)
        assert ss is not None or db.n_articles == 0
        check_contract("read_studyset", folder, lambda: read_studyset(db_dir, default_n=20))


@FUZZ
@given(files=database_folder("neuroquery"))
def test_neuroquery_folders(files):
    _database_contract(files, "NeuroQuery folder", load_neuroquery)


@FUZZ
@given(files=database_folder("neurosynth"),
       unknown=st.sampled_from(["MNI", "TAL", "exclude"]))  # fmt: skip
def test_neurosynth_folders(files, unknown):
    _database_contract(
        files, "Neurosynth folder", lambda d: load_neurosynth(d, unknown_space=unknown)
    )
    _database_contract(files, "load_database", load_database)


# -- database SPECs ---------------------------------------------------------------------------------
def _spec_database() -> ReferenceDatabase:
    counts = sparse.csr_matrix(np.array([[2, 0], [1, 1], [0, 3]]))
    return ReferenceDatabase(
        name="neuroquery",
        metadata=pd.DataFrame(
            {"title": ["Imitation", "faces", "Empathy"], "space": "MNI"},
            index=pd.Index(["1", "2", "3"]),
        ),
        coordinates=np.array([[0.0, 0, 0], [4, 4, 4], [8, 8, 8]]),
        peak_article=np.array([0, 1, 2]),
        term_counts={"abstract": counts, "title": counts, "keywords": counts},
        vocabulary=pd.Index(["empathy", "imitation"]),
    )


SPEC_PARTS = st.sampled_from(
    [
        "terms=empathy",
        "terms=imitation,empathy",
        "title=imit",
        "title=(",
        "not_terms=empathy",
        "min_count=2",
        "min_count=x",
        "min_count=0",
        "match=all",
        "match=some",
        "sources=abstract",
        "sources=nope",
        "ids=1,2",
        "ids=9",
        "topics=1",
        "min_weight=-1",
        "foo=bar",
        "terms=",
        "=x",
        "terms",
        " ",
        "not_title=faces",
    ]
)


@FUZZ
@given(parts=st.lists(st.one_of(SPEC_PARTS, st.text(max_size=8)), max_size=4),
       head=st.sampled_from(["neuroquery:", "NeuroQuery :", "neurosynth:", "file.txt", ""]),
       default_n=st.sampled_from([None, 20.0]))  # fmt: skip
def test_database_specs(parts, head, default_n):
    text = head + ";".join(parts)
    dbs = Databases(loader=lambda name, path: _spec_database())
    with scratch() as folder:
        spec = check_contract("SPEC", folder, lambda: parse_spec(text))
        if spec is None or isinstance(spec, Path):
            return
        ss = check_contract(
            "SPEC", folder, lambda: resolve_spec(text, default_n=default_n, databases=dbs)
        )
        check_studyset(ss)


# -- syntony ale on the command line ----------------------------------------------------------------
VALID_SLEUTH = "// Reference=MNI\n// A 2001: x\n// Subjects=12\n10\t20\t30\n-4\t8\t2\n\n" \
               "// B 2002: y\n// Subjects=9\n40\t-20\t10\n"  # fmt: skip
VALID_CSV = "experiment,sample_size,x,y,z\na,12,10,20,30\na,12,-4,8,2\nb,9,40,-20,10\n"


@st.composite
def broken_input(draw) -> tuple[str, str]:
    """A small valid file with one number replaced by something that is not a finite number."""
    name, text = draw(st.sampled_from([("studies.txt", VALID_SLEUTH), ("foci.csv", VALID_CSV),
                                       ("d.json", None)]))  # fmt: skip
    bad = draw(st.sampled_from(NOT_NUMBERS))
    if text is None:
        coords = {"space": "MNI", "x": [10.0, -4.0], "y": [20.0, 8.0], "z": [30.0, 2.0]}
        doc = {"A": {"contrasts": {"c": {"coords": coords, "metadata": {"sample_sizes": [12]}}}},
               "B": {"contrasts": {"c": {"coords": dict(coords),
                                         "metadata": {"sample_sizes": [9]}}}}}  # fmt: skip
        axis = draw(st.sampled_from("xyz"))
        doc["B"]["contrasts"]["c"]["coords"][axis] = [10.0, bad]
        return name, json.dumps(doc)
    numbers = [k for k, line in enumerate(text.split("\n")) if line and line[0] in "-0123456789ab"]
    lines = text.split("\n")
    k = draw(st.sampled_from(numbers))
    sep = "," if name.endswith(".csv") else "\t"
    cells = lines[k].split(sep)
    numeric = [j for j, c in enumerate(cells) if c.lstrip("-").isdigit()]
    cells[draw(st.sampled_from(numeric))] = bad
    lines[k] = sep.join(cells)
    return name, "\n".join(lines)


@settings(FUZZ, max_examples=min(EXAMPLES, 40))
@given(case=broken_input())
def test_ale_command_refuses_in_one_line_and_writes_nothing(case):
    from syntony.cli import app

    name, text = case
    with scratch() as folder:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        out = folder / "out"
        TRIED["syntony ale (CLI)"] += 1
        res = CliRunner().invoke(
            app, ["ale", str(path), "--out", str(out), "--n-iters", "0", "--atlas", "none", "-q"]
        )
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
        REFUSED["syntony ale (CLI)"] += 1
        assert res.exit_code == 2, res.output
        lines = [line for line in res.output.splitlines() if line.startswith("syntony: error:")]
        assert len(lines) == 1, res.output
        for leak in LEAKS:
            assert leak not in res.output, res.output
        assert sorted(p.name for p in folder.iterdir()) == [name], "output left behind"
