# atrelay: the two commands are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
DATA_DIR ?= ./data

.PHONY: run test lint fmt bench e2e build clean pyenv

## The Python environment of the third-party consumer check (scripts/consumers): a venv with the
## pinned `atproto` package from PyPI. Rebuilt only when the requirements change.
PYTHON3 ?= python3
PYENV ?= target/pyenv
PYENV_REQUIREMENTS := scripts/consumers/requirements.txt

## Run the relay: SQLite and the event log under ./data/, no other setup.
run:
	mkdir -p $(DATA_DIR)
	$(CARGO) run --release -p atrelay -- serve

## Run every test of the workspace. PostgreSQL tests run when TEST_DATABASE_URL is set.
## Benchmarks are not run here (their setup builds large data sets); `make lint` compiles them.
## The third-party consumer test runs Python's `atproto` from the venv `make pyenv` makes.
test: export ATRELAY_TEST_PYTHON ?= $(abspath $(PYENV))/bin/python
test: pyenv
	@if [ -z "$$TEST_DATABASE_URL" ]; then \
		echo "notice: TEST_DATABASE_URL is not set; PostgreSQL tests will be skipped (SQLite tests still run)."; \
	fi
	$(CARGO) test --workspace --lib --bins --tests --examples
	$(CARGO) test --workspace --doc

pyenv: $(PYENV)/.installed

$(PYENV)/.installed: $(PYENV_REQUIREMENTS)
	$(PYTHON3) -m venv $(PYENV)
	$(PYENV)/bin/python -m pip install --disable-pip-version-check --quiet -r $(PYENV_REQUIREMENTS)
	touch $@

## Formatting and clippy, warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Criterion benchmarks; figures go into docs/performance.md.
bench:
	$(CARGO) bench --workspace

## Interoperability run: atrelay between a PLC directory, two reference PDS hosts and reference
## consumers, all on 127.0.0.1 (scripts/e2e/README.md). Installs its pinned npm and PyPI packages.
e2e:
	CARGO=$(CARGO) bash scripts/e2e/run.sh

build:
	$(CARGO) build --workspace --release

clean:
	$(CARGO) clean
