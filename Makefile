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

# The editable install stays pure (no compiling): the last line says which build ran, and how to
# get the compiled one.
demo: $(STAMP)
	$(VENV)/bin/etcdsim run --seed 1
	@$(PY) -m sim.commands.launch

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup

# A copy of sim/ and etcdcore/ with the hot modules compiled by mypyc (buildtools/etcdsim_build/
# compiled.py), rebuilt only when a source changes. While it is fresh, every `etcdsim` command of
# this checkout (and `python -m sim`) runs it; `ETCDSIM_BUILD=source etcdsim ...` runs the sources.
FAST := build/fast

fast: $(STAMP)
	PYTHONPATH=buildtools $(PY) -m etcdsim_build.compiled $(FAST)

# The figures of the compiled build (bench's launcher switches to it), then of a fresh install.
bench: fast
	$(PY) -m sim.commands.bench

lint: $(STAMP)
	$(VENV)/bin/ruff check sim etcdcore tests buildtools conftest.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
