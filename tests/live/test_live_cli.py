"""The live commands' options and errors (no streams needed)."""

from __future__ import annotations

from click.testing import CliRunner

from syntony.cli import app


def test_help_names_examples_and_files():
    runner = CliRunner()
    live = runner.invoke(app, ["live", "--help"])
    assert live.exit_code == 0
    assert "Examples:" in live.output and "recording.tsv" in live.output
    for command in (["stream", "replay", "--help"], ["stream", "simulate", "--help"]):
        res = runner.invoke(app, command)
        assert res.exit_code == 0 and "Examples:" in res.output


def test_resume_without_a_session_is_one_line_error(tmp_path):
    res = CliRunner().invoke(app, ["live", "--out", str(tmp_path / "none"), "--resume"])
    assert res.exit_code == 2
    assert "no live session to resume" in res.output
    assert "Traceback" not in res.output


def test_existing_output_needs_force(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "old.txt").write_text("x")
    res = CliRunner().invoke(app, ["live", "--out", str(tmp_path / "s"), "--no-dashboard"])
    assert res.exit_code == 2 and "--force" in res.output


def test_local_only_and_a_config_file_conflict(tmp_path):
    cfg = tmp_path / "lsl.cfg"
    cfg.write_text("[ports]\nIPv6 = disable\n")
    res = CliRunner().invoke(
        app,
        ["stream", "replay", str(cfg), "--local-only", "--lsl-config", str(cfg)],
    )
    assert res.exit_code == 2


def test_bad_absent_spec_is_refused(tmp_path):
    table = tmp_path / "g.csv"
    table.write_text("time,a,b\n0,1,2\n0.04,2,3\n0.08,3,4\n")
    res = CliRunner().invoke(app, ["stream", "replay", str(table), "--absent", "a:9-1"])
    assert res.exit_code == 2 and "PERSON:START-STOP" in res.output
