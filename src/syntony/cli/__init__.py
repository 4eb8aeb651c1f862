"""Command-line interface: thin wrappers that parse, call one public function and write outputs.

Each part of the package registers its commands from its own module; heavy imports happen
inside the commands so that ``syntony --version`` stays instant.
"""

from __future__ import annotations

import inspect

import click

from syntony.cli import _data, _demo, _live, _meta, _model, _physio, _report, _workflow
from syntony.cli._app import app

for _module in (_model, _meta, _workflow, _physio, _live, _data, _demo, _report):
    _module.register(app)


def _examples_last(command: click.Command) -> None:
    """Move a docstring's Examples paragraph to the epilog, so every --help ends with it."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _examples_last(sub)
        return
    text = command.help or ""
    at = text.find("\b\n    Examples:")
    if command.epilog is None and at >= 0:
        command.help = text[:at].rstrip()
        command.epilog = "\b\n" + inspect.cleandoc("\n" + text[at:].replace("\b\n", "", 1))


_examples_last(app)


def main() -> None:
    """Entry point of the ``syntony`` console script."""
    app()


__all__ = ["app", "main"]
