"""Shared fixtures: the location of the real test data (../shared/data via SYNTONY_TEST_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")


def _shared_data_dir() -> Path | None:
    value = os.environ.get("SYNTONY_TEST_DATA")
    if value:
        return Path(value)
    candidate = Path(__file__).resolve().parents[2] / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real data for tests (../shared/data). In CI its absence is a failure."""
    path = _shared_data_dir()
    if path is None or not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail("SYNTONY_TEST_DATA is not set or does not exist; .ci/run sets it")
        pytest.skip("real test data not available (set SYNTONY_TEST_DATA)")
    return path
