"""Typed, validated configuration trees: frozen dataclasses <-> nested dicts (TOML/YAML).

Field checks live in each field's metadata; :func:`build` walks a dataclass's fields, rejects
unknown keys and wrong types, runs the checks, and names any offending value by its dotted key
(``agents.kappa``, ``events[1].onset``). :func:`apply_overrides` sets dotted keys in a dict.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import tomllib
import typing
from dataclasses import field
from typing import Any

from syntony._validate import (
    check_choice,
    check_in_range,
    check_integer,
    check_nonnegative,
    check_positive,
)
from syntony.errors import ParameterError

__all__ = [
    "UnknownKeyError",
    "apply_overrides",
    "build",
    "field_with_check",
    "located",
    "parse_grid",
    "parse_override",
    "plain",
]


# ----------------------------------------------------------------------------- field helpers


def _pos(name: str, v: Any) -> None:
    check_positive(name, v)


def _nonneg(name: str, v: Any) -> None:
    check_nonnegative(name, v)


def _prob(name: str, v: Any) -> None:
    check_in_range(name, v, 0.0, 1.0)


def _open_unit(name: str, v: Any) -> None:
    check_in_range(name, v, 0.0, 1.0, low_inclusive=False)


def _corr(name: str, v: Any) -> None:
    check_in_range(name, v, -1.0, 1.0)


def _open_corr(name: str, v: Any) -> None:
    check_in_range(name, v, -1.0, 1.0, low_inclusive=False, high_inclusive=False)


def _int_min(minimum: int) -> Any:
    def check(name: str, v: Any) -> None:
        check_integer(name, v, minimum=minimum)

    return check


def _choice(*options: str) -> Any:
    def check(name: str, v: Any) -> None:
        check_choice(name, v, options)

    return check


def field_with_check(default: Any, check: Any = None) -> Any:
    """A dataclass field with a default and a check ``check(dotted_name, value)``."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for defaults")
    return field(default=default, metadata={"check": check})


# ----------------------------------------------------------------------------- errors


class UnknownKeyError(ParameterError):
    """A key the scenario does not have; the message suggests the closest known one.

    ``name`` is the dotted key (``agents.kapa``), ``known`` the keys of its table.
    """

    def __init__(self, name: str, key: str, known: list[str]) -> None:
        import difflib

        self.name, self.expected, self.value = name, "a known key", "unknown key"
        self.key, self.known = key, list(known)
        close = difflib.get_close_matches(key, self.known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        section = name.rsplit(".", 1)[0] if "." in name else None
        where = f" in [{section}]" if section else ""
        ValueError.__init__(
            self, f"{name}: unknown key{hint} (known keys{where}: {', '.join(self.known)})"
        )


def located(exc: ParameterError, where: str) -> ParameterError:
    """The same error (same class and fields) with ``where`` (``file:line``) in front."""
    new = ParameterError.__new__(type(exc))
    new.__dict__.update(exc.__dict__)
    ValueError.__init__(new, f"{where}: {exc}")
    return new


# ----------------------------------------------------------------------------- generic (de)serialisation


def _type_name(hint: Any) -> str:
    if hint is float:
        return "a number"
    if hint is int:
        return "an integer"
    if hint is bool:
        return "true or false"
    if hint is str:
        return "a string"
    return "a list" if typing.get_origin(hint) is tuple else "a table"


def _convert(hint: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if (
        origin in (typing.Union, getattr(__import__("types"), "UnionType", None))
        and type(None) in args
    ):
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, name)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, name)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParameterError(name, "a list", value)
        inner = args[0]
        return tuple(_convert(inner, item, f"{name}[{i}]") for i, item in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ParameterError(name, "true or false", value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ParameterError(name, "an integer", value)
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterError(name, "a number", value)
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            raise ParameterError(name, "a finite number", value) from None
        if not math.isfinite(number):
            raise ParameterError(name, "a finite number", value)
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ParameterError(name, "a string", value)
        return value
    raise TypeError(f"unsupported field type {hint!r}")  # pragma: no cover - programming error


def build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix or "scenario"
    if not isinstance(data, dict):
        raise ParameterError(where, "a table of keys", data)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            text = str(key)
            # A key with spaces, line breaks or other odd characters is shown quoted.
            shown = text if text.isidentifier() else repr(text)
            dotted = f"{prefix}.{shown}" if prefix else shown
            raise UnknownKeyError(dotted, text, list(fields))
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            continue
        dotted = f"{prefix}.{name}" if prefix else name
        value = _convert(hints[name], data[name], dotted)
        check = f.metadata.get("check")
        if check is not None and value is not None:
            check(dotted, value)
        kwargs[name] = value
    return cls(**kwargs)


def plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {
            f.name: plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if getattr(obj, f.name) is not None
        }
    if isinstance(obj, tuple):
        return [plain(item) for item in obj]
    return obj


# ----------------------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value``; the value is read as a TOML value (``2``, ``0.5``, ``true``,
    ``[1, 2]``, ``"text"``), or kept as a bare string if it is not valid TOML."""
    if "=" not in text:
        raise ParameterError("--set", "key=value", text)
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    if not key:
        raise ParameterError("--set", "key=value with a non-empty key", text)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def parse_grid(text: str) -> tuple[str, list[Any]]:
    """Split ``key=v1,v2,...`` into the key and its list of values (each read as in
    :func:`parse_override`; TOML lists ``key=[0.5, 1]`` work too)."""
    if "=" not in text:
        raise ParameterError("--grid", "key=value1,value2,...", text)
    key, raw = (part.strip() for part in text.split("=", 1))
    if not key or not raw:
        raise ParameterError("--grid", "key=value1,value2,... with a key and values", text)
    body = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    try:
        values = tomllib.loads(f"v = [{body}]")["v"]
    except tomllib.TOMLDecodeError:
        values = [item.strip() for item in body.split(",") if item.strip()]
    if not values:
        raise ParameterError(f"--grid {key}", "at least one value", raw)
    return key, values


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``data`` with each dotted key set (``events.0.onset`` indexes lists)."""
    import copy

    out = copy.deepcopy(data)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node: Any = out
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ParameterError(here, f"a list index below {len(node)}", part)
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise ParameterError(here, "a key inside a table", dotted)
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return out
