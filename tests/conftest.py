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


# --- real-browser checks of HTML reports ------------------------------------------------------
# Debian's chromium and chromium-driver (installed by .ci/run); Selenium never downloads a driver.
CHROMIUM = os.environ.get("SYNTONY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SYNTONY_CHROMEDRIVER", "/usr/bin/chromedriver")
VIEWPORT = (1280, 900)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium at 1280 px wide, with no network (every host name resolves nowhere)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} missing; .ci/run installs them")
        pytest.skip("Debian chromium and chromium-driver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


_PAGE_STATE = """
document.querySelectorAll('details').forEach(d => { d.open = true; });
const bad = Array.from(document.images)
  .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src.slice(0, 60));
const tables = Array.from(document.querySelectorAll('table[data-rows]')).map(t => ({
  name: t.getAttribute('data-name'),
  header: Array.from(t.querySelectorAll('thead th')).map(th => th.textContent),
  rows: Array.from(t.querySelectorAll('tbody tr')).map(
    tr => Array.from(tr.querySelectorAll('td')).map(td => td.getAttribute('data-value')))
}));
return {
  broken: bad, n_images: document.images.length, tables: tables,
  scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
  title: document.title
};
"""


def _check_report(driver, path, *, screenshot=None):
    """Open a report; assert no console error, every image loaded, no sideways scroll.

    Returns the page state: ``tables`` (name, header, rows of ``data-value`` strings),
    ``n_images`` and ``title``.
    """
    import time

    driver.get_log("browser")  # drop what an earlier page left
    driver.get(Path(path).resolve().as_uri())
    deadline = time.monotonic() + 30
    while driver.execute_script("return document.readyState") != "complete":
        assert time.monotonic() < deadline, f"{path}: page never finished loading"
        time.sleep(0.1)
    time.sleep(0.3)  # let iframes and late scripts report their errors
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, f"{path}: console errors: {errors[:3]}"
    state = driver.execute_script(_PAGE_STATE)
    assert not state["broken"], f"{path}: images not loaded: {state['broken']}"
    assert state["scroll"] <= state["client"], (
        f"{path}: scrolls sideways at {VIEWPORT[0]} px ({state['scroll']} > {state['client']})"
    )
    shots = os.environ.get("SYNTONY_SCREENSHOTS")
    if screenshot is None and shots:
        # `SYNTONY_SCREENSHOTS=docs/images pytest -k browser` refreshes the docs' screenshots.
        slug = "".join(c if c.isalnum() else "-" for c in state["title"].lower()).strip("-")
        screenshot = Path(shots) / f"report-{slug or 'page'}.png"
    if screenshot is not None:
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(VIEWPORT[0], min(int(height), 4000))
        driver.save_screenshot(str(screenshot))
        driver.set_window_size(*VIEWPORT)
    return state


@pytest.fixture(scope="session")
def check_report(browser):
    """``check_report(path) -> page state``: the real-browser checks every report must pass."""
    return lambda path, **kw: _check_report(browser, path, **kw)


# --- a real Dask cluster for the execution-layer tests ----------------------------------------
@pytest.fixture(scope="session")
def dask_cluster():
    """A ``DaskExecutor`` on a 2-process ``distributed.LocalCluster`` bound to 127.0.0.1.

    One per test process: starting a cluster costs seconds, and every test that compares a Dask
    run with a serial one can share it (tasks carry their own seed streams, so nothing leaks).
    """
    pytest.importorskip("distributed")
    from syntony.execution import DaskExecutor

    with DaskExecutor(n_local_workers=2) as executor:
        yield executor
