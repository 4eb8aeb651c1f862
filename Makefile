# Two entry points, each creating .venv on first use:
#   make demo   install and run the demonstration (writes demo-output/)
#   make test   install with the test extras and run the whole test suite
#   make docs   build the documentation site into docs/_build/html
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test docs lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench,docs]'
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/syntony demo --out demo-output --force

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The documentation site (Sphinx + sphinx-gallery); examples run during the build and any
# warning fails it.
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Every benchmark except the 5,000-article MACM, which is still too slow to run routinely
# (see docs/benchmarks.md); run it on its own with `python benchmarks/bench_macm.py`.
bench: $(STAMP)
	for b in benchmarks/bench_*.py; do \
	  case $$b in *bench_macm.py) continue;; esac; \
	  $(BIN)/python $$b || exit 1; \
	done

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache docs/_build docs/auto_examples docs/generated
