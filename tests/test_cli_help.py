"""Every subcommand's --help ends with examples and says what it writes."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from syntony.cli import app


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("path", list(_commands(app)), ids=" ".join)
def test_help_ends_with_examples_and_names_what_it_writes(path):
    run = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert run.exit_code == 0, run.output
    text = run.output
    tail = text[text.rfind("Options:") :]
    assert "Examples:" in tail, f"syntony {' '.join(path)} --help does not end with examples"
    assert f"syntony {path[0]}" in tail
    assert "writ" in text.lower() or "prints" in text.lower(), "names no output"
