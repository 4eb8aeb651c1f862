"""Shared utilities: seeds, validation, atomic outputs, provenance, the CLI shell."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from syntony import InputError, OutputExistsError, ParameterError, SyntonyError, __version__
from syntony._io_utils import atomic_path, prepare_output_dir, write_json, write_text
from syntony._provenance import provenance, provenance_json
from syntony._rng import check_random_state, seed_sequence, spawn_generators
from syntony._validate import check_array, check_choice, check_in_range, check_integer
from syntony.cli import app


def test_same_seed_same_stream_and_generators_pass_through():
    assert np.array_equal(check_random_state(7).random(5), check_random_state(7).random(5))
    rng = np.random.default_rng(1)
    assert check_random_state(rng) is rng


def test_spawned_streams_do_not_depend_on_how_many_are_spawned():
    first = [g.random(3) for g in spawn_generators(11, 2)]
    more = [g.random(3) for g in spawn_generators(11, 5)]
    assert np.array_equal(first[0], more[0]) and np.array_equal(first[1], more[1])
    assert not np.array_equal(more[0], more[1])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_seed_is_a_parameter_error(bad):
    with pytest.raises(ParameterError, match="seed"):
        seed_sequence(bad)


def test_validation_messages_name_the_field():
    with pytest.raises(ParameterError, match=r"agents\.kappa: expected a number in \(0, 1\]"):
        check_in_range("agents.kappa", 0.0, 0.0, 1.0, low_inclusive=False)
    with pytest.raises(ParameterError, match="steps: expected an integer >= 1"):
        check_integer("steps", 0, minimum=1)
    with pytest.raises(ParameterError, match="gain: expected one of 'seed', 'precision'"):
        check_choice("gain", "fast", ["seed", "precision"])
    with pytest.raises(ParameterError, match="finite values"):
        check_array("x", [1.0, np.nan])
    with pytest.raises(ParameterError, match=r"shape \(any, 3\)"):
        check_array("x", np.zeros((2, 2)), shape=(None, 3))


def test_input_error_names_source_line_and_field():
    err = InputError("expected a number", source="foci.txt", line=12, field="x")
    assert str(err) == "foci.txt:12 [x]: expected a number"
    assert isinstance(err, SyntonyError) and isinstance(err, ValueError)


def test_atomic_path_leaves_target_untouched_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_write_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"x": np.float32(1.5), "y": np.arange(2)})
    assert json.loads(target.read_text()) == {"x": 1.5, "y": [0, 1]}
    with pytest.raises(OutputExistsError):
        write_json(target, {}, force=False)


def test_prepare_output_dir_protects_existing_results(tmp_path):
    out = prepare_output_dir(tmp_path / "run")
    (out / "simulation.nc").write_text("x")
    with pytest.raises(OutputExistsError, match=r"simulation\.nc.*--force"):
        prepare_output_dir(out)
    assert prepare_output_dir(out, outputs=["other.nc"]) == out
    assert prepare_output_dir(out, force=True) == out


def test_provenance_records_version_seed_and_parameters():
    record = provenance(parameters={"a": 1}, seed=np.random.SeedSequence(5))
    assert record["version"] == __version__
    assert record["seed"]["entropy"] == 5
    assert json.loads(provenance_json(parameters={"b": np.int64(2)}))["parameters"] == {"b": 2}


def test_cli_version_and_help():
    runner = CliRunner()
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"syntony {__version__}"
    assert runner.invoke(app, ["--help"]).exit_code == 0
