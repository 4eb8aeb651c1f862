"""Fuzzing the scenario readers (TOML and YAML): any file is read, or refused in one line.

Inputs are scenario trees built from the real schema with wrong keys, types and values mixed in,
written as TOML or YAML, and the shipped scenarios with their text mutated. The contract:
:meth:`Scenario.from_file` returns a scenario (which round-trips through TOML), or raises a
:class:`~syntony.errors.SyntonyError` whose message is one line in the user's terms; it writes
nothing. The number of inputs tried per reader is printed at the end (and added to
``$SYNTONY_FUZZ_COUNTS`` when set).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import tempfile
import typing
from collections import Counter
from pathlib import Path

import pytest
import tomli_w
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syntony.errors import SyntonyError
from syntony.model.scenario import Scenario, builtin_names

TRIED: Counter[str] = Counter()
REFUSED: Counter[str] = Counter()
LEAKS = ("np.float64", "np.str_", "np.int64", "np.bool_", "Traceback")

FUZZ = settings(
    max_examples=int(os.environ.get("SYNTONY_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    derandomize=os.environ.get("SYNTONY_FUZZ_RANDOM") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def _counts(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    counts = {r: {"tried": TRIED[r], "refused": REFUSED[r]} for r in sorted(TRIED)}
    if reporter is not None:
        reporter.write_line("")
        for reader, c in counts.items():
            reporter.write_line(
                f"fuzz model: {reader}: {c['tried']} inputs tried, {c['refused']} refused"
            )
    target = os.environ.get("SYNTONY_FUZZ_COUNTS")
    if target:
        path = Path(target)
        stored = json.loads(path.read_text()) if path.exists() else {}
        stored.update(counts)
        path.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")


def _read(reader: str, text: str, suffix: str) -> Scenario | None:
    """The contract: a scenario, or a one-line SyntonyError; no file written."""
    TRIED[reader] += 1
    with tempfile.TemporaryDirectory(prefix="syntony-fuzz-") as folder:
        path = Path(folder) / f"scenario{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            scenario = Scenario.from_file(path)
        except SyntonyError as exc:
            REFUSED[reader] += 1
            message = str(exc)
            assert message.strip() and "\n" not in message.strip(), message
            assert message.startswith(str(path)), message  # the file is named
            for leak in LEAKS:
                assert leak not in message, message
            return None
        finally:
            assert [p.name for p in Path(folder).iterdir()] == [path.name], "files written"
    # What is accepted is a valid, finite scenario that writes itself back unchanged.
    assert Scenario.from_toml(scenario.to_toml()) == scenario
    return scenario


# --- scenario trees from the schema --------------------------------------------------------------


def _schema(cls) -> dict[str, typing.Any]:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if dataclasses.is_dataclass(hint):
            out[f.name] = _schema(hint)
        elif typing.get_origin(hint) is tuple and dataclasses.is_dataclass(inner[0]):
            out[f.name] = [_schema(inner[0])]
        else:
            out[f.name] = hint
    return out


SCHEMA = _schema(Scenario)
SCALARS = st.one_of(
    st.integers(-5, 200),
    st.floats(-2.0, 3.0),
    st.sampled_from([0, 1, 0.5, -1, 1e308, 10**30, True, False, "", "ring", "precision"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-3, 30), max_size=3),
)


def _misspell(coin: random.Random, key: str) -> str:
    if len(key) < 2:
        return key + "x"
    k = coin.randrange(len(key))
    return coin.choice([key[:k] + key[k + 1 :], key[:k] + key[k] + key[k:], key.upper()])


@st.composite
def scenario_tree(draw, schema=None, depth: int = 0) -> dict:
    """A dict shaped like a scenario: mostly real keys with mostly sensible values."""
    schema = schema or SCHEMA
    coin = random.Random(draw(st.integers(0, 2**32 - 1)))
    out: dict = {}
    for key in coin.sample(sorted(schema), coin.randint(0, min(5, len(schema)))):
        kind = schema[key]
        name = _misspell(coin, key) if coin.random() < 0.08 else key
        if isinstance(kind, dict) and depth < 2:
            out[name] = draw(scenario_tree(kind, depth + 1))
        elif isinstance(kind, list) and depth < 2:
            out[name] = [draw(scenario_tree(kind[0], depth + 1)) for _ in range(coin.randint(0, 2))]
        elif coin.random() < 0.7 and kind in (int, float):
            out[name] = coin.choice([0, 1, 2, 5, 10]) if kind is int else coin.random()
        else:
            out[name] = draw(SCALARS)
    if coin.random() < 0.1:
        out[draw(st.text(min_size=1, max_size=5))] = draw(SCALARS)
    return out


def _toml(tree: dict) -> str | None:
    try:
        return tomli_w.dumps(tree)
    except (TypeError, ValueError):  # e.g. a key TOML cannot hold
        return None


@FUZZ
@given(tree=scenario_tree())
def test_scenario_toml_from_the_schema(tree):
    text = _toml(tree)
    if text is not None:
        _read("scenario TOML", text, ".toml")


@FUZZ
@given(tree=scenario_tree())
def test_scenario_yaml_from_the_schema(tree):
    _read("scenario YAML", yaml.safe_dump(tree, sort_keys=False, allow_unicode=True), ".yaml")


# --- the shipped scenarios with their text mutated -------------------------------------------------

SHIPPED = {name: Scenario.builtin(name) for name in builtin_names()}
EDITS = st.sampled_from(["drop", "duplicate", "insert", "replace", "truncate", "swap"])
JUNK = st.one_of(
    st.sampled_from(
        ["[agents", "[[events]]", "= 1", "kappa = ", "n = 1e999", "x = nan", "}", "{", "&a [*a]",
         "a: &x [*x]", "- -", "\t", "'''", '"""', "!!python/object:os.system", "? [1]: 2",
         "agents: {n: .inf}", "dt = -0.0", "steps = 9999999999999999999999", "kind = 3"]
    ),
    st.text(max_size=12),
)  # fmt: skip


@st.composite
def mutated(draw, fmt: str) -> str:
    scenario = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))]
    text = scenario.to_toml() if fmt == "toml" else scenario.to_yaml()
    lines = text.splitlines()
    coin = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(coin.randint(1, 3)):
        edit = draw(EDITS)
        k = coin.randrange(len(lines)) if lines else 0
        if edit == "drop" and lines:
            del lines[k]
        elif edit == "duplicate" and lines:
            lines.insert(k, lines[k])
        elif edit == "insert":
            lines.insert(k, draw(JUNK))
        elif edit == "replace" and lines:
            head = lines[k].split("=")[0] if fmt == "toml" else lines[k].split(":")[0]
            sep = " = " if fmt == "toml" else ": "
            lines[k] = head + sep + draw(JUNK)
        elif edit == "truncate" and lines:
            lines[k] = lines[k][: coin.randrange(len(lines[k]) + 1)]
        elif edit == "swap" and len(lines) > 1:
            j = coin.randrange(len(lines))
            lines[k], lines[j] = lines[j], lines[k]
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=mutated("toml"))
def test_shipped_scenarios_mutated_as_toml(text):
    _read("scenario TOML", text, ".toml")


@FUZZ
@given(text=mutated("yaml"))
def test_shipped_scenarios_mutated_as_yaml(text):
    _read("scenario YAML", text, ".yaml")


def test_self_referencing_yaml_is_refused_not_a_recursion_error():
    assert _read("scenario YAML", "agents: &a\n  n: *a\n", ".yaml") is None
    assert _read("scenario YAML", "events: &e [*e]\n", ".yaml") is None


def test_non_finite_numbers_are_refused():
    for text in ("[agents]\nx0 = nan\n", "[network]\nkind = 'edges'\nedges = [[0, inf]]\n"):
        assert _read("scenario TOML", text, ".toml") is None
    assert math.isnan(float("nan"))  # (the values above are TOML's own nan and inf)
