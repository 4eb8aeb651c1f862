"""Commands of the model part: ``syntony scenarios``, ``syntony simulate`` and ``syntony sweep``.

Each parses its options, makes one library call (:func:`syntony.model.simulate`,
:func:`syntony.model.sweep`) and hands the result to :func:`~syntony.cli._options.finish`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from syntony.cli._options import (
    checkpointed,
    finish,
    force_option,
    out_option,
    quiet_option,
    resume_option,
    scheduler_options,
    seed_option,
)

set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario parameter by dotted key, e.g. agents.n=500 (repeatable).",
)


@click.command("scenarios")
def scenarios_command() -> None:
    """List the built-in scenarios (use them as builtin:NAME), one per line.

    Each line holds the full name, the model it runs and its description; names are never
    shortened, whatever the width of the terminal. Writes no files.

    \b
    Examples:
      syntony scenarios
      syntony simulate builtin:concert_crowd --out crowd/
    """
    from syntony.model.scenario import Scenario, builtin_names

    rows = []
    for name in builtin_names():
        scenario = Scenario.builtin(name)
        rows.append((f"builtin:{name}", scenario.model, scenario.description))
    width = max(len(r[0]) for r in rows)
    model_width = max(len(r[1]) for r in rows)
    for name, model, description in rows:
        click.echo(f"{name:<{width}}  {model:<{model_width}}  {description}".rstrip())


def _resolve(scenario: str, overrides: tuple[str, ...]):
    from syntony.model.scenario import Scenario

    resolved = Scenario.load(scenario)
    return resolved.with_overrides(list(overrides)) if overrides else resolved


@contextlib.contextmanager
def _progress(show: bool, total: int, unit: str) -> Iterator[Callable[[int], None] | None]:
    if not show:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("running"), BarColumn(), TextColumn(f"{{task.completed}}/{{task.total}} {unit}"),
        TimeRemainingColumn(), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("run", total=total)
        yield lambda done: bar.update(task, completed=done)


@click.command("simulate")
@click.argument("scenario")
@out_option
@set_option
@seed_option
@force_option
@quiet_option
def simulate_command(
    scenario: str,
    out_dir: Path,
    overrides: tuple[str, ...],
    seed: int | None,
    force: bool,
    quiet: bool,
) -> None:
    """Simulate SCENARIO (a TOML/YAML file or builtin:NAME; see `syntony scenarios`).

    Writes into --out: simulation.nc (the run as NetCDF), scenario.toml (the resolved
    scenario, which reruns it), summary.tsv (the run in numbers), result.json and
    report.html (figures, tables and methods; `syntony report DIR` redraws it).

    \b
    Examples:
      syntony simulate builtin:concert_crowd --out crowd/ --seed 1
      syntony simulate my_scenario.toml --out run/ --set agents.n=500 --set network.kind=ring
    """
    from syntony.model.simulate import simulate

    resolved = _resolve(scenario, overrides)
    loop = resolved.model == "agents"
    with _progress(not quiet and loop, resolved.simulation.steps, "steps") as tick:
        result = simulate(resolved, seed=seed, progress=tick)
    finish(result, out_dir, force=force, quiet=quiet)


@click.command("sweep")
@click.argument("scenario")
@click.option(
    "--grid",
    "grid",
    multiple=True,
    required=True,
    metavar="KEY=V1,V2,...",
    help="A parameter and the values to run it at (repeatable; the grid is their product).",
)
@click.option(
    "--replicates",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Runs per grid point, each with its own seed stream.",
)
@click.option(
    "--jobs",
    "n_jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (the numbers do not depend on it).",
)
@out_option
@set_option
@seed_option
@force_option
@resume_option
@scheduler_options
@quiet_option
def sweep_command(
    scenario: str,
    grid: tuple[str, ...],
    replicates: int,
    n_jobs: int,
    out_dir: Path,
    overrides: tuple[str, ...],
    seed: int | None,
    force: bool,
    resume: bool,
    scheduler: str | None,
    dask_local: int | None,
    quiet: bool,
) -> None:
    """Run SCENARIO over a grid of parameter values, with replicates.

    Each run is one task: on --jobs local processes, or on a Dask cluster (--scheduler
    ADDRESS, $SYNTONY_SCHEDULER, or --dask-local N), with the same numbers. Runs are written to
    a Zarr store as they finish, so a sweep larger than memory works and --resume continues it.

    Writes into --out: sweep.zarr (the summaries over time and each run's summaries, one
    dimension per swept key and one for the replicate), runs.tsv (each run's summaries against the swept values),
    points.tsv (their mean and range per grid point), scenario.toml (the base scenario),
    result.json and report.html.

    \b
    Examples:
      syntony sweep builtin:concert_crowd --grid perception.rho0=0,0.3,0.6 --replicates 3 --out rho/
      syntony sweep builtin:trauma --grid trauma.fraction=0,0.2,0.4 --grid agents.n=50,100 --out t/
      syntony sweep builtin:concert_crowd --grid agents.kappa=0.5,1,2 --dask-local 2 --out k/
      (after an interruption, the same command with --resume continues it)
    """
    from syntony.model._config import parse_grid
    from syntony.model.sweep import sweep

    resolved = _resolve(scenario, overrides)
    parsed = dict(parse_grid(item) for item in grid)
    total = replicates
    for values in parsed.values():
        total *= len(values)
    key = {"scenario": resolved.to_dict(), "grid": parsed, "replicates": replicates}
    with checkpointed(out_dir, "sweep", key, seed=seed, resume=resume, force=force) as (
        checkpoint,
        run_seed,
    ):
        from syntony.execution import executor_from_options

        with (
            executor_from_options(scheduler, dask_local, n_jobs=n_jobs, kind="processes") as pool,
            _progress(not quiet, total, "runs") as tick,
        ):
            result = sweep(
                resolved,
                parsed,
                replicates=replicates,
                seed=run_seed,
                executor=pool,
                progress=tick,
                store=checkpoint.directory / "sweep.zarr",
            )
            finish(result, out_dir, force=force, quiet=quiet)


def register(app: click.Group) -> None:
    """Add this part's commands to ``app``."""
    app.add_command(scenarios_command)
    app.add_command(simulate_command)
    app.add_command(sweep_command)
