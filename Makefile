# The quick start is `make demo` and `make test`; both install into .venv when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-etcdsim

.PHONY: install demo test bench lint fast

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/etcdsim run --seed 1

test: $(STAMP)
	$(PY) -m pytest -q -n 2

# A copy of sim/ and etcdcore/ with the hot modules compiled by mypyc (buildtools/etcdsim_build/compiled.py); it is
# rebuilt when the sources change. Run from there, `python -m sim` uses it.
FAST := build/fast

fast: $(STAMP)
	$(PY) -m etcdsim_build.compiled $(FAST)

bench: fast
	cd $(FAST) && $(CURDIR)/$(PY) -m sim.commands.bench

lint: $(STAMP)
	$(VENV)/bin/ruff check sim etcdcore tests conftest.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
