# atrelay: the two commands are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
DATA_DIR ?= ./data

.PHONY: run test lint fmt bench bench-smoke bench-micro e2e dash-test build clean pyenv

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

## The benchmark report (docs/performance.md, between its "make bench report" markers): the
## release relay fed by a separate load process (crates/loadgen), on SQLite and PostgreSQL
## (BENCH_DATABASE_URL; the local server by default, empty to skip), ≈ 25 minutes. Not a test.
BENCH_DATABASE_URL ?= $(or $(TEST_DATABASE_URL),postgres://postgres@127.0.0.1:5432/postgres)
bench:
	$(CARGO) build --release -p atrelay -p atrelay-loadgen
	target/release/atrelay-loadgen bench --relay target/release/atrelay \
		$(if $(BENCH_DATABASE_URL),--postgres-url $(BENCH_DATABASE_URL)) --report docs/performance.md $(BENCH_ARGS)

## Every step of `make bench` at tiny sizes, so it keeps working (CI runs it); the report goes
## to target/bench-smoke/report.md.
bench-smoke:
	$(CARGO) build --release -p atrelay -p atrelay-loadgen
	target/release/atrelay-loadgen bench --size smoke --relay target/release/atrelay \
		--work-dir target/bench-smoke $(if $(BENCH_DATABASE_URL),--postgres-url $(BENCH_DATABASE_URL)) \
		--report target/bench-smoke/report.md

## Criterion micro-benchmarks of single parts (codec, MST, signatures, log, store, firehose).
bench-micro:
	$(CARGO) bench --workspace

## The dashboard in a real browser (web-dash/test, scripts/dash-test.sh): Debian's chromium
## driven by the pinned playwright-core, both installed when absent, against the release relay
## fed live events by atrelay-loadgen. Screenshots go to target/dash-screenshots/.
DASH_BIN_DIR = $(or $(CARGO_TARGET_DIR),target)/release
dash-test:
	$(CARGO) build --release -p atrelay -p atrelay-loadgen
	RELAY_BIN=$(DASH_BIN_DIR)/atrelay LOADGEN_BIN=$(DASH_BIN_DIR)/atrelay-loadgen bash scripts/dash-test.sh

## Interoperability run: atrelay between a PLC directory, two reference PDS hosts and reference
## consumers, all on 127.0.0.1 (scripts/e2e/README.md). Installs its pinned npm and PyPI packages.
e2e:
	CARGO=$(CARGO) bash scripts/e2e/run.sh

build:
	$(CARGO) build --workspace --release

clean:
	$(CARGO) clean
