"""Running LSL code safely in tests: loopback-only configuration, private network namespace.

Every LSL test runs its streams in a child process whose ``LSLAPICFG`` names the configuration
shipped with syntony (resolution scope ``machine``, known peer ``127.0.0.1`` only, IPv6 off,
multicast and listening on loopback only). Where the system allows it (root, or unprivileged
user namespaces), the child also runs inside a new network namespace whose only interface is
loopback (``unshare -n``, then ``ip link set lo up``), so no packet can leave the machine even
if the configuration were ignored. Where it does not, the namespace is skipped — never the
configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _lsl_isolation import run_isolated

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def lsl_available():
    """Skip (outside CI) when pylsl cannot load; in CI its absence is a failure."""
    probe = run_isolated(["-c", "import pylsl; print(pylsl.library_version())"], timeout=60)
    if probe.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"pylsl/liblsl cannot load: {probe.stderr[-500:]}")
        pytest.skip("pylsl/liblsl not available")
    return True


@pytest.fixture(scope="session")
def lsl_scenario(tmp_path_factory, lsl_available):
    """``lsl_scenario(name) -> directory``: run a scenario of lsl_scenarios.py once per session."""
    done: dict[str, Path] = {}

    def run(name: str) -> Path:
        if name not in done:
            out = tmp_path_factory.mktemp(f"lsl-{name}")
            proc = run_isolated([str(HERE / "lsl_scenarios.py"), name, str(out)])
            assert proc.returncode == 0, f"scenario {name} failed:\n{proc.stderr[-3000:]}"
            done[name] = out
        return done[name]

    return run


@pytest.fixture(scope="session")
def local_browser():
    """Headless Chromium like the shared ``browser`` fixture (1280 px, Debian chromium and
    chromedriver, every host name resolving nowhere) except that 127.0.0.1 is reachable: the
    shared fixture's ``MAP * ~NOTFOUND`` rule also catches IP literals, so it cannot open the
    dashboard served on http://127.0.0.1:PORT."""
    chromium = os.environ.get("SYNTONY_CHROMIUM", "/usr/bin/chromium")
    driver_path = os.environ.get("SYNTONY_CHROMEDRIVER", "/usr/bin/chromedriver")
    if not (Path(chromium).exists() and Path(driver_path).exists()):
        if os.environ.get("CI"):
            pytest.fail(f"{chromium} or {driver_path} missing; .ci/run installs them")
        pytest.skip("Debian chromium and chromium-driver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
