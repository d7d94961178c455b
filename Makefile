# The two commands of the README: `make up` (install + start a cloud) and `make test`.
PYTHON ?= python3
VENV ?= .venv
STATE ?= state
BIN = $(VENV)/bin
# test workers (pytest-xdist); a module is one unit, so its cloud starts once (tests/conftest.py)
JOBS ?= 2

.PHONY: setup up test lint typecheck clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

up: setup
	$(BIN)/pocketstack up --state-dir $(STATE) $(ARGS)

test: setup
	$(BIN)/pytest -q -n $(JOBS) --dist loadscope $(ARGS)

lint: setup
	$(BIN)/ruff check pocketstack tests benchmarks tools
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy pocketstack

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
