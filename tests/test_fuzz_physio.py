"""Fuzzing the physio readers: any input is read, or refused with a one-line SyntonyError.

Readers fuzzed: BIDS physio data with its JSON sidecar, wide tables, long tables, edge lists
and stimulus tables (and ``read_recording``, which picks among them), plus ``syntony sync`` on
the command line. The contract: the reader returns, or raises a
:class:`~syntony.errors.SyntonyError` whose message is one non-empty line in the user's terms
(no numpy reprs, no pandas column placeholders), and it writes nothing. The number of inputs
tried per reader is printed at the end (and added to ``$SYNTONY_FUZZ_COUNTS`` when set).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syntony.errors import SyntonyError
from syntony.physio.io import (
    read_bids_physio,
    read_long,
    read_network,
    read_recording,
    read_stimulus,
    read_wide,
)

#: Generated inputs tried, per reader (reported at the end of each fuzz module).
TRIED: Counter[str] = Counter()
#: Of those, how many the reader refused (the rest were read).
REFUSED: Counter[str] = Counter()

LEAKS = ("np.float64", "np.str_", "np.int64", "np.bool_", "Unnamed: ", "Traceback")

#: Small, deterministic CI budget: a few hundred inputs per reader at most.
FUZZ = settings(
    max_examples=int(os.environ.get("SYNTONY_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    derandomize=os.environ.get("SYNTONY_FUZZ_RANDOM") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NUMBER_CELLS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.floats(-1e3, 1e3).map(lambda v: f"{v:.3f}"),
)
ODD_CELLS = st.sampled_from(
    ["", "n/a", "NA", "nan", "NaN", "null", "inf", "-inf", "1e400", "-", " ", "1,5", "0x10",
     '"', '"quoted"', "'", "#", "\\", "true", "\u00e9", "1.2.3", "--1", "+5", " 7 "]
)  # fmt: skip
CELLS = st.one_of(NUMBER_CELLS, ODD_CELLS, st.text(max_size=6))
FINITE = st.one_of(st.floats(-1e3, 1e3).map(lambda v: f"{v:.4g}"), st.integers(-50, 50).map(str))
PLAIN_NAMES = st.sampled_from(["A1", "B2", "AU807", "p_3", "x"])
NAMES = st.one_of(
    st.sampled_from(["time", "person", "value", "source", "target", "weight", "t", "", "A1"]),
    st.text(min_size=0, max_size=6),
)


def _coin(draw):
    """A uniform random source for *where* inputs go wrong (hypothesis draws *what* goes wrong;
    its own integers favour boundary values, which would make every input broken)."""
    return random.Random(draw(st.integers(0, 2**32 - 1)))


@st.composite
def table_text(draw, sep: str, header=NAMES, cells=CELLS, max_rows: int = 30) -> str:
    """A CSV/TSV text: a header, rows of mostly numbers, some ragged or odd."""
    n_cols = draw(st.integers(1, 5))
    head = [draw(header) for _ in range(n_cols)]
    rows = []
    for _ in range(draw(st.integers(0, max_rows))):
        width = n_cols if draw(st.integers(0, 9)) else draw(st.integers(0, n_cols + 2))
        rows.append([draw(cells) for _ in range(width)])
    lines = [sep.join(head), *(sep.join(r) for r in rows)]
    ending = draw(st.sampled_from(["\n", "\r\n", ""]))
    return "\n".join(lines) + ending


@st.composite
def regular_table(draw, sep: str, columns: list[str] | None = None, max_rows: int = 40) -> str:
    """A table that is nearly valid: a regular time column and numeric person columns, with
    the odd missing, non-numeric or out-of-order cell."""
    n = draw(st.integers(0, max_rows))
    pick = _coin(draw)
    dt = pick.choice([0.25, 1.0, 0.04] * 3 + [0.0, -1.0])
    start = pick.choice([0.0, -15.0, 0.0, 0.0, 1e9])
    names = columns or [
        "time",
        *draw(st.lists(st.one_of(PLAIN_NAMES, NAMES), min_size=1, max_size=4, unique=True)),
    ]
    coin = _coin(draw)
    odd = coin.choice([0.0, 0.0, 0.0, 0.02, 0.2])  # share of odd cells (often none)
    lines = [sep.join(names)]
    for k in range(n):
        cells = [repr(start + k * dt)]
        for _ in names[1:]:
            cells.append(draw(CELLS) if coin.random() < odd else draw(FINITE))
        if coin.random() < odd / 4:
            cells[0] = draw(CELLS)
        lines.append(sep.join(cells))
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per example (hypothesis cannot share pytest's tmp_path)."""
    with tempfile.TemporaryDirectory(prefix="syntony-fuzz-") as folder:
        yield Path(folder)


def check_contract(reader: str, folder: Path, call) -> object:
    """Run ``call()``: a result, or a SyntonyError with a one-line plain message; nothing
    written into ``folder`` either way."""
    TRIED[reader] += 1
    before = sorted(p.name for p in folder.iterdir())
    try:
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
        assert sorted(p.name for p in folder.iterdir()) == before, "the reader wrote files"


def report_counts(request, module: str) -> None:
    """Print the inputs tried per reader; with SYNTONY_FUZZ_COUNTS=FILE also add them to it."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    counts = {r: {"tried": TRIED[r], "refused": REFUSED[r]} for r in sorted(TRIED)}
    if reporter is not None:
        reporter.write_line("")
        for reader, c in counts.items():
            reporter.write_line(
                f"fuzz {module}: {reader}: {c['tried']} inputs tried, {c['refused']} refused"
            )
    target = os.environ.get("SYNTONY_FUZZ_COUNTS")
    if target:
        path = Path(target)
        stored = json.loads(path.read_text()) if path.exists() else {}
        stored.update(counts)
        path.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")


# --- the readers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _counts(request):
    yield
    report_counts(request, "physio")


def _any_table(sep: str, columns: list[str] | None = None):
    return st.one_of(
        regular_table(sep, columns),
        regular_table(sep, columns),
        regular_table(sep, columns),
        table_text(sep),
        st.text(max_size=60),
        st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    )


@FUZZ
@given(
    text=_any_table(","),
    tsv=st.booleans(),
    raw=st.binary(max_size=40),
    binary=st.sampled_from([False, False, False, True]),
)
def test_wide_tables(text, tsv, raw, binary):
    with scratch() as folder:
        path = folder / ("group.tsv" if tsv else "group.csv")
        if binary:
            path.write_bytes(raw)
        else:
            path.write_text(text.replace(",", "\t") if tsv else text, encoding="utf-8")
        ds = check_contract("wide table", folder, lambda: read_wide(path))
        if ds is not None:
            assert ds["signal"].dims == ("time", "person", "channel")
            assert np.isfinite(ds["time"].values).all() and ds.attrs["sampling_rate"] > 0
        check_contract("read_recording", folder, lambda: read_recording(path))


LONG_HEADS = [
    ["time", "person", "value"], ["time", "person", "value"], ["person", "time", "value"],
    ["time", "person", "value"], ["Time", "Person", "Value"], ["time", "person", "valeu"],
    ["person", "time", "value", "x"],
]  # fmt: skip


@st.composite
def long_text(draw) -> str:
    pick = _coin(draw)
    head = pick.choice(LONG_HEADS)
    persons = pick.sample(["a", "b", "c", "d"], pick.randint(1, 4))
    if pick.random() < 0.1:
        persons.append(pick.choice(["", "n/a", " a"]))
    persons = persons or ["a"]
    n = draw(st.integers(0, 25))
    coin = _coin(draw)
    dt = coin.choice([1.0, 0.5, 1.0, 0.0])
    odd = coin.choice([0.0, 0.0, 0.0, 0.02, 0.2])
    rows = []
    for k in range(n):
        for p in persons:
            if coin.random() >= odd:
                cells = {"time": repr(k * dt), "person": p, "value": draw(FINITE)}
            else:
                cells = {"time": draw(CELLS), "person": draw(CELLS), "value": draw(CELLS)}
            if coin.random() >= odd / 2:  # a sample without a row now and then
                rows.append(",".join(cells.get(h.lower(), draw(CELLS)) for h in head))
    if rows and coin.random() < 0.5:
        coin.shuffle(rows)
    return "\n".join([",".join(head), *rows]) + "\n"


LONG_OR_BROKEN = st.one_of(
    long_text(),
    long_text(),
    long_text(),
    table_text(",", header=st.sampled_from(["time", "person", "value"])),
)


@FUZZ
@given(text=LONG_OR_BROKEN)
def test_long_tables(text):
    with scratch() as folder:
        path = folder / "long.csv"
        path.write_text(text, encoding="utf-8")
        ds = check_contract("long table", folder, lambda: read_long(path))
        if ds is not None:
            assert ds.sizes["person"] >= 1 and np.isfinite(ds["time"].values).all()


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(10**20), 10**20),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)  # fmt: skip


@st.composite
def sidecar_text(draw, n_cols: int) -> str:
    """A sidecar for data with ``n_cols`` columns: usually right, now and then not."""
    coin = _coin(draw)
    good = {
        "SamplingFrequency": coin.choice([50, 25.0, 1] * 5 + [0, -5, 1e300]),
        "StartTime": coin.choice([0, -1.5, 2] * 4 + [1e15]),
        "Columns": [f"c{k}" for k in range(n_cols + (coin.random() < 0.1))],
    }
    meta = {}
    for key, value in good.items():
        choice = coin.random()
        if choice < 0.03:
            continue  # missing field
        if choice < 0.06:
            key = key.lower()
        meta[key] = draw(JSON_VALUES) if choice < 0.1 else value
    if coin.random() < 0.5:
        meta["c0"] = draw(st.one_of(st.fixed_dictionaries({"Units": st.text(max_size=4)}),
                                    JSON_VALUES))  # fmt: skip
    text = json.dumps(meta, allow_nan=True)
    if coin.random() < 0.05:
        text = coin.choice(["", "[1, 2]", "{", "null", '"x"', text[:-1]])
    return text


@st.composite
def bids_pair(draw) -> tuple[str, str]:
    """Headerless numeric rows (BIDS physio data), now and then with an odd cell or row, and
    their sidecar."""
    n_cols = draw(st.integers(1, 3))
    coin = _coin(draw)
    odd = coin.choice([0.0, 0.0, 0.0, 0.05])
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        width = n_cols if coin.random() >= odd else coin.randint(0, 4)
        rows.append([draw(CELLS) if coin.random() < odd else draw(FINITE)
                     for _ in range(width)])  # fmt: skip
    data = "\n".join("\t".join(r) for r in rows) + "\n"
    if coin.random() < 0.05:
        data = draw(table_text("\t", header=NUMBER_CELLS))
    return data, draw(sidecar_text(n_cols))


@FUZZ
@given(pair=bids_pair(), compress=st.sampled_from(["gz", "plain", "gz", "plain", "broken-gz"]))
def test_bids_physio_and_sidecar(pair, compress):
    data, sidecar = pair
    with scratch() as folder:
        stem = "sub-01_task-music_physio"
        if compress == "plain":
            path = folder / f"{stem}.tsv"
            path.write_text(data, encoding="utf-8")
        else:
            path = folder / f"{stem}.tsv.gz"
            blob = gzip.compress(data.encode("utf-8"))
            path.write_bytes(blob if compress == "gz" else blob[: len(blob) // 2])
        (folder / f"{stem}.json").write_text(sidecar, encoding="utf-8")
        ds = check_contract("BIDS physio + sidecar", folder, lambda: read_bids_physio(path))
        if ds is not None:
            assert ds.attrs["sampling_rate"] > 0 and ds.sizes["time"] >= 2


EDGE_HEADS = [
    ["source", "target"], ["source", "target", "weight"], ["source", "target", "weight"],
    ["target", "source"], ["source", "target"], ["sorce", "target"], ["target"],
    ["source", "target", "weight", "x"],
]  # fmt: skip
PERSON = st.one_of(st.sampled_from(["a", "b", "c", " b ", "d", "", "n/a"]), st.text(max_size=3))


@st.composite
def edge_text(draw) -> str:
    coin = _coin(draw)
    head = coin.choice(EDGE_HEADS)
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        if coin.random() < 0.9:
            a, b = coin.sample(["a", "b", "c"], 2)
            cells = {"source": a, "target": b, "weight": coin.choice(["1", "0.5", "2", "0"])}
        else:
            cells = {"source": draw(PERSON), "target": draw(PERSON), "weight": draw(CELLS)}
        rows.append(",".join(cells.get(h, draw(CELLS)) for h in head))
    return "\n".join([",".join(head), *rows]) + "\n"


@FUZZ
@given(text=st.one_of(edge_text(), edge_text(), edge_text(), table_text(",")))
def test_edge_lists(text):
    with scratch() as folder:
        path = folder / "edges.csv"
        path.write_text(text, encoding="utf-8")
        adj = check_contract("edge list", folder, lambda: read_network(path, ["a", "b", "c"]))
        if adj is not None:
            assert adj.shape == (3, 3) and np.isfinite(adj).all() and (adj >= 0).all()


TIMES = np.array([0.0, 0.25, 0.5])  # the recording's grid the stimulus must cover


@FUZZ
@given(text=_any_table(",", ["time", "u"]))
def test_stimulus_tables(text):
    with scratch() as folder:
        path = folder / "stimulus.csv"
        path.write_text(text, encoding="utf-8")
        u = check_contract("stimulus table", folder, lambda: read_stimulus(path, TIMES))
        if u is not None:
            assert u.shape == TIMES.shape and np.isfinite(u).all()


@settings(parent=FUZZ, max_examples=int(os.environ.get("SYNTONY_FUZZ_CLI_EXAMPLES", "25")))
@given(text=_any_table(","))
def test_sync_command_refuses_in_one_line_and_writes_nothing(text):
    """On the command line: a broken or unusable table is one error line and no output."""
    with scratch() as folder:
        path = folder / "group.csv"
        path.write_text(text, encoding="utf-8")
        out = folder / "out"
        TRIED["syntony sync (CLI)"] += 1
        res = CliRunner().invoke(
            app_cli(), ["sync", str(path), "--signal", "raw", "--out", str(out),
                        "--surrogates", "0", "-q"],
        )  # fmt: skip
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
        if res.exit_code == 0:
            assert (out / "result.json").exists()
            return
        REFUSED["syntony sync (CLI)"] += 1
        assert res.exit_code == 2, res.output
        lines = [line for line in res.output.splitlines() if line.startswith("syntony: error:")]
        assert len(lines) == 1, res.output
        for leak in LEAKS:
            assert leak not in res.output, res.output
        assert sorted(p.name for p in folder.iterdir()) == ["group.csv"], "output left behind"


def app_cli():
    from syntony.cli import app

    return app
