"""``syntony fetch``: download and verify the open coordinate databases."""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._app import quiet_option


@click.command(
    "fetch",
    epilog="""\b
Examples:
  syntony fetch neuroquery                 # into $SYNTONY_DATA_DIR (or the user cache)
  syntony fetch neurosynth --path ~/data/neurosynth   # verify a copy you already have

Writes the database's files into the cache (nothing with --path) and prints where they are.""",
)
@click.argument("database", type=click.Choice(["neuroquery", "neurosynth"]))
@click.option(
    "--path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Verify an existing local copy instead of downloading.",
)
@quiet_option
def fetch_command(database: str, path: Path | None, quiet: bool) -> None:
    """Download DATABASE into the cache ($SYNTONY_DATA_DIR) and verify every file's SHA-256."""
    from syntony import datasets

    source = {"neuroquery": datasets.NEUROQUERY, "neurosynth": datasets.NEUROSYNTH}[database]
    folder = datasets.fetch(source, path, progress=not quiet)
    if not quiet:
        click.echo(f"{database}: {len(source.files)} files verified in {folder}")


def register(app: click.Group) -> None:
    """Add ``fetch`` to ``app``."""
    app.add_command(fetch_command)
