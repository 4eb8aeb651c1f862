"""Where in a scenario file a dotted key (``agents.kappa``, ``events[1].onset``) is written.

Errors about a scenario name the key; this module finds the line it is on so that the message
reads ``scenario.toml:12: agents.kapa: unknown key; did you mean 'kappa'?``. YAML keeps the
position of every node; for TOML (whose standard parser keeps none) the text is scanned for
table headers, arrays of tables, dotted keys and inline tables. A key that cannot be found
gives no line rather than a wrong one.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["key_path", "toml_line", "yaml_line"]

_INDEX = re.compile(r"\[(\d+)\]")


def key_path(dotted: str) -> list[str | int]:
    """``"events[1].onset"`` -> ``["events", 1, "onset"]``."""
    parts: list[str | int] = []
    for piece in dotted.split("."):
        name = _INDEX.split(piece)
        head, indices = name[0], name[1::2]
        if head:
            parts.append(head)
        parts.extend(int(i) for i in indices)
    return parts


def _strip_comment(line: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` inside a string is kept)."""
    quote = None
    for k, ch in enumerate(line):
        if quote:
            if ch == "\\" and quote == '"':
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:k]
    return line


def _split_key(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in text.split(".") if p.strip()]


def toml_line(text: str, dotted: str) -> int | None:
    """The line (1-based) where ``dotted`` is set in TOML ``text``, or None."""
    target = key_path(dotted)
    table: list[str | int] = []
    arrays: dict[tuple, int] = {}
    fallback = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if line.startswith("[[") and "]]" in line:
            name = tuple(_split_key(line[2 : line.index("]]")]))
            arrays[name] = arrays.get(name, -1) + 1
            table = [*_with_indices(list(name[:-1]), arrays), name[-1], arrays[name]]
            if table == target or table[:-1] == target:
                return number
            continue
        if line.startswith("[") and "]" in line:
            table = _with_indices(_split_key(line[1 : line.index("]")]), arrays)
            if table == target:
                return number
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        full = [*table, *_split_key(key)]
        if full == target:
            return number
        rest = target[len(full) :]
        if full == target[: len(full)] and rest:
            # An inline table or array on this line: ``agents = { n = 5, kapa = 1 }``.
            last = rest[-1]
            if isinstance(last, str) and re.search(rf"[{{,\s]{re.escape(last)}\s*=", value):
                return number
            fallback = fallback or number
    return fallback


def _with_indices(parts: list[str], arrays: dict[tuple, int]) -> list[str | int]:
    """A header's path with the current element of each array of tables it passes through."""
    out: list[str | int] = []
    for k, part in enumerate(parts):
        out.append(part)
        name = tuple(parts[: k + 1])
        if name in arrays and k < len(parts) - 1:
            out.append(arrays[name])
    return out


def yaml_line(text: str, dotted: str) -> int | None:
    """The line (1-based) of the key ``dotted`` in YAML ``text``, or None."""
    import yaml

    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in key_path(dotted):
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if getattr(key, "value", None) == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
