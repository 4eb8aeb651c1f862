"""Commands of this part (registered by :mod:`syntony.cli`)."""

from __future__ import annotations

import click


def register(app: click.Group) -> None:
    """Add this part's commands to ``app``."""
