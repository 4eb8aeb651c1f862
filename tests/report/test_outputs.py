"""Output directories: checked before any work, locked while a run writes, never half-written."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from syntony._io_utils import output_lock, staged_directory
from syntony.cli._app import SyntonyGroup
from syntony.cli._options import force_option, out_option
from syntony.errors import OutputExistsError


def test_a_second_run_into_the_same_directory_is_refused(tmp_path):
    out = tmp_path / "out"
    with output_lock(out):
        with pytest.raises(OutputExistsError, match="another syntony run is writing here"):
            with output_lock(out):
                pass
    assert list(tmp_path.iterdir()) == []  # the lock file goes with the run
    with output_lock(out):  # and the directory can be claimed again
        pass


def _command(calls: list[str]) -> click.Group:
    @click.group(cls=SyntonyGroup)
    def group() -> None:
        pass

    @group.command("work")
    @out_option
    @force_option
    def work(out_dir, force):
        calls.append("ran")
        # the directory stays claimed while the command runs
        with pytest.raises(OutputExistsError):
            with output_lock(out_dir):
                pass
        with staged_directory(out_dir, force=force) as tmp:
            (tmp / "a.txt").write_text("new")

    return group


def test_existing_results_are_refused_before_any_work(tmp_path):
    calls: list[str] = []
    group = _command(calls)
    out = tmp_path / "out"
    assert CliRunner().invoke(group, ["work", "--out", str(out)]).exit_code == 0
    run = CliRunner().invoke(group, ["work", "--out", str(out)])
    assert run.exit_code == 2
    assert "already holds results (a.txt); use --force" in run.output
    assert len(run.output.strip().splitlines()) == 1
    assert calls == ["ran"]  # refused at parse time, the work never started
    # --force is honoured whatever its position on the command line
    assert CliRunner().invoke(group, ["work", "--out", str(out), "--force"]).exit_code == 0
    assert calls == ["ran", "ran"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_messages_speak_the_users_terms():
    import warnings

    import numpy as np

    from syntony.errors import ParameterError

    message = str(ParameterError("sample_size", "a positive number", np.float64(104.963)))
    assert message == "sample_size: expected a positive number, got 104.963"
    assert "np.str_" not in str(ParameterError("id", "a known experiment", np.str_("AU807")))

    @click.group(cls=SyntonyGroup)
    def group() -> None:
        pass

    @group.command("warn")
    def warn() -> None:
        warnings.warn("3 foci outside the mask were dropped", UserWarning, stacklevel=1)

    run = CliRunner().invoke(group, ["warn"])
    assert run.exit_code == 0
    assert run.output.strip() == "syntony: warning: 3 foci outside the mask were dropped"
