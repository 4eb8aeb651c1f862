"""Progress bars for the physio analyses (rich, on stderr, gone when done)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = ["Advance", "Progress", "progress_bars"]

#: Called with the number of items just finished.
Advance = Callable[[int], None]
#: ``progress(label, total) -> advance``: what the analyses accept instead of ``True``.
Progress = Callable[[str, int], Advance]


@contextlib.contextmanager
def progress_bars(show: bool | Progress | None) -> Iterator[Callable[[str, int], Advance | None]]:
    """Yield ``task(label, total) -> advance or None``.

    ``show`` is False/None (no display), True (rich bars on stderr) or a callable of the same
    shape as ``task`` (for a notebook widget or a log).
    """
    if not show:
        yield lambda label, total: None
        return
    if callable(show):
        yield show
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )

    def task(label: str, total: int) -> Advance:
        task_id = bar.add_task(label, total=total)
        return lambda n: bar.advance(task_id, n)

    with bar:
        yield task
