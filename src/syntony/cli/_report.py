"""``syntony report DIR``: render the report of any saved result again."""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._options import quiet_option


@click.command("report")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the page (default: DIR/report.html, replaced).",
)
@quiet_option
def report_command(directory: Path, output: Path | None, quiet: bool) -> None:
    """Render the HTML report of a result saved by any syntony command.

    \b
    Examples:
      syntony report ale/                  # rewrites ale/report.html
      syntony report fit/ --output fit.html

    Writes DIR/report.html (or --output) and prints the result's summary.
    """
    from syntony.report import REPORT, load_result

    result = load_result(directory)
    path = result.report().save(output or directory / REPORT)
    if not quiet:
        click.echo(result.summary())
        click.echo(f"report: {path}")


def register(app: click.Group) -> None:
    """Add this command to ``app``."""
    app.add_command(report_command)
