"""Commands of the model part: ``syntony scenarios`` and ``syntony simulate``."""

from __future__ import annotations

from pathlib import Path

import click

from syntony.cli._app import force_option, quiet_option, seed_option

OUTPUTS = ("simulation.nc", "scenario.toml")


@click.command("scenarios")
def scenarios_command() -> None:
    """List the built-in scenarios (use them as builtin:NAME)."""
    from rich.console import Console
    from rich.table import Table

    from syntony.model.scenario import Scenario, builtin_names

    table = Table(title="Built-in scenarios", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("model")
    table.add_column("description")
    for name in builtin_names():
        scenario = Scenario.builtin(name)
        table.add_row(f"builtin:{name}", scenario.model, scenario.description)
    Console().print(table)


@click.command("simulate")
@click.argument("scenario")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a parameter by dotted key (repeatable).",
)
@seed_option
@force_option
@quiet_option
def simulate_command(
    scenario: str, out: Path, overrides: tuple[str, ...], seed: int | None, force: bool, quiet: bool
) -> None:
    """Simulate SCENARIO (a TOML/YAML file or builtin:NAME) and write DIR/simulation.nc,
    DIR/scenario.toml (the resolved scenario) and PNG figures."""
    from syntony._io_utils import atomic_path, prepare_output_dir, write_text
    from syntony.model.plots import plot_figures
    from syntony.model.scenario import Scenario
    from syntony.model.simulate import simulate

    resolved = Scenario.load(scenario)
    if overrides:
        resolved = resolved.with_overrides(list(overrides))
    figures_expected = {"dyad": ["dyad.png"], "crowd_filter": ["crowd_filter.png"]}.get(
        resolved.model, ["agents.png", "summaries.png", "defensive.png"]
    )
    directory = prepare_output_dir(out, force=force, outputs=[*OUTPUTS, *figures_expected])

    steps = resolved.simulation.steps
    if quiet or resolved.model != "agents":
        ds = simulate(resolved, seed=seed)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("simulating"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
            TimeRemainingColumn(), transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task("simulate", total=steps)
            ds = simulate(
                resolved, seed=seed, progress=lambda done: bar.update(task, completed=done)
            )

    with atomic_path(directory / "simulation.nc", force=True) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    write_text(directory / "scenario.toml", resolved.to_toml(), force=True)
    for stem, fig in plot_figures(ds).items():
        with atomic_path(directory / f"{stem}.png", force=True) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    if not quiet:
        click.echo(
            f"wrote {directory / 'simulation.nc'}, scenario.toml and {len(figures_expected)} figure(s)"
        )
        if resolved.model == "agents":
            conv = ", ".join(
                f"{c}: {t:.1f} s" if t == t else f"{c}: not reached"
                for c, t in zip(ds["channel"].values, ds["convergence_time"].values, strict=True)
            )
            click.echo(
                f"final synchrony R = {float(ds['synchrony'].values[-1].mean()):.3f}; convergence time {conv}"
            )


def register(app: click.Group) -> None:
    """Add this part's commands to ``app``."""
    app.add_command(scenarios_command)
    app.add_command(simulate_command)
