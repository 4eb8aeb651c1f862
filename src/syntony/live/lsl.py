"""Lab Streaming Layer access: loading pylsl with a chosen configuration, and stream identity.

liblsl reads its configuration once, the first time it is used, from the file named by the
``LSLAPICFG`` environment variable (or its default places). :func:`load_pylsl` sets that
variable (and, where the binding offers it, names the file directly) before pylsl is first
imported, so a session or a test can pin discovery to this machine: :data:`LOCAL_CONFIG` is
such a file — resolution scope ``machine``, the only known peer ``127.0.0.1``, IPv6 disabled,
multicast and listening on the loopback interface only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from syntony.errors import InputError, SyntonyError

__all__ = ["LOCAL_CONFIG", "LSLUnavailableError", "channel_labels", "load_pylsl", "stream_key"]

#: A liblsl configuration that keeps every packet on this machine (tests, benchmarks, demos).
LOCAL_CONFIG = Path(__file__).with_name("lsl_local.cfg")


class LSLUnavailableError(SyntonyError, RuntimeError):
    """pylsl (and the liblsl library it wraps) cannot be loaded."""


def load_pylsl(config: str | os.PathLike[str] | None = None) -> Any:
    """Import pylsl, first pointing liblsl at ``config`` when given.

    Raises
    ------
    InputError
        ``config`` does not exist, or pylsl was already loaded with another configuration (the
        library reads it only once per process).
    LSLUnavailableError
        pylsl or liblsl is missing.
    """
    if config is not None:
        path = Path(config).resolve()
        if not path.is_file():
            raise InputError("LSL configuration file not found", source=path)
        already = "pylsl" in sys.modules
        previous = os.environ.get("LSLAPICFG")
        if already and previous != str(path):
            raise InputError(
                "pylsl is already loaded in this process with another configuration "
                f"({previous or 'its defaults'}); start a new process",
                source=path,
            )
        os.environ["LSLAPICFG"] = str(path)
    try:
        import pylsl
    except (ImportError, RuntimeError, OSError) as exc:
        raise LSLUnavailableError(
            f"cannot load pylsl/liblsl ({exc}); install it with `pip install pylsl` "
            "(its wheels bundle liblsl)"
        ) from None
    return pylsl


def stream_key(info: Any) -> str:
    """What identifies a source across restarts: its source id, else its name and host."""
    source = info.source_id()
    return f"id:{source}" if source else f"name:{info.name()}@{info.hostname()}"


def channel_labels(info: Any) -> list[str]:
    """Person names of a stream's channels: the stream's name for one channel, otherwise the
    channel labels of its description (``<name>-<k>`` where a label is missing)."""
    n = info.channel_count()
    if n == 1:
        return [info.name()]
    try:
        labels = info.get_channel_labels() or []
    except Exception:  # an unusual description: fall back to numbered channels
        labels = []
    out = []
    for k in range(n):
        label = labels[k] if k < len(labels) else None
        out.append(str(label) if label else f"{info.name()}-{k + 1}")
    return out
