"""Command-line interface: thin wrappers that parse, call one public function and write outputs.

Each part of the package registers its commands from its own module; heavy imports happen
inside the commands so that ``syntony --version`` stays instant.
"""

from __future__ import annotations

from syntony.cli import _data, _demo, _live, _meta, _model, _physio, _report, _workflow
from syntony.cli._app import app

for _module in (_model, _meta, _workflow, _physio, _live, _data, _demo, _report):
    _module.register(app)


def main() -> None:
    """Entry point of the ``syntony`` console script."""
    app()


__all__ = ["app", "main"]
