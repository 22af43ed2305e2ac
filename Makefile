# The two commands of the README: `make demo` and `make test`. Each sets itself up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-fast lint typecheck unit bench clean first-hour

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	bash examples/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck unit

# The quick loop while editing: everything but the tests that build and run Go services
# or run hostile inputs under a budget (pytest -m slow lists those).
test-fast: lint typecheck
	$(BIN)/pytest -q -m "not slow" $(PYTEST_ARGS)

# A new user's first hour, end to end: a Go service of its own (built offline), then
# `check`, `drill PATH` and `why` on it, asserting what the user reads (tests/test_first_hour.py).
first-hour: $(STAMP)
	$(BIN)/pytest -q tests/test_first_hour.py $(PYTEST_ARGS)

# Every benchmark whose peer is installed here (wrk, jq and grep come from Debian's packages);
# bench/check_vs_checkov.py needs Checkov and hadolint in a venv of their own (its docstring).
bench: $(STAMP)
	$(BIN)/python bench/check_std.py
	$(BIN)/python bench/why_vs_grep.py
	$(BIN)/python bench/why_k8s_vs_jq.py
	$(BIN)/python bench/load_vs_wrk.py
	$(BIN)/python bench/sampler_cpu.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
