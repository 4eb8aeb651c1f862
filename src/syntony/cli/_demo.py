"""``syntony demo``: the three parts of the package on one page."""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._app import force_option, quiet_option


@click.command("demo")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (index.html and one folder per part).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--n-iters",
    type=click.IntRange(min=2),
    default=1000,
    show_default=True,
    help="Monte Carlo iterations of the ALE FWE correction.",
)
@force_option
@quiet_option
def demo_command(out: Path, seed: int, n_iters: int, force: bool, quiet: bool) -> None:
    """Simulate a concert crowd, measure synchrony and fit the coupling in a simulated
    audience, and run an ALE meta-analysis of 21 pain experiments; write DIR/index.html."""
    from syntony.demo import run_demo

    run_demo(
        out, seed=seed, n_iters=n_iters, force=force, log=(lambda _: None) if quiet else click.echo
    )


def register(app: click.Group) -> None:
    """Add ``demo`` to ``app``."""
    app.add_command(demo_command)
