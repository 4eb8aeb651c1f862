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
        try:
            return super().invoke(ctx)
        except SyntonyError as exc:
            raise UserError(str(exc)) from None


def _version() -> str:
    from syntony import __version__

    return __version__


@click.group(cls=SyntonyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=_version(), prog_name="syntony", message="%(prog)s %(version)s")
def app() -> None:
    """Emotional contagion: simulate the interoceptive-inference model, measure
    physiological synchrony, and run ALE meta-analyses."""


force_option = click.option("--force", is_flag=True, help="Replace existing outputs in --out.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars or summaries.")
seed_option = click.option(
    "--seed", type=click.IntRange(min=0), default=None, help="Seed for reproducible results."
)


def null_option(default: str):
    """``--null``: how the analytic ALE null is computed (see syntony.meta.null)."""
    return click.option(
        "--null",
        "null",
        type=click.Choice(["exact", "fft", "auto"]),
        default=default,
        show_default=True,
        help="Analytic null: exact (NiMARE's histogram binning), fft (log-space convolution, "
        "seconds for thousands of experiments) or auto (exact up to 500 experiments).",
    )


def cluster_threshold_option(default: str):
    """``--cluster-threshold``: how the cluster-forming ALE is found (syntony.meta.threshold)."""
    return click.option(
        "--cluster-threshold",
        "cluster_threshold",
        type=click.Choice(["analytic", "monte-carlo"]),
        default=default,
        show_default=True,
        help="Cluster-forming ALE from the analytic null (NiMARE, GingerALE) or from "
        "min(100, Monte Carlo iterations) null maps (calibrated when experiments report many "
        "overlapping foci, as database articles do).",
    )


def cluster_threshold_rule(name: str, n_iters: int):
    """The threshold object for a ``--cluster-threshold`` choice."""
    from syntony.meta.threshold import AnalyticThreshold, MonteCarloThreshold

    if name == "monte-carlo":
        return MonteCarloThreshold(max(1, min(100, n_iters)))
    return AnalyticThreshold()


def atlas_labeller(atlas: str):
    """Cluster-peak labeller for an ``--atlas`` choice (None for 'none')."""
    if atlas.lower() == "none":
        return None
    from syntony.errors import ParameterError
    from syntony.meta.atlas import available_atlases, label_coordinates

    if atlas not in available_atlases():
        raise ParameterError("--atlas", f"one of {available_atlases()} or 'none'", atlas)
    return lambda xyz: label_coordinates(xyz, atlas=atlas)
