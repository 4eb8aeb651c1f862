"""Sphinx configuration of the syntony documentation.

Build with ``make docs`` (warnings are errors). The gallery in ``examples/`` is executed at
build time; an example that raises fails the build.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import syntony

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# The gallery examples run with at most two threads: the build shares a 2-core machine.
os.environ.setdefault("NUMBA_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

project = "syntony"
author = "The syntony developers"
copyright = "2025, The syntony developers"
release = syntony.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax 3 shipped inside the package and copied into _static/mathjax: equations render
    # without a network (sphinx.ext.mathjax alone loads MathJax from a CDN).
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.db",
    "auto_examples/*.md5",
]

# Cross-references are not all resolvable (numpy, xarray, ... without intersphinx, which
# would need the network), so nitpicky stays off; everything else is a hard error with -W.
nitpicky = False
default_role = "py:obj"
suppress_warnings = []

# -- autodoc / autosummary / numpydoc ------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # class members are listed by the autosummary templates
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# -- MyST (the Markdown pages: architecture, benchmarks, the Fu workflow) ------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# -- sphinx-gallery ------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every plot_*.py runs at build time
    "ignore_pattern": r"/_",
    "abort_on_example_error": True,  # an example that raises fails the build
    "only_warn_on_example_error": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "min_reported_time": 0,
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
    "image_scrapers": ("matplotlib",),
    # A cell that ends with a result shows its HTML report (an iframe); other values are not
    # echoed (e.g. the Legend a plotting call returns).
    "capture_repr": ("_repr_html_",),
    "show_memory": False,
    "doc_module": ("syntony",),
    "backreferences_dir": "generated/backreferences",
    "inspect_global_variables": False,
}

# -- HTML ----------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"syntony {release}"
html_show_sourcelink = False
html_theme_options = {
    "source_repository": "",
    "navigation_with_keys": True,
}


# -- docstring hygiene ---------------------------------------------------------------------
# Two plain-text habits of docstrings are not valid reStructuredText and would fail the
# build: absolute values written as |x| (read as substitution references) and inline literals
# that end in a space (``- ``). Rewrite them in the rendered text only; the sources stay as
# they are, and they read well in help().
_ABS = re.compile(r"(?<![\\|`])\|([A-Za-z_][\w.]*)\|(?![_|])")


def _strip_literal(content: str) -> str:
    stripped = content.rstrip(" \t")
    return f"``{stripped}``" if stripped.strip() else f"``{content}``"


def _rst_safe_docstring(app, what, name, obj, options, lines):
    # Literals may run over a line break, so pair them over the whole docstring; even pieces
    # lie outside inline literals, odd ones are the literals' contents. Line count is kept.
    pieces = re.split(r"``(.+?)``", "\n".join(lines), flags=re.S)
    text = "".join(
        _ABS.sub(r"\\|\1\\|", piece) if i % 2 == 0 else _strip_literal(piece)
        for i, piece in enumerate(pieces)
    )
    lines[:] = text.split("\n")


def setup(app):
    app.connect("autodoc-process-docstring", _rst_safe_docstring)
