"""Running a child process with LSL confined to this machine (see conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

from syntony.live.lsl import LOCAL_CONFIG


@cache
def namespace_prefix() -> list[str]:
    """The command prefix that runs a child in a loopback-only network namespace, or []."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not (unshare and ip):
        return []
    for prefix in ([unshare, "-n"], [unshare, "-rn"]):
        probe = subprocess.run(
            [*prefix, "sh", "-c", f"{ip} link set lo up && {ip} -o addr"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if probe.returncode == 0:
            return prefix
    return []


def lsl_env(config: Path = LOCAL_CONFIG) -> dict[str, str]:
    env = {**os.environ, "LSLAPICFG": str(config)}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_isolated(
    args: list[str], *, timeout: float = 240, config: Path = LOCAL_CONFIG
) -> subprocess.CompletedProcess:
    """Run ``python args...`` with the loopback-only LSL configuration, in a private network
    namespace when possible."""
    python = [sys.executable, *args]
    prefix = namespace_prefix()
    if prefix:
        ip = shutil.which("ip")
        quoted = " ".join(_quote(a) for a in python)
        command = [*prefix, "sh", "-c", f"{ip} link set lo up && exec {quoted}"]
    else:
        command = python
    return subprocess.run(
        command, env=lsl_env(config), capture_output=True, text=True, timeout=timeout
    )


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
