"""The click command group and the error handling shared by every command."""

from __future__ import annotations

from typing import Any

import click

from syntony.errors import SyntonyError


class UserError(click.ClickException):
    """A user mistake, shown as one line on stderr with exit code 2 and no traceback."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"syntony: error: {self.format_message()}", err=True)


class SyntonyGroup(click.Group):
    """Turn :class:`SyntonyError` raised by any command into a :class:`UserError`."""

    def invoke(self, ctx: click.Context) -> Any:
        import warnings

        with warnings.catch_warnings():
            # A warning is for the user: say it in one line, without our file and line number.
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except SyntonyError as exc:
                raise UserError(str(exc)) from None


def _show_warning(message: Any, category: type, filename: str, lineno: int, *args: Any) -> None:
    text = " ".join(str(message).split())
    click.echo(f"syntony: warning: {text}", err=True)


def _version() -> str:
    from syntony import __version__

    return __version__


@click.group(cls=SyntonyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=_version(), prog_name="syntony", message="%(prog)s %(version)s")
def app() -> None:
    """Emotional contagion: simulate the interoceptive-inference model, measure
    physiological synchrony, and run ALE meta-analyses."""


# The options every command shares live in syntony.cli._options; re-exported for old imports.
from syntony.cli._options import (  # noqa: E402
    cluster_threshold_option,
    force_option,
    null_option,
    quiet_option,
    seed_option,
)

__all__ = [
    "SyntonyGroup",
    "UserError",
    "app",
    "cluster_threshold_option",
    "force_option",
    "null_option",
    "quiet_option",
    "seed_option",
]
