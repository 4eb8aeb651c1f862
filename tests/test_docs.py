"""The documentation's sources are complete: pages in every toctree exist, every public name of
the parts is documented in the API reference and has a docstring, every gallery script has a
title. Nothing here runs Sphinx (``make docs`` builds the site, with warnings as errors)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
PARTS = (
    "syntony.model",
    "syntony.physio",
    "syntony.physio.mechanisms",
    "syntony.meta",
    "syntony.report",
    "syntony.live",
)
# Folders written by the build itself (autosummary pages, the executed gallery, the site).
GENERATED = ("_build", "generated", "auto_examples")


def _sources() -> list[Path]:
    return sorted(
        p
        for p in DOCS.rglob("*.rst")
        if not any(part in GENERATED for part in p.relative_to(DOCS).parts)
    )


def _directive_entries(text: str, directive: str) -> list[str]:
    """The content lines of every ``.. directive::`` block (options and blanks skipped)."""
    entries: list[str] = []
    lines = text.splitlines()
    for k, line in enumerate(lines):
        head = re.match(rf"^(\s*)\.\. {directive}::", line)
        if not head:
            continue
        indent = len(head.group(1))
        for body in lines[k + 1 :]:
            if body.strip() and len(body) - len(body.lstrip()) <= indent:
                break
            item = body.strip()
            if item and not item.startswith(":"):
                entries.append(item)
    return entries


def _toctree_target(entry: str) -> str:
    match = re.match(r"^.*<(.+)>$", entry)  # "Title <target>"
    return match.group(1) if match else entry


def test_doc_sources_exist():
    names = {p.relative_to(DOCS).as_posix() for p in _sources()}
    assert {"index.rst", "theory/model.rst", "theory/ale.rst", "theory/synchrony.rst"} <= names
    assert (DOCS / "conf.py").is_file()
    assert (EXAMPLES / "README.rst").is_file(), "sphinx-gallery needs examples/README.rst"


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_toctree_entry_exists(source: Path):
    missing = []
    for entry in _directive_entries(source.read_text(encoding="utf-8"), "toctree"):
        target = _toctree_target(entry)
        if re.match(r"^[a-z]+://", target) or target == "self":
            continue
        base = DOCS if target.startswith("/") else source.parent
        path = (base / target.lstrip("/")).resolve()
        if path == (DOCS / "auto_examples" / "index").resolve():
            # The gallery's index is generated from examples/README.rst and the scripts.
            if not (EXAMPLES / "README.rst").is_file() or not list(EXAMPLES.glob("plot_*.py")):
                missing.append(target)
            continue
        if not any(path.with_suffix(s).is_file() for s in (".rst", ".md")):
            missing.append(target)
    assert not missing, f"{source.relative_to(DOCS)}: toctree entries without a page: {missing}"


def _api_names() -> dict[str, set[str]]:
    """Names listed in docs/api by autosummary tables and ``.. data::``, per current module."""
    names: dict[str, set[str]] = {}
    for page in sorted((DOCS / "api").glob("*.rst")):
        module = None
        in_table = False
        for line in page.read_text(encoding="utf-8").splitlines():
            if in_table:
                if line.strip() and not line.startswith(" "):
                    in_table = False
                elif line.strip() and not line.strip().startswith(":"):
                    names.setdefault(module, set()).add(line.strip())
                    continue
                else:
                    continue
            current = re.match(r"^\.\. currentmodule:: (\S+)", line)
            if current:
                module = current.group(1)
            data = re.match(r"^\.\. data:: (\S+)", line)
            if data and module:
                names.setdefault(module, set()).add(data.group(1))
            in_table = bool(re.match(r"^\.\. autosummary::", line)) and module is not None
    return names


def _resolve(module: str, name: str):
    obj = importlib.import_module(module)
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(f"{obj.__name__}.{part}")
    return obj


def test_api_reference_names_import():
    broken = []
    for module, names in _api_names().items():
        for name in sorted(names):
            try:
                _resolve(module, name)
            except (ImportError, AttributeError) as exc:
                broken.append(f"{module}.{name} ({type(exc).__name__}: {exc})")
    assert not broken, "names in docs/api that do not exist:\n" + "\n".join(broken)


@pytest.mark.parametrize("part", PARTS)
def test_every_public_name_is_in_the_api_reference(part: str):
    documented = _api_names().get(part, set())
    public = set(importlib.import_module(part).__all__)
    missing = sorted(public - documented)
    assert not missing, (
        f"{part}.__all__ names missing from docs/api/{part.split('.')[-1]}.rst: {missing}"
    )


def _own_docstring(obj) -> str:
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        # A dataclass without a docstring gets its signature as __doc__.
        return "" if doc.startswith(f"{obj.__name__}(") else doc.strip()
    return (getattr(obj, "__doc__", None) or "").strip()


@pytest.mark.parametrize("part", PARTS)
def test_every_public_function_and_class_has_a_docstring(part: str):
    module = importlib.import_module(part)
    undocumented = []
    for name in module.__all__:
        obj = getattr(module, name)
        if (inspect.isclass(obj) or inspect.isroutine(obj)) and not _own_docstring(obj):
            undocumented.append(name)
    assert not undocumented, f"{part}: public names without a docstring: {undocumented}"


@pytest.mark.parametrize("script", sorted(EXAMPLES.glob("plot_*.py")), ids=lambda p: p.name)
def test_gallery_script_has_a_title(script: Path):
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
    assert doc, f"{script.name}: sphinx-gallery needs a module docstring"
    lines = doc.splitlines()
    assert len(lines) >= 2 and set(lines[1]) == {"="} and len(lines[1]) >= len(lines[0]), (
        f"{script.name}: the docstring must start with a title underlined by '='"
    )
