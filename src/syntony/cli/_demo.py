"""``syntony demo``: the three parts of the package on real data, one report per part."""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._options import force_option, out_option, quiet_option

_EPILOG = """\b
Examples:
  syntony demo --out demo-output
  syntony demo --out demo-output --force --only concert --only predictions
  SYNTONY_NEUROQUERY_DIR=~/neuroquery syntony demo --out demo-output --force

\b
Writes into --out: index.html (links every part), demo.json, and one folder per
part (concert-*, audience-*, ale-*, conjunction, contrast, macm-*, scenario-*,
predictions), each holding its result's files, result.json and report.html.
"""


@click.command("demo", epilog=_EPILOG)
@out_option
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Root seed; every part draws from its own named stream of it.",
)
@click.option(
    "--n-iters",
    type=click.IntRange(min=2),
    default=500,
    show_default=True,
    help="Monte Carlo iterations of each ALE's FWE correction (and MACM's).",
)
@click.option(
    "--only",
    multiple=True,
    metavar="PREFIX",
    help="Run only the parts whose folder starts with PREFIX (repeatable), e.g. concert.",
)
@click.option(
    "--neuroquery",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="NeuroQuery folder for MACM (default: $SYNTONY_NEUROQUERY_DIR or the cache; "
    "without it MACM is skipped).",
)
@force_option
@quiet_option
def demo_command(
    out_dir: Path,
    seed: int,
    n_iters: int,
    only: tuple[str, ...],
    neuroquery: Path | None,
    force: bool,
    quiet: bool,
) -> None:
    """Analyse two live-concert audiences, a simulated audience with known coupling, three
    ALE meta-analyses (pain; mimicry vs contagion from NeuroQuery, with conjunction, contrast
    and MACM), a simulated scenario and the predictions P1-P7; no network needed."""
    from dataclasses import replace

    from syntony.demo import DemoSettings, run_demo

    run_demo(
        out_dir,
        seed=seed,
        settings=replace(DemoSettings(), n_iters=n_iters),
        neuroquery=neuroquery,
        only=list(only) or None,
        force=force,
        log=None if quiet else click.echo,
    )


def register(app: click.Group) -> None:
    """Add ``demo`` to ``app``."""
    app.add_command(demo_command)
